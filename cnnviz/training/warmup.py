"""Warming a server: trace the compiled cores the lessons use before the first student asks.

Tracing a core costs seconds of CPU. :func:`warm_cores` builds one run per configuration
(in the calling thread, e.g. a background thread started with the server) and traces its
core's functions without running them, reporting progress so a page can say "warming up
2 of 5" instead of freezing. Cores are process-wide, so every later session of the same
shape starts warm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cnnviz.config import RunConfig


@dataclass
class WarmUpProgress:
    """What a warm-up thread has done so far (read it from any thread)."""

    total: int = 0
    done: int = 0
    current: str | None = None
    errors: list[str] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> float:
        return 1.0 if not self.total else self.done / self.total


def warm_cores(configs: Iterable[RunConfig], progress: WarmUpProgress | None = None,
               on_step: Callable[[WarmUpProgress], None] | None = None) -> WarmUpProgress:
    """Trace the core of every distinct signature among ``configs`` (see module docs).

    A configuration that cannot be built (say, too big for this machine) is skipped and
    named in ``progress.errors``; warming never raises.
    """
    from cnnviz.training.pool import POOL
    from cnnviz.training.run import Run

    progress = progress or WarmUpProgress()
    configs = list(configs)
    progress.total = len(configs)
    seen = set()
    try:
        for config in configs:
            progress.current = f"{config.arch} with {config.optimizer}"
            try:
                run = Run(config)
                if run.core_key not in seen:
                    seen.add(run.core_key)
                    # Through the pool, so a session asking for this core meanwhile waits for
                    # the trace instead of building and tracing a second core.
                    POOL.warm(run.core_key, run._build_core)
            except Exception as error:  # noqa: BLE001 - a lesson that cannot warm must not stop the others
                progress.errors.append(f"{config.arch}: {error}")
            progress.done += 1
            if on_step is not None:
                on_step(progress)
    finally:
        progress.current = None
        progress.finished.set()
    return progress


def warm_in_background(configs: Iterable[RunConfig]) -> WarmUpProgress:
    """Start :func:`warm_cores` on a daemon thread; return its live progress."""
    progress = WarmUpProgress()
    configs = list(configs)
    progress.total = len(configs)
    threading.Thread(target=warm_cores, args=(configs, progress), name="cnnviz-warm-up", daemon=True).start()
    return progress
