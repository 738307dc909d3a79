"""RunState: everything that changes while a run trains, and nothing that does not.

A run is its state plus a shared :class:`~cnnviz.training.core.CompiledCore`. The
state holds the values of

* every model variable (weights, BatchNorm statistics, dropout seed-generator counters),
* every optimizer variable (iteration count, learning rate, slots),
* the *pending gradient*: the gradient of the next training batch at these weights.

Why a pending gradient: "the network at step k" means the weights after k updates, and
the probe of step k must describe exactly those weights. The compiled step therefore
applies the gradient computed in the previous call (→ weights k) and then runs the
forward and backward pass of batch k+1 on the new weights, which both measures step k
and yields the gradient step k+1 will apply. Training does the same arithmetic as a
plain loop — one forward and one backward pass per update — and nothing lags.

States are immutable once made: every step makes a new one, so sessions can share
them (copy-on-write, see :mod:`cnnviz.training.timeline`). To save copies, a state
fresh out of a core may live only in that core's variables (``values is None``) until
the core is needed for something else; the core then writes it back here
(:meth:`CompiledCore.release_values`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class StateValues:
    """Host copies of one state's variables, in the core's variable order."""

    model: list[np.ndarray]
    optimizer: list[np.ndarray]
    pending: list[np.ndarray] | None  # None for a fresh state that has not been probed yet

    @property
    def nbytes(self) -> int:
        arrays = self.model + self.optimizer + (self.pending or [])
        return int(sum(a.nbytes for a in arrays))


@dataclass(eq=False)
class RunState:
    """One run's variables after ``step`` updates (see module docs)."""

    step: int
    values: StateValues | None = None
    # The core whose variables hold this state right now (also when ``values`` is set).
    core: object | None = field(default=None, repr=False)

    @property
    def has_pending(self) -> bool:
        return self.values is None or self.values.pending is not None

    def host_values(self) -> StateValues:
        """The values as host arrays (copied out of the core first if they only live there)."""
        if self.values is None:
            core = self.core
            with core.lock:
                if self.values is None:  # re-check: another thread may have copied it meanwhile
                    core.release_values(self)
        return self.values
