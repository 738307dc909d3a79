"""History: snapshots as a tidy pandas DataFrame (one row per layer per probed step)."""

from __future__ import annotations

import pandas as pd

from cnnviz.snapshot import Snapshot

COLUMNS = ["step", "layer", "type", "activation", "fan_in", "mean", "std", "min", "max",
           "frac_nonpositive", "nonfinite", "weight_norm", "weight_std", "grad_norm", "update_norm",
           "update_ratio", "loss", "accuracy", "hist_lo", "hist_hi", "hist_counts"]


def snapshots_to_frame(snapshots: list[Snapshot]) -> pd.DataFrame:
    """Flatten snapshots; ``hist_counts`` holds each histogram as a list (edges from lo/hi)."""
    rows = []
    for snap in snapshots:
        for layer in snap.layers:
            pre = layer.pre_activation
            rows.append({
                "step": snap.step, "layer": layer.name, "type": layer.type, "activation": layer.activation,
                "fan_in": layer.fan_in, "mean": pre.mean, "std": pre.std, "min": pre.min, "max": pre.max,
                "frac_nonpositive": pre.frac_nonpositive, "nonfinite": pre.nonfinite,
                "weight_norm": layer.weight_norm, "weight_std": layer.weight_std, "grad_norm": layer.grad_norm,
                "update_norm": layer.update_norm, "update_ratio": layer.update_ratio,
                "loss": snap.loss, "accuracy": snap.accuracy,
                "hist_lo": pre.hist_edges[0], "hist_hi": pre.hist_edges[-1], "hist_counts": list(pre.hist_counts),
            })
    return pd.DataFrame(rows, columns=COLUMNS)
