"""Does a run fit its budget? If not: why, and what would fit instead (computed, not canned).

:func:`assess` returns a :class:`Verdict` for one run or for several that a page
builds together (Compare initializers' 2–4 runs count against one session budget).
:func:`check` raises :class:`OverBudget`, a UserError whose one-line message names
what was asked, what is allowed and a concrete alternative: the largest batch size
that fits, else the largest input size that fits (and that the architecture still
accepts), else the Architecture page (or ``summary`` on the command line), which
shows the network's shapes without building it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cnnviz.errors import UserError
from cnnviz.training.resources.budget import Budget, server_budget
from cnnviz.training.resources.estimate import MIB, Estimate, estimate, estimate_config, format_bytes, format_seconds


@dataclass(frozen=True)
class Alternative:
    """Something that fits: a batch size, an input shape, or the Architecture page."""

    kind: str  # "batch_size" | "input_shape" | "architecture_page"
    text: str
    batch_size: int | None = None
    input_shape: tuple[int, int, int] | None = None
    estimates: tuple[Estimate, ...] = ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "batch_size": self.batch_size,
                "input_shape": list(self.input_shape) if self.input_shape else None,
                "total_mib": round(group_peak_bytes(self.estimates) / MIB, 1) if self.estimates else None}


@dataclass(frozen=True)
class Verdict:
    """The estimate(s), the limits that applied, and, when it does not fit, why and what would."""

    estimates: tuple[Estimate, ...]
    budget: Budget
    memory_limit_bytes: float  # the session budget less its other runs, or less when the server is full
    held_by_others_bytes: float
    session_held_bytes: float  # what the session's other (kept) runs hold
    problems: tuple[str, ...]  # which limits were exceeded, in words
    exceeded: tuple[str, ...]  # and by kind: "memory", "server_memory", "step_time"
    alternatives: tuple[Alternative, ...]
    message: str | None

    @property
    def fits(self) -> bool:
        return not self.problems

    @property
    def total_bytes(self) -> int:
        """Peak memory of building (and stepping) the runs one after another: see :func:`group_peak_bytes`."""
        return group_peak_bytes(self.estimates)

    @property
    def step_seconds(self) -> float:
        """One training step of every run (a page steps its runs one after another)."""
        return sum(e.step_seconds for e in self.estimates)

    @property
    def heavy(self) -> bool:
        """Whether building these takes a turn at the heavy gate (their runs step one at a time,
        so the longest single step counts, not the sum)."""
        return self.budget.is_heavy(self.total_bytes, max(e.step_seconds for e in self.estimates))

    def summary(self) -> str:
        """One line for a page, before it builds: "about 422 MiB and 0.32 s per step (a session may use 2.0 GiB, 2 s)"."""
        limits = f"a session may use {format_bytes(self.budget.session_memory_bytes)}"
        if not math.isinf(self.budget.session_step_seconds):
            limits += f", {format_seconds(self.budget.session_step_seconds)} per step"
        return (f"about {format_bytes(self.total_bytes)} and {format_seconds(self.step_seconds)} per step "
                f"({limits})")

    @property
    def alternative(self) -> Alternative | None:
        return self.alternatives[0] if self.alternatives else None

    def to_dict(self) -> dict:
        return {"fits": self.fits, "heavy": self.heavy, "total_mib": round(self.total_bytes / MIB, 1),
                "step_seconds": round(self.step_seconds, 3),
                "memory_limit_mib": None if math.isinf(self.memory_limit_bytes) else round(self.memory_limit_bytes / MIB),
                "held_by_others_mib": round(self.held_by_others_bytes / MIB),
                "session_held_mib": round(self.session_held_bytes / MIB), "problems": list(self.problems),
                "exceeded": list(self.exceeded),
                "alternatives": [a.to_dict() for a in self.alternatives], "message": self.message,
                "estimates": [e.to_dict() for e in self.estimates], "budget": self.budget.to_dict()}


class OverBudget(UserError):
    """A run refused by the resource guard; ``verdict`` holds the numbers and the alternatives."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message)
        self.verdict = verdict


def group_peak_bytes(estimates) -> int:
    """Peak memory of runs built and stepped one after another (as pages do): what all of them
    hold, plus the largest one's build/step working memory."""
    return sum(e.held_bytes for e in estimates) + max(e.transient_bytes for e in estimates)


def assess(target, budget: Budget | None = None, held_by_others_bytes: float = 0.0,
           session_held_bytes: float = 0.0) -> Verdict:
    """The :class:`Verdict` for ``target``: a RunConfig, an Estimate, or a sequence of them.

    ``held_by_others_bytes`` is what other runs hold in this server (see
    :class:`cnnviz.training.resources.gate.MemoryLedger`); it lowers the memory limit when the
    server's own budget is the tighter one. ``session_held_bytes`` is what the same
    session's other runs (kept by other pages) hold: the session budget covers them too.
    """
    budget = budget or server_budget()
    targets = list(target) if isinstance(target, Sequence) and not isinstance(target, str) else [target]
    if not targets:
        raise ValueError("nothing to assess")
    estimates = tuple(estimate(t) for t in targets)
    session_limit = budget.session_memory_bytes - session_held_bytes
    limit = min(session_limit, budget.server_memory_bytes - held_by_others_bytes)
    problems = _problems(estimates, budget, limit, session_limit, held_by_others_bytes, session_held_bytes)
    if not problems:
        return Verdict(estimates, budget, limit, held_by_others_bytes, session_held_bytes, (), (), (), None)
    alternatives = _alternatives(targets, estimates, budget, limit)
    message = _message(estimates, problems, alternatives, budget)
    return Verdict(estimates, budget, limit, held_by_others_bytes, session_held_bytes,
                   tuple(text for _, text in problems), tuple(kind for kind, _ in problems), alternatives, message)


def check(target, budget: Budget | None = None, held_by_others_bytes: float = 0.0,
          session_held_bytes: float = 0.0) -> Verdict:
    """:func:`assess`, raising :class:`OverBudget` (a UserError, CLI exit 2) when it does not fit."""
    verdict = assess(target, budget, held_by_others_bytes, session_held_bytes)
    if not verdict.fits:
        raise OverBudget(verdict)
    return verdict


def _fits(estimates, budget: Budget, limit: float) -> bool:
    return (group_peak_bytes(estimates) <= limit
            and sum(e.step_seconds for e in estimates) <= budget.session_step_seconds)


def _problems(estimates, budget: Budget, limit: float, session_limit: float, held: float,
              session_held: float) -> list[tuple[str, str]]:
    """(limit kind, words) for every limit exceeded: "memory", "server_memory" or "step_time"."""
    total, seconds = group_peak_bytes(estimates), sum(e.step_seconds for e in estimates)
    problems = []
    if total > session_limit:
        who = "a session" if budget.audience == "page" else "this command"
        source = f" ({budget.memory_source})" if budget.memory_source else ""
        kept = f" and its other runs hold {format_bytes(session_held)}" if session_held > 0 else ""
        problems.append(("memory", f"{who} may use {format_bytes(budget.session_memory_bytes)}{source}{kept}"))
    elif total > limit:  # it would fit an empty server: other runs hold the rest right now
        problems.append(("server_memory", f"other runs on this server hold {format_bytes(held)} of its "
                                          f"{format_bytes(budget.server_memory_bytes)}, leaving "
                                          f"{format_bytes(max(limit, 0))}"))
    if seconds > budget.session_step_seconds:
        problems.append(("step_time", f"a step may take {format_seconds(budget.session_step_seconds)}"))
    return problems


# ------------------------------------------------------------------ alternatives
def _alternatives(targets, estimates, budget: Budget, limit: float) -> tuple[Alternative, ...]:
    found = []
    batch = _largest_batch(estimates, budget, limit)
    if batch is not None:
        smaller = tuple(e.profile.at(batch) for e in estimates)
        found.append(Alternative("batch_size", f"batch size {batch} fits ({_cost(smaller)})", batch_size=batch,
                                 estimates=smaller))
    configs = [t for t in targets if not isinstance(t, Estimate)]
    if len(configs) == len(targets) and all(e.profile.arch for e in estimates):
        shaped = _largest_input(configs, budget, limit)
        if shaped is not None:
            shape, fitting = shaped
            found.append(Alternative("input_shape", f"input size {_shape_text(shape)} fits at batch "
                                     f"{fitting[0].batch_size} ({_cost(fitting)})", input_shape=shape,
                                     estimates=fitting))
        if not found:
            arch = estimates[0].profile.arch
            text = (f"`python -m cnnviz summary {arch}` shows its shapes and parameters without building it"
                    if budget.audience == "cli" else
                    f"the Architecture page shows {arch}'s shapes and parameters without building it")
            found.append(Alternative("architecture_page", text))
    return tuple(found)


def _largest_batch(estimates, budget: Budget, limit: float) -> int | None:
    """The largest batch size below the requested one at which every run fits (None if not even 1)."""
    current = max(e.batch_size for e in estimates)
    if current <= 1 or not _fits([e.profile.at(1) for e in estimates], budget, limit):
        return None
    low, high = 1, current - 1  # memory and time grow with the batch: bisect
    while low < high:
        middle = (low + high + 1) // 2
        if _fits([e.profile.at(middle) for e in estimates], budget, limit):
            low = middle
        else:
            high = middle - 1
    return low


def _largest_input(configs, budget: Budget, limit: float):
    """(shape, estimates) of the largest smaller input every run accepts and fits at its batch size."""
    from cnnviz.nets import zoo

    first = configs[0]
    (height, width, channels), _ = zoo.resolve_shape(first.arch, first.input_shape, first.classes)
    for size in range(max(height, width) - 1, 0, -1):
        shape = (size, max(1, round(width * size / height)), channels) if height >= width else \
            (max(1, round(height * size / width)), size, channels)
        try:
            fitting = tuple(estimate_config(c.replace(input_shape=shape)) for c in configs)
        except UserError:  # below the architecture's minimum input size: nothing smaller works either
            return None
        if _fits(fitting, budget, limit):
            return shape, fitting
    return None


# ------------------------------------------------------------------ words
def _message(estimates, problems, alternatives, budget: Budget) -> str:
    first = estimates[0]
    what = first.describe() if len(estimates) == 1 else f"{len(estimates)} runs of {first.describe()}"
    need = (f"{what} {'needs' if len(estimates) == 1 else 'need'} about {format_bytes(group_peak_bytes(estimates))} "
            f"of memory and "
            f"{format_seconds(sum(e.step_seconds for e in estimates))} per training step")
    instead = alternatives[0].text if alternatives else ""  # the best one; pages get them all
    text = f"{need}, but {' and '.join(words for _, words in problems)}" + (f"; {instead}" if instead else "")
    if budget.audience == "cli":
        kinds = {kind for kind, _ in problems}
        knobs = [name for name, kind in (("CNNVIZ_SESSION_MEMORY_MB", "memory"),
                                         ("CNNVIZ_SESSION_STEP_SECONDS", "step_time")) if kind in kinds]
        if knobs:
            text += f" (to run it anyway, raise {' and '.join(knobs)})"
    return text


def _cost(estimates) -> str:
    return (f"about {format_bytes(group_peak_bytes(estimates))}, "
            f"{format_seconds(sum(e.step_seconds for e in estimates))} per step")


def _shape_text(shape) -> str:
    return "x".join(str(v) for v in shape)
