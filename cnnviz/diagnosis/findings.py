"""The Finding record, its kinds and severities, and numbers written the way people write them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info")
KINDS = ("non_finite", "exploding_activations", "vanishing_activations", "dead_relu", "saturated_softmax",
         "uniform_softmax", "sigmoid_saturation", "exploding_gradients", "vanishing_gradients",
         "update_ratio_high", "update_ratio_low")


@dataclass(frozen=True)
class Finding:
    """One diagnosis: how bad, what kind, where, when, what it means and what to try."""

    severity: str  # "info" | "warning" | "error"
    kind: str
    layer: str | None
    step: int
    message: str
    suggestion: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first (a NaN/Inf halt before anything else); then earliest step; stable otherwise."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.kind != "non_finite", f.step))


def fmt(value: float) -> str:
    """A number the way a person writes it: 10,200 / 18.6 / 0.00186 / 8.2e+05."""
    if value is None or not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e5 or magnitude < 1e-4:
        return f"{value:.2g}"
    if magnitude >= 100:
        return f"{round(value, -int(math.floor(math.log10(magnitude))) + 2):,.0f}"
    return f"{value:.3g}"


def times(ratio: float) -> str:
    """"12x", "1.5x", "2.1e8x"."""
    if ratio >= 1e5:
        return f"{ratio:.1e}x".replace("e+0", "e").replace("e+", "e")
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def possessive(name: str) -> str:
    """Possessive of a layer name: conv4's, logits'."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def he_std(fan_in: int) -> float:
    """The He-normal weight std √(2/fan_in) that keeps ReLU pre-activations steady."""
    return math.sqrt(2.0 / max(fan_in, 1))


def has_layer(snapshot, name: str) -> bool:
    return any(l.name == name for l in snapshot.layers)
