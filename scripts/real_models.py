"""Real networks nobody on this team wrote, and what a careful engineer expects cnnviz to say.

Each entry builds a model in a few lines (Keras application networks with ``weights=None``,
the keras-io MNIST convnet, small models that exercise BatchNorm, an in-model Rescaling,
Dropout) or names a zoo configuration (deep plain MLPs), and lists the finding kinds that
*must* appear and those that must *not* (false alarms) at step 0 and after 3 Adam steps.
``tests/test_real_models.py`` checks every entry; run this file to print the README table:

    python scripts/real_models.py            # markdown table: model -> findings at step 0 / after 3 steps
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

from cnnviz.config import RunConfig  # noqa: E402

SMALL = (32, 32, 3)  # the smallest input every application network here accepts
STEPS = 3
BATCH = 16
ALARMS = {"exploding_activations", "vanishing_activations", "dead_relu", "saturated_softmax", "uniform_softmax",
          "sigmoid_saturation", "exploding_gradients", "vanishing_gradients", "non_finite", "update_ratio_high",
          "update_ratio_low"}


@dataclass(frozen=True)
class Case:
    """One network and the findings a careful engineer would sign for it."""

    name: str
    description: str
    build: Callable[[], keras.Model] | None = None  # a user's model ...
    config: RunConfig | None = None  # ... or a zoo configuration
    expect_at_init: frozenset = frozenset()  # kinds that must be reported at step 0
    expect_after: frozenset = frozenset()  # kinds that must be reported after STEPS steps
    allow: frozenset = frozenset()  # kinds that may appear (anything else from ALARMS is a false alarm)
    input_range: str | None = None  # the range cnnviz must detect for a user's model
    slow: bool = False  # deep application networks: the test runs them at step 0 only
    notes: tuple = field(default_factory=tuple)

    def forbidden(self) -> set[str]:
        return ALARMS - self.expect_at_init - self.expect_after - self.allow


def keras_mnist_convnet() -> keras.Model:
    """keras-io "Simple MNIST convnet", as published (Keras default initializers)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(10, activation="softmax"),
    ], name="keras_io_mnist_convnet")


def batchnorm_sequential() -> keras.Model:
    """Conv → BatchNorm → ReLU blocks without biases, the usual modern pattern."""
    layers = [keras.Input((28, 28, 1))]
    for filters in (16, 32, 64):
        layers += [keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
                   keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    return keras.Sequential(layers, name="batchnorm_sequential")


def rescaling_inside() -> keras.Model:
    """A convnet that expects raw 0-255 pixels and rescales them itself (keras-io's image examples)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ], name="rescaling_inside")


def dropout_mlp() -> keras.Model:
    """An MLP with Dropout between its layers (stochastic: seeds must make it reproducible)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(64, activation="relu"), keras.layers.Dropout(0.3), keras.layers.Dense(10),
    ], name="dropout_mlp")


def application(name: str, **kwargs) -> Callable[[], keras.Model]:
    def build() -> keras.Model:
        return getattr(keras.applications, name)(input_shape=SMALL, weights=None, classes=10, **kwargs)
    build.__name__ = name
    return build


CATALOGUE: list[Case] = [
    Case("keras-io MNIST convnet", "Conv 32-64, dropout, softmax head, Keras defaults", build=keras_mnist_convnet,
         input_range="0-1"),
    Case("BatchNorm Sequential", "3 x (Conv → BatchNorm → ReLU), no biases", build=batchnorm_sequential,
         input_range="0-1"),
    Case("Rescaling(1/255) inside", "expects 0-255 pixels", build=rescaling_inside, input_range="0-255"),
    Case("Dropout MLP", "Dense 128-64 with Dropout 0.3", build=dropout_mlp, input_range="0-1"),
    Case("MobileNetV2 (α 0.35)", "keras.applications, weights=None, 32x32", build=application("MobileNetV2", alpha=0.35),
         input_range="0-1"),
    Case("MobileNetV3Small", "keras.applications; Rescaling inside", build=application("MobileNetV3Small"),
         input_range="0-255", slow=True),
    Case("EfficientNetB0", "keras.applications; Rescaling + Normalization inside", build=application("EfficientNetB0"),
         input_range="0-255", slow=True),
    Case("ResNet50", "keras.applications, weights=None, 32x32", build=application("ResNet50"), input_range="0-1",
         slow=True),
    Case("plain MLP, 20 x 256 ReLU, N(0,1)", "values reach ~1e23, all finite",
         config=RunConfig(arch="plain_mlp", depth=20, width=256, activation="relu", init="normal", batch_size=BATCH),
         expect_at_init=frozenset({"exploding_activations", "saturated_softmax"}),
         # Gradients reach ~1e21, so Adam's running average of g² overflows float32 at step 2: a real NaN,
         # which the halt blames on the exploding signal (not on the learning rate).
         expect_after=frozenset({"exploding_activations", "non_finite"}),
         allow=frozenset({"update_ratio_low", "exploding_gradients"})),
    Case("plain MLP, 20 x 256 ReLU, N(0,0.01²)", "the signal dies layer by layer",
         config=RunConfig(arch="plain_mlp", depth=20, width=256, activation="relu", init="normal-0.01",
                          batch_size=BATCH),
         expect_at_init=frozenset({"vanishing_activations", "uniform_softmax"}),
         expect_after=frozenset({"vanishing_activations"}),
         allow=frozenset({"vanishing_gradients", "update_ratio_high", "update_ratio_low", "dead_relu"})),
]


def run_case(case: Case, steps: int = STEPS, seed: int = 0):
    """(run, findings at step 0, findings after ``steps`` steps) for one catalogue entry."""
    from cnnviz.diagnosis import diagnose_run
    from cnnviz.training import Run
    from cnnviz.usermodels.run import prepare_user_run

    if case.config is not None:
        run = Run(case.config.replace(seed=seed))
    else:
        config = RunConfig(arch=f"file:{case.name}", init="from-file", optimizer="adam", lr=1e-3,
                           batch_size=BATCH, seed=seed)
        run = prepare_user_run(case.build(), config, source=case.name)
    run.snapshot_at_init()
    at_init = diagnose_run(run)
    run.train(steps)
    return run, at_init, diagnose_run(run)


def _cell(findings) -> str:
    shown = [f"{f.severity} `{f.kind}` ({f.layer})" for f in findings if f.severity in ("error", "warning")]
    return "; ".join(shown) or "none"


def main() -> None:
    print("| model | what it is | findings at step 0 | after 3 Adam steps |")
    print("| --- | --- | --- | --- |")
    for case in CATALOGUE:
        _, at_init, after = run_case(case)
        print(f"| {case.name} | {case.description} | {_cell(at_init)} | {_cell(after)} |", flush=True)


if __name__ == "__main__":
    main()
