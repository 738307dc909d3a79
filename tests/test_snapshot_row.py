"""One record per layer snapshot: LayerSnapshot.to_row, and everything that derives from it.

History frames, checkpoints, run folders and the JSON payload all read a layer through
``to_row``; these tests hold them to the same numbers on a real run.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from cnnviz.config import RunConfig
from cnnviz.probing.snapshot import LayerSnapshot, Snapshot
from cnnviz.training import Run
from cnnviz.training.checkpoint import SNAPSHOTS_FILE


@pytest.fixture(scope="module")
def run():
    run = Run(RunConfig(arch="ltfn_mlp", init="he-normal", optimizer="adam", batch_size=16, seed=2))
    run.train(2)
    return run


def test_a_row_is_flat_json_ready_and_reads_back_to_the_same_layer(run):
    for snapshot in run.snapshots:
        for layer in snapshot.layers:
            row = layer.to_row()
            assert not [key for key, value in row.items() if isinstance(value, dict)]  # flat
            back = LayerSnapshot.from_row(json.loads(json.dumps(row)))
            assert back == layer
            assert back.update_ratio == layer.update_ratio


def test_json_payload_history_and_row_give_the_same_numbers(run):
    snapshot = run.latest
    history = run.history()
    for layer in snapshot.layers:
        row, public = layer.to_row(), layer.to_dict()
        pre = public["pre_activation"]
        for key in ("mean", "std", "min", "max", "frac_nonpositive", "frac_zero_after_relu"):
            assert pre[key] == row[key], key
        assert pre["hist"] == {"edges": row["hist_edges"], "counts": row["hist_counts"]}
        assert public["name"] == row["layer"] and public["update_ratio"] == row["update_ratio"]
        line = history[(history["step"] == snapshot.step) & (history["layer"] == layer.name)].iloc[0]
        for key in ("std", "frac_nonpositive", "weight_norm", "grad_norm", "update_ratio"):
            assert line[key] == pytest.approx(row[key]), key
        assert (line["hist_lo"], line["hist_hi"]) == (row["hist_edges"][0], row["hist_edges"][-1])


def test_the_three_zero_fractions_are_three_ideas(run):
    """frac_nonpositive: any tensor's values ≤ 0; frac_zero_after_relu: the same, only where a ReLU follows;
    dead_units: units that never fire on the whole batch (fewer than the zeroed values)."""
    for layer in run.latest.layers:
        row = layer.to_row()
        assert 0.0 <= row["frac_nonpositive"] <= 1.0
        if layer.activation == "relu":
            assert row["frac_zero_after_relu"] == row["frac_nonpositive"]
            assert row["dead_units"] <= row["frac_zero_after_relu"]
        else:
            assert row["frac_zero_after_relu"] is None and row["dead_units"] is None


def test_records_of_older_versions_still_read(run):
    """Checkpoints and run folders written before to_row nested the summary under "pre_activation"."""
    snapshot = run.latest
    old = {f.name: getattr(snapshot, f.name) for f in dataclasses.fields(Snapshot)
           if f.name not in ("layers", "logits", "batch_logits", "batch_labels")}
    old["logits"] = dataclasses.asdict(snapshot.logits)
    old["layers"] = []
    for layer in snapshot.layers:
        data = {f.name: getattr(layer, f.name) for f in dataclasses.fields(LayerSnapshot) if f.name != "pre_activation"}
        data["pre_activation"] = dataclasses.asdict(layer.pre_activation)
        old["layers"].append(data)
    back = Snapshot.from_record(json.loads(json.dumps(old)))
    assert back.to_dict() == snapshot.to_dict()


def test_a_checkpoint_stores_the_rows_and_loads_the_same_snapshots(run, tmp_path):
    run.save(tmp_path / "ckpt")
    records = json.loads((tmp_path / "ckpt" / SNAPSHOTS_FILE).read_text())
    assert records[-1]["layers"] == [layer.to_row() for layer in run.latest.layers]  # no NaN in this healthy run
    loaded = Run.load(tmp_path / "ckpt")
    assert [s.to_dict() for s in loaded.snapshots] == [s.to_dict() for s in run.snapshots]
