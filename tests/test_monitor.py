"""ActivationMonitor in real model.fit runs on the embedded MNIST sample.

Every number the monitor records is checked against an independent computation on
the same weights (Keras layers called directly, NumPy, a GradientTape), the
TensorBoard events are read back from disk, and the user's training is shown to be
bit-for-bit what it is without the monitor.
"""

from __future__ import annotations

import glob
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnviz.data import load_dataset
from cnnviz.keras import ActivationMonitor, read_run_folder

DATA = load_dataset("mnist-sample")
PROBE = 32


def digits(n: int, start: int = 0):
    idx = np.arange(start, start + n)
    return DATA.images("train", idx), DATA.labels("train", idx)


def he(seed):
    return keras.initializers.HeNormal(seed=seed)


def small_convnet() -> keras.Model:
    """conv1 (linear, ReLU as its own layer) and conv2 with a fused ReLU: both kinds of pre-activation."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(8, 3, kernel_initializer=he(1), name="conv1")(inputs)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=he(2), name="conv2")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(10, kernel_initializer=he(3), name="logits")(h)
    return keras.Model(inputs, outputs, name="small_convnet")


def compile_model(model, optimizer=None):
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class Recorder(keras.callbacks.Callback):
    """What an independent observer sees: per-batch losses and the weights around every step."""

    def __init__(self):
        super().__init__()
        self.losses, self.before, self.after = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.before.append([v.numpy().copy() for v in self.model.trainable_variables])

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))
        self.after.append([v.numpy().copy() for v in self.model.trainable_variables])


@pytest.fixture(scope="module")
def convnet_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "convnet"
    x, y = digits(128)
    probe_x, probe_y = digits(PROBE, start=1000)
    model = compile_model(small_convnet())
    recorder = Recorder()
    monitor = ActivationMonitor(folder, data=(probe_x, probe_y), every=4, bins=40, tensorboard=True)
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[monitor, recorder])
    return {"folder": folder, "model": model, "monitor": monitor, "recorder": recorder, "history": history,
            "probe": (probe_x, probe_y)}


def test_probes_at_fit_start_and_every_k_steps_with_their_epoch_and_batch(convnet_run):
    run = read_run_folder(convnet_run["folder"])
    assert [s.step for s in run.snapshots] == [0, 4, 8]  # 2 epochs x 4 batches, every=4
    assert [r["epoch"] for r in run.records] == [0, 0, 1] and [r["batch"] for r in run.records] == [None, 3, 3]
    assert run.layer_names == ["conv1", "conv2", "logits"]
    assert [l.activation for l in run.snapshots[-1].layers] == ["relu", "relu", "linear"]
    assert run.finished and run.meta["monitor"]["probe_examples"] == PROBE
    assert convnet_run["monitor"]._probe._probe.experimental_get_tracing_count() == 1  # traced once, run 3 times


def test_pre_activations_match_an_independent_forward_pass(convnet_run):
    model, (probe_x, _) = convnet_run["model"], convnet_run["probe"]
    last = read_run_folder(convnet_run["folder"]).snapshots[-1]  # step 8: the final weights
    conv1 = keras.Model(model.inputs[0], model.get_layer("conv1").output)(probe_x).numpy()
    pooled = keras.Model(model.inputs[0], model.get_layer("conv2").input)(probe_x)
    conv2 = model.get_layer("conv2")
    z2 = (keras.ops.conv(pooled, conv2.kernel) + conv2.bias).numpy()  # the fused layer's z, not relu(z)
    for name, z in (("conv1", conv1), ("conv2", z2)):
        pre = last.layer(name).pre_activation
        assert pre.count == z.size and sum(pre.hist_counts) == z.size
        assert pre.mean == pytest.approx(z.mean(), rel=1e-4, abs=1e-6)
        assert pre.std == pytest.approx(z.std(), rel=1e-4)
        assert (pre.min, pre.max) == pytest.approx((z.min(), z.max()), rel=1e-5)
        assert pre.frac_nonpositive == pytest.approx((z <= 0).mean(), abs=1e-6)
        counts, _ = np.histogram(z, bins=np.asarray(pre.hist_edges))
        assert np.abs(counts - np.asarray(pre.hist_counts)).sum() <= 2  # edge rounding only
    assert last.layer("conv2").pre_activation.min < 0  # recovered z, where relu(z) would be ≥ 0


def test_gradient_norms_and_update_ratios_match_an_independent_computation(convnet_run):
    model, recorder = convnet_run["model"], convnet_run["recorder"]
    probe_x, probe_y = convnet_run["probe"]
    last = read_run_folder(convnet_run["folder"]).snapshots[-1]
    kernels = [model.get_layer(name).kernel for name in ("conv1", "conv2", "logits")]
    with tf.GradientTape() as tape:
        loss = model.loss(probe_y, model(probe_x, training=True))
    grads = tape.gradient(loss, kernels)
    names = [v.path for v in model.trainable_variables]
    for kernel, grad, name in zip(kernels, grads, ("conv1", "conv2", "logits")):
        layer = last.layer(name)
        assert layer.grad_norm == pytest.approx(float(tf.norm(grad)), rel=1e-4)
        index = names.index(kernel.path)
        before, after = recorder.before[-1][index], recorder.after[-1][index]  # step 8's update
        assert layer.update_norm == pytest.approx(np.linalg.norm(after - before), rel=1e-4)
        assert layer.update_ratio == pytest.approx(np.linalg.norm(after - before) / np.linalg.norm(after), rel=1e-4)
    first = read_run_folder(convnet_run["folder"]).snapshots[0]
    assert not first.trained and all(l.update_norm is None for l in first.layers)


def test_loss_accuracy_and_softmax_are_those_of_the_probe_batch(convnet_run):
    model, (probe_x, probe_y) = convnet_run["model"], convnet_run["probe"]
    run = read_run_folder(convnet_run["folder"])
    last = run.snapshots[-1]
    logits = model(probe_x).numpy().astype(np.float64)
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    assert last.loss == pytest.approx(-log_probs[np.arange(PROBE), probe_y].mean(), rel=1e-4)
    assert last.accuracy == pytest.approx((logits.argmax(1) == probe_y).mean())
    assert last.softmax["predicted_counts"] == np.bincount(logits.argmax(1), minlength=10).tolist()
    assert run.records[-1]["model_loss"] == pytest.approx(last.loss, rel=1e-4)  # the compiled loss is the same CE
    assert last.logits.count == PROBE * 10


def test_tensorboard_histograms_read_back_from_the_event_files(convnet_run):
    files = glob.glob(str(convnet_run["folder"] / "events.out.tfevents.*"))
    assert len(files) == 1
    histograms, scalars = {}, {}
    for event in tf.compat.v1.train.summary_iterator(files[0]):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "histograms":
                histograms[(value.tag, event.step)] = tf.make_ndarray(value.tensor)
            elif value.HasField("tensor"):
                scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    run = read_run_folder(convnet_run["folder"])
    for snapshot in run.snapshots:
        for layer in snapshot.layers:
            table = histograms[(f"pre_activation/{layer.name}", snapshot.step)]
            assert table.shape == (40, 3)
            assert table[:, 2].sum() == layer.pre_activation.count  # every value of the tensor, once
            assert np.allclose(table[:, 0], layer.pre_activation.hist_edges[:-1])
    model = convnet_run["model"]
    gradient = histograms[("gradients/conv2", 8)]
    assert gradient[:, 2].sum() == model.get_layer("conv2").kernel.numpy().size
    last = run.snapshots[-1]
    assert scalars[("update_ratio/conv1", 8)] == pytest.approx(last.layer("conv1").update_ratio, rel=1e-6)
    assert scalars[("pre_activation_std/logits", 8)] == pytest.approx(last.layer("logits").pre_activation.std, rel=1e-6)


def bn_dropout_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, kernel_initializer=he(1), name="conv1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3, seed=7),
        keras.layers.Dense(32, activation="relu", kernel_initializer=he(2), name="fc1"),
        keras.layers.Dense(10, kernel_initializer=he(3), name="logits"),
    ], name="bn_dropout")


def test_training_is_identical_with_and_without_the_monitor(tmp_path):
    """BatchNorm moving statistics, dropout seeds, metrics and optimizer slots all untouched."""
    x, y = digits(160)
    outcomes = []
    for monitored in (False, True):
        model = compile_model(bn_dropout_model())
        recorder = Recorder()
        callbacks = [recorder] + ([ActivationMonitor(tmp_path / "run", data=digits(PROBE, 2000), every=1)]
                                  if monitored else [])
        history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        outcomes.append((recorder.losses, history.history["loss"], [v.numpy() for v in model.variables],
                         [v.numpy() for v in model.optimizer.variables]))
    (losses, epoch_losses, weights, slots), (m_losses, m_epoch_losses, m_weights, m_slots) = outcomes
    assert m_losses == losses and m_epoch_losses == epoch_losses  # exactly, every batch
    assert all(np.array_equal(a, b) for a, b in zip(weights, m_weights))  # incl. moving mean/variance
    assert all(np.array_equal(a, b) for a, b in zip(slots, m_slots))
    run = read_run_folder(tmp_path / "run")
    assert len(run.snapshots) == 11 and run.layer_names == ["conv1", "fc1", "logits"]


def test_nested_model_is_probed_through_its_inner_layers(tmp_path):
    backbone = keras.Sequential([keras.Input((28, 28, 1)),
                                 keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=he(1), name="inner_conv"),
                                 keras.layers.GlobalAveragePooling2D()], name="backbone")
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer=he(2), name="head")(backbone(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = digits(64)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0,
              callbacks=[ActivationMonitor(tmp_path / "nested", data=digits(16, 500), every=1)])
    run = read_run_folder(tmp_path / "nested")
    assert run.layer_names == ["inner_conv", "head"] and run.meta["model"]["output_kind"] == "softmax"
    head = run.snapshots[-1].layer("head")
    assert head.pre_activation.min < 0  # the logits under the softmax, not probabilities
    probs = model(digits(16, 500)[0]).numpy()
    assert run.snapshots[-1].accuracy == pytest.approx((probs.argmax(1) == digits(16, 500)[1]).mean())


def exploding_mlp() -> keras.Model:
    inputs = keras.Input((784,))
    h = keras.layers.Dense(64, activation="relu", kernel_initializer=he(1), name="fc1")(inputs)
    h = keras.layers.Dense(64, activation="relu", kernel_initializer=he(2), name="fc2")(h)
    outputs = keras.layers.Dense(10, kernel_initializer=he(3), name="logits")(h)
    return compile_model(keras.Model(inputs, outputs), keras.optimizers.SGD(1e6))


def first_nonfinite_layer(weights: list[np.ndarray], x: np.ndarray) -> str:
    """NumPy forward pass of exploding_mlp with the given (kernel, bias) list."""
    h = x.astype(np.float32)
    for name, (kernel, bias) in zip(("fc1", "fc2", "logits"), zip(weights[0::2], weights[1::2])):
        with np.errstate(all="ignore"):
            z = h @ kernel + bias
        if not np.all(np.isfinite(z)):
            return name
        h = np.maximum(z, 0)
    raise AssertionError("the forward pass stayed finite")


def test_first_nan_names_its_step_batch_and_layer_and_stops(tmp_path, capsys):
    x, y = digits(256)
    x = x.reshape(len(x), -1)
    probe_x, probe_y = x[:PROBE], y[:PROBE]
    model, recorder = exploding_mlp(), Recorder()
    monitor = ActivationMonitor(tmp_path / "nan", data=(probe_x, probe_y), every=100, stop_on_nan=True)
    model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0, callbacks=[monitor, recorder])
    bad_step = next(i for i, loss in enumerate(recorder.losses) if not math.isfinite(loss)) + 1
    assert len(recorder.losses) == bad_step  # stopped right there, not 24 steps later
    expected_layer = first_nonfinite_layer(recorder.before[bad_step - 1], probe_x)
    report = monitor.first_nonfinite
    assert (report["step"], report["batch"], report["layer"]) == (bad_step, bad_step - 1, expected_layer)
    printed = capsys.readouterr().out
    assert f"step {bad_step} (epoch 1, batch {bad_step})" in printed and expected_layer in printed
    assert "training stopped" in printed
    run = read_run_folder(tmp_path / "nan")
    assert run.halted is not None and run.halted.layer == expected_layer
    findings = run.findings()
    assert findings[0].kind == "non_finite" and findings[0].layer == expected_layer
    assert findings[0].step == bad_step


def test_regression_output_records_pre_activations_and_says_softmax_does_not_apply(tmp_path):
    x, _ = digits(64)
    targets = x.reshape(64, -1).mean(axis=1, keepdims=True)  # mean brightness: a real regression target
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="tanh", kernel_initializer=he(1), name="fc1"),
                              keras.layers.Dense(1, name="brightness")])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, targets, batch_size=32, epochs=1, verbose=0,
              callbacks=[ActivationMonitor(tmp_path / "reg", data=(x[:16], targets[:16]), every=1)])
    run = read_run_folder(tmp_path / "reg")
    last = run.snapshots[-1]
    assert run.meta["model"]["output_kind"] == "regression" and run.classes is None
    assert last.softmax["applies"] is False and "do not apply" in last.softmax["note"]
    assert math.isnan(last.accuracy)
    assert last.loss == pytest.approx(float(np.mean((model(x[:16]).numpy() - targets[:16]) ** 2)), rel=1e-4)
    assert last.layer("fc1").grad_norm > 0 and last.layer("fc1").activation == "tanh"
    assert not [f for f in run.findings() if "softmax" in f.kind]
