"""Words and numbers for a run's current view: which network the charts show, on which batch,
and the headline metrics above them.

Plain functions of a run's structure and one snapshot (no weights are read, nothing is
computed on the graph), so a page only draws what they return and tests can check the words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One headline number: its label, its value as shown, and a sentence on what it means."""

    label: str
    value: str
    help: str = ""


def training_mode_words(model) -> str:
    """', in training mode (dropout on, ...)' when ``model`` has layers that behave differently
    in training; '' when it does not (then the mode changes nothing). Reads the structure only."""
    kinds = {type(layer).__name__ for layer in model.layers}
    parts = (["dropout on"] if any("Dropout" in kind for kind in kinds) else []) + (
        ["BatchNorm on batch statistics"] if any("BatchNormalization" in kind for kind in kinds) else [])
    return f", in training mode ({', '.join(parts)})" if parts else ""


def what_is_shown(run, snapshot, step_count: int) -> str:
    """One markdown sentence: which network the charts show and on which batch it was measured."""
    k = snapshot.step
    network = "the network at initialization (no updates yet)" if k == 0 else \
        f"the network after {k} update{'s' if k != 1 else ''}"
    behind = f" (the last probed step; the run is at step {step_count})" if k != step_count else ""
    return (f"**Step {k}**{behind}: {network}, measured on {run.describe_batch(snapshot)}"
            f"{training_mode_words(run.model)}.")


def _shown(value: float, form: str) -> str:
    return format(value, form) if math.isfinite(value) else "non-finite"


def snapshot_metrics(run, snapshot, step_count: int) -> list[Metric]:
    """The four numbers above the live charts: steps so far, and the loss, accuracy and top softmax
    probability of the snapshot's network on the batch it was measured on."""
    batch = snapshot.batch or snapshot.step + 1
    prob = snapshot.softmax.get("max_prob_mean", math.nan)
    return [
        Metric("Training step", f"{step_count:,}", "Updates applied to the weights so far."),
        Metric(f"Loss on batch {batch}", _shown(snapshot.loss, ".4g"),
               f"Cross-entropy of the step-{snapshot.step} network on training batch {batch}, "
               f"the batch its next update learns from{training_mode_words(run.model)}."),
        Metric(f"Accuracy on batch {batch}", f"{snapshot.accuracy:.0%}",
               f"Share of the {run.config.batch_size} images of batch {batch} the network gets right."),
        Metric("Mean top softmax probability", _shown(prob, ".2f"),
               f"1.00 = certain about everything; 1/{run.classes} = {1 / run.classes:.2f} = guessing uniformly"),
    ]
