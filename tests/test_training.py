"""The live training engine: what a probed step records, every optimizer, NaN safety, history export.

Small batches and few steps keep this file quick; the convnet is built a handful of times.
"""

import math

import numpy as np
import pandas as pd
import pytest

from cnnviz.config import RunConfig
from cnnviz.diagnose import diagnose_run
from cnnviz.errors import UserError
from cnnviz.history import COLUMNS, export_history, plottable, read_history
from cnnviz.optimizers import OPTIMIZERS
from cnnviz.training import Run


@pytest.fixture(scope="module")
def probed_run():
    """ltfn_convnet, batch 16, probed on steps 1, 2 and 4 (probe_every=2)."""
    run = Run(RunConfig(arch="ltfn_convnet", init="he-normal", optimizer="adam", batch_size=16, seed=0,
                        probe_every=2))
    kernels_before = {}

    def remember(r, snapshot):
        kernels_before[r.step_count + 1] = {p.name: np.array(p.kernel.numpy()) for p in r.probed.points}

    run.initial_snapshot()
    remember(run, None)
    run.train(4, callback=remember)
    return run, kernels_before


def test_probe_interval_records_init_first_and_every_kth_step(probed_run):
    run, _ = probed_run
    assert [s.step for s in run.snapshots] == [0, 1, 2, 4]
    assert run.step_count == 4 and len(run.losses) == 4
    assert run.snapshots[0].trained is False and all(s.trained for s in run.snapshots[1:])


def test_snapshot_holds_loss_accuracy_and_softmax_stats(probed_run):
    run, _ = probed_run
    snap = run.latest
    assert math.isfinite(snap.loss) and snap.loss == pytest.approx(run.losses[-1], rel=1e-5)
    assert 0.0 <= snap.accuracy <= 1.0
    assert sum(snap.softmax["predicted_counts"]) == run.config.batch_size
    assert sum(snap.softmax["max_prob_hist"]) == run.config.batch_size
    assert 1 / run.classes <= snap.softmax["max_prob_mean"] <= 1.0
    assert 0.0 <= snap.softmax["entropy_mean"] <= snap.softmax["uniform_entropy"] + 1e-6
    assert snap.batch_logits.shape == (run.config.batch_size, run.classes)
    assert snap.logits.std == pytest.approx(float(np.std(snap.batch_logits)), rel=1e-3)


def test_histograms_count_every_value_on_a_fixed_range_per_layer(probed_run):
    run, _ = probed_run
    for name in run.probed.layer_names:
        edges = [tuple(s.layer(name).pre_activation.hist_edges) for s in run.snapshots[1:]]
        assert len(set(edges)) == 1, f"{name}: histogram range moved between steps"
        for snap in run.snapshots:
            pre = snap.layer(name).pre_activation
            assert sum(pre.hist_counts) == pre.count > 0
            assert len(pre.hist_counts) == run.config.bins


def test_step0_range_covers_the_data_with_margin(probed_run):
    run, _ = probed_run
    fixed = run.snapshots[1].layer("conv1").pre_activation
    init = run.snapshots[0].layer("conv1").pre_activation
    assert fixed.hist_edges[0] < init.min and fixed.hist_edges[-1] > init.max


def test_gradient_weight_and_update_norms_match_the_weights(probed_run):
    run, kernels_before = probed_run
    snap = run.snapshots[2]  # step 2: weights of step 1 before, of step 2 after
    after = {p.name: np.array(p.kernel.numpy()) for p in run.probed.points}
    before_step2, before_step3 = kernels_before[2], kernels_before[3]
    for layer in snap.layers:
        w = before_step2[layer.name]
        assert layer.weight_norm == pytest.approx(float(np.linalg.norm(w)), rel=1e-4)
        assert layer.weight_std == pytest.approx(float(np.std(w)), rel=1e-4)
        update = float(np.linalg.norm(before_step3[layer.name] - w))
        assert layer.update_norm == pytest.approx(update, rel=1e-3)
        assert layer.update_ratio == pytest.approx(update / float(np.linalg.norm(w)), rel=1e-3)
        assert layer.grad_norm > 0
    assert not np.array_equal(after["conv1"], before_step2["conv1"])


def test_dead_fraction_is_relu_only_and_dead_units_are_a_fraction(probed_run):
    run, _ = probed_run
    for layer in run.latest.layers:
        if layer.activation == "relu":
            assert layer.dead_fraction == layer.pre_activation.frac_nonpositive
            assert 0.0 <= layer.dead_units <= layer.dead_fraction
        else:
            assert layer.dead_fraction is None and layer.to_dict()["dead_units"] is None


def test_snapshot_records_input_moments(probed_run):
    run, _ = probed_run
    images, _ = run.batch(0)
    snap = run.snapshots[0]
    assert snap.input_mean == pytest.approx(float(images.mean()), rel=1e-4)
    assert snap.input_rms == pytest.approx(float(np.sqrt((images ** 2).mean())), rel=1e-4)


def test_history_has_one_row_per_layer_per_probed_step(probed_run):
    run, _ = probed_run
    frame = run.history()
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(run.snapshots) * len(run.probed.points)
    assert frame.loc[frame["step"] == 0, "grad_norm"].isna().all()
    assert (frame.loc[frame["step"] > 0, "grad_norm"] > 0).all()
    assert frame["finite"].all()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_history_export_round_trips(probed_run, tmp_path, suffix):
    run, _ = probed_run
    frame = run.history()
    path = export_history(frame, tmp_path / f"history{suffix}")
    back = read_history(path)
    assert list(back.columns) == COLUMNS and len(back) == len(frame)
    assert back["hist_counts"].tolist() == frame["hist_counts"].tolist()
    pd.testing.assert_series_equal(back["std"], frame["std"], check_names=False)
    if suffix == ".csv":
        first_cell = (tmp_path / "history.csv").read_text().splitlines()[1]
        assert '"[' in first_cell  # one spreadsheet cell holding the JSON list


def test_history_export_refuses_unknown_suffix(probed_run, tmp_path):
    with pytest.raises(UserError, match=r"\.csv or \.parquet"):
        export_history(probed_run[0].history(), tmp_path / "history.xlsx")


def test_same_config_gives_same_losses_in_process():
    config = RunConfig(arch="softmax_regression", init="glorot-uniform", optimizer="adam", batch_size=8, seed=5)
    a, b = Run(config), Run(config)
    a.train(3)
    b.train(3)
    assert a.losses == b.losses
    other = Run(config.replace(seed=6))
    other.train(3)
    assert other.losses != a.losses


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_trains_and_reports_updates(optimizer):
    run = Run(RunConfig(arch="softmax_regression", init="glorot-uniform", optimizer=optimizer, lr=0.01,
                        batch_size=8, seed=1))
    kernel = run.probed.points[0].kernel
    before = np.array(kernel.numpy())
    run.train(2)
    assert run.halted is None and run.step_count == 2
    assert all(math.isfinite(v) for v in run.losses)
    assert not np.allclose(kernel.numpy(), before), f"{optimizer} did not move the weights"
    layer = run.latest.layers[0]
    assert layer.grad_norm > 0 and layer.update_ratio > 0
    assert int(run.optimizer.iterations.numpy()) == 2


# ------------------------------------------------------------------ NaN / Inf safety
@pytest.fixture(scope="module")
def exploded_run():
    """SGD at lr 1e6: a step goes non-finite within a few steps."""
    run = Run(RunConfig(arch="ltfn_convnet", init="he-normal", optimizer="sgd", lr=1e6, batch_size=16, seed=0))
    weights_before = {}

    def remember(r, snapshot):
        if r.halted is None:
            weights_before[r.step_count + 1] = [np.array(v.numpy()) for v in r.model.trainable_variables]

    run.initial_snapshot()
    remember(run, None)
    run.train(10, callback=remember)
    return run, weights_before


def test_huge_learning_rate_halts_cleanly_naming_step_and_layer(exploded_run):
    run, _ = exploded_run
    assert run.halted is not None
    assert run.halted.step == run.step_count + 1
    assert run.halted.layer in run.probed.layer_names
    assert f"step {run.halted.step}" in run.halted.message()
    with pytest.raises(UserError, match="stopped"):
        run.step()


def test_halt_keeps_the_last_good_weights(exploded_run):
    run, weights_before = exploded_run
    kept = weights_before[run.halted.step]  # recorded before the bad step ran
    for variable, value in zip(run.model.trainable_variables, kept):
        np.testing.assert_array_equal(variable.numpy(), value)
        assert np.all(np.isfinite(variable.numpy()))


def test_halt_becomes_a_non_finite_error_finding(exploded_run):
    run, _ = exploded_run
    findings = diagnose_run(run)
    assert findings[0].severity == "error" and findings[0].kind == "non_finite"
    assert findings[0].step == run.halted.step and findings[0].layer == run.halted.layer
    assert f"step {run.halted.step}" in findings[0].message and findings[0].layer in findings[0].message
    assert "learning rate" in findings[0].suggestion


def test_non_finite_snapshots_are_marked_and_plottable_rows_are_finite(exploded_run):
    run, _ = exploded_run
    bad = [s for s in run.snapshots if not s.finite]
    assert bad, "the halting step's snapshot should be kept and marked"
    assert run.snapshots[-1].applied is False and run.snapshots[-1].step == run.halted.step
    frame = plottable(run.history())
    values = frame[["mean", "std", "min", "max", "loss", "weight_norm", "hist_lo", "hist_hi"]].to_numpy(float)
    assert np.all(np.isfinite(values))
    for column in ("grad_norm", "update_norm", "update_ratio"):
        present = frame[column].dropna().to_numpy(float)
        assert np.all(np.isfinite(present))
    for snap in run.snapshots:
        if snap.finite:
            assert all(np.isfinite(l.pre_activation.hist_edges).all() for l in snap.layers)
