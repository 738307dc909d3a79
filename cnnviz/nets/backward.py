"""The backward signal per layer: what the variance rule predicts for std(∂loss/∂z), layer by layer.

Glorot & Bengio (2010, eq. 2 and Fig. 7) run the fan-in rule backwards. For a dense layer
l + 1 with kernel W (n_l inputs, n_{l+1} outputs) and z_{l+1} = W·f(z_l) + b,

    ∂loss/∂f(z_l) = W · ∂loss/∂z_{l+1}        (a sum over the n_{l+1} outputs)
    ∂loss/∂z_l    = f'(z_l) · ∂loss/∂f(z_l)

so, with zero-mean weights independent of the signal,

    E[(∂loss/∂z_l)²] = n_{l+1} · Var[w_{l+1}] · E[f'(z_l)²] · E[(∂loss/∂z_{l+1})²].

Each layer multiplies the backward signal's std by √(n_{l+1}·Var[w]·E[f'(z)²]): 1 for He
weights under ReLU (E[f'²] = ½, n·Var = 2), √⅓ ≈ 0.58 for Glorot & Bengio's "standard"
U[−1/√n, 1/√n] under tanh near 0, and far below 1 where tanh or sigmoid saturate
(f' ≈ 0). The chain starts from the std *measured* at the logits (the softmax's
∂loss/∂logits = (p − y)/batch) and runs down to the first layer; E[f'(z)²] uses each
layer's measured pre-activation mean and std (z taken as Gaussian), so the line checks
what the weights do to the backward pass, not the forward one.

The rule covers consecutive dense layers (``plain_mlp`` without normalization or skips):
a normalization layer in between rescales the gradient by the batch statistics, a skip
adds a second path, and pooling/flattening in a convnet route it in ways the rule does
not count. :func:`backward_theory_reason` says which case applies. Numpy only.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cnnviz.nets.activations import LEAKY_SLOPE, SELU_ALPHA, SELU_SCALE, _erf, _sigmoid, canonical

COLUMNS = ["layer", "measured", "predicted", "ratio", "factor", "slope_sq"]

# f'(z) of each activation the plain nets use (Keras's definitions; ReLU's slope at 0 is 0, as in TF).
SLOPES = {
    "linear": lambda z: np.ones_like(z),
    "relu": lambda z: (z > 0).astype(np.float64),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, LEAKY_SLOPE),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    "selu": lambda z: SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0.0))),
    "gelu": lambda z: 0.5 * (1.0 + _erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
}

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)
_TAIL = 12.0


def slope_second_moment(activation: str, mean: float, std: float) -> float:
    """E[f'(z)²] for z ~ N(mean, std²) (Gauss–Legendre on each side of 0, where f' may jump)."""
    slope = SLOPES[canonical(activation)]
    if not (math.isfinite(mean) and math.isfinite(std)):
        return math.nan
    if std <= 0:
        return float(slope(np.array([mean]))[0] ** 2)
    lo, hi = mean - _TAIL * std, mean + _TAIL * std
    total = 0.0
    kink = min(max(0.0, lo), hi)
    for a, b in ((lo, kink), (kink, hi)):
        half = (b - a) / 2
        if half <= 0:
            continue
        z = a + half * (_NODES + 1.0)
        density = np.exp(-0.5 * ((z - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
        total += float(np.sum(half * _WEIGHTS * density * slope(z) ** 2))
    return total


def backward_theory_reason(arch: str, norm: str | None = "none", residual: bool = False,
                           activation: str | None = None) -> str | None:
    """None when :func:`backward_chain` applies to this network; otherwise why not, in words."""
    if arch != "plain_mlp":
        return ("the backward rule is drawn for plain_mlp only: pooling, flattening and shared conv "
                "weights route the gradient in ways it does not count")
    if norm not in (None, "none"):
        return f"{norm} norm rescales the gradient by the batch statistics: the backward rule does not cover it"
    if residual:
        return "skips add a second path for the gradient: the backward rule does not cover it"
    if activation is not None and canonical(activation) not in SLOPES:
        return f"the backward rule does not know {activation}'s slope"
    return None


def backward_chain(snapshot, classes: int) -> pd.DataFrame:
    """Measured and predicted std of ∂loss/∂z per layer for a plain MLP's snapshot (see module docs).

    ``predicted`` is anchored on the measured logits and chained down; ``factor`` is
    the predicted multiplier from the layer above to this one (√(n·Var[w]·E[f'²])),
    ``ratio`` = measured / predicted. Rows are in forward order, logits last.
    """
    layers = snapshot.layers
    rows = [None] * len(layers)
    top = layers[-1]
    predicted_var = top.backward_std ** 2 if top.backward_std is not None else math.nan
    rows[-1] = {"layer": top.name, "measured": _value(top.backward_std), "predicted": _value(top.backward_std),
                "factor": math.nan, "slope_sq": math.nan}
    for index in range(len(layers) - 2, -1, -1):
        layer, above = layers[index], layers[index + 1]
        outputs = layers[index + 2].fan_in if index + 2 < len(layers) else classes  # units of the layer above
        pre = layer.pre_activation
        slope_sq = slope_second_moment(layer.activation, pre.mean, pre.std) \
            if canonical(layer.activation) in SLOPES else math.nan
        multiplier = outputs * above.weight_std ** 2 * slope_sq
        predicted_var = predicted_var * multiplier
        rows[index] = {"layer": layer.name, "measured": _value(layer.backward_std),
                       "predicted": math.sqrt(predicted_var) if predicted_var >= 0 else math.nan,
                       "factor": math.sqrt(multiplier) if multiplier >= 0 else math.nan, "slope_sq": slope_sq}
    frame = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ratio"] = frame["measured"] / frame["predicted"]
    return frame[COLUMNS]


def _value(value) -> float:
    return float(value) if value is not None else math.nan


def backward_theory_for(config, snapshot, classes: int) -> tuple[dict[str, float], str | None]:
    """(layer -> predicted std, None) for a run's snapshot, or ({}, why the rule does not apply)."""
    reason = backward_theory_reason(config.arch, getattr(config, "norm", None), bool(getattr(config, "residual", False)),
                                    getattr(config, "activation", None))
    if reason is not None:
        return {}, reason
    frame = backward_chain(snapshot, classes)
    return dict(zip(frame["layer"], frame["predicted"])), None
