"""What a lesson's page shows, computed by the real training runs: the evidence its claims are checked against.

A lesson (:mod:`cnnviz.lessons`) presets a page; the user then presses Train (Activations)
or Train all (Compare). :class:`Evidence` replays exactly that: the page's RunConfig(s) from
the lesson's settings on top of the page defaults, real :class:`~cnnviz.training.Run`
objects trained step by step, and after every step a :class:`Moment` — the latest snapshot,
the findings the page lists (:func:`cnnviz.diagnosis.diagnose_run`), the losses, a halt.
Claims read moments: "after Train 50 the loss is still ln 10", "conv4 is 10,000x conv1 at
step 0", "follow the finding's suggestion and the finding goes away".

Runs are cached per configuration for the life of the process, so a configuration shared
by several lessons (the He run that "He to the rescue" shows is what "Why N(0,1) explodes"
suggests) is trained once.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field

from cnnviz.config import RunConfig
from cnnviz.nets.params import FIELDS as PLAIN_FIELDS
from cnnviz.nets.params import is_plain

# The page defaults (dashboard.widgets.DEFAULTS mirrors these; tests check they agree).
PAGE_DEFAULTS = {"arch": "ltfn_convnet", "init": "he-normal", "optimizer": "adam", "lr": 0.001,
                 "dataset": "mnist-sample", "batch_size": 100, "seed": 0, "probe_every": 1}
RUN_FIELDS = tuple(PAGE_DEFAULTS) + PLAIN_FIELDS
# How many steps the page's train button runs unless the lesson sets it.
PAGE_STEPS = {"activations": ("train_steps", 50), "compare": ("steps", 20)}


def lesson_configs(page: str, settings: dict) -> dict[str, RunConfig]:
    """The runs the page builds for these settings: {"run": config} on Activations,
    {initializer: config} on Compare (one per entry of ``settings["inits"]``)."""
    merged = {**PAGE_DEFAULTS, **settings}
    fields = {name: merged[name] for name in PAGE_DEFAULTS}
    if is_plain(merged["arch"]):
        fields.update({name: merged[name] for name in PLAIN_FIELDS if name in merged})
    if page == "compare":
        return {init: RunConfig(**{**fields, "init": init}) for init in settings["inits"]}
    return {"run": RunConfig(**fields)}


def lesson_steps(page: str, settings: dict) -> int:
    """The steps one press of the page's train button runs with these settings."""
    name, default = PAGE_STEPS.get(page, ("steps", 0))
    return int(settings.get(name, default))


@dataclass
class Moment:
    """What the page shows for one run after ``step`` updates (or where it halted before)."""

    config: RunConfig
    step: int
    snapshot: object  # cnnviz.probing.snapshot.Snapshot: the latest probed one
    findings: list = field(default_factory=list)  # cnnviz.diagnosis.Finding, as the page lists them
    losses: list[float] = field(default_factory=list)  # losses[k - 1]: step k's training loss
    halted: object = None  # cnnviz.training.timeline.Halt or None

    def finding(self, kind: str):
        """The first finding of ``kind``, or None."""
        return next((f for f in self.findings if f.kind == kind), None)

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def std(self, layer: str) -> float:
        return self.snapshot.layer(layer).pre_activation.std

    def backward(self, layer: str) -> float:
        value = self.snapshot.layer(layer).backward_std
        return math.nan if value is None else value

    def mean_loss(self, last: int = 10) -> float:
        """Mean training loss of the last ``last`` steps (one batch is noisy)."""
        tail = self.losses[-last:]
        return sum(tail) / len(tail) if tail else math.nan


class _Trajectory:
    """One cached run of one configuration and its moments at every step computed so far."""

    def __init__(self, config: RunConfig):
        from cnnviz.training import Run

        self.run = Run(config)
        self.run.snapshot_at_init()
        self.moments: dict[int, Moment] = {}
        self.lock = threading.Lock()
        self._capture()

    def _capture(self) -> None:
        from cnnviz.diagnosis import diagnose_run

        run = self.run
        self.moments[run.step_count] = Moment(run.config, run.step_count, run.latest, diagnose_run(run),
                                              list(run.losses), run.halted)

    def at(self, step: int) -> Moment:
        with self.lock:
            while self.run.step_count < step and self.run.halted is None:
                self.run.step(probe=True)
                self._capture()
            if step in self.moments:
                return self.moments[step]
            return self.moments[max(s for s in self.moments if s <= step)]  # halted before ``step``


_cache: dict[RunConfig, _Trajectory] = {}
_cache_lock = threading.Lock()


def moment(config: RunConfig, step: int) -> Moment:
    """The page's view of ``config`` after ``step`` training steps (cached process-wide)."""
    with _cache_lock:
        trajectory = _cache.get(config)
        if trajectory is None:
            trajectory = _cache[config] = _Trajectory(config)
    return trajectory.at(step)


def run_for(config: RunConfig):
    """The cached Run of ``config`` (for its batches and dataset; do not step it)."""
    moment(config, 0)
    return _cache[config].run


def forget_all() -> None:
    """Drop every cached run (tests that measure memory, long sessions)."""
    with _cache_lock:
        _cache.clear()


class Evidence:
    """A lesson's runs as its page builds them, and variants of them with some settings changed."""

    def __init__(self, page: str, settings: dict):
        self.page = page
        self.settings = dict(settings)
        self.steps = lesson_steps(page, settings)
        self.configs = lesson_configs(page, settings) if page in PAGE_STEPS else {}
        self.seen: dict[int, Moment] = {}  # every moment a claim looked at (id -> moment)

    def _look(self, at: Moment) -> Moment:
        self.seen[id(at)] = at
        return at

    def at(self, step: int, label: str = "run") -> Moment:
        """The lesson's run ``label`` after ``step`` steps."""
        return self._look(moment(self.configs[label], step))

    def variant(self, step: int, label: str = "run", **changes) -> Moment:
        """Run ``label`` with ``changes`` (e.g. init="he-normal", lr=0.01) after ``step`` steps."""
        return self._look(moment(self.configs[label].replace(**changes), step))


LEARNING_RATE_PATTERN = re.compile(r"(?:to about|to roughly|works near) ([0-9][0-9.]*(?:e[+-]?[0-9]+)?)")


def suggested_learning_rate(suggestion: str) -> float | None:
    """The learning rate a finding's suggestion names ("lower the learning rate to about 0.0005"), or None."""
    match = LEARNING_RATE_PATTERN.search(suggestion or "")
    return float(match.group(1)) if match else None
