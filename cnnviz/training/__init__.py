"""Training: runs (state + shared compiled core), timelines shared by identical runs, checkpoints,
and the resource guard that decides whether a run may start (:mod:`cnnviz.training.resources`).

``from cnnviz.training import Run`` is the library's entry point (see README). :class:`Run` needs
TensorFlow, so it is imported on first use: the resource guard, consulted before anything is
built, and the other light modules (state, timeline) import without TensorFlow.

For pages: :mod:`~cnnviz.training.describe` (the words and numbers above the charts),
:mod:`~cnnviz.training.ticks` (live training between redraws), :mod:`~cnnviz.training.evaluations`
(test evaluations kept per step).
"""

from cnnviz.training.timeline import Halt

__all__ = ["Halt", "Run", "core_signature"]


def __getattr__(name: str):
    # PEP 562: `from cnnviz.training import Run` imports cnnviz.training.run (and TensorFlow) only then.
    if name in ("Run", "core_signature"):
        from cnnviz.training import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
