"""The depth view: std per layer of several runs at initialization, next to the variance rule.

For the Compare page's one-chart picture of 2–4 initializers on the same net: every
run's step-0 snapshot (measured in training mode on its first training batch, as the
page's other charts) gives the measured std of each probed layer; for plain nets
:func:`cnnviz.diagnosis.theory.plain_chain` gives the prediction from the same batch's moments.
TF-free: reads snapshots and the runs' batches only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from cnnviz.diagnosis.theory_chain import InputMoments, plain_chain_for

COLUMNS = ["label", "index", "layer", "measured", "predicted", "predicted_valid", "note"]


def depth_profile_from_snapshot(label: str, snapshot, config=None, images=None, classes: int | None = None
                                ) -> pd.DataFrame:
    """Rows (label, index, layer, measured, predicted, predicted_valid, note) of one snapshot.

    ``index`` counts probed layers from 1 (the logits are the last). With ``config`` of a
    plain net and the ``images`` the snapshot was measured on, ``predicted`` is the
    chain's std for that layer (training-mode batch norm, as the snapshot was taken).
    """
    predicted: dict[str, tuple[float, bool, str]] = {}
    if config is not None and config.net is not None and images is not None:
        chain = plain_chain_for(config, InputMoments.from_images(images), classes, bn_training=True)
        predicted = {row.layer: (row.predicted, bool(row.valid), row.note) for row in chain.itertuples()}
    rows = []
    for index, layer in enumerate(snapshot.layers, start=1):
        value, valid, note = predicted.get(layer.name, (math.nan, False, ""))
        rows.append({"label": label, "index": index, "layer": layer.name, "measured": layer.pre_activation.std,
                     "predicted": value, "predicted_valid": valid and math.isfinite(value), "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)


def depth_profile_of_runs(runs: Mapping[str, object]) -> pd.DataFrame:
    """:func:`depth_profile_from_snapshot` of every run's step-0 snapshot, stacked (label = the key)."""
    frames = []
    for label, run in runs.items():
        snapshot = run.snapshot_at_init()
        images, _ = run.batch(snapshot.batch or 1)
        frames.append(depth_profile_from_snapshot(label, snapshot, run.config, images, run.classes))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
