"""Rules that turn snapshots into findings: what is wrong, with the numbers, and what to try.

Each rule reads plain numbers from a :class:`~cnnviz.snapshot.Snapshot` and returns at
most one :class:`Finding` (the worst layer), so a broken network gets a short list,
not one line per layer. Thresholds are named constants (here and in
:mod:`cnnviz.diagnose_rules`); each says why it sits where it does. ``kind`` is a
stable slug that pages, tests and ``--json`` consumers can rely on.

Reference points (ltfn_convnet at init, embedded MNIST sample, batch 100, seed 0):
N(0, 1) weights give pre-activation stds 1.02 → 18.6 → 425 → 10,200 and logits std
8.2e5; N(0, 0.01²) gives 0.0102 → 0.00186 → 4.25e-4 → 1.02e-4 and loss ln 10;
He-normal keeps every layer between 0.47 and 0.70.
"""

from __future__ import annotations

import math
import statistics

from cnnviz.diagnose_rules import (  # noqa: F401  (re-exported: the public names live here)
    KINDS, SEVERITIES, Finding, check_activation_scale, check_dead_relu, check_saturation, check_softmax, fmt,
    has_layer, he_std, possessive, saturated_share, times)
from cnnviz.snapshot import LayerSnapshot, Snapshot

# --- gradients. A plain (SGD-family) step changes a layer's weights by lr·‖∇w‖/‖w‖ of their
# size, momentum by up to 1/(1 − β) times that; adaptive optimizers (Adam, RMSProp, ...)
# normalise the gradient away, so for them only the measured update size matters
# (update_ratio_*). The predicted relative step is judged like a measured one.
SGD_FAMILY = ("sgd", "momentum", "nesterov")
PREDICTED_STEP_WARNING = 0.1
PREDICTED_STEP_ERROR = 10.0
# The backward signal (std of ∂loss/∂pre-activation) at the first layer below this fraction
# of the last hidden layer's: the gradient dies on its way back to the input side.
VANISHING_GRAD_RATIO = 1e-3
# ... above this multiple: it grows on the way back (exploding gradients).
EXPLODING_GRAD_RATIO = 1e3

# --- update size per step ‖Δw‖/‖w‖: the rule of thumb is ~1e-3. Adam at lr 1e-3 on
# He-initialized layers sits at 1e-3 … 5e-2, so "far" means two decades either way.
UPDATE_RATIO_TARGET = 1e-3
UPDATE_RATIO_HIGH = 1e-1
UPDATE_RATIO_LOW = 1e-5
UPDATE_RATIO_WINDOW = 5
# A gradient below this fraction of its weights' norm has effectively vanished.
GRADIENT_GONE = 1e-8  # median over the last few probed steps: one step is noisy
# Ratios to ‖w‖ mean little while weights are still near 0 (e.g. a zero-initialized
# softmax regression): layers below this fraction of the He scale are left out.
NEAR_ZERO_WEIGHTS = 0.05


# ----------------------------------------------------------------- gradient rules
def check_gradients(snapshot: Snapshot, optimizer: str | None = None,
                    learning_rate: float | None = None) -> list[Finding]:
    """Steps a plain gradient would make far too big, and a backward signal that dies or explodes.

    The step-size check only applies to SGD-family optimizers with a known learning rate,
    and never to layers followed by normalisation (BatchNorm makes them scale-invariant:
    their gradient shrinks as their weights grow, so ‖∇w‖/‖w‖ says nothing about harm).
    """
    layers = [l for l in snapshot.layers if l.grad_norm is not None and math.isfinite(l.grad_norm)]
    if not layers:
        return []
    findings = []
    if optimizer in SGD_FAMILY and learning_rate:
        relative = [(learning_rate * l.grad_norm / l.weight_norm, l) for l in layers
                    if not _near_zero(l) and not l.normalized_by]
        if relative:
            step, worst = max(relative, key=lambda pair: pair[0])
            if step >= PREDICTED_STEP_WARNING:
                severity = "error" if step >= PREDICTED_STEP_ERROR else "warning"
                findings.append(Finding(
                    severity, "exploding_gradients", worst.name, snapshot.step,
                    f"{possessive(worst.name)} gradient norm is {fmt(worst.grad_norm)}, {times(step / learning_rate)} "
                    f"the norm of its weights ({fmt(worst.weight_norm)}): one {optimizer} step at learning rate "
                    f"{learning_rate:g} changes them by {_share(step)}",
                    f"lower the learning rate to about {learning_rate * UPDATE_RATIO_TARGET / step:.1g}, or clip "
                    "gradients; if activations explode too, fix the initialization first (he-normal)"))
    findings += _backward_signal(snapshot)
    dead = [l for l in layers if l.grad_norm == 0.0]
    if dead:
        names = ", ".join(l.name for l in dead)
        findings.append(Finding(
            "error", "vanishing_gradients", dead[0].name, snapshot.step,
            f"no gradient reaches {names}: the gradient norm is exactly 0, so these weights never change",
            "all-zero or dead layers block the backward pass: use a random fan-in scaled initializer (he-normal)"))
    return findings


def _backward_signal(snapshot: Snapshot) -> list[Finding]:
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
            _vanishing_hint(hidden))]
    if ratio > EXPLODING_GRAD_RATIO:
        return [Finding(
            "warning", "exploding_gradients", first.name, snapshot.step,
            f"the gradient grows {times(ratio)} on its way back from {last.name} to {first.name} ({chain})",
            "use a fan-in scaled initializer (he-normal for ReLU, glorot for tanh/sigmoid), or add normalization")]
    return []


def _vanishing_hint(layers: list[LayerSnapshot]) -> str:
    if any(l.activation in ("sigmoid", "tanh") for l in layers):
        return "sigmoid/tanh layers shrink the gradient where they saturate: use glorot init, ReLU, or normalization"
    return "use a fan-in scaled initializer (he-normal for ReLU), or residual connections / normalization"


def _near_zero(layer: LayerSnapshot) -> bool:
    """Weights too close to 0 for ratios to ‖w‖ to mean anything (or not finite)."""
    if not (layer.weight_norm and math.isfinite(layer.weight_norm) and math.isfinite(layer.weight_std)):
        return True
    return layer.weight_std < NEAR_ZERO_WEIGHTS * he_std(layer.fan_in)


def check_update_ratio(history: list[Snapshot], learning_rate: float | None = None) -> list[Finding]:
    """‖Δw‖/‖w‖ per step, median over the last few probed steps, against the ~1e-3 rule."""
    trained = [s for s in history if s.trained and s.applied and s.finite]
    if not trained:
        return []
    recent = trained[-UPDATE_RATIO_WINDOW:]
    step = recent[-1].step
    medians = {}
    for layer in recent[-1].layers:
        if _near_zero(layer):
            continue
        values = [s.layer(layer.name).update_ratio for s in recent if has_layer(s, layer.name)]
        values = [v for v in values if v is not None and math.isfinite(v)]
        if values:
            medians[layer.name] = statistics.median(values)
    if not medians:
        return []
    findings = []
    lr_text = f" at learning rate {learning_rate:g}" if learning_rate else ""
    high_name, high = max(medians.items(), key=lambda kv: kv[1])
    if high > UPDATE_RATIO_HIGH:
        findings.append(Finding(
            "warning", "update_ratio_high", high_name, step,
            f"each step changes {possessive(high_name)} weights by {_share(high)} (‖Δw‖/‖w‖ = {fmt(high)}"
            f"{_window(recent)}{lr_text}); around {UPDATE_RATIO_TARGET:g} is the usual healthy pace",
            _lower_lr(learning_rate, high)))
    low_name, low = min(medians.items(), key=lambda kv: kv[1])
    if low < UPDATE_RATIO_LOW:
        findings.append(Finding(
            "warning", "update_ratio_low", low_name, step,
            f"{possessive(low_name)} weights barely move: ‖Δw‖/‖w‖ = {fmt(low)} per step{_window(recent)}{lr_text}, "
            f"far below the ~{UPDATE_RATIO_TARGET:g} that trains at a useful pace",
            _low_update_hint(recent[-1], low_name)))
    return findings


def _low_update_hint(snapshot: Snapshot, name: str) -> str:
    """Raise the learning rate — unless no gradient reaches the layer, which a larger step cannot fix."""
    layer = snapshot.layer(name) if has_layer(snapshot, name) else None
    if layer is not None and layer.grad_norm is not None and layer.weight_norm and \
            layer.grad_norm <= GRADIENT_GONE * layer.weight_norm:
        return ("almost no gradient reaches this layer (‖∇w‖ = " + fmt(layer.grad_norm) + "): fix the vanishing "
                "signal first (a fan-in scaled initializer such as he-normal); a larger learning rate cannot help")
    return "raise the learning rate, or check for vanishing gradients"


def _lower_lr(learning_rate: float | None, ratio: float) -> str:
    """Bring ‖Δw‖/‖w‖ ≈ ``ratio`` back to the target: updates scale with the learning rate."""
    factor = ratio / UPDATE_RATIO_TARGET
    if learning_rate:
        return f"lower the learning rate about {times(factor)}, to roughly {learning_rate / factor:.1g}"
    return f"lower the learning rate about {times(factor)}"


def _share(ratio: float) -> str:
    """"12% of their size" or, for huge updates, "4e6 times their size"."""
    return f"{ratio:.0%} of their size" if ratio < 10 else f"{times(ratio)[:-1]} times their size"


def _window(recent: list[Snapshot]) -> str:
    return f", median of the last {len(recent)} probed steps" if len(recent) > 1 else f" at step {recent[-1].step}"


# ----------------------------------------------------------------- putting it together
def diagnose_snapshot(snapshot: Snapshot, history: list[Snapshot] | None = None, optimizer: str | None = None,
                      learning_rate: float | None = None) -> list[Finding]:
    """Every per-snapshot rule on one (finite) snapshot; ``history`` feeds the "stuck" and
    "dead since initialization" checks; ``optimizer``/``learning_rate`` the step-size check."""
    findings = []
    findings += check_activation_scale(snapshot)
    findings += check_dead_relu(snapshot, history)
    findings += check_saturation(snapshot)
    findings += check_softmax(snapshot, history)
    findings += check_gradients(snapshot, optimizer, learning_rate)
    return sort_findings(findings)


def non_finite_findings(run) -> list[Finding]:
    """The halt (a step that went NaN/Inf) or non-finite values seen without one."""
    lr = run.config.lr
    if run.halted is not None:
        return [Finding("error", "non_finite", run.halted.layer, run.halted.step,
                        f"training stopped at {run.halted.message()}", halt_advice(run))]
    for snap in run.snapshots:
        if not snap.finite:
            layer = snap.first_nonfinite_layer()
            where = f" first in layer {layer}" if layer else ""
            return [Finding("error", "non_finite", layer, snap.step,
                            f"step {snap.step}: the network produced NaN/Inf values{where}",
                            "the activations overflow float32: use a fan-in scaled initializer such as he-normal")]
    return []


def halt_advice(run) -> str:
    """What to change: at step 1 the initialization made the first pass overflow; later, training did."""
    from cnnviz.optimizers import DEFAULT_LEARNING_RATES

    halt, config = run.halted, run.config
    cause = getattr(halt, "cause", "training")
    if cause == "initialization" or halt.step == 1 and cause == "training":
        return ("the untrained network already overflows float32: use a fan-in scaled initializer such as "
                "he-normal")
    if cause == "gradient_overflow":
        return ("the gradients are this large because the activations explode: use a fan-in scaled initializer "
                "such as he-normal; a lower learning rate cannot prevent it")
    usual = DEFAULT_LEARNING_RATES.get(config.optimizer)
    at = f"; {config.optimizer} usually works near {usual:g}" if usual and config.lr > usual else ""
    return f"training made the numbers overflow: lower the learning rate ({config.lr:g} now{at})"


def diagnose_run(run) -> list[Finding]:
    """Findings for a run's current state, most severe first.

    Activation and softmax rules read the latest finite snapshot (what the network
    does now), update-size rules the last few probed steps, and a halt or any
    NaN/Inf becomes a ``non_finite`` error naming the step and the first bad layer.
    """
    findings = non_finite_findings(run)
    finite = [s for s in run.snapshots if s.finite]
    config = getattr(run, "config", None)
    optimizer, lr = getattr(config, "optimizer", None), getattr(config, "lr", None)
    if finite:
        findings += diagnose_snapshot(finite[-1], finite, optimizer, lr)
        findings += check_update_ratio(finite, lr)
    return sort_findings(findings)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first (a NaN/Inf halt before anything else); then earliest step; stable otherwise."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.kind != "non_finite", f.step))
