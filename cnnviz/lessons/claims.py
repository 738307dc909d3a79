"""Claims: a lesson's sentences as checks against what the tool then shows.

Each :class:`Claim` quotes the words it checks (``says``), names the moment (the
lesson's run ``label`` after ``step`` training steps: 0 = the page as the lesson opens
it) and measures it through :class:`~cnnviz.lessons.evidence.Evidence` — the real runs,
never numbers typed in. Kinds:

* ``measure`` — a number the text states, within the bounds the text allows;
* ``findings`` — exactly these finding kinds are listed at that moment (a new finding
  appearing, or an expected one vanishing, breaks the lesson);
* ``follow`` — a finding's suggestion, followed: the suggestion names the change, and the
  same lesson with that change no longer shows the finding, does not halt, and shows no
  finding it did not show before (unless ``allow_new`` names it, with a reason).

:func:`verify` checks every claim of a lesson, in step order, and also flags, at every
moment it looked at, suggestions that contradict the settings in use
(:func:`contradictions`: "try he-normal" on a He-initialized net, "lower the learning
rate to 0.1" when it is 0.01).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cnnviz.lessons.evidence import Evidence, Moment, suggested_learning_rate

Check = Callable[[Evidence], tuple[bool, str]]


@dataclass(frozen=True)
class Claim:
    """One checkable sentence of a lesson (see module docs)."""

    says: str
    step: int
    check: Check
    label: str = "run"
    kind: str = "measure"  # "measure" | "findings" | "follow"
    finding: str | None = None  # the finding kind a "follow" claim follows
    expects: frozenset = field(default_factory=frozenset)  # the kinds a "findings" claim lists


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    holds: bool
    measured: str

    def __str__(self) -> str:
        mark = "ok  " if self.holds else "FAIL"
        where = f"{self.claim.label} @ step {self.claim.step}"
        return f"{mark} [{where}] {self.claim.says} — measured: {self.measured}"


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and math.isfinite(value) else str(value)


# ------------------------------------------------------------------ constructors
def measure(says: str, step: int, value: Callable[[Evidence], float], low: float = -math.inf,
            high: float = math.inf, label: str = "run") -> Claim:
    """``value(evidence)`` lies in [low, high]."""
    def check(evidence: Evidence) -> tuple[bool, str]:
        got = float(value(evidence))
        return ((math.isfinite(got) or got in (low, high)) and low <= got <= high,
                f"{_fmt(got)} (allowed {_fmt(low)}..{_fmt(high)})")
    return Claim(says, step, check, label)


def std_ratio(says: str, step: int, top: str, bottom: str, low: float, high: float, label: str = "run",
              backward: bool = False) -> Claim:
    """std(top) / std(bottom) of the pre-activations (or of ∂loss/∂z with ``backward``) lies in [low, high]."""
    def value(evidence: Evidence) -> float:
        at = evidence.at(step, label)
        get = at.backward if backward else at.std
        return get(top) / get(bottom)
    return measure(says, step, value, low, high, label)


def holds(says: str, step: int, check: Check, label: str = "run") -> Claim:
    """A free-form check returning (holds, what was measured)."""
    return Claim(says, step, check, label)


def findings(says: str, step: int, kinds: Iterable[str], label: str = "run") -> Claim:
    """Exactly ``kinds`` are listed for run ``label`` after ``step`` steps."""
    expected = frozenset(kinds)

    def check(evidence: Evidence) -> tuple[bool, str]:
        shown = evidence.at(step, label).kinds
        return shown == expected, ", ".join(sorted(shown)) or "no findings"
    return Claim(says, step, check, label, kind="findings", expects=expected)


def signature(finding) -> tuple[str, str]:
    """A finding's identity across moments: its kind and its advice with the numbers left out
    (one kind can come from two rules, e.g. the step-size and the backward-signal exploding_gradients)."""
    return finding.kind, re.sub(r"\d[\d.,e+-]*", "#", finding.suggestion or "")


def follow(kind: str, step: int, mentions: str, label: str = "run", allow_new: dict[str, str] | None = None,
           **changes) -> Claim:
    """Follow the ``kind`` finding whose suggestion says ``mentions`` (see module docs). ``changes`` are
    the settings the suggestion asks for; ``lr="suggested"`` takes the learning rate it names."""
    allow_new = allow_new or {}

    def check(evidence: Evidence) -> tuple[bool, str]:
        before = evidence.at(step, label)
        shown = next((f for f in before.findings if f.kind == kind and mentions.lower() in f.suggestion.lower()), None)
        if shown is None:
            said = "; ".join(f"{f.kind}: {f.suggestion!r}" for f in before.findings) or "no findings"
            return False, f"no {kind} finding that says {mentions!r} (shown: {said})"
        wanted = dict(changes)
        if wanted.get("lr") == "suggested":
            wanted["lr"] = suggested_learning_rate(shown.suggestion)
            if wanted["lr"] is None:
                return False, f"no learning rate in the suggestion {shown.suggestion!r}"
        after = evidence.variant(step, label, **wanted)
        still = signature(shown) in {signature(f) for f in after.findings}
        old = {signature(f) for f in before.findings}
        new = {f.kind for f in after.findings if signature(f) not in old and f.kind not in allow_new}
        ok = not still and after.halted is None and not new
        changed = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in wanted.items())
        return ok, (f"with {changed}: {', '.join(sorted(after.kinds)) or 'no findings'}"
                    + (" (the followed finding is still there)" if still else "")
                    + (f", halted at {after.halted.message()}" if after.halted else "")
                    + (f"; new: {', '.join(sorted(new))}" if new else ""))
    says = f"following the {kind} suggestion ({mentions!r}) removes it"
    return Claim(says, step, check, label, kind="follow", finding=kind, expects=frozenset({mentions}))


def advises(kind: str, step: int, mentions: str, label: str = "run") -> Claim:
    """The ``kind`` finding's suggestion says ``mentions``: for advice no control of the page can
    carry out (scale residual branches down), so it cannot be followed here, only read."""

    def check(evidence: Evidence) -> tuple[bool, str]:
        shown = [f for f in evidence.at(step, label).findings if f.kind == kind]
        ok = any(mentions.lower() in f.suggestion.lower() for f in shown)
        return ok, "; ".join(repr(f.suggestion) for f in shown) or f"no {kind} finding"
    return Claim(f"the {kind} suggestion says {mentions!r}", step, check, label, kind="follow", finding=kind,
                 expects=frozenset({mentions}))


HE_FIX = ("he-normal", {"init": "he-normal"})
GLOROT_FIX = ("glorot-normal", {"init": "glorot-normal"})


def findings_and_follows(expected: dict[int, dict[str, set[str]]],
                          fixes: dict[str, tuple[str, dict]] | None = None,
                          allow_new: dict[str, str] | None = None) -> list[Claim]:
    """A findings claim per (step, initializer) and a follow claim per finding: its suggestion says
    ``fixes[kind][0]`` and applying ``fixes[kind][1]`` removes it (default: "he-normal")."""
    claims = []
    for step, by_init in expected.items():
        for init, kinds in by_init.items():
            claims.append(findings(f"{init}'s findings at step {step}", step, kinds, label=init))
            for kind in sorted(kinds):
                mentions, changes = (fixes or {}).get(kind, HE_FIX)
                claims.append(follow(kind, step, mentions, label=init, allow_new=allow_new, **changes))
    return claims


# ------------------------------------------------------------------ measures (evidence -> number)
def saturated(layer: str, step: int, label: str = "run", limit: float | None = None) -> Callable:
    """Share of a tanh/sigmoid layer's pre-activations in the flat part (|z| > 2 for tanh, > 4 for sigmoid)."""
    from cnnviz.diagnosis.activations import SATURATION_Z, saturated_share

    def value(evidence) -> float:
        snapshot_layer = evidence.at(step, label).snapshot.layer(layer)
        return saturated_share(snapshot_layer, limit or SATURATION_Z[snapshot_layer.activation])
    return value


def mean_loss(step: int, label: str = "run", last: int = 10, **changes) -> Callable:
    """Mean training loss of the last ``last`` steps (of a variant, with ``changes``)."""
    def value(evidence) -> float:
        at = evidence.variant(step, label, **changes) if changes else evidence.at(step, label)
        return at.mean_loss(last)
    return value


def top_probability(step: int, label: str = "run") -> Callable:
    """The mean top softmax probability (1 = certain of everything, 1/classes = uniform)."""
    return lambda evidence: evidence.at(step, label).snapshot.softmax["max_prob_mean"]


def layer_std(layer: str, step: int, label: str = "run", **changes) -> Callable:
    """A layer's pre-activation std (of a variant, with ``changes``)."""
    def value(evidence) -> float:
        at = evidence.variant(step, label, **changes) if changes else evidence.at(step, label)
        return at.std(layer)
    return value


def variant_ratio(top: str, bottom: str, step: int, backward: bool = False, label: str = "run", **changes):
    """std(top) / std(bottom) in the variant with ``changes`` (of ∂loss/∂z with ``backward``)."""
    def value(evidence) -> float:
        at = evidence.variant(step, label, **changes)
        get = at.backward if backward else at.std
        return get(top) / get(bottom)
    return value


def increasing(values: list[float]) -> bool:
    """Each value at least the one before."""
    return all(b >= a - 1e-9 for a, b in zip(values, values[1:]))


# ------------------------------------------------------------------ consistency
def _mentions_init(text: str, init: str) -> bool:
    text = text.lower()
    if re.search(rf"(?<![\w-]){re.escape(init)}(?![\w-])", text):
        return True
    return init.startswith("glorot") and "glorot init" in text


def contradictions(at: Moment) -> list[str]:
    """Suggestions at this moment that ask for what is already in place (see module docs)."""
    problems = []
    config = at.config
    for finding in at.findings:
        suggestion = finding.suggestion or ""
        # Only the advice itself: a conditional tail ("; if activations explode too, ...") names a
        # remedy for another situation, and "instead of" names what to replace.
        advice = re.split(r";\s*if |\binstead of\b", suggestion)[0]
        if _mentions_init(advice, config.init):
            problems.append(f"{finding.kind}: suggests {config.init}, already in use: {suggestion!r}")
        lr = suggested_learning_rate(suggestion)
        if lr is not None and suggestion.lower().startswith("lower") and lr >= config.lr:
            problems.append(f"{finding.kind}: 'lower' the learning rate to {lr:g}, but it is {config.lr:g}")
    return problems


def verify(claims: Iterable[Claim], evidence: Evidence) -> list[Outcome]:
    """Every claim's outcome (in step order, so each run is trained once, forward), plus one
    outcome per moment whose suggestions contradict its settings."""
    outcomes = []
    for claim in sorted(claims, key=lambda c: c.step):
        try:
            ok, measured = claim.check(evidence)
        except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError) as error:
            ok, measured = False, f"could not measure: {error!r}"
        outcomes.append(Outcome(claim, bool(ok), measured))
    for at in evidence.seen.values():
        for problem in contradictions(at):
            outcomes.append(Outcome(Claim(f"suggestions fit the settings in use ({at.config.arch}, {at.config.init}, "
                                          f"{at.config.optimizer} lr {at.config.lr:g})", at.step, _never),
                                    False, problem))
    return outcomes


def _never(evidence: Evidence) -> tuple[bool, str]:
    return False, "a contradiction found while verifying"
