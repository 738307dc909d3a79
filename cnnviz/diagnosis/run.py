"""Diagnosis of a whole run: every rule on its latest snapshot, its update sizes, its halt."""

from __future__ import annotations

from cnnviz.diagnosis.activations import check_activation_scale, check_dead_relu, check_saturation
from cnnviz.diagnosis.context import Context
from cnnviz.diagnosis.findings import Finding, sort_findings
from cnnviz.diagnosis.gradients import check_gradients, check_update_ratio
from cnnviz.diagnosis.softmax import check_softmax
from cnnviz.nets.optimizers import DEFAULT_LEARNING_RATES
from cnnviz.probing.snapshot import Snapshot

# Halts caused by the step size: what the network looks like after such an update is a
# consequence, not a cause, so the rules judge the run as it was before it.
STEP_SIZE_CAUSES = ("learning_rate", "training")


def context_of(run, history: list[Snapshot] | None = None) -> Context:
    """The :class:`Context` of a Run (or any object with a RunConfig-like ``config``)."""
    config = getattr(run, "config", None)
    return Context(optimizer=getattr(config, "optimizer", None), learning_rate=getattr(config, "lr", None),
                   init=getattr(config, "init", None), residual=bool(getattr(config, "residual", False)),
                   history=tuple(history or ()))


def diagnose_snapshot(snapshot: Snapshot, history: list[Snapshot] | None = None, optimizer: str | None = None,
                      learning_rate: float | None = None, context: Context | None = None) -> list[Finding]:
    """Every per-snapshot rule on one (finite) snapshot.

    ``history`` (the run's finite snapshots, oldest first) tells what was already so at
    step 0 and how long the softmax has been stuck; ``optimizer``/``learning_rate`` feed the
    step-size rule; ``context`` (or these) lets the advice fit the run.
    """
    if context is None:
        context = Context(optimizer=optimizer, learning_rate=learning_rate, history=tuple(history or ()))
    findings = []
    findings += check_activation_scale(snapshot, context)
    findings += check_dead_relu(snapshot, context)
    findings += check_saturation(snapshot, context)
    findings += check_softmax(snapshot, context)
    findings += check_gradients(snapshot, context)
    return sort_findings(findings)


def non_finite_findings(run) -> list[Finding]:
    """The halt (a step that went NaN/Inf) or non-finite values seen without one."""
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

    Activation and softmax rules read the latest finite snapshot (what the network does
    now), update-size rules the last few probed steps, and a halt or any NaN/Inf becomes a
    ``non_finite`` error naming the step and the first bad layer. After a halt caused by the
    step size the network is judged as it was at step 0: what a huge update left behind is a
    consequence of the learning rate, and advice drawn from it ("use he-normal" on a He
    network) would mislead.
    """
    findings = non_finite_findings(run)
    finite = [s for s in run.snapshots if s.finite]
    if not finite:
        return sort_findings(findings)
    context = context_of(run, finite)
    halt = run.halted
    if halt is not None and getattr(halt, "cause", "training") in STEP_SIZE_CAUSES and halt.step > 1:
        judged = [finite[0]] if finite[0].step == 0 else []
        for snapshot in judged:
            findings += diagnose_snapshot(snapshot, context=Context(context.optimizer, context.learning_rate,
                                                                    context.init, context.residual, (snapshot,)))
        findings += check_update_ratio(finite, context)
        return sort_findings(findings)
    findings += diagnose_snapshot(finite[-1], context=context)
    findings += check_update_ratio(finite, context)
    return sort_findings(findings)
