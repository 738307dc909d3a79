"""Training: runs (state + shared compiled core), timelines shared by identical runs, checkpoints.

``from cnnviz.training import Run`` is the library's entry point (see README).
"""

from cnnviz.training.run import Run, core_signature  # noqa: F401
from cnnviz.training.timeline import Halt  # noqa: F401
