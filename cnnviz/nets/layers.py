"""A tiny layer-table language for the model zoo, its shape arithmetic, and the builder.

Each architecture in :mod:`cnnviz.nets.zoo` is a list of these specs, the way the seed
tutorials write their layer tables. Having the table as data lets us

* check every spatial size with O = 1 + (W − K + 2P)/S *before* Keras builds anything,
  and say which layer an input is too small for, and why;
* build a functional Keras model whose conv/dense layers have ``activation=None``
  followed by an optional normalization layer and an explicit activation layer, so
  pre- and post-activation are both observable.

A conv/dense spec with ``residual=True`` is a block ``x + act(norm(layer(x)))``: the
skip adds the block's input to the *activated* output (after the norm and the
activation), so the probed pre-activation is still the layer's own output and the
activation still follows it directly (or through the norm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from cnnviz.errors import UserError
from cnnviz.nets.initializers import make_initializer


@dataclass(frozen=True)
class Conv:
    name: str
    filters: int
    kernel: int
    stride: int = 1
    padding: str = "same"
    activation: str = "relu"  # a Keras activation name; "linear" adds no activation layer
    norm: str = "none"  # "none" | "batch" | "layer" (between the conv and its activation)
    residual: bool = False  # output = input + activation(norm(conv(input)))


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
    norm: str = "none"
    residual: bool = False


@dataclass(frozen=True)
class GlobalPool:
    """Global average pooling: (H, W, C) -> (C,), the mean of each channel over space."""

    name: str = "gap"


@dataclass(frozen=True)
class Flatten:
    name: str = "flatten"


@dataclass(frozen=True)
class Dropout:
    name: str
    rate: float


LayerSpec = Conv | Pool | Dense | Flatten | Dropout | GlobalPool

NORM_LAYER_TYPES = {"batch": "batch_normalization", "layer": "layer_normalization"}


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
        block_input = shape
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
        elif isinstance(spec, GlobalPool):
            shape = (shape[-1],)
        elif isinstance(spec, Dense):
            shape = (spec.units or classes,)
        if getattr(spec, "residual", False) and block_input != shape:
            raise UserError(f"layer {spec.name}: a residual skip needs the block's input and output shapes to "
                            f"match, got {block_input} -> {shape}")
        traced.append((spec, shape))
    return traced


def norm_name(spec: Conv | Dense) -> str:
    """Name of the normalization layer after a conv/dense layer ('dense3_batchnorm')."""
    return f"{spec.name}_{spec.norm}norm"


def skip_name(spec: Conv | Dense) -> str:
    """Name of the Add layer that closes a residual block ('dense3_skip')."""
    return f"{spec.name}_skip"


def table_rows(specs: list[LayerSpec], input_shape: tuple[int, int, int], classes: int, arch: str = "") -> list[dict]:
    """Rows {name, type, output_shape, params, fan_in, activation, ...} from the table alone (no Keras build).

    Conv/dense rows fold in their activation (``activation``) and say ``norm`` and
    ``residual``; a normalization layer gets its own row (its γ, β and, for batch norm,
    the two non-trainable moving statistics count as parameters, as in
    ``model.count_params()``), and so does a residual block's ``add``.
    """
    rows = []
    in_shape: tuple[int, ...] = input_shape
    for spec, out_shape in trace_shapes(specs, input_shape, classes, arch):
        row = {"name": spec.name, "type": type(spec).__name__.lower(), "output_shape": list(out_shape),
               "params": 0, "fan_in": None, "activation": None}
        extra = []
        if isinstance(spec, (Conv, Dense)):
            if isinstance(spec, Conv):
                fan_in = spec.kernel * spec.kernel * in_shape[2]
                row.update(type="conv2d", kernel=spec.kernel, stride=spec.stride, padding=spec.padding)
            else:
                fan_in = in_shape[0]
                row.update(type="dense")
            row.update(params=fan_in * out_shape[-1] + out_shape[-1], fan_in=fan_in, activation=spec.activation,
                       norm=spec.norm, residual=spec.residual)
            if spec.norm != "none":
                per_channel = 4 if spec.norm == "batch" else 2  # γ, β (+ moving mean and variance)
                extra.append({"name": norm_name(spec), "type": NORM_LAYER_TYPES[spec.norm],
                              "output_shape": list(out_shape), "params": per_channel * out_shape[-1],
                              "fan_in": None, "activation": None})
            if spec.residual:
                extra.append({"name": skip_name(spec), "type": "add", "output_shape": list(out_shape),
                              "params": 0, "fan_in": None, "activation": None})
        elif isinstance(spec, Pool):
            row.update(type=f"{spec.kind}_pooling2d", kernel=spec.size, stride=spec.stride, padding=spec.padding)
        elif isinstance(spec, GlobalPool):
            row.update(type="global_average_pooling2d")
        elif isinstance(spec, Dropout):
            row.update(type="dropout")
        rows.append(row)
        rows.extend(extra)
        in_shape = out_shape
    return rows


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
    so runs are reproducible without touching Keras's global seed. An initializer that
    depends on the activation (``activation-gain``) is given the activation feeding the
    layer: the previous conv/dense layer's, or for the first one its own.
    """
    trace_shapes(specs, input_shape, classes, name)  # fail early, with the arithmetic
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    feeding = next((s.activation for s in specs if isinstance(s, (Conv, Dense))), "linear")
    for index, spec in enumerate(specs):
        layer_seed = seed * 1000 + index
        if isinstance(spec, (Conv, Dense)):
            block_input = x
            kernel_init = make_initializer(init, layer_seed, feeding)
            if isinstance(spec, Conv):
                x = keras.layers.Conv2D(spec.filters, spec.kernel, strides=spec.stride, padding=spec.padding,
                                        activation=None, kernel_initializer=kernel_init,
                                        bias_initializer="zeros", name=spec.name)(x)
            else:
                x = keras.layers.Dense(spec.units or classes, activation=None, kernel_initializer=kernel_init,
                                       bias_initializer="zeros", name=spec.name)(x)
            if spec.norm == "batch":
                x = keras.layers.BatchNormalization(name=norm_name(spec))(x)
            elif spec.norm == "layer":
                # Over the last axis: a conv's channels at each position (as ConvNeXt does), a dense layer's units.
                x = keras.layers.LayerNormalization(axis=-1, name=norm_name(spec))(x)
            if spec.activation != "linear":
                x = _activation(spec.activation, spec.name)(x)
            if spec.residual:
                x = keras.layers.Add(name=skip_name(spec))([block_input, x])
            feeding = spec.activation
        elif isinstance(spec, GlobalPool):
            x = keras.layers.GlobalAveragePooling2D(name=spec.name)(x)
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
