"""Basins of attraction: one optimizer from every start of a grid at once, classified by where it ends.

All N x N starts are the rows of one float64 variable of shape ``(N*N, 2)``, descended by
one real Keras optimizer. Keras's update rules act element by element (no norm, no sum
across a variable's entries), and each row's loss depends only on that row, so every row
follows exactly the path :func:`cnnviz.playground.trajectories.run_trajectory` gives from
that start alone (``tests/test_basins.py`` checks it to 1e-12).

Each start ends in one of three ways:

- **minimum i**: its last point is within ``tolerance`` of minimum ``i`` of the surface
  (global minima first, then the local ones, :attr:`Surface.all_minima`);
  ``steps_to_converge`` is the first step from which the path stays within
  ``tolerance`` of that minimum up to the last step;
- **diverged**: the point left the finite world (NaN/inf, or beyond ``DIVERGENCE_BOUND``),
  at the same step a single trajectory reports as ``diverged_at``;
- **not at a minimum**: neither, after ``steps`` steps (still moving, or stopped
  somewhere that is not a minimum, such as the saddle's centre).

The optimizer runs twice over the grid: once to find where each start ends, then again,
identically, to record when each path last stood farther than ``tolerance`` from the
minimum it ends at (comparing every step against all of Rastrigin's 121 minima in the
first pass would cost more than the second pass does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cnnviz.errors import UserError
from cnnviz.nets.optimizers import OptimizerSpec, validate_spec
from cnnviz.playground.engine import DIVERGENCE_BOUND, basin_engine, losses_and_gradient, surface_index
from cnnviz.playground.surfaces import Surface, get_surface
from cnnviz.playground.trajectories import DEFAULT_TOLERANCE, spec_label, validate_steps

MIN_GRID = 2
MAX_GRID = 128
# Optimizer steps summed over all starts (grid * grid * steps) that one map may cost:
# 64 x 64 x 1000, a few seconds of CPU; bigger requests are refused, not queued.
MAX_WORK = 64 * 64 * 1000
OUTCOMES = ("minimum", "diverged", "not at a minimum")


@dataclass(frozen=True)
class BasinMap:
    """Where an optimizer goes from every start of an ``grid`` x ``grid`` lattice.

    Arrays are row-major over the lattice: entry ``i * grid + j`` started at
    ``(xs[j], ys[i])`` (rows are y, as in a plotly heatmap). ``ends`` is NaN where the
    path diverged; ``minimum`` is an index into ``minima`` or -1; ``steps_to_converge``
    and ``diverged_at`` are -1 where they do not apply.
    """

    surface: str
    spec: OptimizerSpec
    grid: int
    steps: int
    box: tuple[float, float, float, float]
    tolerance: float
    minima: tuple[tuple[float, float], ...]
    starts: np.ndarray = field(repr=False, compare=False)
    ends: np.ndarray = field(repr=False, compare=False)
    diverged_at: np.ndarray = field(repr=False, compare=False)
    minimum: np.ndarray = field(repr=False, compare=False)
    steps_to_converge: np.ndarray = field(repr=False, compare=False)

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    @property
    def outcome(self) -> np.ndarray:
        """One of :data:`OUTCOMES` per start."""
        return np.where(self.minimum >= 0, OUTCOMES[0], np.where(self.diverged, OUTCOMES[1], OUTCOMES[2]))

    @property
    def label(self) -> str:
        return spec_label(self.spec)

    def counts(self) -> dict[str, int]:
        """How many starts ended each way."""
        outcome = self.outcome
        return {name: int(np.count_nonzero(outcome == name)) for name in OUTCOMES}

    def to_dict(self) -> dict:
        """The CLI's JSON: starts, ends (None if diverged), diverged, steps_to_converge, minimum (+ context)."""

        def optional(values) -> list:
            return [None if v < 0 else int(v) for v in values]

        return {
            "surface": self.surface,
            "optimizer": self.spec.name,
            "hyperparameters": {k: v for k, v in self.spec.to_dict().items() if k != "name" and v is not None}
            | {"lr": self.spec.learning_rate},
            "grid": self.grid,
            "steps": self.steps,
            "box": list(self.box),
            "tolerance": self.tolerance,
            "minima": [list(m) for m in self.minima],
            "starts": self.starts.tolist(),
            "ends": [None if self.diverged_at[k] >= 0 else self.ends[k].tolist() for k in range(len(self.starts))],
            "diverged": self.diverged.tolist(),
            "diverged_at": optional(self.diverged_at),
            "steps_to_converge": optional(self.steps_to_converge),
            "minimum": optional(self.minimum),
        }

    def frame(self) -> pd.DataFrame:
        """One row per start, for CSV export."""
        return pd.DataFrame({
            "start_x": self.starts[:, 0], "start_y": self.starts[:, 1],
            "outcome": self.outcome,
            "minimum": pd.array([None if v < 0 else int(v) for v in self.minimum], dtype="Int64"),
            "minimum_x": [self.minima[v][0] if v >= 0 else math.nan for v in self.minimum],
            "minimum_y": [self.minima[v][1] if v >= 0 else math.nan for v in self.minimum],
            "steps_to_converge": pd.array([None if v < 0 else int(v) for v in self.steps_to_converge], dtype="Int64"),
            "diverged_at": pd.array([None if v < 0 else int(v) for v in self.diverged_at], dtype="Int64"),
            "end_x": self.ends[:, 0], "end_y": self.ends[:, 1],
        })


def validate_grid(grid) -> int:
    """A whole number of starts per side in [MIN_GRID, MAX_GRID]."""
    whole = isinstance(grid, (int, np.integer)) or (isinstance(grid, float) and grid.is_integer())
    if isinstance(grid, bool) or not whole:
        raise UserError(f"grid must be a whole number, got {grid!r}")
    grid = int(grid)
    if not MIN_GRID <= grid <= MAX_GRID:
        raise UserError(f"grid must be between {MIN_GRID} and {MAX_GRID} starts per side, got {grid}")
    return grid


def validate_box(box, surface: Surface) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)`` with x0 < x1 and y0 < y1, finite, inside the divergence bound.

    ``None`` means the surface's own window.
    """
    if box is None:
        return (*surface.x_range, *surface.y_range)
    try:
        x0, x1, y0, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise UserError(f"box must be four numbers x0,x1,y0,y1; got {box!r}") from None
    if not all(math.isfinite(v) for v in (x0, x1, y0, y1)):
        raise UserError(f"box must be finite, got {box!r}")
    if not (x0 < x1 and y0 < y1):
        raise UserError(f"box must have x0 < x1 and y0 < y1, got x {x0:g}..{x1:g}, y {y0:g}..{y1:g}")
    if max(abs(x0), abs(x1), abs(y0), abs(y1)) > DIVERGENCE_BOUND:
        raise UserError(f"box coordinates must be within ±{DIVERGENCE_BOUND:g}")
    return x0, x1, y0, y1


def grid_starts(box, grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, starts)``: the lattice's coordinates and its starts, row-major (y outer, x inner)."""
    x0, x1, y0, y1 = box
    xs, ys = np.linspace(x0, x1, grid), np.linspace(y0, y1, grid)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([grid_x.ravel(), grid_y.ravel()])


def basin_map(
    surface: str | Surface,
    spec: OptimizerSpec,
    grid: int,
    steps: int,
    box=None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> BasinMap:
    """Run ``spec`` from every start of a ``grid`` x ``grid`` lattice over ``box`` and classify the ends.

    Bad names or numbers raise :class:`UserError` before anything runs.
    """
    surface = get_surface(surface)
    validate_spec(spec)
    grid, steps = validate_grid(grid), validate_steps(steps)
    box = validate_box(box, surface)
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance > 0):
        raise UserError(f"tolerance must be a positive number, got {tolerance!r}")
    if grid * grid * steps > MAX_WORK:
        raise UserError(f"grid {grid} x {grid} x {steps} steps is too much work for one map "
                        f"(at most {MAX_WORK:,} start-steps, e.g. grid 64 with 1000 steps)")
    _, _, starts = grid_starts(box, grid)
    minima = np.asarray(surface.all_minima, dtype=np.float64).reshape(-1, 2)

    no_targets = np.full_like(starts, np.nan)
    ends, diverged_at, _ = _descend(surface, spec, starts, steps, no_targets, tolerance)
    minimum = _nearest_within(ends, minima, tolerance)
    minimum[diverged_at >= 0] = -1
    steps_to_converge = np.full(len(starts), -1)
    if (minimum >= 0).any():
        targets = np.where((minimum >= 0)[:, None], minima[np.maximum(minimum, 0)], np.nan)
        ends_again, _, last_far = _descend(surface, spec, starts, steps, targets, tolerance)
        if not np.array_equal(ends_again, ends, equal_nan=True):  # same graph, same inputs: must not happen
            raise RuntimeError("the second pass over the grid did not retrace the first")
        steps_to_converge = np.where(minimum >= 0, last_far + 1, -1)
    ends[diverged_at >= 0] = np.nan
    return BasinMap(surface.name, spec, grid, steps, box, float(tolerance),
                    tuple(map(tuple, minima.tolist())), starts, ends, diverged_at, minimum, steps_to_converge)


def _nearest_within(points: np.ndarray, minima: np.ndarray, tolerance: float) -> np.ndarray:
    """Index of the minimum within ``tolerance`` of each point, or -1 (NaN points get -1)."""
    if not len(minima):
        return np.full(len(points), -1)
    distances = np.linalg.norm(points[:, None, :] - minima[None, :, :], axis=2)
    nearest = np.argmin(np.nan_to_num(distances, nan=np.inf), axis=1)
    close = np.take_along_axis(distances, nearest[:, None], axis=1)[:, 0] <= tolerance  # False for NaN
    return np.where(close, nearest, -1)


def _basin_signature():
    import tensorflow as tf

    return (tf.TensorSpec([], tf.int32), tf.TensorSpec([None, 2], tf.float64), tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32), tf.TensorSpec([5], tf.float64), tf.TensorSpec([None, 2], tf.float64),
            tf.TensorSpec([], tf.float64))


def _descend(surface: Surface, spec: OptimizerSpec, starts: np.ndarray, steps: int, targets: np.ndarray, tolerance):
    """Run the compiled grid loop: (final points, diverged_at (-1 = never), last step farther than tolerance from target)."""
    import tensorflow as tf

    engine = basin_engine(spec.name, len(starts))
    compiled = engine.compiled(_basin_loop, _basin_signature())
    arguments = (
        tf.constant(surface_index(surface), tf.int32),
        tf.constant(starts, tf.float64),
        tf.constant(steps, tf.int32),
        tf.constant(spec.learning_rate, tf.float32),  # Keras keeps the rate in a float32 variable
        tf.constant(engine.hyper_vector(spec), tf.float64),
        tf.constant(targets, tf.float64),
        tf.constant(tolerance, tf.float64),
    )
    with engine.lock:  # the engine's variables are shared by every caller
        ends, diverged_at, last_far = (t.numpy() for t in compiled(*arguments))
    return ends, diverged_at.astype(np.int64), last_far.astype(np.int64)


def _basin_loop(engine, surface, starts, steps, lr, hyper, targets, tolerance):
    """Graph body: ``steps`` optimizer steps on every row at once.

    Per row it records the first point index that is lost (the rule of a single
    trajectory: the loss there is not finite, or a coordinate is NaN/inf or beyond the
    bound) and the last step whose point lies farther than ``tolerance`` from the row's
    target (NaN targets are never "farther").
    """
    import tensorflow as tf

    engine.reset(starts, lr, hyper)
    point, optimizer = engine.point, engine.optimizer
    rows = tf.shape(starts)[0]

    def lost(losses, points):
        inside = tf.reduce_all(tf.abs(points) <= DIVERGENCE_BOUND, axis=1)  # False for NaN too
        return tf.logical_or(tf.logical_not(tf.math.is_finite(losses)), tf.logical_not(inside))

    def track(step, losses, points, diverged_at, last_far):
        diverged_at = tf.where(tf.logical_and(diverged_at < 0, lost(losses, points)), step, diverged_at)
        far = tf.norm(points - targets, axis=1) > tolerance
        return diverged_at, tf.where(far, step, last_far)

    def one_step(step, diverged_at, last_far):
        current = point.read_value()
        losses, gradient = losses_and_gradient(surface, current)
        diverged_at, last_far = track(step, losses, current, diverged_at, last_far)
        optimizer.apply_gradients([(gradient, point)])
        return step + 1, diverged_at, last_far

    never = tf.fill([rows], tf.constant(-1, tf.int32))
    step, diverged_at, last_far = tf.while_loop(lambda step, *_: step < steps, one_step, (tf.constant(0), never, never), parallel_iterations=1)
    final = point.read_value()
    final_losses, _ = losses_and_gradient(surface, final)
    diverged_at, last_far = track(step, final_losses, final, diverged_at, last_far)
    return final, diverged_at, last_far
