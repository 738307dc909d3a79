"""Moved to :mod:`cnnviz.playground.trajectories`; this name keeps old imports working."""

from cnnviz.playground.trajectories import *  # noqa: F401,F403
from cnnviz.playground.trajectories import (  # noqa: F401
    DEFAULT_TOLERANCE,
    DIVERGENCE_BOUND,
    MAX_STEPS,
    Comparison,
    Trajectory,
    compare,
    comparison_table,
    distinct_labels,
    first_step_near_minimum,
    run_trajectory,
    spec_label,
    trajectories_frame,
    validate_start,
    validate_steps,
)
