"""Rules on the output: a saturated softmax (certain and wrong) or a uniform one (logits ~0)."""

from __future__ import annotations

import math

from cnnviz.diagnosis.activations import check_activation_scale, main_activation
from cnnviz.diagnosis.context import Context, residual_growth_advice
from cnnviz.diagnosis.findings import Finding, fmt
from cnnviz.probing.snapshot import Snapshot

# A healthy untrained net is unsure (max prob ≈ 1/C … 0.5); a net that is certain and wrong
# has saturated, exploding logits. Uniform means the logits are ~0.
SATURATED_MAX_PROB = 0.99
SATURATED_LOSS_ERROR_FACTOR = 10.0  # loss above this many times ln C: error
UNIFORM_LOSS_TOLERANCE = 1e-3  # |loss − ln C| ≤ this fraction of ln C …
UNIFORM_MAX_PROB_FACTOR = 1.5  # … and mean max prob ≤ 1.5/C
STUCK_STEPS = 20  # still uniform after this many training steps: the net is not learning


def check_softmax(snapshot: Snapshot, context: Context | None = None) -> list[Finding]:
    """Saturated (certain and wrong) or uniform (logits ~0, loss = ln C) softmax outputs."""
    context = context or Context()
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
                        _saturated_suggestion(snapshot, context))]
    n_classes = classes or round(math.exp(uniform_loss))
    if _is_uniform(snapshot, uniform_loss, n_classes):
        # A near-uniform softmax is normal for an untrained classifier whose hidden layers are
        # healthy (small logits layer, e.g. Keras defaults). It is a problem only when the
        # signal really shrinks layer by layer, or when training does not move it.
        vanishing = any(f.kind == "vanishing_activations" for f in check_activation_scale(snapshot))
        stuck = _uniform_streak(list(context.history), uniform_loss, n_classes)
        if not vanishing and stuck < STUCK_STEPS:
            return []
        severity = "error" if stuck >= STUCK_STEPS else "warning"
        message = (f"the softmax is uniform: loss {loss:.6f} ≈ ln({n_classes}) = {uniform_loss:.6f} and mean top "
                   f"probability {max_prob:.4f} ≈ 1/{n_classes}; logits have std {fmt(snapshot.logits.std)}, so the "
                   f"network gives every class the same probability")
        if stuck:
            message += f", and it has stayed there for {stuck} training steps"
        return [Finding(severity, "uniform_softmax", logits, snapshot.step, message,
                        _uniform_suggestion(snapshot, context, vanishing))]
    return []


def _saturated_suggestion(snapshot: Snapshot, context: Context) -> str:
    first = context.first
    if snapshot.trained and first is not None and first.softmax.get("max_prob_mean", 1.0) < SATURATED_MAX_PROB:
        return "the softmax was not saturated at step 0: training blew the logits up — lower the learning rate"
    if context.residual:
        return residual_growth_advice()
    advice = context.init_advice(main_activation(snapshot))
    if advice is not None:
        return f"shrink the logits: use a fan-in scaled initializer ({advice})"
    return (f"{context.init} is already fan-in scaled: look at what feeds the logits (the input range the "
            "network expects, a last layer with large weights)")


def _uniform_suggestion(snapshot: Snapshot, context: Context, vanishing: bool) -> str:
    if vanishing:
        advice = context.init_advice(main_activation(snapshot))
        if advice is not None:
            return f"the signal vanishes before the logits: use {advice} instead of tiny weights"
        return "the signal vanishes before the logits: check the input range the network expects"
    return "the network is not learning: raise the learning rate, and check the gradients below"


def _is_uniform(snapshot: Snapshot, uniform_loss: float, classes: int) -> bool:
    return (abs(snapshot.loss - uniform_loss) <= UNIFORM_LOSS_TOLERANCE * uniform_loss
            and snapshot.softmax.get("max_prob_mean", 1.0) <= UNIFORM_MAX_PROB_FACTOR / classes)


def _uniform_streak(history: list[Snapshot], uniform_loss: float, classes: int) -> int:
    """Training steps (up to the latest) over which every probed snapshot stayed uniform."""
    trained = [s for s in history if s.trained and s.finite]
    if not trained:
        return 0
    start = None
    for snap in reversed(trained):
        if not _is_uniform(snap, uniform_loss, classes):
            break
        start = snap.step
    return trained[-1].step - start + 1 if start is not None else 0
