"""History: snapshots as a tidy pandas DataFrame (one row per layer per probed step).

The frame is what figures, the dashboard's CSV downloads and the report read. Rows of
a snapshot that holds a non-finite number carry ``finite = False``: plotting code
filters on that column instead of meeting NaN/Inf. :func:`export_history` writes
the frame to CSV or Parquet by the file's suffix; :func:`read_history` reads either
back with the same columns and types.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cnnviz.errors import UserError
from cnnviz.probing.snapshot import Snapshot

COLUMNS = ["step", "layer", "type", "activation", "fan_in", "mean", "std", "min", "max",
           "frac_nonpositive", "dead_units", "nonfinite", "weight_norm", "weight_std", "grad_norm", "update_norm",
           "update_ratio", "loss", "accuracy", "finite", "applied", "hist_lo", "hist_hi", "hist_counts",
           "backward_std", "normalized_by", "batch"]
# Added after the first release: files written before them read back with these empty.
LATER_COLUMNS = ("backward_std", "normalized_by", "batch")

EXPORT_FORMATS = (".csv", ".parquet")


def snapshots_to_frame(snapshots: list[Snapshot]) -> pd.DataFrame:
    """Flatten snapshots; ``hist_counts`` holds each histogram as a list (edges from lo/hi).

    ``update_norm``/``update_ratio`` are missing (NaN) at step 0, where no update has
    happened yet; ``dead_units`` is missing for layers not followed by ReLU. ``batch`` is
    the training batch the step was measured on (step + 1), ``backward_std`` the std of
    ∂loss/∂pre-activation there.
    """
    rows = []
    for snap in snapshots:
        finite = snap.finite
        for layer in snap.layers:
            row = layer.to_row()  # the one flat record; the frame keeps the histogram's range, not its edges
            edges = row.pop("hist_edges")
            rows.append({**row, "step": snap.step, "loss": snap.loss, "accuracy": snap.accuracy, "finite": finite,
                         "applied": snap.applied, "hist_lo": edges[0], "hist_hi": edges[-1],
                         "hist_counts": list(row["hist_counts"]), "batch": snap.batch})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # None → NaN in the optional numeric columns, so the dtypes are float, not object.
    for column in ("dead_units", "grad_norm", "update_norm", "update_ratio", "backward_std", "batch"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def plottable(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the rows of snapshots whose numbers are all finite (what figures should draw)."""
    return frame[frame["finite"].astype(bool)]


def export_history(frame: pd.DataFrame, path) -> Path:
    """Write ``frame`` to ``path``: ``.csv`` or ``.parquet`` by suffix; returns the path.

    In CSV, ``hist_counts`` is written as a JSON list (``"[0, 3, 17, ...]"``) so a
    spreadsheet shows it in one cell and :func:`read_history` (or ``json.loads``)
    gets the list back. Parquet keeps it as a native list column.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise UserError(f"cannot export history to {path.name!r}: use a .csv or .parquet file name")
    if not path.parent.is_dir():
        raise UserError(f"cannot export history to {path}: folder {path.parent} does not exist")
    if suffix == ".csv":
        out = frame.copy()
        out["hist_counts"] = [json.dumps([int(c) for c in counts]) for counts in out["hist_counts"]]
        out.to_csv(path, index=False)
    else:
        out = frame.copy()
        out["hist_counts"] = [[int(c) for c in counts] for counts in out["hist_counts"]]
        out.to_parquet(path, index=False)
    return path


def read_history(path) -> pd.DataFrame:
    """Read a file written by :func:`export_history` back into a history frame."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise UserError(f"cannot read history from {path.name!r}: expected a .csv or .parquet file")
    if not path.is_file():
        raise UserError(f"history file {path} does not exist")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
            frame["hist_counts"] = [json.loads(text) for text in frame["hist_counts"]]
        else:
            frame = pd.read_parquet(path)
            frame["hist_counts"] = [[int(c) for c in counts] for counts in frame["hist_counts"]]
    except (ValueError, KeyError, OSError) as exc:
        raise UserError(f"{path} is not a cnnviz history file ({type(exc).__name__})") from None
    for column in LATER_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path} is not a cnnviz history file: columns {', '.join(missing)} are missing")
    return frame[COLUMNS]
