"""The activation and softmax rules, the Finding type, thresholds and number formatting.

Split out of :mod:`cnnviz.diagnose` (which adds the gradient/update rules and runs
everything over a Run); import from there. Each threshold is a named constant with
the reason it sits where it does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from cnnviz.snapshot import LayerSnapshot, Snapshot

SEVERITIES = ("error", "warning", "info")
KINDS = ("non_finite", "exploding_activations", "vanishing_activations", "dead_relu", "saturated_softmax",
         "uniform_softmax", "sigmoid_saturation", "exploding_gradients", "vanishing_gradients",
         "update_ratio_high", "update_ratio_low")

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

# --- softmax. A healthy untrained net is unsure (max prob ≈ 1/C … 0.5); a net that is
# certain and wrong has saturated, exploding logits. Uniform means the logits are ~0.
SATURATED_MAX_PROB = 0.99
SATURATED_LOSS_ERROR_FACTOR = 10.0  # loss above this many times ln C: error
UNIFORM_LOSS_TOLERANCE = 1e-3  # |loss − ln C| ≤ this fraction of ln C …
UNIFORM_MAX_PROB_FACTOR = 1.5  # … and mean max prob ≤ 1.5/C
STUCK_STEPS = 20  # still uniform after this many training steps: the net is not learning

# --- sigmoid/tanh units whose |z| exceeds these have derivative < 2% of the maximum.
SATURATION_Z = {"sigmoid": 4.0, "tanh": 2.0}
SATURATION_WARNING = 0.5
SATURATION_ERROR = 0.9



@dataclass(frozen=True)
class Finding:
    """One diagnosis: how bad, what kind, where, when, what it means and what to try."""

    severity: str  # "info" | "warning" | "error"
    kind: str
    layer: str | None
    step: int
    message: str
    suggestion: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------- formatting
def fmt(value: float) -> str:
    """A number the way a person writes it: 10,200 / 18.6 / 0.00186 / 8.2e+05."""
    if value is None or not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e5 or magnitude < 1e-4:
        return f"{value:.2g}"
    if magnitude >= 100:
        return f"{round(value, -int(math.floor(math.log10(magnitude))) + 2):,.0f}"
    return f"{value:.3g}"


def times(ratio: float) -> str:
    if ratio >= 1e5:
        return f"{ratio:.1e}x".replace("e+0", "e").replace("e+", "e")
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def possessive(name: str) -> str:
    """Possessive of a layer name: conv4's, logits'."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def he_std(fan_in: int) -> float:
    """The He-normal weight std √(2/fan_in) that keeps ReLU pre-activations steady."""
    return math.sqrt(2.0 / max(fan_in, 1))


def _init_hint(layer: LayerSnapshot) -> str:
    if layer.activation in SATURATION_Z:
        return "try glorot-normal (made for sigmoid/tanh)"
    return "try he-normal"


def _hidden(snapshot: Snapshot) -> list[LayerSnapshot]:
    """Probed layers except the output (logits) layer, which the softmax rules cover."""
    return snapshot.layers[:-1] if len(snapshot.layers) > 1 else []


def _scale_judged(snapshot: Snapshot) -> list[LayerSnapshot]:
    """Hidden layers whose own pre-activation scale reaches the nonlinearity.

    A layer followed by BatchNorm/LayerNorm is rescaled before anything sees it: its
    raw output may be tiny or huge without harm, so scale and dead-unit rules skip it.
    """
    return [l for l in _hidden(snapshot) if not getattr(l, "normalized_by", None)]


def _chain(layers: list[LayerSnapshot]) -> str:
    return " → ".join(f"{l.name} {fmt(l.pre_activation.std)}" for l in layers)


# ----------------------------------------------------------------- activation rules
def check_activation_scale(snapshot: Snapshot) -> list[Finding]:
    """Exploding or vanishing hidden pre-activations (worst layer, with the per-layer chain)."""
    layers = [l for l in _scale_judged(snapshot) if math.isfinite(l.pre_activation.std)]
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
                                _exploding_message(worst_high, first, growth, layers, snapshot),
                                _scale_suggestion(worst_high, snapshot, too_big=True)))
    # Hidden layers first; the logits only when no hidden layer is small enough to show it.
    for chain in (layers, _vanishing_chain(snapshot, layers)):
        worst_low = min(chain, key=lambda l: l.pre_activation.std)
        std = worst_low.pre_activation.std
        shrink = first_std / std if std > 0 else math.inf
        shrinks = worst_low is not first and shrink >= DEPTH_RATIO_WARNING
        if std <= VANISHING_STD_ERROR or (std <= VANISHING_STD_WARNING and (shrinks or worst_low is first)):
            severity = "error" if std <= VANISHING_STD_ERROR else "warning"
            findings.append(Finding(severity, "vanishing_activations", worst_low.name, snapshot.step,
                                    _vanishing_message(worst_low, first, shrink, chain, snapshot),
                                    _scale_suggestion(worst_low, snapshot, too_big=False)))
            break
    return findings


def _vanishing_chain(snapshot: Snapshot, hidden: list[LayerSnapshot]) -> list[LayerSnapshot]:
    """The layers judged for vanishing: the hidden ones, plus the logits when the hidden chain
    itself already shrinks layer by layer (a deliberately small output layer on healthy hidden
    layers, e.g. a zero-initialised classifier head, is not a vanishing signal)."""
    logits = snapshot.layers[-1] if len(snapshot.layers) > 1 else None
    if logits is None or not math.isfinite(logits.pre_activation.std) or len(hidden) < 2:
        return hidden
    first, last = hidden[0].pre_activation.std, hidden[-1].pre_activation.std
    return hidden + [logits] if first > 0 and last <= first * HIDDEN_SHRINK_FOR_LOGITS else hidden


def _weights_clause(layer: LayerSnapshot) -> str:
    target = he_std(layer.fan_in)
    ratio = layer.weight_std / target if target else math.nan
    if not math.isfinite(ratio) or ratio == 0 or 0.5 <= ratio <= 2.0:
        return ""
    size = "too large" if ratio > 1 else "too small"
    return (f"; its weights have std {fmt(layer.weight_std)}, {times(max(ratio, 1 / ratio))} "
            f"{'above' if ratio > 1 else 'below'} the He scale √(2/{layer.fan_in:,}) = {fmt(target)} — {size} "
            f"for fan-in {layer.fan_in:,}")


def _exploding_message(worst, first, growth, layers, snapshot) -> str:
    std = worst.pre_activation.std
    if worst is first:
        head = f"{worst.name} pre-activations already have std {fmt(std)} in the first layer"
    else:
        head = f"{worst.name} pre-activations have std {fmt(std)} — {times(growth)} {possessive(first.name)}"
    return f"{head} ({_chain(layers)}){_weights_clause(worst)}"


def _vanishing_message(worst, first, shrink, layers, snapshot) -> str:
    std = worst.pre_activation.std
    if std == 0:
        head = f"{worst.name} pre-activations are exactly 0 for every image: no signal reaches it"
    elif worst is first:
        head = f"{worst.name} pre-activations have std only {fmt(std)} in the first layer"
    else:
        head = f"{worst.name} pre-activations have std {fmt(std)} — {times(shrink)} smaller than {possessive(first.name)}"
    return f"{head} ({_chain(layers)}){_weights_clause(worst)}"


def _scale_suggestion(layer: LayerSnapshot, snapshot: Snapshot, too_big: bool) -> str:
    target = he_std(layer.fan_in)
    if layer.weight_std == 0:
        return "all-zero weights never break symmetry; use a random initializer such as he-normal"
    if snapshot.trained and 0.5 <= layer.weight_std / target <= 2.0:
        return ("the weights look well scaled, so the growth came from training: lower the learning rate"
                if too_big else "the signal shrank during training: check for dead ReLUs and the learning rate")
    return (f"use a fan-in scaled initializer: {_init_hint(layer)} (std √(2/fan_in), "
            f"{fmt(target)} for {layer.name})")


def check_dead_relu(snapshot: Snapshot, history: list[Snapshot] | None = None) -> list[Finding]:
    """ReLU layers with a large share of units that never fire on the batch.

    At initialization only a layer where (nearly) nothing fires is reported: a random
    network can hold many units that are off for every image when the images look alike
    to them — the squeeze-and-excitation units of MobileNetV3 see one pooled value per
    image — and that is its structure, not a fault. During training a layer is reported
    when units *died*: dead now, alive at step 0 (``history``'s first snapshot). The
    suggestion follows the cause: all-zero weights, initialization, or large steps.
    """
    first = history[0] if history and history[0].step == 0 else None
    candidates = []
    for layer in _scale_judged(snapshot):
        if layer.activation != "relu" or layer.dead_units is None or not math.isfinite(layer.dead_units):
            continue
        dead = layer.dead_units
        at_start = first.layer(layer.name).dead_units if first is not None and has_layer(first, layer.name) else None
        if dead >= DEAD_UNITS_ERROR:
            candidates.append(layer)
        elif snapshot.trained and dead >= DEAD_UNITS_WARNING and (
                at_start is None or dead - (at_start or 0.0) >= DIED_WHILE_TRAINING):
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
    at_start = first.layer(worst.name).dead_units if first is not None and has_layer(first, worst.name) else None
    if first is not None and snapshot.trained and at_start is not None and at_start < worst.dead_units:
        message += f" (at step 0: {at_start:.0%})"
    dead_from_start = at_start is not None and at_start >= DEAD_UNITS_WARNING
    if worst.weight_std == 0:
        suggestion = ("its weights are all zero, so every unit computes the same 0 and gets the same (zero) "
                      "gradient: use a random initializer such as he-normal")
    elif snapshot.trained and not dead_from_start:
        suggestion = "lower the learning rate (large steps push units into the negative region for good)"
    else:
        suggestion = "use he-normal, and check the input range the network expects"
    return [Finding(severity, "dead_relu", worst.name, snapshot.step, message, suggestion)]


def check_saturation(snapshot: Snapshot) -> list[Finding]:
    """Sigmoid/tanh layers whose pre-activations sit where the derivative is ~0."""
    findings = []
    for layer in _hidden(snapshot):
        limit = SATURATION_Z.get(layer.activation)
        if limit is None:
            continue
        share = saturated_share(layer, limit)
        if share is None or share < SATURATION_WARNING:
            continue
        severity = "error" if share >= SATURATION_ERROR else "warning"
        findings.append(Finding(
            severity, "sigmoid_saturation", layer.name, snapshot.step,
            f"{share:.0%} of {possessive(layer.name)} pre-activations have |z| > {limit:g}, where {layer.activation}'s slope "
            f"is under 2% of its maximum: those units barely pass gradient (std {fmt(layer.pre_activation.std)})",
            f"scale the weights down: glorot-normal keeps {layer.activation} inputs near 0"))
    return findings[:1] if findings else []


def saturated_share(layer: LayerSnapshot, limit: float) -> float | None:
    """Share of histogram mass with |z| beyond ``limit`` (bins counted by their centre)."""
    edges, counts = layer.pre_activation.hist_edges, layer.pre_activation.hist_counts
    total = sum(counts)
    if not total or not all(math.isfinite(e) for e in edges):
        return None
    beyond = sum(c for c, lo, hi in zip(counts, edges[:-1], edges[1:]) if abs((lo + hi) / 2) > limit)
    return beyond / total


# ----------------------------------------------------------------- softmax rules
def check_softmax(snapshot: Snapshot, history: list[Snapshot] | None = None) -> list[Finding]:
    """Saturated (certain and wrong) or uniform (logits ~0, loss = ln C) softmax outputs."""
    soft = snapshot.softmax
    classes = len(soft.get("predicted_counts") or []) or None
    uniform_loss = soft.get("uniform_entropy") or (math.log(classes) if classes else math.nan)
    max_prob = soft.get("max_prob_mean", math.nan)
    loss = snapshot.loss
    logits = snapshot.layers[-1].name if snapshot.layers else None
    if not (math.isfinite(max_prob) and math.isfinite(loss) and math.isfinite(uniform_loss)):
        return []
    if max_prob >= SATURATED_MAX_PROB and (not snapshot.trained or loss > uniform_loss):
        severity = "error" if loss > SATURATED_LOSS_ERROR_FACTOR * uniform_loss else "warning"
        counts = soft.get("predicted_counts") or []
        top = max(counts) if counts else 0
        message = (f"the softmax is saturated: mean top probability {max_prob:.3f} yet loss {fmt(loss)} "
                   f"(guessing uniformly gives {uniform_loss:.4f}); logits have std {fmt(snapshot.logits.std)}, "
                   f"so one class takes all the probability")
        if counts and top >= 0.5 * sum(counts):
            message += f" — {top} of {sum(counts)} images get the same class"
        return [Finding(severity, "saturated_softmax", logits, snapshot.step, message,
                        "shrink the logits: a fan-in scaled initializer (he-normal) or a lower learning rate")]
    n_classes = classes or round(math.exp(uniform_loss))
    if (abs(loss - uniform_loss) <= UNIFORM_LOSS_TOLERANCE * uniform_loss
            and max_prob <= UNIFORM_MAX_PROB_FACTOR / n_classes):
        # A near-uniform softmax is normal for an untrained classifier whose hidden layers are
        # healthy (small logits layer, e.g. Keras defaults). It is a problem only when the
        # signal really shrinks layer by layer, or when training does not move it.
        vanishing = any(f.kind == "vanishing_activations" for f in check_activation_scale(snapshot))
        stuck = _uniform_streak(history or [], uniform_loss, n_classes)
        if not vanishing and stuck < STUCK_STEPS:
            return []
        severity = "error" if stuck >= STUCK_STEPS else "warning"
        message = (f"the softmax is uniform: loss {loss:.6f} ≈ ln({n_classes}) = {uniform_loss:.6f} and mean top "
                   f"probability {max_prob:.4f} ≈ 1/{n_classes}; logits have std {fmt(snapshot.logits.std)}, so the "
                   f"network gives every class the same probability")
        if stuck:
            message += f", and it has stayed there for {stuck} training steps"
        suggestion = ("the signal vanishes before the logits: use he-normal instead of tiny weights" if vanishing
                      else "the network is not learning: raise the learning rate, and check the gradients below")
        return [Finding(severity, "uniform_softmax", logits, snapshot.step, message, suggestion)]
    return []


def _uniform_streak(history: list[Snapshot], uniform_loss: float, classes: int) -> int:
    """Training steps (up to the latest) over which every probed snapshot stayed uniform."""
    trained = [s for s in history if s.trained and s.finite]
    if not trained:
        return 0
    start = None
    for snap in reversed(trained):
        uniform = (abs(snap.loss - uniform_loss) <= UNIFORM_LOSS_TOLERANCE * uniform_loss
                   and snap.softmax.get("max_prob_mean", 1.0) <= UNIFORM_MAX_PROB_FACTOR / classes)
        if not uniform:
            break
        start = snap.step
    return trained[-1].step - start + 1 if start is not None else 0




def has_layer(snapshot: Snapshot, name: str) -> bool:
    return any(l.name == name for l in snapshot.layers)
