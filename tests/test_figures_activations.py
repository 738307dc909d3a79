"""The activation figures tell the truth about real runs, and never carry a NaN.

Real Keras runs of the seed tutorials' 4-layer convnet on the embedded MNIST sample
(small batches, a handful of steps), built once for the whole file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnviz.config import RunConfig
from cnnviz.figures import activations as figs
from cnnviz.figures import training_curves as curves
from cnnviz.probing.histograms import Summary
from cnnviz.training import Run

BATCH = 16


def all_numbers(value):
    """Every number inside a figure's data (lists, nested lists, dicts)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from all_numbers(item)
    elif isinstance(value, (list, tuple, np.ndarray)):
        for item in value:
            yield from all_numbers(item)
    elif isinstance(value, (float, np.floating)):
        yield float(value)


def assert_no_nan(fig):
    data = fig.to_dict()["data"]
    bad = [v for v in all_numbers(data) if not math.isfinite(v)]
    assert not bad, f"non-finite numbers in the figure: {bad[:5]}"


def title_of(fig) -> str:
    return figs.full_title(fig)  # details (notes on what was left out) sit in the subtitle


@pytest.fixture(scope="module")
def runs():
    """Three initializers at step 0 on the same batch, He trained 4 steps, SGD lr 1e6 halted."""
    made = {}
    for init in ("normal", "normal-0.01", "he-normal"):
        run = Run(RunConfig(arch="ltfn_convnet", init=init, batch_size=BATCH, seed=0))
        run.snapshot_at_init()
        made[init] = run
    made["he-normal"].train(4)
    blown = Run(RunConfig(arch="ltfn_convnet", init="he-normal", optimizer="sgd", lr=1e6, batch_size=BATCH, seed=0))
    blown.train(6)
    made["blown"] = blown
    return made


def test_histogram_grid_draws_every_layer_with_all_its_values(runs):
    snapshot = runs["he-normal"].latest
    fig = figs.histogram_grid(snapshot)
    assert f"step {snapshot.step}" in title_of(fig)
    assert len(fig.data) == len(snapshot.layers)
    subplot_titles = [a.text for a in fig.layout.annotations]
    for layer, trace in zip(snapshot.layers, fig.data):
        assert any(layer.name in t and "σ=" in t for t in subplot_titles)
        assert sum(trace.y) == sum(layer.pre_activation.hist_counts)  # nothing lost or invented
    assert any("pre-activation value" == a.text for a in fig.layout.annotations)
    assert_no_nan(fig)


def test_histogram_grid_options_share_x_and_log_the_counts(runs):
    fig = figs.histogram_grid(runs["normal"].latest, shared_x=True, log_counts=True)
    y_axes = [fig.layout[name] for name in fig.layout if name.startswith("yaxis")]
    x_axes = [fig.layout[name] for name in fig.layout if name.startswith("xaxis")]
    assert y_axes and all(axis.type == "log" for axis in y_axes)  # shared axis titles live in annotations
    assert all(axis.matches == "x" for axis in x_axes)
    assert any("count (log scale)" == a.text for a in fig.layout.annotations)


def test_post_activation_moves_relu_mass_to_zero_and_keeps_the_total(runs):
    snapshot = runs["he-normal"].snapshots[0]
    pre = figs.histogram_table(snapshot)
    post = figs.histogram_table(snapshot, post_activation=True)
    for layer in snapshot.layers:
        before = pre[pre.layer == layer.name]
        after = post[post.layer == layer.name]
        assert after["count"].sum() == before["count"].sum()
        if layer.activation == "relu":
            assert after["bin_left"].min() == 0.0  # nothing negative survives a ReLU
            zero_bin = after.sort_values("bin_left").iloc[0]["count"]
            # the 0 bin holds (at least) every value that was ≤ 0
            assert zero_bin >= layer.pre_activation.frac_nonpositive * layer.pre_activation.count * 0.999
        else:  # the logits are linear: unchanged
            assert after["count"].tolist() == before["count"].tolist()


def test_post_activation_sigmoid_piles_large_inputs_at_0_and_1():
    edges = np.linspace(-12, 12, 51).tolist()
    counts = [100] * 50
    summary = Summary(0.0, 7.0, -12.0, 12.0, 0.5, 0, 5000, edges, counts)
    new_edges, new_counts = figs.layer_histogram(summary, "sigmoid", post_activation=True)
    assert new_edges[0] == 0.0 and new_edges[-1] == 1.0
    assert new_counts.sum() == 5000
    # Saturation: most of the mass sits in the outermost bins, almost none in the middle.
    assert new_counts[0] + new_counts[-1] > 0.6 * 5000
    assert new_counts[20:30].sum() < 0.1 * 5000


def test_std_per_layer_is_log_scaled_and_overlays_the_prediction(runs):
    run = runs["he-normal"]
    predicted = {layer.name: 0.5 for layer in run.snapshots[0].layers}
    fig = figs.std_per_layer([("step 0", run.snapshots[0]), ("now", run.latest)], predicted,
                             predicted_label="theory")
    assert fig.layout.yaxis.type == "log"
    assert "log" in fig.layout.yaxis.title.text and fig.layout.xaxis.title.text
    measured = fig.data[0]
    assert list(measured.x) == [l.name for l in run.snapshots[0].layers]
    assert list(measured.y) == pytest.approx([l.pre_activation.std for l in run.snapshots[0].layers])
    theory = fig.data[-1]
    assert theory.name == "theory" and theory.line.dash == "dash"
    assert_no_nan(fig)


def test_compare_std_chart_shows_explode_above_he_above_vanish(runs):
    snapshots = {init: runs[init].snapshots[0] for init in ("normal", "normal-0.01", "he-normal")}
    fig = figs.compare_std_chart(snapshots)
    last = {trace.name: trace.y[-1] for trace in fig.data}
    assert last["normal"] > 1e4 * last["he-normal"]  # N(0,1) explodes by the logits
    assert last["normal-0.01"] < 1e-2 * last["he-normal"]  # 0.01 vanishes
    tick_span = max(fig.layout.yaxis.tickvals) / min(fig.layout.yaxis.tickvals)
    assert tick_span > 1e6  # the axis labels cover the decades the lines span


def test_comparison_table_reads_like_the_lesson(runs):
    snapshots = {init: runs[init].snapshots[0] for init in ("normal", "normal-0.01", "he-normal")}
    table = figs.init_comparison_table(snapshots).set_index("initializer")
    assert table.loc["normal-0.01", "loss"] == pytest.approx(math.log(10), abs=1e-3)  # uniform softmax
    assert table.loc["normal", "max softmax prob (mean)"] > 0.99  # certain of everything
    assert table.loc["normal", "growth last/first"] > 1e3


def test_histogram_heatmap_has_one_column_per_probed_step(runs):
    history = runs["he-normal"].history()
    fig = curves.histogram_heatmap(history, "conv4")
    heat = fig.data[0]
    assert list(heat.x) == sorted(history[history.layer == "conv4"].step.unique())
    z = np.asarray(heat.z, dtype=float)
    assert z.shape == (len(heat.y), len(heat.x)) and np.all(np.isfinite(z)) and z.min() >= 0
    assert "conv4" in title_of(fig) and fig.layout.xaxis.title.text == "training step"
    table = curves.heatmap_table(history, "conv4")
    per_step = table.groupby("step")["count"].sum()
    counts = history[history.layer == "conv4"].set_index("step")["hist_counts"].map(sum)
    assert per_step.to_dict() == pytest.approx(counts.to_dict())  # re-binning onto one grid keeps every value


def test_gradient_chart_has_log_axes_and_the_1e3_band(runs):
    fig = curves.gradient_and_update_chart(runs["he-normal"].history())
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    layers = {trace.name for trace in fig.data}
    assert layers == {l.name for l in runs["he-normal"].latest.layers}
    band = [shape for shape in fig.layout.shapes if shape.type == "rect"]
    assert band and band[0].y0 < 1e-3 < band[0].y1
    assert_no_nan(fig)
    at_init = curves.gradient_and_update_chart(runs["normal"].history())  # step 0: a gradient, no update yet
    gradients = [t for t in at_init.data if t.xaxis in (None, "x")]
    assert gradients and all(len(t.y) == 1 for t in gradients)
    assert not any(len(t.y) for t in at_init.data if t.xaxis == "x2")
    assert any("Step or Train" in a.text for a in at_init.layout.annotations)


def test_loss_curve_single_and_per_initializer(runs):
    history = runs["he-normal"].history()
    fig = curves.loss_curve(history, chance_loss=math.log(10))
    assert [trace.name for trace in fig.data] == ["loss", "batch accuracy"]
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].y) == pytest.approx(curves.loss_table(history)["loss"].tolist())
    assert any(shape.y0 == pytest.approx(math.log(10)) for shape in fig.layout.shapes)
    several = curves.loss_curve([(init, runs[init].history()) for init in ("normal", "he-normal")])
    assert [trace.name for trace in several.data] == ["normal", "he-normal"]


def test_a_halted_run_is_drawn_without_nan(runs):
    blown = runs["blown"]
    assert blown.halted is not None
    history = blown.history()
    assert not history["finite"].all()  # the step that blew up is recorded …
    figures = [figs.histogram_grid(blown.latest), figs.std_per_layer(blown.latest),
               curves.loss_curve(history), curves.gradient_and_update_chart(history),
               curves.histogram_heatmap(history, "conv1")]
    for fig in figures:  # … and every chart of it stays plottable
        assert_no_nan(fig)
    assert "non-finite loss" in title_of(figures[2])
