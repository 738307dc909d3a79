"""Probed models: one forward pass that also returns every layer's pre-activation.

A :class:`ProbedModel` wraps a Keras model without changing it: it is a second
functional model over the *same* layers and weights whose outputs are the output of
every Conv/Dense layer (its pre-activation, since the zoo builds those with
``activation=None``) followed by the network's logits. Training through it trains
the original model.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from cnnviz.compat import consumers

PROBED_TYPES = {"Conv2D": "conv2d", "Conv1D": "conv1d", "Conv3D": "conv3d", "Dense": "dense",
                "DepthwiseConv2D": "depthwise_conv2d", "SeparableConv2D": "separable_conv2d"}


@dataclass(frozen=True)
class ProbePoint:
    """One observed layer: where its pre-activation comes from and what follows it."""

    name: str
    type: str  # "conv2d", "dense", ...
    activation: str  # the nonlinearity applied to it next: "relu", "sigmoid", "linear", ...
    fan_in: int
    kernel: keras.Variable
    # The normalisation layer between this layer and its nonlinearity ("batch_normalization", ...), or None.
    # Its pre-activation is then rescaled before any nonlinearity sees it: scale findings do not apply.
    normalized_by: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "activation": self.activation, "fan_in": self.fan_in,
                "normalized_by": self.normalized_by}


NORMALIZATION_TYPES = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                       keras.layers.GroupNormalization)


def activation_layer_name(layer) -> str | None:
    """The nonlinearity a layer *is* ("relu" for ReLU/Activation("relu"), ...), or None."""
    if isinstance(layer, keras.layers.Activation):
        return getattr(layer.activation, "__name__", "linear")
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    if isinstance(layer, keras.layers.LeakyReLU):
        return "leaky_relu"
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, keras.layers.ELU):
        return "elu"
    return None


def _next_layers(layer) -> list:
    return consumers(layer)


def following_activation(layer: keras.layers.Layer) -> str:
    """Name of the nonlinearity applied right after ``layer`` ("linear" if none).

    Looks through one normalisation layer (Conv → BatchNorm → ReLU is the usual block).
    """
    return following_nonlinearity(layer)[0]


def following_nonlinearity(layer: keras.layers.Layer) -> tuple[str, str | None]:
    """(activation name, normalisation layer in between or None) for a probed layer."""
    own = getattr(layer, "activation", None)
    own_name = getattr(own, "__name__", "linear") if own is not None else "linear"
    if own_name != "linear":
        return own_name, None
    for nxt in _next_layers(layer):
        name = activation_layer_name(nxt)
        if name is not None:
            return name, None
        if isinstance(nxt, NORMALIZATION_TYPES):
            after = next((n for n in map(activation_layer_name, _next_layers(nxt)) if n is not None), "linear")
            return after, _snake_name(nxt)
    return "linear", None


def _snake_name(layer) -> str:
    return {"BatchNormalization": "batch_normalization", "LayerNormalization": "layer_normalization",
            "GroupNormalization": "group_normalization"}.get(type(layer).__name__, type(layer).__name__.lower())


def fan_in_of(kernel: keras.Variable) -> int:
    """Inputs feeding one output unit: kh*kw*c_in for a conv kernel, n_in for a dense one."""
    shape = tuple(kernel.shape)
    fan = 1
    for dim in shape[:-1]:
        fan *= int(dim)
    return fan


class ProbedModel:
    """``model`` plus a sibling model that outputs (pre-activations..., logits).

    ``points`` lists the probed layers in forward order. Models whose Conv/Dense
    layers fuse their activation need the linear part recovered first (see
    :mod:`cnnviz.usermodels.probe`); the zoo never fuses.
    """

    def __init__(self, model: keras.Model, points: list[ProbePoint] | None = None, probe_outputs=None):
        self.model = model
        if points is None:
            points, probe_outputs = self._discover(model)
        self.points = points
        self.classes = int(model.outputs[0].shape[-1])
        # A single input as a tensor, not a 1-list: Keras warns when call structure and inputs differ.
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        self.probe_model = keras.Model(inputs, [*probe_outputs, model.outputs[0]], name=f"{model.name}_probed")

    @staticmethod
    def _discover(model: keras.Model) -> tuple[list[ProbePoint], list]:
        points, outputs = [], []
        for layer in model.layers:
            kind = PROBED_TYPES.get(type(layer).__name__)
            if kind is None or not hasattr(layer, "kernel"):
                continue
            activation, normalized_by = following_nonlinearity(layer)
            points.append(ProbePoint(layer.name, kind, activation, fan_in_of(layer.kernel), layer.kernel,
                                     normalized_by))
            outputs.append(layer.output)
        return points, outputs

    @property
    def layer_names(self) -> list[str]:
        return [p.name for p in self.points]

    def __call__(self, images, training: bool = False):
        """(list of pre-activation tensors, logits) for a batch of images."""
        *pre, logits = self.probe_model(images, training=training)
        return pre, logits
