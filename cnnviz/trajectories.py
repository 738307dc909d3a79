"""Optimizer paths on 2D surfaces, driven by the real Keras optimizers.

A trajectory is what one optimizer does to a two-weight "network" ``(x, y)``: a
``tf.Variable`` of shape (2,) and dtype float64 (Keras 3.15 optimizers accept float64
variables; their slots follow the variable's dtype, only the learning-rate variable
stays float32, so ``lr`` is rounded to float32 before it is cast, about 1e-8
relative), gradients from ``tf.GradientTape`` and ``optimizer.apply_gradients``.

The whole loop runs in one ``tf.function`` (a ``tf.while_loop``), not step by step in
Python. That graph has to be traced once per trajectory: it captures the optimizer's
slot variables, and every trajectory gets a fresh optimizer (Keras optimizers bind to
the first variables they see), so a graph cannot be reused with another optimizer
object. What *is* reused is the finished result: trajectories are deterministic, so
identical requests (a dashboard rerun) are answered from a small cache.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cnnviz.errors import UserError
from cnnviz.optimizers import OptimizerSpec, make_optimizer
from cnnviz.surfaces import Point, Surface, get_surface, nearest_minimum

MAX_STEPS = 5000
# Past this, a coordinate is "gone": every surface here is already astronomically high
# (or, for the saddle, unboundedly low) and float64 products start to overflow.
DIVERGENCE_BOUND = 1e6
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

    @property
    def label(self) -> str:
        """A short legend name such as ``momentum (lr 0.001)``."""
        return spec_label(self.spec)

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


def spec_label(spec: OptimizerSpec) -> str:
    """Legend text for an optimizer spec: its name, lr and any non-default hyperparameters."""
    extras = [f"{k} {v:g}" for k, v in spec.to_dict().items() if k not in ("name", "lr") and v is not None]
    return f"{spec.name} (" + ", ".join([f"lr {spec.learning_rate:g}", *extras]) + ")"


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
    """Run a fresh Keras optimizer from ``start`` for ``steps`` steps on ``surface``.

    Bad names or numbers raise :class:`UserError`. Identical requests are served from
    a cache unless ``use_cache`` is False (benchmarks).
    """
    surface = get_surface(surface)
    start = validate_start(start)
    steps = validate_steps(steps)
    # A bad spec raises UserError from make_optimizer, before any tracing (and is not cached).
    if use_cache:
        return _cached_trajectory(surface, spec, start, steps)
    return _compute_trajectory(surface, spec, start, steps)


@functools.lru_cache(maxsize=256)
def _cached_trajectory(surface: Surface, spec: OptimizerSpec, start: Point, steps: int) -> Trajectory:
    return _compute_trajectory(surface, spec, start, steps)


def _compute_trajectory(surface: Surface, spec: OptimizerSpec, start: Point, steps: int) -> Trajectory:
    import tensorflow as tf

    point = tf.Variable(start, dtype=tf.float64, name="xy")
    optimizer = make_optimizer(spec)
    optimizer.build([point])  # create slot variables eagerly, outside the traced loop
    # functools.partial, not a closure: tf.function keys its "frequent retracing"
    # warning on the Python code object, and tracing once per trajectory is by design.
    loop = tf.function(functools.partial(_optimize_loop, surface.tf_loss, optimizer, point), autograph=False)
    compiled = loop.get_concrete_function(tf.TensorSpec([], tf.int32))
    written, points, losses = compiled(tf.constant(steps, dtype=tf.int32))
    count = int(written)
    _forget_custom_gradients(compiled.graph)
    return _finish(surface, spec, start, steps, points.numpy()[:count], losses.numpy()[:count])


def _forget_custom_gradients(graph) -> None:
    """Drop the global gradient registrations that would keep ``graph`` alive forever.

    Keras 3.15's TensorFlow optimizer all-reduces gradients across replicas even with
    one (``ReplicaContext.all_reduce``), which registers a ``@custom_gradient`` under a
    new global name each time it is traced; that registration holds the whole traced
    loop (about 1.4 MiB) for the life of the process. We trace once per trajectory, so
    a long dashboard session would grow without bound. The names removed are exactly
    the ones our own graph's ops refer to. Best effort: if TensorFlow's internals
    move, this quietly does nothing (the process just leaks as before).
    """
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry  # noqa: SLF001 - see docstring
        for name in _custom_gradient_names(graph):
            registry.pop(name, None)
    except Exception:  # pragma: no cover - depends on TensorFlow internals
        pass


def _custom_gradient_names(graph) -> set[str]:
    """Names of the custom gradients used by ``graph`` and the graphs nested in it (loop bodies)."""
    names = set()
    for op in graph.get_operations():
        try:
            names.add(op.get_attr("_gradient_op_type").decode())
        except (ValueError, AttributeError):
            continue  # most ops have no gradient override
    for function in graph._functions.values():  # noqa: SLF001 - nested while_loop cond/body graphs
        nested = getattr(function, "graph", None)
        if nested is not None:
            names |= _custom_gradient_names(nested)
    return names


def _optimize_loop(loss_fn, optimizer, point, steps):
    """Graph body: up to ``steps`` optimizer steps; stops early once the point is lost.

    Returns how many points were written, the points and their losses (the last loss
    is computed after the loop, at wherever the point ended up).
    """
    import tensorflow as tf

    def keep_going(step, points, losses, healthy):
        return tf.logical_and(step < steps, healthy)

    def one_step(step, points, losses, healthy):
        with tf.GradientTape() as tape:
            loss = loss_fn(point)
        gradient = tape.gradient(loss, point)
        optimizer.apply_gradients([(gradient, point)])
        new_point = point.read_value()
        healthy = tf.logical_and(
            tf.math.is_finite(loss),
            tf.reduce_all(tf.abs(new_point) <= DIVERGENCE_BOUND),  # False for NaN too
        )
        return step + 1, points.write(step + 1, new_point), losses.write(step, loss), healthy

    points = tf.TensorArray(tf.float64, size=steps + 1, element_shape=(2,)).write(0, point.read_value())
    losses = tf.TensorArray(tf.float64, size=steps + 1, element_shape=())
    step, points, losses, _ = tf.while_loop(keep_going, one_step, (tf.constant(0), points, losses, tf.constant(True)))
    losses = losses.write(step, loss_fn(point))
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


def comparison_table(
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
    """Run every spec (each with its own fresh optimizer) and tabulate the outcomes."""
    surface = get_surface(surface)
    if not specs:
        raise UserError("choose at least one optimizer to compare")
    trajectories = tuple(run_trajectory(surface, spec, start, steps, use_cache=use_cache) for spec in specs)
    table = comparison_table(surface, list(trajectories), tolerance)
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
