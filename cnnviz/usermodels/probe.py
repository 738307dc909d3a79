"""Bring your own model: probe any functional or Sequential Keras classifier.

Safe loading lives in :mod:`cnnviz.usermodels.loading`, the Run over a probed model in
:mod:`cnnviz.usermodels.run`. Probing an arbitrary model needs three things the zoo gets for free:

* **A flat graph.** Nested models (a Sequential inside a functional model, a
  backbone sub-model) are walked recursively and every leaf layer is called again
  on a fresh ``keras.Input``, so each Conv/Dense layer's pre-activation is one
  tensor of one graph. The layers and their variables are the user's own: nothing
  is copied and the user's model is not changed (training the flat graph trains it).
* **Pre-activations of fused layers.** ``Conv2D(..., activation="relu")`` only
  outputs relu(z). :class:`LinearPart` computes z = conv(x, kernel) + bias with the
  layer's *own* kernel and bias variables, next to the unchanged layer;
  :meth:`UserModelProbe.recovered_pre_activation_error` checks that
  activation(z) reproduces the layer's real output.
* **Logits.** If the model ends in a softmax (fused, a ``Softmax`` layer or an
  ``Activation``), the tensor feeding it is used; if its output merely looks like
  probabilities, log(p) is used (equal to the logits up to a per-example constant,
  so the softmax is unchanged); otherwise the output is taken as logits. The
  payload says which, in ``output_is_probability`` and ``note``.

Layers that are not probed are listed with the reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from cnnviz.compat import is_functional, run_functional_graph
from cnnviz.errors import UserError
from cnnviz.probing.probes import ProbedModel, ProbePoint, activation_layer_name, fan_in_of

PROBED_LAYERS = {keras.layers.Dense: "dense", keras.layers.Conv1D: "conv1d", keras.layers.Conv2D: "conv2d",
                 keras.layers.Conv3D: "conv3d", keras.layers.DepthwiseConv2D: "depthwise_conv2d",
                 keras.layers.SeparableConv2D: "separable_conv2d"}
FOLLOWING_ACTIVATIONS = {keras.layers.ReLU: "relu", keras.layers.Softmax: "softmax",
                         keras.layers.LeakyReLU: "leaky_relu", keras.layers.ELU: "elu", keras.layers.PReLU: "prelu"}
NORMALIZATION_LAYERS = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                        keras.layers.GroupNormalization, keras.layers.UnitNormalization)
PROBABILITY_TOLERANCE = 1e-3  # |row sum - 1| below which an output "is" a probability vector
LOG_FLOOR = 1e-12  # log(0) guard when logits are recovered as log(probability)
CHECK_IMAGES = 8  # images used to verify recovered pre-activations


def activation_function_name(function) -> str:
    """"relu", "softmax", ... for a Keras activation function; "linear" for None/identity."""
    return "linear" if function is None else getattr(function, "__name__", "linear")


class LinearPart(keras.layers.Layer):
    """z = kernel·x + bias of a Dense/Conv layer, on that layer's own variables.

    The source layer is stored untracked so this wrapper owns no weights: the
    variables stay the user's layer's, and gradients through either path reach them.
    """

    def __init__(self, source: keras.layers.Layer, name: str):
        super().__init__(name=name, trainable=False, dtype=source.dtype_policy)
        object.__setattr__(self, "_source", source)  # bypass Keras tracking (see docstring)

    def call(self, x):
        layer = self._source
        if isinstance(layer, keras.layers.Dense):
            z = ops.matmul(x, layer.kernel)
            return z if layer.bias is None else ops.add(z, layer.bias)
        if isinstance(layer, keras.layers.SeparableConv2D):
            z = ops.separable_conv(x, layer.depthwise_kernel, layer.pointwise_kernel, strides=layer.strides,
                                   padding=layer.padding, dilation_rate=layer.dilation_rate,
                                   data_format=layer.data_format)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            z = ops.depthwise_conv(x, layer.kernel, strides=layer.strides, padding=layer.padding,
                                   dilation_rate=layer.dilation_rate, data_format=layer.data_format)
        else:
            z = layer.convolution_op(x, layer.kernel)  # Conv1D/2D/3D: strides, padding, dilation, groups
        if not layer.use_bias:
            return z
        channels_last = layer.data_format == "channels_last"
        shape = [1] * len(z.shape)
        shape[-1 if channels_last else 1] = -1
        return ops.add(z, ops.reshape(layer.bias, shape))

    def compute_output_shape(self, input_shape):
        return self._source.compute_output_shape(input_shape)


@dataclass(frozen=True)
class UnprobedLayer:
    """A layer of the user's model that has no probe, and why."""

    name: str
    type: str
    reason: str

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "reason": self.reason}


@dataclass
class GraphTrace:
    """What walking a model's graph collected (see :func:`trace_graph`)."""

    points: list = field(default_factory=list)  # (ProbePoint, pre tensor, post tensor | None, output tensor)
    unprobed: list = field(default_factory=list)
    producers: dict = field(default_factory=dict)  # id(output tensor) -> (layer, input tensor)
    consumers: dict = field(default_factory=dict)  # id(tensor) -> first layer that reads it
    outputs: dict = field(default_factory=dict)  # layer name -> its first call's output tensor
    calls: dict = field(default_factory=dict)  # layer name -> times called (shared layers)
    order: list = field(default_factory=list)  # every leaf layer in call order
    final: object = None  # the flat graph's output tensor


def trace_graph(model: keras.Model, inputs) -> GraphTrace:
    """Call every leaf layer of ``model`` again on ``inputs`` (a ``keras.Input``), nested models
    flattened, and record each probe-able layer's pre-activation (see module docs).

    UserError for a subclassed model; any other failure of the model's own layers propagates,
    for the caller to word.
    """
    trace = GraphTrace()
    trace.final = _walk(model, inputs, trace)
    return trace


def _walk(model: keras.Model, inputs, trace: GraphTrace):
    if isinstance(model, keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = _visit(layer, (x,), {}, trace)
        return x
    if not is_functional(model):
        raise UserError(f"{model.name} is a subclassed model; cnnviz probes functional and Sequential models only")
    # Keras's own graph executor, with every node's call routed through _visit.
    return run_functional_graph(model, inputs, lambda op: (lambda *a, **k: _visit(op, a, k, trace)))


def _visit(layer, args, kwargs, trace: GraphTrace):
    if isinstance(layer, keras.Model):
        return _walk(layer, args[0], trace)
    kwargs = {k: v for k, v in kwargs.items() if not (k == "mask" and v is None)}
    for tensor in keras.tree.flatten((args, kwargs)):
        if isinstance(tensor, keras.KerasTensor):
            trace.consumers.setdefault(id(tensor), layer)
    output = layer(*args, **kwargs)
    trace.outputs.setdefault(layer.name, output)
    trace.order.append(layer)
    count = trace.calls[layer.name] = trace.calls.get(layer.name, 0) + 1
    name = layer.name if count == 1 else f"{layer.name}#{count}"
    trace.producers[id(output)] = (layer, args[0] if args else None)
    if not isinstance(layer, keras.layers.Layer):  # a bare op in the graph (x + 3 inside hard-swish): not listed
        return output
    kind = next((k for cls, k in PROBED_LAYERS.items() if type(layer) is cls), None)
    reason = _unprobed_reason(layer, kind)
    if reason is not None:
        trace.unprobed.append(UnprobedLayer(name, type(layer).__name__, reason))
        return output
    own = activation_function_name(getattr(layer, "activation", None))
    kernel = layer.pointwise_kernel if kind == "separable_conv2d" else layer.kernel
    fan_in = int(np.prod(kernel.shape[:-2])) if kind == "depthwise_conv2d" else fan_in_of(kernel)
    pre, post = output, None
    if own != "linear":
        pre = LinearPart(layer, name=f"{layer.name}_pre_activation_{count}")(args[0])
        post = output
    trace.points.append((ProbePoint(name, kind, own, fan_in, kernel), pre, post, output))
    return output


def _unprobed_reason(layer, kind: str | None) -> str | None:
    if kind is not None:
        kernel = layer.pointwise_kernel if kind == "separable_conv2d" else layer.kernel
        if not isinstance(kernel, keras.Variable):
            return "quantized or LoRA kernel: its effective weights are computed, not stored"
        return None
    if isinstance(layer, keras.layers.InputLayer):
        return "input"
    if isinstance(layer, NORMALIZATION_LAYERS):
        return "normalisation layer: rescales its input and has no pre-activation of its own"
    if layer.weights:
        return (f"{type(layer).__name__} layers are not probed (cnnviz probes Dense, Conv1D/2D/3D, "
                "DepthwiseConv2D and SeparableConv2D)")
    return "no weights (pooling, reshaping, merging, dropout or activation): its effect shows in the next probed layer"


@dataclass
class UserModelProbe:
    """A user's model made probe-able: flat logits model, probe points, what was skipped."""

    model: keras.Model  # the user's, unchanged
    flat_model: keras.Model  # the same function over the same layers, nested models flattened
    logits_model: keras.Model  # flat_model up to the logits (before any softmax)
    probed: ProbedModel
    unprobed: list[UnprobedLayer]
    input_shape: tuple[int, int, int]
    classes: int
    output_kind: str  # "logits" | "softmax" | "sigmoid" | "probabilities"
    note: str | None
    fused: list[tuple[ProbePoint, object, object]]  # (point, pre tensor, post tensor) of fused layers
    flat_input: object = None

    def architecture_key(self) -> str:
        """A digest of the user's model structure (layers, names, sizes, trainable flags; not weights)."""
        config = json.dumps(self.model.get_config(), sort_keys=True, default=str)
        return hashlib.sha256(config.encode()).hexdigest()

    @property
    def output_is_probability(self) -> bool:
        return self.output_kind in ("softmax", "probabilities")

    def recovered_pre_activation_error(self, images: np.ndarray) -> dict[str, float]:
        """Max |activation(recovered z) - layer output| per fused layer (≈0 means z is exact)."""
        if not self.fused:
            return {}
        check = keras.Model(self.flat_input, [t for _, pre, post in self.fused for t in (pre, post)])
        values = check(images[:CHECK_IMAGES], training=False)
        errors = {}
        for k, (point, _, _) in enumerate(self.fused):
            pre, post = values[2 * k], values[2 * k + 1]
            redone = keras.activations.get(point.activation)(pre)
            errors[point.name] = float(np.max(np.abs(np.asarray(redone) - np.asarray(post))))
        return errors


def model_io_shape(model: keras.Model, fallback_hw: tuple[int, int] = (28, 28)) -> tuple[tuple[int, int, int], int]:
    """(input H,W,C, classes) of a user model; UserError if it is not an image classifier.

    Unknown spatial sizes (``Input((None, None, 1))``) take ``fallback_hw``.
    """
    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1 or len(outputs) != 1:
        counted = lambda n, what: f"{n} {what}" + ("" if n == 1 else "s")  # noqa: E731
        raise UserError(f"the model has {counted(len(inputs), 'input')} and {counted(len(outputs), 'output')}; "
                        "cnnviz probes models with one image input and one class-score output")
    shape, out_shape = tuple(inputs[0].shape[1:]), tuple(outputs[0].shape[1:])
    if len(shape) != 3:
        raise UserError(f"the model takes inputs of shape {shape}; cnnviz feeds images (height, width, channels), "
                        "so start the model with keras.Input((H, W, C))")
    if shape[2] is None:
        raise UserError("the model's input has an unknown number of channels; give its Input a channel count")
    if len(out_shape) != 1 or out_shape[0] is None or out_shape[0] < 2:
        raise UserError(f"the model's output has shape {out_shape}; cnnviz needs one score per class, "
                        "i.e. an output of shape (classes,) with at least 2 classes")
    height, width = (fallback if size is None else size for size, fallback in zip(shape[:2], fallback_hw))
    return (int(height), int(width), int(shape[2])), int(out_shape[0])


def probe_user_model(model: keras.Model, input_shape: tuple[int, int, int] | None = None,
                     sample_images: np.ndarray | None = None) -> UserModelProbe:
    """Make ``model`` probe-able (see module docs) without changing it.

    ``sample_images`` (a batch the model will see) lets an output that is already a
    probability vector be recognised when no softmax layer says so.
    """
    shape, classes = model_io_shape(model)
    shape = tuple(input_shape) if input_shape is not None else shape
    flat_input = keras.Input(shape, name="cnnviz_input")
    try:
        trace = trace_graph(model, flat_input)
    except UserError:
        raise
    except Exception as exc:  # e.g. a fallback input size too small for the network
        raise UserError(f"the model could not be run on {shape[0]}x{shape[1]}x{shape[2]} inputs "
                        f"({first_line(exc)})") from None
    if not trace.points:
        raise UserError("the model has no Dense or convolution layer, so there is no pre-activation to probe")
    logits, kind, note = logits_of(model, trace, sample_images)
    final = trace.final
    points, pre_tensors, fused = [], [], []
    for point, pre, post, output in trace.points:
        if point.activation == "linear":
            follow, normalized_by = _following(trace, output)
            point = ProbePoint(point.name, point.type, follow, point.fan_in, point.kernel, normalized_by)
        elif post is not None:
            fused.append((point, pre, post))
        points.append(point)
        pre_tensors.append(pre)
    # The run trains flat_model's variables (all of the user's); logits may skip the last layer's own
    # call (they come from its LinearPart), so logits_model alone could miss that layer's weights.
    flat_model = keras.Model(flat_input, final, name=model.name)
    logits_model = keras.Model(flat_input, logits, name=f"{model.name}_logits")
    probed = ProbedModel(logits_model, points, pre_tensors)
    unprobed = [u for u in trace.unprobed if u.reason != "input"]
    return UserModelProbe(model, flat_model, logits_model, probed, unprobed, shape, classes, kind, note, fused,
                          flat_input)


def _following(trace: GraphTrace, output) -> tuple[str, str | None]:
    """(the nonlinearity a probed layer's output meets, the normalisation layer in between or None)."""
    nxt = trace.consumers.get(id(output))
    normalized_by = None
    if isinstance(nxt, NORMALIZATION_LAYERS):
        normalized_by = _snake(type(nxt).__name__)
        nxt = trace.consumers.get(id(trace.outputs.get(nxt.name)))
    name = activation_layer_name(nxt) if nxt is not None else None
    return name or "linear", normalized_by


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def detect_input_range(trace_or_model) -> tuple[str, str]:
    """("0-1" | "0-255" | "-1-1", why) for the pixels a model expects, read from its first layers.

    A model that rescales inside — ``Rescaling(1/255)``, ``Rescaling(1/127.5, offset=-1)``, a
    ``Normalization`` layer holding pixel-scale means — wants raw 0-255 pixels; fed [0, 1] it is
    starved and looks like a vanishing signal. Without such a layer, [0, 1] (what cnnviz's
    datasets hold) is assumed.
    """
    layers = trace_or_model.order if isinstance(trace_or_model, GraphTrace) else _leaf_layers(trace_or_model)
    for layer in layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Rescaling):
            scale = float(np.mean(np.asarray(layer.scale, dtype=float)))
            offset = float(np.mean(np.asarray(layer.offset, dtype=float)))
            if scale <= 1 / 50:  # 1/255, 1/127.5: the layer maps 0-255 pixels to a unit range
                low = offset
                return "0-255", (f"the model starts with Rescaling(scale={scale:.4g}, offset={offset:g}) "
                                 f"in {layer.name}, which maps 0-255 pixels to {low:g}..{low + 255 * scale:g}")
            continue
        if isinstance(layer, keras.layers.Normalization):
            mean = np.asarray(getattr(layer, "mean", 0.0), dtype=float)
            if mean.size and float(np.max(np.abs(mean))) > 2.0:
                return "0-255", (f"the model's {layer.name} Normalization layer subtracts pixel-scale means "
                                 f"(up to {float(np.max(np.abs(mean))):.3g}), so it expects 0-255 pixels")
            continue
        if isinstance(layer, (keras.layers.Resizing, keras.layers.CenterCrop, keras.layers.RandomFlip,
                              keras.layers.RandomRotation, keras.layers.RandomZoom, keras.layers.RandomTranslation)):
            continue  # preprocessing that does not change the value range
        break
    return "0-1", "no rescaling layer at the model's input"


def _leaf_layers(model) -> list:
    out = []
    for layer in model.layers:
        out.extend(_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def seed_stochastic_layers(model: keras.Model, seed: int) -> int:
    """Give every seed generator in ``model`` (Dropout, GaussianNoise, random augmentation) a state
    derived from ``seed``; returns how many. A loaded ``.keras`` file starts them from random seeds,
    so without this the same upload gives different numbers every time."""
    generators = [v for v in model.variables if "seed_generator" in v.path]
    for index, variable in enumerate(generators):
        value = np.asarray(variable.numpy())
        value[...] = 0
        value.flat[0] = (int(seed) * 1_000_003 + index * 7919 + 1) % 2**31
        variable.assign(value)
    return len(generators)


def reinitialize_kernels(model: keras.Model, init: str, seed: int) -> list[str]:
    """Draw every Dense/Conv kernel of ``model`` afresh with initializer ``init`` (biases to 0).

    Lets a user follow the advice "try he-normal" on their own architecture: BatchNorm and
    other layers keep their values. Returns the names of the layers changed.
    """
    from cnnviz.nets.initializers import is_data_dependent, make_initializer

    if is_data_dependent(init):
        raise UserError(f"{init} needs data to initialise; re-initialise an uploaded model with a fixed-rule "
                        "initializer such as he-normal or glorot-uniform")
    changed = []
    for index, layer in enumerate(_leaf_layers(model)):
        kind = next((k for cls, k in PROBED_LAYERS.items() if type(layer) is cls), None)
        if kind is None or not isinstance(getattr(layer, "kernel", None), keras.Variable):
            continue
        kernels = [layer.depthwise_kernel, layer.pointwise_kernel] if kind == "separable_conv2d" else [layer.kernel]
        for offset, kernel in enumerate(kernels):
            initializer = make_initializer(init, int(seed) * 1000 + 2 * index + offset)
            kernel.assign(initializer(tuple(kernel.shape), dtype=kernel.dtype))
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(tuple(layer.bias.shape), dtype=np.float32))
        changed.append(layer.name)
    return changed


def logits_of(model: keras.Model, trace: GraphTrace, sample_images) -> tuple[object, str, str]:
    """(logits tensor, output kind, note) for the traced graph's final tensor.

    The kind is "softmax", "sigmoid" (the tensor feeding that final activation), "probabilities"
    (log of an output that already sums to 1 on ``sample_images``) or "logits" (the output itself).
    """
    final = trace.final
    layer, layer_input = trace.producers.get(id(final), (None, None))
    own = activation_function_name(getattr(layer, "activation", None))
    pre_of_final = next((pre for point, pre, _, out in trace.points if out is final), None)
    if own in ("softmax", "sigmoid") and pre_of_final is not None:
        logits = pre_of_final
    elif isinstance(layer, keras.layers.Softmax) or (
            isinstance(layer, keras.layers.Activation) and own in ("softmax", "sigmoid")):
        logits, own = layer_input, "softmax" if isinstance(layer, keras.layers.Softmax) else own
    else:
        logits, own = None, None
    if own == "softmax":
        return logits, "softmax", (f"the model ends in a softmax ({layer.name}); cnnviz probes the logits feeding it "
                                   "and recomputes the same softmax from them")
    if own == "sigmoid":
        return logits, "sigmoid", (f"the model ends in a sigmoid ({layer.name}); cnnviz treats the scores feeding it "
                                   "as logits and applies a softmax across classes, which a multi-label model "
                                   "does not do")
    if sample_images is not None and _looks_like_probabilities(np.asarray(model(sample_images, training=False))):
        return ops.log(ops.maximum(final, LOG_FLOOR)), "probabilities", (
            "the model's output is already a probability vector but no softmax layer produces it; cnnviz uses "
            "log(probability) as logits (the true logits up to a constant per image, so the softmax is unchanged)")
    return final, "logits", ("the model's output is not a probability vector; cnnviz shows it as logits "
                             "and computes the softmax itself")


def _looks_like_probabilities(outputs: np.ndarray) -> bool:
    finite = np.all(np.isfinite(outputs))
    return bool(finite and outputs.min() >= 0 and outputs.max() <= 1
                and np.all(np.abs(outputs.sum(axis=-1) - 1) < PROBABILITY_TOLERANCE))


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:160]}" if text else type(exc).__name__
