"""The model zoo: every seed tutorial's network as a small layer table.

Every network ends in a linear ``logits`` layer; softmax is applied by the loss
(``from_logits=True``) and by the probes, so logits stay observable. Conv and dense
layers are followed by explicit activation layers (see :mod:`cnnviz.layers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from cnnviz.errors import UserError, check_choice
from cnnviz.layers import Conv, Dense, Dropout, Flatten, LayerSpec, Pool, build_model, trace_shapes

MNIST_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class ArchInfo:
    """A named architecture: its layer table and the input it was designed for."""

    name: str
    description: str
    source: str
    input_shape: tuple[int, int, int]
    classes: int
    layer_table: Callable[[], list[LayerSpec]]

    def specs(self) -> list[LayerSpec]:
        return self.layer_table()


def _logits() -> Dense:
    return Dense("logits", 0, "linear")


def softmax_regression() -> list[LayerSpec]:
    """One fully connected layer from pixels to class scores."""
    return [Flatten(), _logits()]


def ltfn_mlp() -> list[LayerSpec]:
    """784-500-500-10 with ReLU."""
    return [Flatten(), Dense("fc1", 500), Dense("fc2", 500), _logits()]


def ltfn_convnet() -> list[LayerSpec]:
    """Four 3x3 convs (64, 64, 128, 128) with two 2x2 max pools, then the classifier."""
    return [Conv("conv1", 64, 3), Conv("conv2", 64, 3), Pool("pool1"),
            Conv("conv3", 128, 3), Conv("conv4", 128, 3), Pool("pool2"),
            Flatten(), _logits()]


def ltfn_vgg() -> list[LayerSpec]:
    """VGG shrunk for MNIST padded to 32x32: 10 convs in 4 blocks, fc 4096, fc 10."""
    specs: list[LayerSpec] = []
    n = 0
    for block, (filters, repeats) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3)], start=1):
        for _ in range(repeats):
            n += 1
            specs.append(Conv(f"conv{n}", filters, 3))
        specs.append(Pool(f"pool{block}"))
    return specs + [Flatten(), Dense("fc1", 4096), _logits()]


def lenet5() -> list[LayerSpec]:
    """LeCun 1998 style: 5x5 convs with sigmoid and average pooling, fc 120-84."""
    return [Conv("conv1", 6, 5, activation="sigmoid"), Pool("pool1", "avg"),
            Conv("conv2", 16, 5, padding="valid", activation="sigmoid"), Pool("pool2", "avg"),
            Flatten(), Dense("fc1", 120, "sigmoid"), Dense("fc2", 84, "sigmoid"), _logits()]


def lenet5_like() -> list[LayerSpec]:
    """LeNet-5's table with today's choices: ReLU and max pooling."""
    return [Conv("conv1", 6, 5), Pool("pool1"),
            Conv("conv2", 16, 5, padding="valid"), Pool("pool2"),
            Flatten(), Dense("fc1", 120), Dense("fc2", 84), _logits()]


def alexnet() -> list[LayerSpec]:
    """AlexNet (2012) without local response normalisation, overlapping 3x3/2 pools."""
    return [Conv("conv1", 96, 11, stride=4, padding="valid"), Pool("pool1", size=3, stride=2),
            Conv("conv2", 256, 5), Pool("pool2", size=3, stride=2),
            Conv("conv3", 384, 3), Conv("conv4", 384, 3), Conv("conv5", 256, 3),
            Pool("pool3", size=3, stride=2),
            Flatten(), Dense("fc1", 4096), Dropout("drop1", 0.5),
            Dense("fc2", 4096), Dropout("drop2", 0.5), _logits()]


def vgg16() -> list[LayerSpec]:
    """VGG-16 (2014): 13 3x3 convs in 5 blocks, fc 4096-4096."""
    specs: list[LayerSpec] = []
    n = 0
    for block, (filters, repeats) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for _ in range(repeats):
            n += 1
            specs.append(Conv(f"conv{n}", filters, 3))
        specs.append(Pool(f"pool{block}"))
    return specs + [Flatten(), Dense("fc1", 4096), Dense("fc2", 4096), _logits()]


def conv2_5x5() -> list[LayerSpec]:
    """Two 5x5 convs (32, 64) with max pools, fc 1000."""
    return [Conv("conv1", 32, 5), Pool("pool1"), Conv("conv2", 64, 5), Pool("pool2"),
            Flatten(), Dense("fc1", 1000), _logits()]


def conv3_dropout() -> list[LayerSpec]:
    """Three 3x3 convs (32, 64, 128), 'same'-padded max pools, dropout, fc 625."""
    return [Conv("conv1", 32, 3), Pool("pool1", padding="same"), Dropout("drop1", 0.2),
            Conv("conv2", 64, 3), Pool("pool2", padding="same"), Dropout("drop2", 0.2),
            Conv("conv3", 128, 3), Pool("pool3", padding="same"), Flatten(), Dropout("drop3", 0.2),
            Dense("fc1", 625), Dropout("drop4", 0.5), _logits()]


ARCHITECTURES: dict[str, ArchInfo] = {info.name: info for info in [
    ArchInfo("softmax_regression", "one fully connected layer (multinomial logistic regression)", "seed 001", MNIST_SHAPE, 10, softmax_regression),
    ArchInfo("ltfn_mlp", "3-layer MLP 784-500-500-10, ReLU", "seed 002", MNIST_SHAPE, 10, ltfn_mlp),
    ArchInfo("ltfn_convnet", "4 conv layers 64-64-128-128 (3x3), 2 max pools, fc 10", "seeds 000/002", MNIST_SHAPE, 10, ltfn_convnet),
    ArchInfo("ltfn_vgg", "VGG modified for MNIST padded to 32x32: 10 convs, fc 4096", "seed 002", (32, 32, 1), 10, ltfn_vgg),
    ArchInfo("lenet5", "LeNet-5: sigmoid + average pooling, fc 120-84", "seed 001", MNIST_SHAPE, 10, lenet5),
    ArchInfo("lenet5_like", "LeNet-5 with ReLU + max pooling", "seed 001", MNIST_SHAPE, 10, lenet5_like),
    ArchInfo("alexnet", "AlexNet: 5 convs (11x11/4 first), 3 overlapping max pools, fc 4096-4096", "seed 001", (224, 224, 3), 17, alexnet),
    ArchInfo("vgg16", "VGG-16: 13 3x3 convs in 5 blocks, fc 4096-4096", "seed 001", (224, 224, 3), 1000, vgg16),
    ArchInfo("conv2_5x5", "2 conv layers 5x5 (32, 64), max pools, fc 1000", "seed 003", MNIST_SHAPE, 10, conv2_5x5),
    ArchInfo("conv3_dropout", "3 conv layers 3x3 (32, 64, 128), max pools, dropout, fc 625", "seed 004", MNIST_SHAPE, 10, conv3_dropout),
]}


def get_arch(name: str) -> ArchInfo:
    """The :class:`ArchInfo` for ``name`` (UserError listing valid names otherwise)."""
    return ARCHITECTURES[check_choice("architecture", name, ARCHITECTURES)]


def resolve_shape(arch: str, input_shape: tuple[int, int, int] | None, classes: int | None) -> tuple[tuple[int, int, int], int]:
    """Fill in an architecture's defaults and validate the input shape's form."""
    info = get_arch(arch)
    shape = tuple(input_shape) if input_shape is not None else info.input_shape
    if len(shape) != 3 or any(int(v) < 1 for v in shape):
        raise UserError(f"input shape must be H,W,C with positive sizes, got {shape!r}")
    if shape[2] > 64:
        raise UserError(f"input shape {shape} has {shape[2]} channels; did you mean H,W,C (channels last)?")
    n_classes = int(classes) if classes is not None else info.classes
    if n_classes < 2:
        raise UserError(f"a classifier needs at least 2 classes, got {n_classes}")
    return (int(shape[0]), int(shape[1]), int(shape[2])), n_classes


def build(arch: str, init: str = "glorot-uniform", input_shape: tuple[int, int, int] | None = None,
          classes: int | None = None, seed: int = 0) -> keras.Model:
    """Build ``arch`` as a real Keras model with ``init`` kernels and zero biases.

    An input too small for the network raises UserError before any layer is built,
    naming the layer and the O = 1 + (W − K + 2P)/S arithmetic that went below 1.
    """
    shape, n_classes = resolve_shape(arch, input_shape, classes)
    return build_model(get_arch(arch).specs(), shape, n_classes, init, seed, arch)


def layer_table(arch: str, input_shape: tuple[int, int, int] | None = None, classes: int | None = None) -> list[dict]:
    """Rows {name, type, output_shape, params, fan_in} computed from the table alone (no Keras build).

    Only layers with weights, pooling and flatten are listed; activation layers are
    folded into their conv/dense row as ``activation``.
    """
    shape, n_classes = resolve_shape(arch, input_shape, classes)
    rows = []
    in_shape: tuple[int, ...] = shape
    for spec, out_shape in trace_shapes(get_arch(arch).specs(), shape, n_classes, arch):
        row = {"name": spec.name, "type": type(spec).__name__.lower(), "output_shape": list(out_shape),
               "params": 0, "fan_in": None, "activation": None}
        if isinstance(spec, Conv):
            fan_in = spec.kernel * spec.kernel * in_shape[2]
            row.update(type="conv2d", params=fan_in * spec.filters + spec.filters, fan_in=fan_in,
                       activation=spec.activation, kernel=spec.kernel, stride=spec.stride, padding=spec.padding)
        elif isinstance(spec, Dense):
            fan_in = in_shape[0]
            row.update(type="dense", params=fan_in * out_shape[0] + out_shape[0], fan_in=fan_in, activation=spec.activation)
        elif isinstance(spec, Pool):
            row.update(type=f"{spec.kind}_pooling2d", kernel=spec.size, stride=spec.stride, padding=spec.padding)
        elif isinstance(spec, Dropout):
            row.update(type="dropout")
        rows.append(row)
        in_shape = out_shape
    return rows
