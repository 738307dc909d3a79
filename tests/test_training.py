"""The live training engine: what a probed step records, every optimizer, NaN safety, history export.

Small batches and few steps keep this file quick; the convnet is built a handful of times.
"""

import math

import numpy as np
import pandas as pd
import pytest

from cnnviz.config import RunConfig
from cnnviz.diagnosis import diagnose_run
from cnnviz.errors import UserError
from cnnviz.nets.optimizers import OPTIMIZERS
from cnnviz.probing.history import COLUMNS, export_history, plottable, read_history
from cnnviz.training import Run


def kernels_of(run) -> dict[str, np.ndarray]:
    """This run's probed kernels, read from the Keras model while it holds the run's weights."""
    with run.weights_loaded():
        return {p.name: np.array(p.kernel.numpy()) for p in run.probed.points}


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


@pytest.fixture(scope="module")
def probed_run():
    """ltfn_convnet, batch 16, probed on steps 0, 1, 2 and 4 (probe_every=2); kernels after every step."""
    run = Run(RunConfig(arch="ltfn_convnet", init="he-normal", optimizer="adam", batch_size=16, seed=0,
                        probe_every=2))
    kernels_after = {}

    def remember(r, snapshot):
        kernels_after[r.step_count] = kernels_of(r)

    run.snapshot_at_init()
    remember(run, None)
    run.train(4, callback=remember)
    return run, kernels_after


def test_probe_interval_records_init_first_and_every_kth_step(probed_run):
    run, _ = probed_run
    assert [s.step for s in run.snapshots] == [0, 1, 2, 4]
    assert run.step_count == 4 and len(run.losses) == 4
    assert run.snapshots[0].trained is False and all(s.trained for s in run.snapshots[1:])


def test_step_k_snapshot_describes_the_weights_after_k_updates_on_batch_k_plus_1(probed_run):
    """The display never lags: step 4's numbers are the step-4 network's, recomputed independently."""
    run, _ = probed_run
    snap = run.latest
    assert snap.step == 4 and snap.batch == 5
    images, labels = run.batch(5)
    with run.weights_loaded() as model:
        logits = np.asarray(model(images, training=True))
        conv1 = np.asarray(model.get_layer("conv1")(images))
    assert snap.loss == pytest.approx(cross_entropy(logits, labels), rel=1e-5)
    assert snap.accuracy == pytest.approx(float((logits.argmax(axis=1) == labels).mean()))
    pre = snap.layer("conv1").pre_activation
    assert pre.mean == pytest.approx(float(conv1.mean()), rel=1e-5, abs=1e-6)
    assert pre.std == pytest.approx(float(conv1.std()), rel=1e-5)
    assert (pre.min, pre.max) == pytest.approx((float(conv1.min()), float(conv1.max())), rel=1e-6)
    # The training loss of step 5 (batch 5 on the step-4 weights) is what the snapshot measured.
    assert run.timeline.losses[5] == pytest.approx(snap.loss, rel=1e-6)


def test_one_step_changes_what_is_shown(probed_run):
    run, _ = probed_run
    first, second = run.snapshots[0], run.snapshots[1]
    assert first.loss != second.loss
    assert all(a.pre_activation.std != b.pre_activation.std for a, b in zip(first.layers, second.layers))


def test_snapshot_holds_loss_accuracy_and_softmax_stats(probed_run):
    run, _ = probed_run
    snap = run.latest
    assert math.isfinite(snap.loss) and snap.loss == pytest.approx(run.timeline.losses[run.step_count + 1], rel=1e-5)
    assert 0.0 <= snap.accuracy <= 1.0
    assert sum(snap.softmax["predicted_counts"]) == run.config.batch_size
    assert sum(snap.softmax["max_prob_hist"]) == run.config.batch_size
    assert 1 / run.classes <= snap.softmax["max_prob_mean"] <= 1.0
    assert 0.0 <= snap.softmax["entropy_mean"] <= snap.softmax["uniform_entropy"] + 1e-6
    assert snap.batch_logits.shape == (run.config.batch_size, run.classes)
    assert snap.logits.std == pytest.approx(float(np.std(snap.batch_logits)), rel=1e-3)


def test_every_histogram_covers_its_values_at_every_step(probed_run):
    run, _ = probed_run
    for snap in run.snapshots:
        for layer in snap.layers + [None]:
            pre = layer.pre_activation if layer is not None else snap.logits
            assert pre.hist_edges[0] <= pre.min and pre.hist_edges[-1] >= pre.max
            assert sum(pre.hist_counts) == pre.count > 0
            assert len(pre.hist_counts) == run.config.bins


def test_gradient_weight_and_update_norms_match_the_weights(probed_run):
    run, kernels_after = probed_run
    snap = run.snapshots[2]  # step 2: the weights after 2 updates; its update took step 1's to step 2's
    images, labels = run.batch(5)  # the run is at step 4: its next update learns from batch 5
    import tensorflow as tf

    with run.weights_loaded() as model:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=model(images, training=True)))
        grads = dict(zip([v.path for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables)))
    for layer in snap.layers:
        w, w_before = kernels_after[2][layer.name], kernels_after[1][layer.name]
        assert layer.weight_norm == pytest.approx(float(np.linalg.norm(w)), rel=1e-4)
        assert layer.weight_std == pytest.approx(float(np.std(w)), rel=1e-4)
        update = float(np.linalg.norm(w - w_before))
        assert layer.update_norm == pytest.approx(update, rel=1e-3)
        assert layer.update_ratio == pytest.approx(update / float(np.linalg.norm(w_before)), rel=1e-3)
        assert layer.grad_norm > 0
    # the gradient of the *current* weights on the batch the next update learns from
    assert run.snapshots[-1].layers[0].grad_norm > 0
    last = run.snapshots[-1].layer("conv1")
    kernel_grad = next(g for path, g in grads.items() if path.endswith("conv1/kernel"))
    assert last.grad_norm == pytest.approx(float(np.linalg.norm(kernel_grad)), rel=1e-3)
    assert not np.array_equal(kernels_after[4]["conv1"], kernels_after[2]["conv1"])


def test_frac_zero_after_relu_is_relu_only_and_dead_units_are_a_fraction(probed_run):
    run, _ = probed_run
    for layer in run.latest.layers:
        if layer.activation == "relu":
            assert layer.frac_zero_after_relu == layer.pre_activation.frac_nonpositive
            assert 0.0 <= layer.dead_units <= layer.frac_zero_after_relu
        else:
            assert layer.frac_zero_after_relu is None and layer.dead_units is None
            assert layer.to_dict()["dead_units"] is None and layer.to_row()["dead_units"] is None


def test_snapshot_records_input_moments(probed_run):
    run, _ = probed_run
    images, _ = run.batch(1)  # step 0 is measured on the batch step 1 learns from
    snap = run.snapshots[0]
    assert snap.input_mean == pytest.approx(float(images.mean()), rel=1e-4)
    assert snap.input_rms == pytest.approx(float(np.sqrt((images ** 2).mean())), rel=1e-4)


def test_history_has_one_row_per_layer_per_probed_step(probed_run):
    run, _ = probed_run
    frame = run.history()
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(run.snapshots) * len(run.probed.points)
    assert frame.loc[frame["step"] == 0, "update_norm"].isna().all()  # no update yet at step 0
    assert (frame["grad_norm"] > 0).all()  # the gradient is measured at every probed step, step 0 too
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
    # The same numbers (a cold core's first calls run eagerly, later ones traced: equal to ~1e-7)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-6)
    other = Run(config.replace(seed=6))
    other.train(3)
    assert other.losses != a.losses


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_trains_and_reports_updates(optimizer):
    run = Run(RunConfig(arch="softmax_regression", init="glorot-uniform", optimizer=optimizer, lr=0.01,
                        batch_size=8, seed=1))
    before = kernels_of(run)["logits"]
    run.train(2)
    assert run.halted is None and run.step_count == 2
    assert all(math.isfinite(v) for v in run.losses)
    assert not np.allclose(kernels_of(run)["logits"], before), f"{optimizer} did not move the weights"
    layer = run.latest.layers[0]
    assert layer.grad_norm > 0 and layer.update_ratio > 0
    assert int(run.state_values().optimizer[0]) == 2  # the optimizer's iteration counter


# ------------------------------------------------------------------ NaN / Inf safety
@pytest.fixture(scope="module")
def exploded_run():
    """SGD at lr 1e6: a step goes non-finite within a few steps."""
    run = Run(RunConfig(arch="ltfn_convnet", init="he-normal", optimizer="sgd", lr=1e6, batch_size=16, seed=0))
    weights_after = {}

    def remember(r, snapshot):
        weights_after[r.step_count] = [np.array(v) for v in r.state_values().model]

    run.snapshot_at_init()
    remember(run, None)
    run.train(10, callback=remember)
    return run, weights_after


def test_huge_learning_rate_halts_cleanly_naming_step_and_layer(exploded_run):
    run, _ = exploded_run
    assert run.halted is not None
    assert run.halted.step == run.step_count + 1
    assert run.halted.layer in run.probed.layer_names
    assert f"step {run.halted.step}" in run.halted.message()
    with pytest.raises(UserError, match="stopped"):
        run.step()


def test_halt_keeps_the_last_good_weights(exploded_run):
    run, weights_after = exploded_run
    kept = weights_after[run.halted.step - 1]  # recorded when the run reached the last good step
    with run.weights_loaded() as model:
        for variable, value in zip(model.variables, kept):
            np.testing.assert_array_equal(variable.numpy(), value)
            if variable.dtype.startswith("float"):
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
    assert bad, "the network that cannot take its next step should be shown, marked non-finite"
    assert run.snapshots[-1].step == run.step_count == run.halted.step - 1
    assert run.snapshots[-1].first_nonfinite_layer() == run.halted.layer
    frame = plottable(run.history())
    values = frame[["mean", "std", "min", "max", "loss", "weight_norm", "hist_lo", "hist_hi"]].to_numpy(float)
    assert np.all(np.isfinite(values))
    for column in ("grad_norm", "update_norm", "update_ratio"):
        present = frame[column].dropna().to_numpy(float)
        assert np.all(np.isfinite(present))
    for snap in run.snapshots:
        if snap.finite:
            assert all(np.isfinite(l.pre_activation.hist_edges).all() for l in snap.layers)


def test_histograms_keep_covering_their_values_after_30_steps():
    """The issue's case: Adam from N(0, 0.01²) grows conv4 by decades; every histogram keeps up."""
    from cnnviz.figures import training_curves as curves

    run = Run(RunConfig(arch="ltfn_convnet", init="normal-0.01", optimizer="adam", batch_size=16, seed=0))
    run.train(30)
    first, last = run.snapshots[0], run.latest
    assert last.step == 30
    grown = last.layer("conv4").pre_activation.std / first.layer("conv4").pre_activation.std
    assert grown > 100  # the scale changed by more than two decades during training
    for snapshot in run.snapshots:
        for summary in [layer.pre_activation for layer in snapshot.layers] + [snapshot.logits]:
            counts = np.asarray(summary.hist_counts)
            assert summary.hist_edges[0] <= summary.min and summary.hist_edges[-1] >= summary.max
            assert counts.sum() == summary.count
            assert counts[0] + counts[-1] < 0.5 * counts.sum()  # not piled into the edge bins
    # The heatmap over steps turns its value axis logarithmic away from 0, so step 0 stays visible.
    history = run.history()
    # The asinh axis is linear only within a zone narrower than step 0's own range, so step 0 is not squashed.
    conv4_at_0 = history[(history["layer"] == "conv4") & (history["step"] == 0)].iloc[0]
    step0_span = float(conv4_at_0["hist_hi"] - conv4_at_0["hist_lo"])
    assert 0 < curves.heatmap_scale(history, "conv4") < step0_span
    table = curves.heatmap_table(history, "conv4")
    step0 = table[table["step"] == 0]
    assert (step0["count"] > 0.5).sum() >= 5  # step 0's narrow histogram spreads over several rows
