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
* after a leaky ReLU (Keras's ``leaky_relu``, negative slope 0.2), E[x²] = ½(1 + 0.2²)·E[z²];
* after sigmoid, tanh, SELU, GELU and other nonlinearities, E[f(z)²] is computed
  assuming z is Gaussian with the measured mean and std (quadrature, see
  :mod:`cnnviz.nets.activations`);
* a normalization layer between two probed layers replaces z by its standardized
  version first (batch norm in training mode, layer norm always; a fresh batch norm in
  inference mode is the identity up to 1/√(1 + ε)); a residual skip in between adds
  the unmeasured block input, so the per-layer rule gives no prediction there.

``predicted`` chains from the *measured* previous layer, so each row checks one
layer's weights in isolation; ``chained`` compounds predictions from the image
alone, i.e. what the initializer does if nothing else intervenes. :func:`plain_chain`
predicts a whole ``plain_mlp``/``plain_cnn`` at init from its parameters alone. The rule is exact
in expectation for independent weights, so it is an initialization-time tool: after
training, weights and inputs are correlated and biases are no longer zero. What lies
between two probed layers (pooling, dropout) also changes E[x²]; the ``note`` column
says so where it happens.
"""

from __future__ import annotations

import math

import pandas as pd

from cnnviz.diagnosis.theory_chain import InputMoments, mnist_input_moments, plain_chain, plain_chain_for  # noqa: F401 (public)
from cnnviz.nets.activations import LEAKY_SLOPE, canonical, covered, gaussian_moments
from cnnviz.probing.snapshot import Snapshot

NORM_EPSILON = 1e-3  # Keras's default epsilon for BatchNormalization and LayerNormalization

COLUMNS = ["layer", "type", "fan_in", "weight_var", "input_from", "input_rule", "input_mean_sq",
           "measured", "predicted", "ratio", "chained", "note"]


def activation_second_moment(activation: str, mean: float, std: float) -> tuple[float, str]:
    """E[f(z)²] for the input of the next layer, from the moments of z; and the rule used.

    Returns (NaN, reason) when the rule does not apply to ``activation``.
    """
    mean_sq = std * std + mean * mean
    name = canonical(activation)
    if name == "linear":
        return mean_sq, "linear: E[x²] = E[z²]"
    if name == "relu":
        return 0.5 * mean_sq, "ReLU: E[x²] = ½·E[z²] (z symmetric around 0)"
    if name == "leaky_relu":
        factor = 0.5 * (1.0 + LEAKY_SLOPE ** 2)
        return factor * mean_sq, f"leaky ReLU (slope {LEAKY_SLOPE:g}): E[x²] = {factor:g}·E[z²] (z symmetric around 0)"
    if not covered(name) or not (math.isfinite(mean) and math.isfinite(std)):
        return math.nan, f"the rule does not cover {activation}"
    return float(gaussian_moments(name, mean, std)[1]), f"{name}: E[f(z)²] for Gaussian z"


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


def _normalized_input(items: list[str], trained: bool, activation: str, mean: float, std: float):
    """(E[x²], rule) when a normalization layer sits between the previous layer and its
    activation; None when there is none."""
    norms = [item for item in items if item in ("batch_normalization", "layer_normalization")]
    if not norms:
        return None
    if norms[0] == "batch_normalization" and not trained:
        # Inference mode with fresh moving statistics (mean 0, variance 1): z / √(1 + ε).
        scale = 1.0 / math.sqrt(1.0 + NORM_EPSILON)
        value, rule = activation_second_moment(activation, mean * scale, std * scale)
        return value, f"batch norm at init in inference mode (≈ identity), then {rule}"
    # Batch norm in training mode, or layer norm: z standardized to mean 0, variance ≈ 1.
    variance = std * std
    value, rule = activation_second_moment(activation, 0.0, math.sqrt(variance / (variance + NORM_EPSILON)))
    return value, f"{norms[0].replace('_', ' ')} standardizes z, then {rule}"


def _between_effect(items: list[str], trained: bool) -> tuple[float, str]:
    """(factor on E[x²] we can account for, note about what we cannot)."""
    factor, notes = 1.0, []
    for item in items:
        if item == "add":
            notes.append("a residual skip in between adds the block's input: the per-layer rule does not cover it "
                         "(theory.plain_chain predicts residual plain nets)")
            continue
        if "global_average_pooling" in item:
            notes.append("global average pooling in between: E[x²] then depends on spatial correlations; "
                         "the rule ignores it")
            continue
        if item.startswith("dropout(") and trained:
            rate = float(item[len("dropout("):-1])
            factor /= max(1.0 - rate, 1e-6)  # training-mode dropout rescales kept units by 1/(1-p)
            notes.append(f"{item} in training mode: E[x²] × 1/(1−p) included")
        elif "max_pooling" in item:
            notes.append("max pooling in between raises E[x²]; the rule ignores it")
        elif "average_pooling" in item:
            notes.append("average pooling in between lowers E[x²]; the rule ignores it")
    return factor, "; ".join(notes)


def theory_vs_measured_table(snapshot: Snapshot, between: dict[str, list[str]] | None = None) -> pd.DataFrame:
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
            items = between.get(layer.name, [])
            input_from = f"{previous.name} ({previous.activation})"
            normalized = _normalized_input(items, snapshot.trained, previous.activation, pre.mean, pre.std)
            if normalized is not None:
                mean_sq, rule = normalized
                chained_mean_sq = _normalized_input(items, snapshot.trained, previous.activation, 0.0,
                                                    math.sqrt(chained_var))[0] if math.isfinite(chained_var) else math.nan
            else:
                mean_sq, rule = activation_second_moment(previous.activation, pre.mean, pre.std)
                chained_mean_sq, _ = activation_second_moment(previous.activation, 0.0, math.sqrt(chained_var)) \
                    if math.isfinite(chained_var) else (math.nan, "")
            if "add" in items:  # the skip adds the block input, which no probe measured
                mean_sq = chained_mean_sq = math.nan
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


def theory_vs_measured_table_for_run(run, snapshot: Snapshot | None = None) -> pd.DataFrame:
    """:func:`theory_vs_measured_table` for ``snapshot`` of ``run`` (default: its step-0 snapshot)."""
    if snapshot is None:
        snapshot = run.snapshot_at_init()
    return theory_vs_measured_table(snapshot, layers_between(run.model, run.probed.layer_names))
