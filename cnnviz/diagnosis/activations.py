"""Rules on the forward signal: exploding or vanishing pre-activations, dead ReLUs, saturation.

Each rule reads plain numbers from a :class:`~cnnviz.probing.snapshot.Snapshot` and returns at most
one :class:`~cnnviz.diagnosis.findings.Finding` (the worst layer), with the numbers a
student can check against the charts, and advice that fits the run (:mod:`.context`).
Thresholds are named constants, each with the reason it sits where it does.
"""

from __future__ import annotations

import math

from cnnviz.diagnosis.context import Context, residual_growth_advice, scaled_init_phrase, target_std
from cnnviz.diagnosis.findings import Finding, fmt, has_layer, possessive, times
from cnnviz.probing.snapshot import LayerSnapshot, Snapshot

# --- activation scale. A fan-in-scaled init keeps hidden pre-activation stds near 1
# (0.47–0.70 with He on MNIST). Two decades off is broken, one decade is suspicious.
EXPLODING_STD_ERROR = 100.0
EXPLODING_STD_WARNING = 10.0
VANISHING_STD_ERROR = 1e-3
VANISHING_STD_WARNING = 1e-2
# A layer counts as "growing"/"shrinking" only if it also differs this much from the
# first layer: a trained net may legitimately run at std 10 everywhere.
DEPTH_RATIO_WARNING = 10.0
# The logits join the vanishing check only when the hidden layers already shrink by this factor
# from first to last (a signal dying layer by layer, not merely a small output layer).
HIDDEN_SHRINK_FOR_LOGITS = 0.3

# --- ReLU units that never fire on the whole batch pass no signal and get no gradient.
DEAD_UNITS_WARNING = 0.5
DEAD_UNITS_ERROR = 0.999  # (practically) all of them: nothing flows past this layer
DIED_WHILE_TRAINING = 0.25  # during training: at least this share more dead than at step 0

# --- sigmoid/tanh units beyond these |z| pass under SLOPE_LEFT of their largest slope
# (σ'(4)/σ'(0) = tanh'(2)/tanh'(0) ≈ 0.071).
SATURATION_Z = {"sigmoid": 4.0, "tanh": 2.0}
SATURATION_WARNING = 0.5
SATURATION_ERROR = 0.9


def slope_left(activation: str) -> float:
    """The fraction of its largest slope ``activation`` keeps at |z| = SATURATION_Z."""
    z = SATURATION_Z[activation]
    if activation == "sigmoid":
        s = 1.0 / (1.0 + math.exp(-z))
        return s * (1.0 - s) / 0.25
    return 1.0 - math.tanh(z) ** 2


def hidden(snapshot: Snapshot) -> list[LayerSnapshot]:
    """Probed layers except the output (logits) layer, which the softmax rules cover."""
    return snapshot.layers[:-1] if len(snapshot.layers) > 1 else []


def scale_judged(snapshot: Snapshot) -> list[LayerSnapshot]:
    """Hidden layers whose own pre-activation scale reaches the nonlinearity.

    A layer followed by BatchNorm/LayerNorm is rescaled before anything sees it: its
    raw output may be tiny or huge without harm, so scale and dead-unit rules skip it.
    """
    return [l for l in hidden(snapshot) if not getattr(l, "normalized_by", None)]


def main_activation(snapshot: Snapshot) -> str:
    """The nonlinearity most hidden layers use ("relu" when there are none)."""
    names = [l.activation for l in hidden(snapshot) if l.activation not in ("linear", "softmax")]
    return max(set(names), key=names.count) if names else "relu"


def _chain(layers: list[LayerSnapshot]) -> str:
    return " → ".join(f"{l.name} {fmt(l.pre_activation.std)}" for l in layers)


# ----------------------------------------------------------------- scale
def check_activation_scale(snapshot: Snapshot, context: Context | None = None) -> list[Finding]:
    """Exploding or vanishing hidden pre-activations (worst layer, with the per-layer chain)."""
    context = context or Context()
    layers = [l for l in scale_judged(snapshot) if math.isfinite(l.pre_activation.std)]
    if not layers:
        return []
    findings = []
    first = layers[0]
    first_std = first.pre_activation.std
    worst_high = max(layers, key=lambda l: l.pre_activation.std)
    std = worst_high.pre_activation.std
    growth = std / first_std if first_std > 0 else math.inf
    grows = worst_high is not first and growth >= DEPTH_RATIO_WARNING
    if std >= EXPLODING_STD_ERROR or (std >= EXPLODING_STD_WARNING and (grows or worst_high is first)):
        severity = "error" if std >= EXPLODING_STD_ERROR else "warning"
        findings.append(Finding(severity, "exploding_activations", worst_high.name, snapshot.step,
                                _exploding_message(worst_high, first, growth, layers),
                                _scale_suggestion(worst_high, snapshot, True, context)))
    # Hidden layers first; the logits only when no hidden layer is small enough to show it.
    for chain in (layers, _vanishing_chain(snapshot, layers)):
        worst_low = min(chain, key=lambda l: l.pre_activation.std)
        std = worst_low.pre_activation.std
        shrink = first_std / std if std > 0 else math.inf
        shrinks = worst_low is not first and shrink >= DEPTH_RATIO_WARNING
        if std <= VANISHING_STD_ERROR or (std <= VANISHING_STD_WARNING and (shrinks or worst_low is first)):
            severity = "error" if std <= VANISHING_STD_ERROR else "warning"
            findings.append(Finding(severity, "vanishing_activations", worst_low.name, snapshot.step,
                                    _vanishing_message(worst_low, first, shrink, chain),
                                    _scale_suggestion(worst_low, snapshot, False, context)))
            break
    return findings


def _vanishing_chain(snapshot: Snapshot, layers: list[LayerSnapshot]) -> list[LayerSnapshot]:
    """The layers judged for vanishing: the hidden ones, plus the logits when the hidden chain
    itself already shrinks layer by layer (a deliberately small output layer on healthy hidden
    layers, e.g. a zero-initialised classifier head, is not a vanishing signal)."""
    logits = snapshot.layers[-1] if len(snapshot.layers) > 1 else None
    if logits is None or not math.isfinite(logits.pre_activation.std) or len(layers) < 2:
        return layers
    first, last = layers[0].pre_activation.std, layers[-1].pre_activation.std
    return layers + [logits] if first > 0 and last <= first * HIDDEN_SHRINK_FOR_LOGITS else layers


def _weights_clause(layer: LayerSnapshot) -> str:
    target, formula = target_std(layer.activation, layer.fan_in)
    ratio = layer.weight_std / target if target else math.nan
    if not math.isfinite(ratio) or ratio == 0 or 0.5 <= ratio <= 2.0:
        return ""
    return (f"; its weights have std {fmt(layer.weight_std)}, {times(max(ratio, 1 / ratio))} "
            f"{'above' if ratio > 1 else 'below'} the {layer.activation} scale {formula} = {fmt(target)} for "
            f"fan-in {layer.fan_in:,}")


def _exploding_message(worst, first, growth, layers) -> str:
    std = worst.pre_activation.std
    if worst is first:
        head = f"{worst.name} pre-activations already have std {fmt(std)} in the first layer"
    else:
        head = f"{worst.name} pre-activations have std {fmt(std)} — {times(growth)} {possessive(first.name)}"
    return f"{head} ({_chain(layers)}){_weights_clause(worst)}"


def _vanishing_message(worst, first, shrink, layers) -> str:
    std = worst.pre_activation.std
    if std == 0:
        head = f"{worst.name} pre-activations are exactly 0 for every image: no signal reaches it"
    elif worst is first:
        head = f"{worst.name} pre-activations have std only {fmt(std)} in the first layer"
    else:
        head = f"{worst.name} pre-activations have std {fmt(std)} — {times(shrink)} smaller than {possessive(first.name)}"
    return f"{head} ({_chain(layers)}){_weights_clause(worst)}"


def _already_at_start(context: Context, kind: str) -> bool:
    """Whether the step-0 snapshot already showed ``kind`` (so initialization, not training, caused it)."""
    first = context.first
    return first is None or any(f.kind == kind for f in check_activation_scale(first))


def _scale_suggestion(layer: LayerSnapshot, snapshot: Snapshot, too_big: bool, context: Context) -> str:
    if layer.weight_std == 0:
        return "all-zero weights never break symmetry; use a random initializer such as he-normal"
    kind = "exploding_activations" if too_big else "vanishing_activations"
    target, _ = target_std(layer.activation, layer.fan_in)
    weights_fit = 0.5 <= layer.weight_std / target <= 2.0
    # Training caused it when step 0 was fine — unless the weights were never scaled for this
    # activation (N(0, 1) into tanh): then the initializer is the cause, whatever training added.
    if snapshot.trained and not _already_at_start(context, kind) and (context.suits(layer.activation) or weights_fit):
        return ("the scale was fine at step 0, so the growth came from training: lower the learning rate" if too_big
                else "the scale was fine at step 0, so the signal shrank during training: look for dead ReLUs "
                     "below, and lower the learning rate")
    advice = context.init_advice(layer.activation)
    if advice is not None:
        return f"use an initializer scaled for {layer.activation}: " + scaled_init_phrase(
            layer.activation, layer.fan_in, layer.name, advice)
    if too_big and context.residual:
        return residual_growth_advice()
    return (f"{context.init} is already scaled for {layer.activation}: check the input range the network expects "
            "and what lies between the layers (pooling, dropout); a deep plain stack drifts even so — add "
            "normalization or residual connections")


# ----------------------------------------------------------------- dead ReLUs
def check_dead_relu(snapshot: Snapshot, context: Context | None = None) -> list[Finding]:
    """ReLU layers with a large share of units that never fire on the batch.

    At initialization only a layer where (nearly) nothing fires is reported: a random
    network can hold many units that are off for every image when the images look alike
    to them — the squeeze-and-excitation units of MobileNetV3 see one pooled value per
    image — and that is its structure, not a fault. During training a layer is reported
    when units *died*: dead now, alive at step 0. The suggestion follows the cause:
    all-zero weights, a signal that vanished from the start, or large steps.
    """
    context = context or Context()
    first = context.first
    candidates = []
    for layer in scale_judged(snapshot):
        if layer.activation != "relu" or layer.dead_units is None or not math.isfinite(layer.dead_units):
            continue
        dead = layer.dead_units
        at_start = _dead_at_start(first, layer.name)
        if dead >= DEAD_UNITS_ERROR:
            candidates.append(layer)
        elif snapshot.trained and dead >= DEAD_UNITS_WARNING and (
                at_start is None or dead - at_start >= DIED_WHILE_TRAINING):
            candidates.append(layer)
    if not candidates:
        return []
    worst = max(candidates, key=lambda l: l.dead_units)
    severity = "error" if worst.dead_units >= DEAD_UNITS_ERROR else "warning"
    others = [l.name for l in candidates if l is not worst]
    also = f" (also {', '.join(others)})" if others else ""
    message = (f"{worst.dead_units:.0%} of {possessive(worst.name)} ReLU units never fire on this batch of "
               f"{len(snapshot.batch_labels) or 'the'} images: they pass nothing forward and get no gradient{also}")
    if severity == "error":
        message += "; nothing flows past this layer"
    at_start = _dead_at_start(first, worst.name)
    if snapshot.trained and at_start is not None and at_start < worst.dead_units:
        message += f" (at step 0: {at_start:.0%})"
    return [Finding(severity, "dead_relu", worst.name, snapshot.step, message,
                    _dead_suggestion(worst, snapshot, context, at_start))]


def _dead_at_start(first: Snapshot | None, name: str) -> float | None:
    if first is None or not has_layer(first, name):
        return None
    return first.layer(name).dead_units


def _dead_suggestion(layer: LayerSnapshot, snapshot: Snapshot, context: Context, at_start: float | None) -> str:
    if layer.weight_std == 0:
        return ("its weights are all zero, so every unit computes the same 0 and gets the same (zero) gradient: "
                "use a random initializer such as he-normal")
    vanished = context.first is not None and any(f.kind == "vanishing_activations"
                                                 for f in check_activation_scale(context.first))
    advice = context.init_advice("relu")
    if vanished:  # nothing reached these units from the start: a smaller step cannot revive them
        return (f"almost no signal reached it from step 0 on: fix that first with {advice}" if advice else
                "almost no signal reached it from step 0 on: check the input range and the layers before it")
    if snapshot.trained and (at_start is None or at_start < DEAD_UNITS_WARNING):
        return "lower the learning rate (large steps push units into the negative region for good)"
    return (f"use {advice}, and check the input range the network expects" if advice
            else "check the input range the network expects (its units start on the negative side)")


# ----------------------------------------------------------------- saturation
def check_saturation(snapshot: Snapshot, context: Context | None = None) -> list[Finding]:
    """Sigmoid/tanh layers whose pre-activations sit where the slope is nearly 0."""
    context = context or Context()
    for layer in hidden(snapshot):
        limit = SATURATION_Z.get(layer.activation)
        if limit is None:
            continue
        share = saturated_share(layer, limit)
        if share is None or share < SATURATION_WARNING:
            continue
        severity = "error" if share >= SATURATION_ERROR else "warning"
        message = (f"{share:.0%} of {possessive(layer.name)} pre-activations have |z| > {limit:g}, where "
                   f"{layer.activation}'s slope is under {slope_left(layer.activation):.0%} of its largest: those "
                   f"units barely pass gradient (std {fmt(layer.pre_activation.std)})")
        return [Finding(severity, "sigmoid_saturation", layer.name, snapshot.step, message,
                        _saturation_suggestion(layer, snapshot, context))]
    return []


def _saturation_suggestion(layer: LayerSnapshot, snapshot: Snapshot, context: Context) -> str:
    first = context.first
    if snapshot.trained and first is not None and not check_saturation(first):
        return "nothing was saturated at step 0: training pushed it there — lower the learning rate"
    advice = context.init_advice(layer.activation)
    if advice is not None:
        return f"scale the weights down: {advice} keeps {layer.activation} inputs near 0"
    return (f"{context.init} is already scaled for {layer.activation}: check the input range, or use ReLU with "
            "he-normal")


def saturated_share(layer: LayerSnapshot, limit: float) -> float | None:
    """Share of histogram mass with |z| beyond ``limit`` (bins counted by their centre)."""
    edges, counts = layer.pre_activation.hist_edges, layer.pre_activation.hist_counts
    total = sum(counts)
    if not total or not all(math.isfinite(e) for e in edges):
        return None
    beyond = sum(c for c, lo, hi in zip(counts, edges[:-1], edges[1:]) if abs((lo + hi) / 2) > limit)
    return beyond / total
