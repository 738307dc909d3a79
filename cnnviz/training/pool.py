"""The process-wide pool of compiled cores: traced once, shared by every session.

A core serves one run at a time (its variables are registers, see
:mod:`cnnviz.training.core`). The pool hands a free core of the right signature to
whoever asks, preferring one whose registers already hold the asker's state (no copy),
creates another while fewer than :func:`cores_per_signature` exist, and otherwise makes
the asker wait for the first one to come free. Building and tracing are serialised per
signature: while a core of a signature is being built, or traced by :meth:`CorePool.warm`
(the server's warm-up), whoever asks for that signature waits for it rather than
building and tracing a second one (seconds of CPU for nothing). Cores are never thrown away on the
request path — TensorFlow would keep their traces' memory anyway — except that beyond
:func:`max_cores` idle ones are dropped, least recently used first.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cnnviz.training.core import CompiledCore

DEFAULT_MAX_CORES = 12


def cores_per_signature() -> int:
    """Cores allowed per signature: one per CPU core (``CNNVIZ_CORES_PER_SHAPE`` overrides)."""
    configured = os.environ.get("CNNVIZ_CORES_PER_SHAPE")
    if configured and configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, min(os.cpu_count() or 1, 4))


def max_cores() -> int:
    """Cores kept in all (``CNNVIZ_MAX_CORES`` overrides); idle ones beyond are dropped."""
    configured = os.environ.get("CNNVIZ_MAX_CORES")
    return int(configured) if configured and configured.isdigit() and int(configured) > 0 else DEFAULT_MAX_CORES


class CorePool:
    """Cores by signature; see module docs. Thread-safe."""

    def __init__(self):
        self._cores: dict[tuple, list[CompiledCore]] = {}
        self._busy: set[int] = set()
        self._building: Counter = Counter()
        self._warming: Counter = Counter()  # cores being traced by warm(), by signature
        self._last_used: dict[int, float] = {}
        self._changed = threading.Condition()
        self.traces_started = 0  # cores built in this process (each traces its functions once)

    @contextmanager
    def use(self, key: tuple, build: Callable[[], CompiledCore], state=None) -> Iterator[CompiledCore]:
        """A core for ``key``, locked for the caller until the block ends.

        ``build()`` makes a new core when one is allowed and none is free; ``state``
        (a RunState) picks the core already holding it when there is a choice.
        """
        core = self._acquire(key, build, state)
        try:
            yield core
        finally:
            core.lock.release()
            with self._changed:
                self._busy.discard(id(core))
                self._last_used[id(core)] = time.monotonic()
                self._changed.notify_all()

    def _acquire(self, key, build, state) -> CompiledCore:
        with self._changed:
            while True:
                cores = self._cores.get(key, [])
                home = state.core if state is not None and state.values is None else None
                if home is not None and home in cores:
                    # The state lives only in that core's registers: wait for it rather than copy
                    # across cores (two cores reading each other's registers could deadlock).
                    if id(home) in self._busy:
                        self._changed.wait()
                        continue
                    core = home
                    self._busy.add(id(core))
                    break
                free = [c for c in cores if id(c) not in self._busy]
                if free:
                    core = next((c for c in free if state is not None and c.holds(state)), free[0])
                    self._busy.add(id(core))
                    break
                # One build or warm-up trace of a signature at a time: the asker waits for it
                # (then finds it free) instead of tracing a second core alongside.
                if (not self._building[key] and not self._warming[key]
                        and len(self._cores.get(key, [])) < cores_per_signature()):
                    self._building[key] += 1
                    core = None
                    break
                self._changed.wait()
        if core is None:
            try:
                core = build()
            finally:
                with self._changed:
                    self._building[key] -= 1
                    self._changed.notify_all()
            with self._changed:
                self._cores.setdefault(key, []).append(core)
                self._busy.add(id(core))
                self.traces_started += 1
                self._drop_idle()
        core.lock.acquire()
        return core

    def warm(self, key: tuple, build: Callable[[], CompiledCore]) -> bool:
        """Trace a core of ``key`` now (building one if none exists); False if none needed it.

        Meanwhile, whoever asks for ``key`` waits for this core instead of building and
        tracing another one.
        """
        with self.use(key, build) as core:
            if core.traced == core.functions:
                return False
            with self._changed:
                self._warming[key] += 1
            try:
                core.warm()
            finally:
                with self._changed:
                    self._warming[key] -= 1
                    self._changed.notify_all()
        return True

    def _drop_idle(self) -> None:
        """Drop least recently used idle cores beyond :func:`max_cores` (pool lock held)."""
        everything = [c for cores in self._cores.values() for c in cores]
        idle = sorted((c for c in everything if id(c) not in self._busy),
                      key=lambda c: self._last_used.get(id(c), 0.0))
        for core in idle[:max(0, len(everything) - max_cores())]:
            if not core.lock.acquire(blocking=False):
                continue
            try:
                holder = core._holder()
                if holder is not None and holder.values is None:
                    core.release_values(holder)  # a session still needs that state
                core.forget()
            finally:
                core.lock.release()
            self._cores[core.key].remove(core)
            if not self._cores[core.key]:
                del self._cores[core.key]
            self._last_used.pop(id(core), None)

    def structure(self, key: tuple, build: Callable[[], CompiledCore]) -> CompiledCore:
        """Some core of ``key``, *not* locked: only for reading the network's structure
        (layer names, shapes), never its weights, which belong to whoever steps it."""
        with self._changed:
            cores = self._cores.get(key)
            if cores:
                return cores[0]
        with self.use(key, build) as core:
            return core

    def count(self, key: tuple | None = None) -> int:
        """Cores held (for one signature, or in all)."""
        with self._changed:
            if key is not None:
                return len(self._cores.get(key, []))
            return sum(len(cores) for cores in self._cores.values())

    def signatures(self) -> list[tuple]:
        with self._changed:
            return list(self._cores)


POOL = CorePool()
