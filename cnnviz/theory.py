"""What the variance rule predicts for each layer's pre-activation std, next to what was measured.

For a layer with zero-mean weights drawn independently of its input x,

    Var[pre] = fan_in · Var[w] · E[x²]

so each layer multiplies the signal's scale by √(fan_in · Var[w] · E[x²] / Var[pre_prev]).
E[x²] of a layer's input comes from the layer before it:

* the first layer's input is the image batch: its E[x²] is measured directly;
* after a ReLU, E[x²] = ½·E[z²] of the previous pre-activation z when z is symmetric
  around 0 (half the units pass unchanged, half become 0) — the ½ that He
  initialization (Var[w] = 2/fan_in) cancels;
* after a linear layer, E[x²] = E[z²];
* after sigmoid/tanh/other smooth nonlinearities, E[f(z)²] is computed assuming z is
  Gaussian with the measured mean and std (Gauss–Hermite quadrature).

``predicted`` chains from the *measured* previous layer, so each row checks one
layer's weights in isolation; ``chained`` compounds predictions from the image
alone, i.e. what the initializer does if nothing else intervenes. The rule is exact
in expectation for independent weights, so it is an initialization-time tool: after
training, weights and inputs are correlated and biases are no longer zero. What lies
between two probed layers (pooling, dropout) also changes E[x²]; the ``note`` column
says so where it happens.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cnnviz.snapshot import Snapshot

# 40 probabilists' Gauss–Hermite nodes integrate smooth functions of N(μ, σ²) to ~1e-10.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)

SMOOTH_ACTIVATIONS = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(0.0, z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "gelu": lambda z: 0.5 * z * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3))),
    "swish": lambda z: z / (1.0 + np.exp(-z)),
    "silu": lambda z: z / (1.0 + np.exp(-z)),
}

COLUMNS = ["layer", "type", "fan_in", "weight_var", "input_from", "input_rule", "input_mean_sq",
           "measured", "predicted", "ratio", "chained", "note"]


def activation_second_moment(activation: str, mean: float, std: float) -> tuple[float, str]:
    """E[f(z)²] for the input of the next layer, from the moments of z; and the rule used.

    Returns (NaN, reason) when the rule does not apply to ``activation``.
    """
    mean_sq = std * std + mean * mean
    if activation == "linear":
        return mean_sq, "linear: E[x²] = E[z²]"
    if activation == "relu":
        return 0.5 * mean_sq, "ReLU: E[x²] = ½·E[z²] (z symmetric around 0)"
    function = SMOOTH_ACTIVATIONS.get(activation)
    if function is None:
        return math.nan, f"the rule does not cover {activation}"
    values = function(mean + std * _NODES)
    return float(np.sum(_WEIGHTS * values * values)), f"{activation}: E[f(z)²] for Gaussian z"


def layers_between(model, layer_names: list[str]) -> dict[str, list[str]]:
    """For each probed layer, the non-activation layers between it and the previous one.

    Walks ``model.layers`` in order, which is the data flow for the zoo's chains
    (branching models get an approximation). Entries look like ``"max_pooling2d"``,
    ``"dropout(0.2)"``, ``"flatten"``.
    """
    between: dict[str, list[str]] = {}
    pending: list[str] = []
    wanted = set(layer_names)
    for layer in model.layers:
        if layer.name in wanted:
            between[layer.name] = pending
            pending = []
            continue
        kind = type(layer).__name__
        if kind in ("InputLayer", "Activation", "ReLU"):
            continue
        label = _snake(kind)
        if kind == "Dropout":
            label = f"dropout({layer.rate:g})"
        pending.append(label)
    return between


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper() and not name[i - 1].isdigit():
            out.append("_")
        out.append(ch.lower())
    return "".join(out).replace("2_d", "2d")


def _between_effect(items: list[str], trained: bool) -> tuple[float, str]:
    """(factor on E[x²] we can account for, note about what we cannot)."""
    factor, notes = 1.0, []
    for item in items:
        if item.startswith("dropout(") and trained:
            rate = float(item[len("dropout("):-1])
            factor /= max(1.0 - rate, 1e-6)  # training-mode dropout rescales kept units by 1/(1-p)
            notes.append(f"{item} in training mode: E[x²] × 1/(1−p) included")
        elif "max_pooling" in item:
            notes.append("max pooling in between raises E[x²]; the rule ignores it")
        elif "average_pooling" in item:
            notes.append("average pooling in between lowers E[x²]; the rule ignores it")
    return factor, "; ".join(notes)


def std_table(snapshot: Snapshot, between: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Measured vs predicted pre-activation std per layer for one snapshot.

    ``between`` (from :func:`layers_between`) adds dropout factors and pooling notes.
    Columns: see ``COLUMNS``; ``ratio`` = measured / predicted (1 means the rule holds).
    """
    between = between or {}
    rows = []
    previous = None
    chained_var = math.nan
    for index, layer in enumerate(snapshot.layers):
        weight_var = layer.weight_std ** 2
        if previous is None:
            input_from = "image"
            rms = snapshot.input_rms
            mean_sq = rms * rms if rms is not None else math.nan
            rule = "image: E[x²] measured on the batch"
            chained_mean_sq = mean_sq
        else:
            pre = previous.pre_activation
            input_from = f"{previous.name} ({previous.activation})"
            mean_sq, rule = activation_second_moment(previous.activation, pre.mean, pre.std)
            chained_mean_sq, _ = activation_second_moment(previous.activation, 0.0, math.sqrt(chained_var)) \
                if math.isfinite(chained_var) else (math.nan, "")
        factor, note = _between_effect(between.get(layer.name, []), snapshot.trained)
        mean_sq *= factor
        chained_mean_sq *= factor
        predicted_var = layer.fan_in * weight_var * mean_sq
        chained_var = layer.fan_in * weight_var * chained_mean_sq
        predicted = math.sqrt(predicted_var) if math.isfinite(predicted_var) and predicted_var >= 0 else math.nan
        chained = math.sqrt(chained_var) if math.isfinite(chained_var) and chained_var >= 0 else math.nan
        measured = layer.pre_activation.std
        ratio = measured / predicted if predicted and math.isfinite(predicted) and math.isfinite(measured) else math.nan
        if snapshot.trained and index == 0:
            note = "; ".join(n for n in [note, "after training the rule is only indicative (biases, correlations)"] if n)
        rows.append({"layer": layer.name, "type": layer.type, "fan_in": layer.fan_in, "weight_var": weight_var,
                     "input_from": input_from, "input_rule": rule, "input_mean_sq": mean_sq,
                     "measured": measured, "predicted": predicted, "ratio": ratio, "chained": chained, "note": note})
        previous = layer
    return pd.DataFrame(rows, columns=COLUMNS)


def std_table_for_run(run, snapshot: Snapshot | None = None) -> pd.DataFrame:
    """:func:`std_table` for ``snapshot`` of ``run`` (default: its step-0 snapshot)."""
    if snapshot is None:
        snapshot = run.initial_snapshot()
    return std_table(snapshot, layers_between(run.model, run.probed.layer_names))
