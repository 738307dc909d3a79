"""Rules on the backward pass and the updates: step sizes, the backward signal, ‖Δw‖/‖w‖."""

from __future__ import annotations

import math
import statistics

from cnnviz.diagnosis.context import Context
from cnnviz.diagnosis.findings import Finding, fmt, has_layer, he_std, possessive, times
from cnnviz.probing.snapshot import LayerSnapshot, Snapshot

# A plain (SGD-family) step changes a layer's weights by lr·‖∇w‖/‖w‖ of their size, momentum by
# up to 1/(1 − β) times that; adaptive optimizers (Adam, RMSProp, ...) normalise the gradient
# away, so for them only the measured update size matters (update_ratio_*). The predicted
# relative step is judged like a measured one.
SGD_FAMILY = ("sgd", "momentum", "nesterov")
PREDICTED_STEP_WARNING = 0.1
PREDICTED_STEP_ERROR = 10.0
# The backward signal (std of ∂loss/∂pre-activation) at the first layer below this fraction
# of the last hidden layer's: the gradient dies on its way back to the input side ...
VANISHING_GRAD_RATIO = 1e-3
# ... above this multiple: it grows on the way back (exploding gradients).
EXPLODING_GRAD_RATIO = 1e3

# Update size per step ‖Δw‖/‖w‖: the rule of thumb is ~1e-3. Adam at lr 1e-3 on He-initialized
# layers sits at 1e-3 … 5e-2, so "far" means two decades either way.
UPDATE_RATIO_TARGET = 1e-3
UPDATE_RATIO_HIGH = 1e-1
UPDATE_RATIO_LOW = 1e-5
UPDATE_RATIO_WINDOW = 5  # median over the last few probed steps: one step is noisy
# Ratios to ‖w‖ mean little while weights are still near 0 (e.g. a zero-initialized softmax
# regression): layers below this fraction of the He scale are left out.
NEAR_ZERO_WEIGHTS = 0.05
# A gradient below this fraction of its weights' norm has effectively vanished.
GRADIENT_GONE = 1e-8


def check_gradients(snapshot: Snapshot, context: Context | None = None) -> list[Finding]:
    """Steps a plain gradient would make far too big, and a backward signal that dies or explodes.

    The step-size check only applies to SGD-family optimizers with a known learning rate,
    and never to layers followed by normalisation (BatchNorm makes them scale-invariant:
    their gradient shrinks as their weights grow, so ‖∇w‖/‖w‖ says nothing about harm).
    """
    context = context or Context()
    layers = [l for l in snapshot.layers if l.grad_norm is not None and math.isfinite(l.grad_norm)]
    if not layers:
        return []
    findings = []
    lr = context.learning_rate
    if context.optimizer in SGD_FAMILY and lr:
        relative = [(lr * l.grad_norm / l.weight_norm, l) for l in layers if not near_zero(l) and not l.normalized_by]
        if relative:
            step, worst = max(relative, key=lambda pair: pair[0])
            if step >= PREDICTED_STEP_WARNING:
                severity = "error" if step >= PREDICTED_STEP_ERROR else "warning"
                findings.append(Finding(
                    severity, "exploding_gradients", worst.name, snapshot.step,
                    f"{possessive(worst.name)} gradient norm is {fmt(worst.grad_norm)}, {times(step / lr)} "
                    f"the norm of its weights ({fmt(worst.weight_norm)}): one {context.optimizer} step at learning "
                    f"rate {lr:g} changes them by {share(step)}",
                    f"lower the learning rate to about {lr * UPDATE_RATIO_TARGET / step:.1g}, or clip gradients"))
    findings += _backward_signal(snapshot, context)
    dead = [l for l in layers if l.grad_norm == 0.0]
    if dead:
        names = ", ".join(l.name for l in dead)
        zeros = dead[0].weight_std == 0
        findings.append(Finding(
            "error", "vanishing_gradients", dead[0].name, snapshot.step,
            f"no gradient reaches {names}: the gradient norm is exactly 0, so these weights never change",
            "all-zero weights block the backward pass: use a random fan-in scaled initializer (he-normal)" if zeros
            else _vanishing_hint(snapshot.layers[:-1], context)))
    return findings


def _backward_signal(snapshot: Snapshot, context: Context) -> list[Finding]:
    """Vanishing/exploding gradients: ∂loss/∂pre-activation from the last hidden layer to the first."""
    hidden = [l for l in snapshot.layers[:-1] if l.backward_std is not None and math.isfinite(l.backward_std)]
    if len(hidden) < 2 or hidden[-1].backward_std <= 0:
        return []
    first, last = hidden[0], hidden[-1]
    ratio = first.backward_std / last.backward_std
    chain = " → ".join(f"{l.name} {fmt(l.backward_std)}" for l in reversed(hidden))
    if 0 < ratio < VANISHING_GRAD_RATIO:
        return [Finding(
            "warning", "vanishing_gradients", first.name, snapshot.step,
            f"the gradient reaching {possessive(first.name)} pre-activations (std {fmt(first.backward_std)}) is "
            f"{times(1 / ratio)} smaller than at {last.name} ({chain}): the layers near the input barely learn",
            _vanishing_hint(hidden, context))]
    if ratio > EXPLODING_GRAD_RATIO:
        return [Finding(
            "warning", "exploding_gradients", first.name, snapshot.step,
            f"the gradient grows {times(ratio)} on its way back from {last.name} to {first.name} ({chain})",
            _exploding_hint(hidden, context))]
    return []


def _main(layers: list[LayerSnapshot]) -> str:
    names = [l.activation for l in layers if l.activation not in ("linear", "softmax")]
    return max(set(names), key=names.count) if names else "relu"


def _vanishing_hint(layers: list[LayerSnapshot], context: Context) -> str:
    if any(l.activation == "sigmoid" for l in layers):
        return ("sigmoid's slope is at most ¼, so the gradient shrinks at every sigmoid layer whatever the "
                "initializer: use ReLU (with he-normal) or tanh, or add normalization")
    activation = _main(layers)
    advice = context.init_advice(activation)
    if advice is not None:
        return f"use an initializer scaled for {activation}: {advice}"
    return (f"{context.init} is already scaled for {activation}: a stack this deep needs residual connections or "
            "normalization to carry the gradient back")


def _exploding_hint(layers: list[LayerSnapshot], context: Context) -> str:
    if any(l.normalized_by == "batch_normalization" for l in layers) and not context.residual:
        return ("batch normalization itself makes the gradient grow with depth in a plain stack (Yang et al., 2019): "
                "add residual connections")
    activation = _main(layers)
    advice = context.init_advice(activation)
    if advice is not None:
        return f"use an initializer scaled for {activation}: {advice}"
    return (f"{context.init} is already scaled for {activation}: add normalization or residual connections, "
            "or clip gradients")


def near_zero(layer: LayerSnapshot) -> bool:
    """Weights too close to 0 for ratios to ‖w‖ to mean anything (or not finite)."""
    if not (layer.weight_norm and math.isfinite(layer.weight_norm) and math.isfinite(layer.weight_std)):
        return True
    return layer.weight_std < NEAR_ZERO_WEIGHTS * he_std(layer.fan_in)


def check_update_ratio(history: list[Snapshot], context: Context | None = None) -> list[Finding]:
    """‖Δw‖/‖w‖ per step, median over the last few probed steps, against the ~1e-3 rule."""
    context = context or Context()
    trained = [s for s in history if s.trained and s.applied and s.finite]
    if not trained:
        return []
    recent = trained[-UPDATE_RATIO_WINDOW:]
    step = recent[-1].step
    medians = {}
    for layer in recent[-1].layers:
        if near_zero(layer):
            continue
        values = [s.layer(layer.name).update_ratio for s in recent if has_layer(s, layer.name)]
        values = [v for v in values if v is not None and math.isfinite(v)]
        if values:
            medians[layer.name] = statistics.median(values)
    if not medians:
        return []
    findings = []
    lr = context.learning_rate
    lr_text = f" at learning rate {lr:g}" if lr else ""
    high_name, high = max(medians.items(), key=lambda kv: kv[1])
    if high > UPDATE_RATIO_HIGH:
        findings.append(Finding(
            "warning", "update_ratio_high", high_name, step,
            f"each step changes {possessive(high_name)} weights by {share(high)} (‖Δw‖/‖w‖ = {fmt(high)}"
            f"{_window(recent)}{lr_text}); around {UPDATE_RATIO_TARGET:g} is the usual healthy pace",
            lower_lr(lr, high)))
    low_name, low = min(medians.items(), key=lambda kv: kv[1])
    if low < UPDATE_RATIO_LOW:
        findings.append(Finding(
            "warning", "update_ratio_low", low_name, step,
            f"{possessive(low_name)} weights barely move: ‖Δw‖/‖w‖ = {fmt(low)} per step{_window(recent)}{lr_text}, "
            f"far below the ~{UPDATE_RATIO_TARGET:g} that trains at a useful pace",
            _low_update_hint(recent[-1], low_name, context)))
    return findings


def _low_update_hint(snapshot: Snapshot, name: str, context: Context) -> str:
    """Raise the learning rate — unless no gradient reaches the layer, which a larger step cannot fix."""
    layer = snapshot.layer(name) if has_layer(snapshot, name) else None
    if layer is not None and layer.grad_norm is not None and layer.weight_norm and \
            layer.grad_norm <= GRADIENT_GONE * layer.weight_norm:
        return (f"almost no gradient reaches this layer (‖∇w‖ = {fmt(layer.grad_norm)}): fix the vanishing signal "
                f"first ({_vanishing_hint(snapshot.layers[:-1], context)}); a larger learning rate cannot help")
    return "raise the learning rate, or check for vanishing gradients"


def lower_lr(learning_rate: float | None, ratio: float) -> str:
    """Bring ‖Δw‖/‖w‖ ≈ ``ratio`` back to the target: updates scale with the learning rate."""
    factor = ratio / UPDATE_RATIO_TARGET
    if learning_rate:
        return f"lower the learning rate about {times(factor)}, to roughly {learning_rate / factor:.1g}"
    return f"lower the learning rate about {times(factor)}"


def share(ratio: float) -> str:
    """"12% of their size" or, for huge updates, "4e6 times their size"."""
    return f"{ratio:.0%} of their size" if ratio < 10 else f"{times(ratio)[:-1]} times their size"


def _window(recent: list[Snapshot]) -> str:
    return f", median of the last {len(recent)} probed steps" if len(recent) > 1 else f" at step {recent[-1].step}"
