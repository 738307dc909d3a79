"""Live training in ticks: as many steps as fit a time budget, so a page can redraw in between.

A dashboard that trains "live" redraws its charts about once a second; between two redraws it
takes steps until its budget for the tick is spent, the run reaches its target step, the run
halts, or someone pressed Pause. The loop is here, away from Streamlit, so it can be tested.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def steps_for_one_tick(run, target: int, budget_seconds: float, take_step: Callable[[], None],
                       keep_going: Callable[[], bool] = lambda: True) -> bool:
    """Call ``take_step()`` (one training step of ``run``) until ``run.step_count`` reaches ``target``,
    the run halts, ``keep_going()`` turns False (checked before every step) or ``budget_seconds`` have
    passed (checked after every step, so at least one step is taken when one is due).

    Returns whether the run is done: at its target or halted.
    """
    started = time.monotonic()
    while run.step_count < target and run.halted is None and keep_going():
        take_step()
        if time.monotonic() - started > budget_seconds:
            break
    return run.step_count >= target or run.halted is not None
