"""The whole chain at initialization: predicted pre-activation std of every layer of a plain net.

From (depth, width, activation, normalization, residual, initializer) and the moments
of the input images alone: nothing is built or run, and no Keras is imported. Each
layer applies the fan-in variance rule, Var[z] = Σ_inputs Var[w]·E[x²], and the
activation turns z into the next layer's input with E[f(z)], E[f(z)²] for Gaussian z
(:mod:`cnnviz.nets.activations`).

* ``plain_mlp``: the rule is applied per input image, because the images' norms differ
  (a digit with more ink starts with a larger variance) and, for activations that are
  not scale-free (tanh, sigmoid, GELU, SELU), the layers' variance maps are nonlinear:
  the average of the per-image chains is not the chain of the average.
* ``plain_cnn``: the rule is applied per position (averaged over images), because
  'same' padding feeds zeros to the border: Var[z](p) = Var[w]·C_in·Σ_{3x3 taps in the
  image} E[x²](p + t). As activity spreads from the digit to the border, the missing
  taps bend He's flat line: ×0.95 after 30 ReLU layers on MNIST, ×0.74 after 100.
* normalization: layer norm (and batch norm in training mode) standardizes z before the
  activation; a fresh batch norm in inference mode (moving mean 0, variance 1) is the
  identity up to 1/√(1 + ε).
* residual blocks h' = h + g(z) (g = activation after the norm): E[h'] = E[h] + E[g] and
  E[h'²] = E[h²] + E[g²] + 2·E[h]·E[g], treating h and g(z) as independent (the
  mean-field assumption; z mixes all of h through independent weights).

The chain is the infinite-width (mean-field) expectation. One finite net wanders around
it: each layer's realised gain is a sample, so over 30 ReLU layers of 256 units the
std ratio spread 0.5..1.5 across seeds, and a conv layer, which shares its weights
over all positions, wanders more. GELU under its unit gain ended 1.25–1.35x above the
chain after 8 layers of 256 on MNIST (three seeds; see tests/test_theory_activations.py).

Columns of :func:`plain_chain`: ``predicted`` (the chain above), ``linear_rule`` (the
small-signal chain that treats each activation as f(0) + f'(0)·z, the regime
Glorot & Bengio's analysis assumes), ``linear_valid`` (the activations so far stayed in
their linear range: the linear rule agrees with the Gaussian one within 10%),
``valid`` (the prediction is one the network can show: False past float32's range, or
where the rule has no answer) and ``note``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnnviz.nets.activations import canonical, gaussian_moments, linearized_second_moment
from cnnviz.nets.params import CNN_KERNEL, PlainNet
from cnnviz.nets.weight_variance import weight_variance

NORM_EPSILON = 1e-3
LINEAR_TOLERANCE = 0.10  # the linear rule "holds" while it is within 10% of the Gaussian integral
FLOAT32_RANGE = (1e-37, 1e37)  # a std outside this is 0 or inf in float32 arithmetic
CHAIN_COLUMNS = ["layer", "type", "fan_in", "weight_var", "input_mean_sq", "predicted", "linear_rule",
                 "linear_valid", "valid", "note"]


@dataclass(frozen=True)
class InputMoments:
    """E[x] and E[x²] of the input images: per position (over images and channels) and per image."""

    mean: np.ndarray  # (H, W)
    mean_sq: np.ndarray  # (H, W)
    channels: int
    image_mean: np.ndarray  # (N,): each image's mean over pixels and channels
    image_mean_sq: np.ndarray  # (N,)

    @classmethod
    def from_images(cls, images: np.ndarray) -> InputMoments:
        """Moments of a float batch (N, H, W, C), computed in float64."""
        x = np.asarray(images, dtype=np.float64)
        return cls(x.mean(axis=(0, 3)), (x * x).mean(axis=(0, 3)), int(x.shape[3]),
                   x.mean(axis=(1, 2, 3)), (x * x).mean(axis=(1, 2, 3)))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.mean.shape, self.channels)


def mnist_input_moments(input_shape: tuple[int, int, int] = (28, 28, 1)) -> InputMoments:
    """Moments of all training digits of the embedded MNIST sample, in ``input_shape``."""
    from cnnviz.data import load_dataset

    dataset = load_dataset("mnist-sample", input_shape)
    return InputMoments.from_images(dataset.images("train", np.arange(dataset.size("train"))))


def _box3(values: np.ndarray) -> np.ndarray:
    """Σ over the 3x3 neighbourhood of each position, zero outside ('same' padding)."""
    padded = np.pad(values, 1)
    h, w = values.shape
    return sum(padded[i:i + h, j:j + w] for i in range(CNN_KERNEL) for j in range(CNN_KERNEL))


def _standardized(variance: np.ndarray, norm: str, bn_training: bool) -> np.ndarray:
    """Variance of what the activation sees, after the layer's normalization."""
    if norm == "layer" or (norm == "batch" and bn_training):
        # Layer norm: each position's channels (a dense layer's units) per example; batch norm: each
        # channel over the batch. An all-zero input (MNIST's black corners) stays 0.
        scale = variance if norm == "layer" else np.mean(variance)
        return variance / (scale + NORM_EPSILON)
    if norm == "batch":
        return variance / (1.0 + NORM_EPSILON)
    return variance


def _in_float32(std: float) -> bool:
    return FLOAT32_RANGE[0] <= std <= FLOAT32_RANGE[1] or std == 0.0


def plain_chain(depth: int, width: int, activation: str, init: str, *, arch: str = "plain_mlp",
                norm: str = "none", residual: bool = False, classes: int = 10, inputs: InputMoments | None = None,
                bn_training: bool = False) -> pd.DataFrame:
    """Predicted pre-activation std of every probed layer (hidden layers, then ``logits``) at init.

    ``inputs`` defaults to the embedded MNIST sample's training digits. ``bn_training``
    says which batch-norm mode the forward pass runs in (the zoo's probes at init use
    inference mode). ``init="lsuv"`` predicts 1 for every layer: that is what LSUV sets on
    its own batch. See the module docstring for the columns.
    """
    net = PlainNet(arch, depth, width, activation, norm, residual)  # validates
    inputs = inputs if inputs is not None else mnist_input_moments()
    act = canonical(net.activation)
    conv = arch == "plain_cnn"
    # Second and first moments of the current layer input, per position (CNN) or per image (MLP).
    mean_sq = inputs.mean_sq if conv else inputs.image_mean_sq
    mean = inputs.mean if conv else inputs.image_mean
    linear_mean_sq, linear_ok = mean_sq, True
    channels = inputs.channels if conv else int(np.prod(inputs.shape))
    rows = []
    for index in range(1, depth + 2):
        is_logits = index == depth + 1
        name = "logits" if is_logits else (f"conv{index}" if conv else f"dense{index}")
        if conv and not is_logits:
            kernel_shape = (CNN_KERNEL, CNN_KERNEL, channels, width)
            fan_in = CNN_KERNEL * CNN_KERNEL * channels
        else:
            kernel_shape = (channels, classes if is_logits else width)
            fan_in = channels
        # Every layer's activation-gain uses the net's activation (layer 1 gets its own, as the builder does).
        weight_var = weight_variance(init, kernel_shape, act)
        note, valid = "", True
        if init == "lsuv":
            variance = np.full(np.shape(mean_sq), 1.0)
            linear_variance = np.full(np.shape(mean_sq), math.nan)
            note = "LSUV rescales each layer to unit variance on its batch"
        elif conv and is_logits:
            variance = linear_variance = np.array(math.nan)
            valid = False
            note = "global average pooling in between: the pooled features' E[x²] depends on spatial correlations"
        elif conv:
            variance = weight_var * channels * _box3(mean_sq)
            linear_variance = weight_var * channels * _box3(linear_mean_sq)
        else:
            variance = weight_var * fan_in * mean_sq
            linear_variance = weight_var * fan_in * linear_mean_sq
        predicted = math.sqrt(float(np.mean(variance))) if np.all(np.isfinite(variance)) else math.nan
        linear_rule = math.sqrt(float(np.mean(linear_variance))) \
            if np.all(np.isfinite(linear_variance)) and norm == "none" and not residual else math.nan
        if valid and not (math.isfinite(predicted) and _in_float32(predicted)):
            valid = False
            note = "beyond float32's range: the network computes 0 or inf here, not this number"
        rows.append({"layer": name, "type": "conv2d" if conv and not is_logits else "dense", "fan_in": fan_in,
                     "weight_var": weight_var,
                     "input_mean_sq": math.nan if conv and is_logits else float(np.mean(mean_sq)), "predicted": predicted,
                     "linear_rule": linear_rule, "linear_valid": linear_ok and math.isfinite(linear_rule),
                     "valid": valid, "note": note})
        if is_logits:
            break
        # The activation (after the norm) turns z into the next layer's input.
        seen = _standardized(variance, norm, bn_training)
        first, second = gaussian_moments(act, 0.0, np.sqrt(np.maximum(seen, 0.0)))
        if residual and index > 1:
            mean, mean_sq = mean + first, mean_sq + second + 2.0 * mean * first
        else:
            mean, mean_sq = first, second
        linear_second = linearized_second_moment(act, seen)
        if linear_ok and np.mean(second) > 0:
            linear_ok = abs(float(np.mean(linear_second)) / float(np.mean(second)) - 1.0) <= LINEAR_TOLERANCE
            if not linear_ok:
                rows[-1]["note"] = (rows[-1]["note"] + "; " if rows[-1]["note"] else "") + (
                    f"{act} leaves its linear range here (std {predicted:.3g}): the small-signal rule stops "
                    "holding from the next layer on")
        linear_mean_sq = linearized_second_moment(act, linear_variance)
        channels = width
    return pd.DataFrame(rows, columns=CHAIN_COLUMNS)


def plain_chain_for(config, inputs: InputMoments | None = None, classes: int | None = None,
                    bn_training: bool = False) -> pd.DataFrame:
    """:func:`plain_chain` for a plain-net RunConfig (``inputs`` default: its dataset's MNIST moments)."""
    net = config.net
    if net is None:
        raise ValueError(f"{config.arch} is not a plain net: plain_chain predicts plain_mlp / plain_cnn only")
    return plain_chain(net.depth, net.width, net.activation, config.init, arch=net.arch, norm=net.norm,
                       residual=net.residual, classes=classes or config.classes or 10, inputs=inputs,
                       bn_training=bn_training)
