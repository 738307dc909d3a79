"""Small real Keras models and files for the bring-your-own-model tests and demos.

Tests import the builders and write files into ``tmp_path`` (no binary models are
committed). Run as a script to get the same files for trying the "Your model" page:

    python scripts/make_test_models.py /tmp/cnnviz-models

Good files: ``fused.keras`` (Conv2D/Dense with built-in activations, softmax head),
``resnet_like.keras`` (residual Add, BatchNorm, a nested Sequential), ``logits.keras``
(a Sequential with a linear output). Bad files: ``lambda.keras``, ``custom.keras``,
``legacy.h5``, ``truncated.keras``, ``not_a_zip.keras``, ``bomb.keras``,
``no_dense.keras``, ``two_outputs.keras``.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

MNIST = (28, 28, 1)


def _seeded(seed: int):
    return {"kernel_initializer": keras.initializers.HeNormal(seed=seed)}


def fused_model(classes: int = 10) -> keras.Model:
    """Functional CNN whose Conv2D/Dense layers carry their activation (relu, tanh, softmax)."""
    inputs = keras.Input(MNIST)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv_relu", **_seeded(1))(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="tanh", name="conv_tanh", **_seeded(2))(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="dense_relu", **_seeded(3))(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="head", **_seeded(4))(x)
    return keras.Model(inputs, outputs, name="fused")


def resnet_like_model(classes: int = 10) -> keras.Model:
    """A residual block (Conv-BN-ReLU twice, Add) and a Sequential nested in a functional model."""
    inputs = keras.Input(MNIST)
    stem = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem", **_seeded(5))(inputs)
    y = keras.layers.Conv2D(8, 3, padding="same", name="res_a", **_seeded(6))(stem)
    y = keras.layers.BatchNormalization(name="res_a_bn")(y)
    y = keras.layers.ReLU(name="res_a_relu")(y)
    y = keras.layers.Conv2D(8, 3, padding="same", name="res_b", **_seeded(7))(y)
    x = keras.layers.Add(name="residual_add")([stem, y])
    x = keras.layers.Activation("relu", name="block_out")(x)
    head = keras.Sequential([keras.Input((28, 28, 8)),
                             keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="inner_conv", **_seeded(8)),
                             keras.layers.GlobalAveragePooling2D(name="inner_gap"),
                             keras.layers.Dense(classes, name="inner_logits", **_seeded(9))], name="inner_head")
    outputs = keras.layers.Softmax(name="probabilities")(head(x))
    return keras.Model(inputs, outputs, name="resnet_like")


def logits_model(classes: int = 10) -> keras.Model:
    """A Sequential MLP with a linear last layer: its output is logits, not probabilities."""
    return keras.Sequential([keras.Input(MNIST), keras.layers.Flatten(),
                             keras.layers.Dense(32, activation="relu", name="hidden", **_seeded(10)),
                             keras.layers.Dense(classes, name="scores", **_seeded(11))], name="mlp_logits")


def hidden_softmax_model(classes: int = 10) -> keras.Model:
    """Probabilities that no softmax layer announces last (a Reshape follows the softmax)."""
    inputs = keras.Input(MNIST)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(classes, activation="softmax", name="soft", **_seeded(12))(x)
    return keras.Model(inputs, keras.layers.Reshape((classes,), name="reshape")(x), name="hidden_softmax")


def lambda_model(marker: Path) -> keras.Model:
    """A model with a Lambda whose code creates ``marker``: proof of whether the code ran."""
    touch = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")  # self-contained bytecode
    inputs = keras.Input(MNIST)
    x = keras.layers.Lambda(touch, name="sneaky")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="with_lambda")


@keras.saving.register_keras_serializable(package="someone")
class Doubler(keras.layers.Layer):
    """A custom layer: loading it would need this Python code."""

    def call(self, x):
        return x * 2.0


def custom_layer_model() -> keras.Model:
    inputs = keras.Input(MNIST)
    x = Doubler(name="doubler")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="with_custom")


def no_dense_model() -> keras.Model:
    """Scores from pooling alone: nothing with a pre-activation."""
    inputs = keras.Input((4, 4, 10))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs), name="no_dense")


def two_output_model() -> keras.Model:
    inputs = keras.Input(MNIST)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, [keras.layers.Dense(10)(x), keras.layers.Dense(2)(x)], name="two_heads")


def save(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


def truncated_copy(source: Path, path: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of a real .keras file, like an interrupted download."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def zip_bomb(path: Path, unpacked_mb: int = 64) -> Path:
    """A .keras-shaped zip whose weights member inflates ~1000x (zeros compress to nothing)."""
    config = json.dumps({"module": "keras", "class_name": "Sequential", "config": {"name": "bomb", "layers": []},
                         "registered_name": None})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", config)
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        with archive.open("model.weights.h5", "w") as member:
            block = bytes(1 << 20)
            for _ in range(unpacked_mb):
                member.write(block)
    return path


def write_all(folder: Path) -> list[Path]:
    """Every good and bad file listed in the module docs, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    fused = save(fused_model(), folder / "fused.keras")
    paths = [fused, save(resnet_like_model(), folder / "resnet_like.keras"),
             save(logits_model(), folder / "logits.keras"),
             save(lambda_model(folder / "lambda_ran.txt"), folder / "lambda.keras"),
             save(custom_layer_model(), folder / "custom.keras"), save(no_dense_model(), folder / "no_dense.keras"),
             save(two_output_model(), folder / "two_outputs.keras"),
             truncated_copy(fused, folder / "truncated.keras"), zip_bomb(folder / "bomb.keras")]
    (folder / "lambda_ran.txt").unlink(missing_ok=True)  # building the model ran the Lambda once
    legacy = folder / "legacy.h5"
    fused_model().save(legacy)
    not_zip = folder / "not_a_zip.keras"
    not_zip.write_bytes(b"this is not a zip archive\n" * 100)
    return paths + [legacy, not_zip]


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "test-models")
    for written in write_all(target):
        print(written)
