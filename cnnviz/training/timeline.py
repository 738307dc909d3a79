"""Timelines: what has been computed for one run definition, shared by every session.

A run is a pure function of its configuration and its step count (same seed, same
numbers). Thirty students on one lesson therefore share one :class:`Timeline`: the
snapshots and losses computed so far, and the states sessions currently sit on. When
the first student presses Step the step is computed; the others find the next state
already there and move onto it. A state is immutable, so nobody ever sees another
session's changes; a session that changes anything gets a run of another definition,
i.e. its own timeline (copy-on-write).

Timelines live as long as some Run uses them (weak references), so a room that moves
on frees what it left behind.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_right
from dataclasses import dataclass

from cnnviz.probing.snapshot import Snapshot


# States kept per timeline for sessions that are behind (a room pressing Step at slightly
# different times): ltfn_convnet's state with Adam is about 5 MB, so this holds ~50 steps.
RETAIN_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Halt:
    """Why a run cannot go on: the step that could not be taken and where it went wrong."""

    step: int
    layer: str | None
    reason: str
    # What made it happen, for the advice: "initialization" (the untrained network overflows),
    # "gradient_overflow" (gradients so large the optimizer's squared-gradient average overflows),
    # "learning_rate" (the update itself overflowed), "training" (training drove values to overflow).
    cause: str = "training"

    def message(self) -> str:
        where = f" (first in layer {self.layer})" if self.layer else ""
        return f"step {self.step}{where}: {self.reason}; the weights of step {self.step - 1} were kept"


class Timeline:
    """Snapshots, losses and live states of one run definition (see module docs).

    Everything is keyed by step: ``snapshots[k]`` describes the network after k updates,
    ``losses[k]`` is the training loss of step k (batch k on the weights of step k - 1).
    Read and write under :attr:`lock`; compute a step under :attr:`compute`.
    """

    def __init__(self, key=None):
        self.key = key
        # Two locks: ``compute`` is held while a step of this timeline is computed (one session
        # computes it, the others wait and then find it); ``lock`` guards the records and is only
        # held for moments, so a session that merely draws never waits for someone else's step.
        self.lock = threading.RLock()
        self.compute = threading.RLock()
        self.snapshots: dict[int, Snapshot] = {}
        self._snapshot_steps: list[int] = []
        self.losses: dict[int, float] = {}
        self.halt: Halt | None = None
        self.states: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.runs: weakref.WeakSet = weakref.WeakSet()
        self._retained: dict[int, object] = {}  # step -> state kept for runs behind it (see retain)
        self.steps_computed = 0  # compiled calls made for this timeline (sharing makes this < sessions x steps)

    def record(self, snapshot: Snapshot | None, next_loss: tuple[int, float] | None) -> None:
        """Keep a computed snapshot and the loss of the step it looked ahead to."""
        if snapshot is not None and snapshot.step not in self.snapshots:
            self.snapshots[snapshot.step] = snapshot
            self._snapshot_steps.insert(bisect_right(self._snapshot_steps, snapshot.step), snapshot.step)
        if next_loss is not None:
            self.losses.setdefault(next_loss[0], next_loss[1])

    def snapshots_until(self, step: int) -> list[Snapshot]:
        """Recorded snapshots of steps 0..``step``, in order."""
        return [self.snapshots[s] for s in self._snapshot_steps[:bisect_right(self._snapshot_steps, step)]]

    def adopt(self, state):
        """The timeline's state object for ``state.step`` (``state`` itself if it is the first)."""
        existing = self.states.get(state.step)
        if existing is not None:
            return existing
        self.states[state.step] = state
        return state

    def behind(self, step: int, run) -> bool:
        """Whether another run of this timeline still has to pass step ``step`` (a laggard)."""
        return any(other is not run and other.step_count < step for other in list(self.runs))

    def retain(self, state) -> None:
        """Keep ``state`` (host values) for runs behind it; the oldest go beyond :data:`RETAIN_BYTES`."""
        self._retained[state.step] = state
        total = sum(s.values.nbytes for s in self._retained.values() if s.values is not None)
        for step in sorted(self._retained):
            if total <= RETAIN_BYTES:
                break
            dropped = self._retained.pop(step)
            total -= dropped.values.nbytes if dropped.values is not None else 0

    def prune(self) -> None:
        """Let go of retained states no run can step into any more."""
        slowest = min((run.step_count for run in list(self.runs)), default=None)
        for step in [s for s in self._retained if slowest is None or s <= slowest]:
            del self._retained[step]

    def shared_by_others(self, state, run) -> bool:
        """Whether a run other than ``run`` sits on ``state`` (then it must survive a step)."""
        return any(other is not run and other._state is state for other in list(self.runs))


_shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def shared_timeline(key) -> Timeline:
    """The process-wide timeline of run definition ``key`` (made on first use)."""
    with _shared_lock:
        timeline = _shared.get(key)
        if timeline is None:
            timeline = _shared[key] = Timeline(key)
        return timeline


def live_timelines() -> int:
    """How many shared timelines some Run still uses (for tests and benchmarks)."""
    with _shared_lock:
        return len(_shared)
