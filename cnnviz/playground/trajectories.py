"""Optimizer paths on 2D surfaces, driven by the real Keras optimizers.

A trajectory is what one optimizer does to a two-weight "network" ``(x, y)``: a float64
point, gradients from ``tf.GradientTape`` and Keras's own ``apply_gradients``. The whole
loop runs in one compiled ``tf.while_loop`` (see :mod:`cnnviz.playground.engine`): one
trace per optimizer kind serves every surface, start, step count and hyperparameter
setting, and the optimizer's variables are reset to a fresh optimizer's state before each
trajectory, so a path is exactly the one a brand-new Keras optimizer object would take.
Trajectories are deterministic, so identical requests (a dashboard rerun) are answered
from a small cache.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cnnviz.errors import UserError
from cnnviz.nets.optimizers import OptimizerSpec, validate_spec
from cnnviz.playground.engine import DIVERGENCE_BOUND, losses_and_gradient, path_engine, resolved_hyperparameters, surface_index
from cnnviz.playground.surfaces import Point, Surface, get_surface, nearest_minimum

MAX_STEPS = 5000
DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class Trajectory:
    """One optimizer's path: ``points[0]`` is the start, ``losses[i] = f(points[i])``.

    When the path left the finite world (NaN/inf, or a coordinate beyond
    ``DIVERGENCE_BOUND``) at step ``diverged_at``, it stops at the last good point:
    ``len(points) == diverged_at`` and ``diverged`` is True. Otherwise it has
    ``steps + 1`` points.
    """

    surface: str
    spec: OptimizerSpec
    start: Point
    steps: int
    points: np.ndarray = field(repr=False, compare=False)
    losses: np.ndarray = field(repr=False, compare=False)
    diverged: bool
    diverged_at: int | None
    # Legend text chosen by a comparison so that entries tell apart (see distinct_labels).
    name: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """A short legend name such as ``momentum (lr 0.001)``."""
        return self.name or spec_label(self.spec)

    @property
    def final_point(self) -> Point:
        return float(self.points[-1, 0]), float(self.points[-1, 1])

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    def to_dict(self) -> dict:
        """The CLI's JSON shape: points, losses, diverged, diverged_at (+ surface, optimizer)."""
        return {
            "surface": self.surface,
            "optimizer": self.spec.name,
            "hyperparameters": {k: v for k, v in self.spec.to_dict().items() if k != "name" and v is not None}
            | {"lr": self.spec.learning_rate},
            "start": list(self.start),
            "steps": self.steps,
            "points": self.points.tolist(),
            "losses": self.losses.tolist(),
            "diverged": self.diverged,
            "diverged_at": self.diverged_at,
        }


def spec_label(spec: OptimizerSpec, always: tuple[str, ...] = ()) -> str:
    """Legend text for an optimizer spec: its name, lr, and the hyperparameters it uses that
    differ from the defaults (plus those named in ``always``), e.g. ``momentum (lr 0.01, momentum 0.99)``."""
    from cnnviz.playground.engine import keras_defaults

    used = resolved_hyperparameters(spec)
    defaults = keras_defaults(spec.name)
    extras = [f"{name} {value:g}" for name, value in used.items() if name in always or value != defaults[name]]
    return f"{spec.name} (" + ", ".join([f"lr {spec.learning_rate:g}", *extras]) + ")"


def distinct_labels(specs) -> list[str]:
    """Legend texts for a comparison: entries of one optimizer show every setting in which they differ.

    Three momentum entries at lr 0.01 with momentum 0.5, 0.9 (the default) and 0.99 read
    ``momentum (lr 0.01, momentum 0.5)``, ``... momentum 0.9)``, ``... momentum 0.99)``;
    entries with identical settings get ``#2``, ``#3``.
    """
    resolved = [resolved_hyperparameters(spec) for spec in specs]
    labels = []
    for spec, values in zip(specs, resolved):
        siblings = [v for s, v in zip(specs, resolved) if s.name == spec.name]
        differing = tuple(name for name in values if len({v[name] for v in siblings}) > 1)
        labels.append(spec_label(spec, differing))
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[index] = f"{label} #{seen[label]}"
    return labels


def validate_start(start) -> Point:
    """Two finite numbers inside the divergence bound, as a tuple of floats."""
    try:
        x, y = (float(v) for v in start)
    except (TypeError, ValueError):
        raise UserError(f"start must be two numbers x, y; got {start!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise UserError(f"start must be finite, got ({x}, {y})")
    if max(abs(x), abs(y)) > DIVERGENCE_BOUND:
        raise UserError(f"start coordinates must be within ±{DIVERGENCE_BOUND:g}, got ({x}, {y})")
    return x, y


def validate_steps(steps) -> int:
    """An integer number of steps in [1, MAX_STEPS] (a float like 120.0 is accepted)."""
    whole = isinstance(steps, (int, np.integer)) or (isinstance(steps, float) and steps.is_integer())
    if isinstance(steps, bool) or not whole:
        raise UserError(f"steps must be a whole number, got {steps!r}")
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise UserError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    return steps


def run_trajectory(
    surface: str | Surface, spec: OptimizerSpec, start: Point, steps: int, *, use_cache: bool = True
) -> Trajectory:
    """Run Keras optimizer ``spec`` from ``start`` for ``steps`` steps on ``surface``.

    The optimizer starts from a fresh optimizer's state every time. Bad names or
    numbers raise :class:`UserError`. Identical requests are served from a cache
    unless ``use_cache`` is False (benchmarks).
    """
    surface = get_surface(surface)
    start = validate_start(start)
    steps = validate_steps(steps)
    validate_spec(spec)  # before any tracing, and never cached
    if use_cache:
        return _cached_trajectory(surface, spec, start, steps)
    return _compute_trajectory(surface, spec, start, steps)


@functools.lru_cache(maxsize=256)
def _cached_trajectory(surface: Surface, spec: OptimizerSpec, start: Point, steps: int) -> Trajectory:
    return _compute_trajectory(surface, spec, start, steps)


def _path_signature():
    import tensorflow as tf

    return (tf.TensorSpec([], tf.int32), tf.TensorSpec([1, 2], tf.float64), tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32), tf.TensorSpec([5], tf.float64))


def _compute_trajectory(surface: Surface, spec: OptimizerSpec, start: Point, steps: int) -> Trajectory:
    import tensorflow as tf

    engine = path_engine(spec.name)
    compiled = engine.compiled(_path_loop, _path_signature())
    arguments = (
        tf.constant(surface_index(surface), tf.int32),
        tf.constant([start], tf.float64),
        tf.constant(steps, tf.int32),
        tf.constant(spec.learning_rate, tf.float32),  # Keras keeps the rate in a float32 variable
        tf.constant(engine.hyper_vector(spec), tf.float64),
    )
    with engine.lock:  # the engine's variables are shared by every caller
        written, points, losses = compiled(*arguments)
        count = int(written)
        points, losses = points.numpy()[:count], losses.numpy()[:count]
    return _finish(surface, spec, start, steps, points, losses)


def _path_loop(engine, surface, start, steps, lr, hyper):
    """Graph body: reset the engine, then up to ``steps`` optimizer steps; stops early once the point is lost.

    Returns how many points were written, the points and their losses (the last loss
    is computed after the loop, at wherever the point ended up).
    """
    import tensorflow as tf

    engine.reset(start, lr, hyper)
    point, optimizer = engine.point, engine.optimizer

    def keep_going(step, points, losses, healthy):
        return tf.logical_and(step < steps, healthy)

    def one_step(step, points, losses, healthy):
        loss, gradient = losses_and_gradient(surface, point.read_value())
        optimizer.apply_gradients([(gradient, point)])
        new_point = point.read_value()
        healthy = tf.logical_and(
            tf.reduce_all(tf.math.is_finite(loss)),
            tf.reduce_all(tf.abs(new_point) <= DIVERGENCE_BOUND),  # False for NaN too
        )
        return step + 1, points.write(step + 1, new_point[0]), losses.write(step, loss[0]), healthy

    points = tf.TensorArray(tf.float64, size=steps + 1, element_shape=(2,)).write(0, point.read_value()[0])
    losses = tf.TensorArray(tf.float64, size=steps + 1, element_shape=())
    step, points, losses, _ = tf.while_loop(keep_going, one_step, (tf.constant(0), points, losses, tf.constant(True)))
    final_loss, _ = losses_and_gradient(surface, point.read_value())
    losses = losses.write(step, final_loss[0])
    return step + 1, points.stack(), losses.stack()


def _finish(surface, spec, start, steps, points, losses) -> Trajectory:
    """Cut the path at the first non-finite or out-of-bounds point or loss."""
    bad = ~np.isfinite(losses) | ~np.all(np.isfinite(points), axis=1) | np.any(np.abs(points) > DIVERGENCE_BOUND, axis=1)
    diverged_at = int(np.argmax(bad)) if bad.any() else None
    if diverged_at is not None:
        points, losses = points[:diverged_at], losses[:diverged_at]
    points.setflags(write=False)
    losses.setflags(write=False)
    return Trajectory(surface.name, spec, start, steps, points, losses, diverged_at is not None, diverged_at)


def first_step_near_minimum(surface: Surface, trajectory: Trajectory, tolerance: float = DEFAULT_TOLERANCE) -> int | None:
    """The first step whose point is within ``tolerance`` (Euclidean) of any global minimum."""
    if not surface.minima:
        return None
    minima = np.asarray(surface.minima)
    distances = np.linalg.norm(trajectory.points[:, None, :] - minima[None, :, :], axis=2).min(axis=1)
    close = np.flatnonzero(distances <= tolerance)
    return int(close[0]) if close.size else None


def trajectory_comparison_table(
    surface: str | Surface, trajectories: list[Trajectory], tolerance: float = DEFAULT_TOLERANCE
) -> pd.DataFrame:
    """One row per trajectory: where it ended and whether it got there.

    ``distance_to_minimum`` is to the nearest global minimum (NaN on the saddle, which
    has none); ``steps_to_minimum`` is the first step within ``tolerance`` of one
    (missing if never); ``diverged_at`` is the step the path blew up (missing if not).
    """
    surface = get_surface(surface)
    rows = []
    for trajectory in trajectories:
        nearest, distance = nearest_minimum(surface, trajectory.final_point)
        rows.append(
            {
                "optimizer": trajectory.label,
                "final_x": trajectory.final_point[0],
                "final_y": trajectory.final_point[1],
                "final_loss": trajectory.final_loss,
                "distance_to_minimum": distance,
                "nearest_minimum": None if nearest is None else f"({nearest[0]:g}, {nearest[1]:g})",
                "steps_to_minimum": first_step_near_minimum(surface, trajectory, tolerance),
                "diverged": trajectory.diverged,
                "diverged_at": trajectory.diverged_at,
            }
        )
    table = pd.DataFrame(rows)
    for column in ("steps_to_minimum", "diverged_at"):
        table[column] = table[column].astype("Int64")  # integers with a real "missing"
    return table


@dataclass(frozen=True)
class Comparison:
    """Several optimizers from one start on one surface, and their summary table."""

    surface: Surface
    start: Point
    steps: int
    trajectories: tuple[Trajectory, ...]
    table: pd.DataFrame = field(compare=False, repr=False)


def compare(
    surface: str | Surface,
    specs: list[OptimizerSpec],
    start: Point,
    steps: int,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    use_cache: bool = True,
) -> Comparison:
    """Run every spec (each from a fresh optimizer state) and tabulate the outcomes.

    Legend labels tell the entries apart (:func:`distinct_labels`).
    """
    surface = get_surface(surface)
    if not specs:
        raise UserError("choose at least one optimizer to compare")
    labels = distinct_labels(specs)  # validates every spec before any runs
    trajectories = tuple(
        dataclasses.replace(run_trajectory(surface, spec, start, steps, use_cache=use_cache), name=label)
        for spec, label in zip(specs, labels)
    )
    table = trajectory_comparison_table(surface, list(trajectories), tolerance)
    return Comparison(surface, validate_start(start), int(steps), trajectories, table)


def trajectories_frame(trajectories) -> pd.DataFrame:
    """Long table (one row per optimizer per step) for CSV export: optimizer, step, x, y, loss."""
    frames = [
        pd.DataFrame(
            {
                "optimizer": t.label,
                "step": np.arange(len(t.points)),
                "x": t.points[:, 0],
                "y": t.points[:, 1],
                "loss": t.losses,
            }
        )
        for t in trajectories
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["optimizer", "step", "x", "y", "loss"])
