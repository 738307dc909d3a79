"""The backward signal per layer and the depth view, against independent computations.

* ``LayerSnapshot.backward_std`` (measured in the training core's compiled step) against a
  GradientTape over the same Keras layers called one by one on the same batch;
* the backward variance rule (cnnviz.nets.backward) against the measured chain, and its
  E[f'(z)²] against Monte Carlo;
* the depth view's numbers (cnnviz.nets.depth_view) against the snapshots and
  theory.plain_chain, and the figures' traces.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from cnnviz.config import RunConfig
from cnnviz.figures.backward import backward_signal_figure, backward_table, layers_to_draw
from cnnviz.figures.depth import depth_view_figure
from cnnviz.figures.style import full_title
from cnnviz.nets.backward import SLOPES, backward_chain, backward_theory_for, backward_theory_reason, slope_second_moment
from cnnviz.nets.depth_view import depth_profile_of_runs
from cnnviz.nets.forward import WEIGHTED_TYPES, forward
from cnnviz.nets.initializers import make_initializer
from cnnviz.nets.weight_variance import weight_variance
from cnnviz.training import Run


def tape_backward_std(model, images, labels) -> dict[str, float]:
    """std of ∂(mean cross-entropy)/∂(output) of every conv/dense layer, by GradientTape on a
    layer-by-layer forward pass in training mode (independent of the core's probed model)."""
    outputs = {}
    with tf.GradientTape() as tape:
        def record(layer, inputs, output):
            tape.watch(output)
            outputs[layer.name] = output
            return output
        logits = forward(model, images, training=True, visit=record)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    grads = tape.gradient(loss, list(outputs.values()))
    return {name: float(np.std(np.asarray(g, dtype=np.float64))) for name, g in zip(outputs, grads)}


@pytest.mark.parametrize("config", [
    RunConfig(arch="plain_mlp", depth=4, width=64, activation="tanh", init="standard-uniform", optimizer="sgd",
              lr=0.1, batch_size=32),
    RunConfig(arch="plain_cnn", depth=3, width=8, activation="relu", norm="batch", residual=True, init="he-normal",
              optimizer="adam", lr=0.01, batch_size=16),
], ids=["mlp-tanh", "cnn-batchnorm-residual"])
def test_backward_std_matches_an_independent_gradient_tape(config):
    run = Run(config)
    for step in (0, 1, 2):  # at init, and after updates (the weights the snapshot describes)
        if step:
            run.step()
        snapshot = run.latest
        images, labels = run.batch(snapshot.batch)
        with run.weights_loaded() as model:
            expected = tape_backward_std(model, images, labels)
            assert [l.name for l in snapshot.layers] == [l.name for l in model.layers
                                                         if isinstance(l, WEIGHTED_TYPES)]
        for layer in snapshot.layers:
            assert layer.backward_std == pytest.approx(expected[layer.name], rel=1e-4), (step, layer.name)


@pytest.mark.parametrize("activation", list(SLOPES))
@pytest.mark.parametrize("mean, std", [(0.0, 0.3), (0.4, 1.7), (-1.0, 6.0)])
def test_slope_second_moment_matches_monte_carlo(activation, mean, std):
    z = np.random.default_rng(3).normal(mean, std, 2_000_000)
    expected = np.mean(SLOPES[activation](z) ** 2)
    assert slope_second_moment(activation, mean, std) == pytest.approx(expected, rel=5e-3, abs=1e-6)


def test_slopes_are_the_derivatives_of_the_activations():
    from cnnviz.nets.activations import FUNCTIONS, canonical

    z = np.linspace(-3, 3, 61) + 0.013  # off the kinks
    for name, slope in SLOPES.items():
        f = FUNCTIONS[canonical(name)]
        numeric = (f(z + 1e-6) - f(z - 1e-6)) / 2e-6
        np.testing.assert_allclose(slope(z), numeric, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("activation, init, factor", [
    ("tanh", "standard-uniform", math.sqrt(1 / 3)),  # Glorot & Bengio's standard init, linear regime
    ("relu", "he-normal", 1.0),  # He: n·Var[w]·E[f'²] = n·(2/n)·½
])
def test_backward_rule_predicts_the_measured_chain(activation, init, factor):
    config = RunConfig(arch="plain_mlp", depth=8, width=512, activation=activation, init=init, batch_size=100)
    run = Run(config)
    snapshot = run.snapshot_at_init()
    chain = backward_chain(snapshot, run.classes)
    hidden = chain.iloc[:-1]
    # Each hidden layer's measured value within 25% of the rule chained from the logits
    # (one finite net wanders around the expectation) ...
    assert np.all(np.abs(np.log(hidden["ratio"])) < np.log(1.25)), chain.to_string()
    # ... and the per-layer factor is what the text says, between hidden layers (the logits layer has 10 units).
    assert np.allclose(hidden["factor"].iloc[:-1], factor, rtol=0.12), chain.to_string()
    predicted, reason = backward_theory_for(config, snapshot, run.classes)
    assert reason is None and predicted["dense1"] == pytest.approx(chain["predicted"].iloc[0])


def test_backward_rule_says_where_it_does_not_apply():
    assert backward_theory_reason("ltfn_convnet") and backward_theory_reason("plain_cnn")
    assert "batch" in backward_theory_reason("plain_mlp", "batch")
    assert "skips" in backward_theory_reason("plain_mlp", "none", True)
    assert backward_theory_reason("plain_mlp", "none", False, "relu") is None


def test_backward_figure_draws_layers_steps_and_theory():
    config = RunConfig(arch="plain_mlp", depth=3, width=32, activation="tanh", init="standard-uniform",
                       optimizer="sgd", lr=0.1, batch_size=32)
    run = Run(config)
    initial = run.snapshot_at_init()
    run.train(3)
    history = run.history()
    predicted, reason = backward_theory_for(config, initial, run.classes)
    figure = backward_signal_figure([("step 0", initial), ("step 3", run.latest)], history, predicted, reason)
    names = [trace.name for trace in figure.data]
    assert names[:3] == ["step 0", "step 3", "theory (step 0)"]
    theory = figure.data[2]
    assert theory.line.dash == "dash" and list(theory.x) == ["dense1", "dense2", "dense3", "logits"]
    assert figure.layout.yaxis.type == "log" and figure.layout.yaxis2.type == "log"
    over_steps = [t for t in figure.data if t.xaxis == "x2"]
    assert [t.name for t in over_steps] == ["dense1", "dense2", "dense3", "logits"]
    assert list(over_steps[0].x) == [0, 1, 2, 3]
    assert list(over_steps[0].y) == pytest.approx([s.layer("dense1").backward_std for s in run.snapshots])
    table = backward_table(history)
    assert len(table) == 4 * 4 and table["backward_std"].gt(0).all()
    # No rule for a convnet: no dashed line, and the title says why.
    convnet = Run(RunConfig(arch="ltfn_convnet", batch_size=16))
    snap = convnet.snapshot_at_init()
    predicted, reason = backward_theory_for(convnet.config, snap, 10)
    figure = backward_signal_figure([("step 0", snap)], convnet.history(), predicted, reason)
    assert "no theory line" in full_title(figure) and all(t.name != "theory (step 0)" for t in figure.data)


def test_layers_to_draw_keeps_first_and_last():
    names = [f"dense{i}" for i in range(1, 101)] + ["logits"]
    picked = layers_to_draw(names, 12)
    assert len(picked) == 12 and picked[0] == "dense1" and picked[-1] == "logits"
    assert layers_to_draw(names[:5]) == names[:5]


@pytest.fixture(scope="module")
def deep_runs():
    base = RunConfig(arch="plain_mlp", depth=30, width=256, activation="relu", batch_size=100)
    return {init: Run(base.replace(init=init)) for init in ("glorot-uniform", "he-normal")}


def test_depth_view_puts_measured_next_to_the_chain(deep_runs):
    profile = depth_profile_of_runs(deep_runs)
    assert list(profile["label"].unique()) == ["glorot-uniform", "he-normal"]
    for label, run in deep_runs.items():
        rows = profile[profile["label"] == label]
        snapshot = run.snapshot_at_init()
        assert list(rows["index"]) == list(range(1, 32)) and list(rows["layer"])[-1] == "logits"
        assert list(rows["measured"]) == [l.pre_activation.std for l in snapshot.layers]
        assert rows["predicted_valid"].all()
    glorot = profile[profile["label"] == "glorot-uniform"].set_index("layer")
    he = profile[profile["label"] == "he-normal"].set_index("layer")
    # The chain: Glorot ×√½ per ReLU layer, He flat; the measured nets within 2.5x of it at dense30.
    assert glorot.loc["dense30", "predicted"] / glorot.loc["dense1", "predicted"] == pytest.approx(2 ** -14.5, rel=0.1)
    assert he.loc["dense30", "predicted"] / he.loc["dense1", "predicted"] == pytest.approx(1.0, rel=0.1)
    for frame in (glorot, he):
        assert 0.4 < frame.loc["dense30", "measured"] / frame.loc["dense30", "predicted"] < 2.5


def test_depth_view_figure_one_solid_and_one_dashed_line_per_initializer(deep_runs):
    figure = depth_view_figure(depth_profile_of_runs(deep_runs))
    assert [t.name for t in figure.data] == ["glorot-uniform (measured)", "glorot-uniform (theory)",
                                             "he-normal (measured)", "he-normal (theory)"]
    assert [t.line.dash for t in figure.data] == [None, "dash", None, "dash"]
    assert figure.data[0].line.color == figure.data[1].line.color != figure.data[2].line.color
    assert figure.layout.yaxis.type == "log" and max(figure.data[0].x) == 31


def test_depth_view_reaches_100_layers_and_leaves_out_what_a_log_axis_cannot_show():
    base = RunConfig(arch="plain_mlp", depth=100, width=64, activation="relu", batch_size=32)
    runs = {init: Run(base.replace(init=init)) for init in ("he-normal", "normal-0.01", "zeros")}
    profile = depth_profile_of_runs(runs)
    figure = depth_view_figure(profile)
    measured = {t.name: t for t in figure.data if t.name.endswith("(measured)")}
    assert max(measured["he-normal (measured)"].x) == 101
    assert "zeros: 101 layers" in full_title(figure)  # all-zero pre-activations: std 0, not drawn
    # N(0, 0.01²) falls below float32's range: the chain marks those layers invalid and draws none of them.
    small = profile[profile["label"] == "normal-0.01"]
    assert not small["predicted_valid"].iloc[-1]
    dashed = next(t for t in figure.data if t.name == "normal-0.01 (theory)")
    assert max(dashed.x) < 101 and all(np.isfinite(dashed.y)) and min(dashed.y) > 0


def test_standard_uniform_draws_the_variance_glorot_and_bengio_describe():
    for shape in [(784, 1000), (1000, 1000), (3, 3, 16, 32)]:
        drawn = np.asarray(make_initializer("standard-uniform", 5)(shape), dtype=np.float64)
        fan_in = int(np.prod(shape[:-1]))
        assert np.abs(drawn).max() <= 1 / math.sqrt(fan_in) + 1e-7  # U[-1/√n, 1/√n]
        expected = weight_variance("standard-uniform", shape)
        assert expected == pytest.approx(1 / (3 * fan_in))
        assert np.mean(drawn * drawn) == pytest.approx(expected, rel=4 * math.sqrt(2 / drawn.size))
