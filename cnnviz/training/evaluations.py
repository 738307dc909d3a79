"""A run's test-split evaluations at the steps a page looked at: the first one and the newest.

The Logits page compares the network it first saw with the network now. Evaluating is a
forward pass over hundreds of test images, so each step's result is kept; only the earliest
and the latest are (two are all a comparison needs, and memory stays bounded).
"""

from __future__ import annotations

import math
import weakref

# Inputs at most this big (32x32x3) are evaluated on 500 test images; bigger ones on 100,
# so one evaluation stays quick on a laptop CPU.
SMALL_INPUT_VALUES = 32 * 32 * 3


def evaluation_limit(shape) -> int:
    """How many test images to evaluate for inputs of ``shape`` (H, W, C)."""
    return 500 if math.prod(shape) <= SMALL_INPUT_VALUES else 100


class Evaluations:
    """``run.evaluate(split="test")`` by step, for one run (held weakly: a dropped run is not kept alive)."""

    def __init__(self, run, limit: int | None = None):
        self._run = weakref.ref(run)
        self.limit = evaluation_limit(run.dataset.shape) if limit is None else limit
        self.by_step: dict[int, dict] = {}

    def is_for(self, run) -> bool:
        return self._run() is run

    def has_current(self) -> bool:
        run = self._run()
        return run is not None and run.step_count in self.by_step

    def current(self) -> dict:
        """The evaluation at the run's current step (computed now if new; then only the earliest
        step and this one are kept)."""
        run = self._run()
        if run is None:
            raise ValueError("the run these evaluations belong to is gone")
        step = run.step_count
        if step not in self.by_step:
            result = run.evaluate(split="test", limit=self.limit)
            first = min(self.by_step) if self.by_step else None
            self.by_step = {s: r for s, r in self.by_step.items() if s == first}
            self.by_step[step] = result
        return self.by_step[step]
