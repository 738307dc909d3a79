"""A tiny layer-table language for the model zoo, its shape arithmetic, and the builder.

Each architecture in :mod:`cnnviz.zoo` is a list of these specs, the way the seed
tutorials write their layer tables. Having the table as data lets us

* check every spatial size with O = 1 + (W − K + 2P)/S *before* Keras builds anything,
  and say which layer an input is too small for, and why;
* build a functional Keras model whose conv/dense layers have ``activation=None``
  followed by an explicit activation layer, so pre- and post-activation are both
  observable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from cnnviz.errors import UserError
from cnnviz.initializers import make_initializer


@dataclass(frozen=True)
class Conv:
    name: str
    filters: int
    kernel: int
    stride: int = 1
    padding: str = "same"
    activation: str = "relu"


@dataclass(frozen=True)
class Pool:
    name: str
    kind: str = "max"  # "max" | "avg"
    size: int = 2
    stride: int = 2
    padding: str = "valid"


@dataclass(frozen=True)
class Dense:
    name: str
    units: int  # 0 means "as many as there are classes"
    activation: str = "relu"


@dataclass(frozen=True)
class Flatten:
    name: str = "flatten"


@dataclass(frozen=True)
class Dropout:
    name: str
    rate: float


LayerSpec = Conv | Pool | Dense | Flatten | Dropout


@dataclass(frozen=True)
class SizeStep:
    """One spatial layer's output-size arithmetic, for tables and error messages."""

    layer: str
    input_size: int
    kernel: int
    stride: int
    padding_total: int
    output_size: float  # before flooring; < 1 means the layer cannot be applied

    @property
    def explanation(self) -> str:
        p = self.padding_total / 2
        p_text = f"{p:g}"
        return (f"O = 1 + (W − K + 2P)/S = 1 + ({self.input_size} − {self.kernel} + 2·{p_text})/{self.stride}"
                f" = {self.output_size:.3g}")


def spatial_output(size: int, kernel: int, stride: int, padding: str) -> tuple[float, int]:
    """(exact O, total padding) for one spatial dimension, as TensorFlow computes it.

    'same' pads so that O = ceil(W/S); 'valid' does not pad. The exact O before
    flooring is returned so callers can show the arithmetic.
    """
    if padding == "same":
        out = math.ceil(size / stride)
        pad_total = max((out - 1) * stride + kernel - size, 0)
    else:
        pad_total = 0
    return 1 + (size - kernel + pad_total) / stride, pad_total


def trace_shapes(specs: list[LayerSpec], input_shape: tuple[int, int, int], classes: int, arch: str = "") -> list[tuple[LayerSpec, tuple[int, ...]]]:
    """Output shape after each layer, or a UserError naming the first layer that cannot fit."""
    h, w, c = input_shape
    shape: tuple[int, ...] = (h, w, c)
    traced = []
    for spec in specs:
        if isinstance(spec, (Conv, Pool)):
            kernel = spec.kernel if isinstance(spec, Conv) else spec.size
            sizes = []
            for size in shape[:2]:
                exact, pad = spatial_output(size, kernel, spec.stride, spec.padding)
                if exact < 1:
                    step = SizeStep(spec.name, size, kernel, spec.stride, pad, exact)
                    minimum = minimum_input_size(specs, classes)
                    need = f"; {arch or 'this network'} needs inputs of at least {minimum}x{minimum}" if minimum else ""
                    raise UserError(
                        f"input {h}x{w}x{c} is too small: at layer {spec.name} ({kernel}x{kernel}, stride "
                        f"{spec.stride}, {spec.padding} padding) the {size}x{size} input gives "
                        f"{step.explanation} < 1{need}")
                sizes.append(math.floor(exact))
            depth = spec.filters if isinstance(spec, Conv) else shape[2]
            shape = (sizes[0], sizes[1], depth)
        elif isinstance(spec, Flatten):
            shape = (math.prod(shape),)
        elif isinstance(spec, Dense):
            shape = (spec.units or classes,)
        traced.append((spec, shape))
    return traced


def size_arithmetic(specs: list[LayerSpec], input_size: int) -> list[SizeStep]:
    """The O = 1 + (W − K + 2P)/S steps for every conv/pool layer (stops at the first < 1)."""
    steps, size = [], input_size
    for spec in specs:
        if not isinstance(spec, (Conv, Pool)):
            continue
        kernel = spec.kernel if isinstance(spec, Conv) else spec.size
        exact, pad = spatial_output(size, kernel, spec.stride, spec.padding)
        steps.append(SizeStep(spec.name, size, kernel, spec.stride, pad, exact))
        if exact < 1:
            break
        size = math.floor(exact)
    return steps


def minimum_input_size(specs: list[LayerSpec], classes: int = 10, limit: int = 1024) -> int | None:
    """Smallest square input every layer accepts (None if none up to ``limit``)."""
    for size in range(1, limit + 1):
        if all(step.output_size >= 1 for step in size_arithmetic(specs, size)):
            return size
    return None


def build_model(specs: list[LayerSpec], input_shape: tuple[int, int, int], classes: int,
                init: str, seed: int, name: str) -> keras.Model:
    """Build the functional Keras model for a layer table.

    Kernels get the named initializer with a per-layer seed (``seed * 1000 + index``)
    so runs are reproducible without touching Keras's global seed.
    """
    trace_shapes(specs, input_shape, classes, name)  # fail early, with the arithmetic
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for index, spec in enumerate(specs):
        layer_seed = seed * 1000 + index
        if isinstance(spec, Conv):
            x = keras.layers.Conv2D(spec.filters, spec.kernel, strides=spec.stride, padding=spec.padding,
                                    activation=None, kernel_initializer=make_initializer(init, layer_seed),
                                    bias_initializer="zeros", name=spec.name)(x)
            x = _activation(spec.activation, spec.name)(x)
        elif isinstance(spec, Dense):
            x = keras.layers.Dense(spec.units or classes, activation=None,
                                   kernel_initializer=make_initializer(init, layer_seed),
                                   bias_initializer="zeros", name=spec.name)(x)
            if spec.activation != "linear":
                x = _activation(spec.activation, spec.name)(x)
        elif isinstance(spec, Pool):
            pool = keras.layers.MaxPooling2D if spec.kind == "max" else keras.layers.AveragePooling2D
            x = pool(spec.size, strides=spec.stride, padding=spec.padding, name=spec.name)(x)
        elif isinstance(spec, Flatten):
            x = keras.layers.Flatten(name=spec.name)(x)
        elif isinstance(spec, Dropout):
            x = keras.layers.Dropout(spec.rate, seed=layer_seed, name=spec.name)(x)
    return keras.Model(inputs, x, name=name)


def _activation(kind: str, layer_name: str) -> keras.layers.Layer:
    return keras.layers.Activation(kind, name=f"{layer_name}_{kind}")
