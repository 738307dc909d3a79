"""Shared output helpers for the CLI commands: JSON or a readable table."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence


def _json_safe(value):
    """Replace NaN/Inf (invalid JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def print_json(payload: dict) -> None:
    """Print ``payload`` as strict JSON (non-finite numbers become null)."""
    json.dump(_json_safe(payload), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def print_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> None:
    """Print rows as an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n and _numeric(c) else c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def _fmt(value) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
