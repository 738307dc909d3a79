"""Optimizer playground speed: the compiled trajectory loop vs a naive eager Keras loop.

For every surface and every optimizer (fresh Keras optimizer each time, float64 point,
the surface's default start) we time ``steps`` optimizer steps two ways:
  compiled - cnnviz.trajectories.run_trajectory(use_cache=False): build the optimizer,
             trace the tf.while_loop, run it. Tracing is paid on every call (a graph
             captures its optimizer's slots), so this is what a user really waits for.
  eager    - the loop a notebook would write: per step, a GradientTape, a gradient,
             optimizer.apply_gradients, and the point/loss pulled back to numpy.
Both stop at the same divergence rule and must produce the same path (checked to 1e-3).
The two variants alternate within each (surface, optimizer) pair and the whole sweep
is repeated, so machine noise hits both alike; we report the median and spread
(min..max, 10th..90th percentile) of the eager/compiled ratios. Then the wall time of
full comparisons (all presets, and all nine optimizers on each surface), cache off.

    python bench/bench_trajectories.py [--steps 500] [--repeats 2]   (--repeats 0: only the costs)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnviz.optimizers import OPTIMIZERS, OptimizerSpec, make_optimizer  # noqa: E402
from cnnviz.surfaces import SURFACES  # noqa: E402
from cnnviz.trajectories import DIVERGENCE_BOUND, compare, run_trajectory  # noqa: E402
from cnnviz.trajectory_presets import PRESETS, run_preset  # noqa: E402

# Small enough that no optimizer leaves any surface within 500 steps, so both variants
# do the full amount of work (adadelta barely moves at this rate; its cost is the same).
BENCH_LR = 1e-3


def eager_path(surface, spec, start, steps) -> np.ndarray:
    """The naive loop: one Python iteration per step, optimizer.apply_gradients each time."""
    point = tf.Variable(start, dtype=tf.float64)
    optimizer = make_optimizer(spec)
    points = [np.array(start, dtype=np.float64)]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = surface.tf_loss(point)
        optimizer.apply_gradients([(tape.gradient(loss, point), point)])
        new_point = point.numpy()
        if not (np.isfinite(float(loss)) and np.all(np.abs(new_point) <= DIVERGENCE_BOUND)):
            break
        points.append(new_point)
    return np.array(points)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_timed(fn):
    """Wall and process-CPU seconds: on a shared machine CPU time is the steadier of the two."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def sweep(steps: int, repeats: int) -> list[dict]:
    rows = []
    for repeat in range(repeats):
        for surface in SURFACES.values():
            for index, name in enumerate(OPTIMIZERS):
                spec = OptimizerSpec(name, lr=BENCH_LR)
                compiled = lambda: run_trajectory(surface, spec, surface.default_start, steps, use_cache=False)  # noqa: E731
                eager = lambda: eager_path(surface, spec, surface.default_start, steps)  # noqa: E731
                # alternate which variant goes first
                if (repeat + index) % 2:
                    t_compiled, c_compiled, trajectory = cpu_timed(compiled)
                    t_eager, c_eager, path = cpu_timed(eager)
                else:
                    t_eager, c_eager, path = cpu_timed(eager)
                    t_compiled, c_compiled, trajectory = cpu_timed(compiled)
                assert len(path) == len(trajectory.points), (surface.name, name)
                # same path up to float rounding (graph rewrites may reorder the arithmetic)
                np.testing.assert_allclose(path, trajectory.points, rtol=0, atol=1e-3, err_msg=f"{surface.name} {name}")
                rows.append({"surface": surface.name, "optimizer": name, "compiled_s": t_compiled,
                             "eager_s": t_eager, "ratio": t_eager / t_compiled, "cpu_ratio": c_eager / c_compiled})
            print(f"  repeat {repeat + 1}: {surface.name} done", file=sys.stderr, flush=True)
    return rows


def phases(spec, steps) -> list[float]:
    """Seconds for: optimizer creation, tracing, first call (instantiate + run), a second run."""
    import functools

    from cnnviz.trajectories import _forget_custom_gradients, _optimize_loop

    surface = SURFACES["rosenbrock"]
    marks = [time.perf_counter()]
    point = tf.Variable(surface.default_start, dtype=tf.float64)
    optimizer = make_optimizer(spec)
    optimizer.build([point])
    marks.append(time.perf_counter())
    loop = tf.function(functools.partial(_optimize_loop, surface.tf_loss, optimizer, point), autograph=False)
    compiled = loop.get_concrete_function(tf.TensorSpec([], tf.int32))
    marks.append(time.perf_counter())
    for _ in range(2):
        [tensor.numpy() for tensor in compiled(tf.constant(steps))]
        marks.append(time.perf_counter())
    _forget_custom_gradients(compiled.graph)
    return [b - a for a, b in zip(marks, marks[1:])]


def spread(values) -> str:
    values = np.asarray(values)
    return (f"median {np.median(values):.3g} (min {values.min():.3g}, p10 {np.percentile(values, 10):.3g}, "
            f"p90 {np.percentile(values, 90):.3g}, max {values.max():.3g})")


def report_sweep(rows: list[dict], args) -> None:
    print(f"\n{len(rows)} pairs: {len(SURFACES)} surfaces x {len(OPTIMIZERS)} optimizers x {args.repeats} repeats, "
          f"{args.steps} steps each, lr {BENCH_LR}")
    print(f"eager / compiled wall-time ratio: {spread([r['ratio'] for r in rows])}")
    print(f"eager / compiled CPU-time ratio:  {spread([r['cpu_ratio'] for r in rows])}")
    print(f"compiled seconds per trajectory: {spread([r['compiled_s'] for r in rows])}")
    print(f"eager seconds per trajectory:    {spread([r['eager_s'] for r in rows])}")
    print("\nper optimizer (median ratio, median compiled s, median eager s):")
    for name in OPTIMIZERS:
        mine = [r for r in rows if r["optimizer"] == name]
        print(f"  {name:9s} {statistics.median(r['ratio'] for r in mine):6.1f}x  "
              f"{statistics.median(r['compiled_s'] for r in mine):.3f} s  "
              f"{statistics.median(r['eager_s'] for r in mine):.3f} s")


def report_costs(args) -> None:
    print("\nwhere a compiled trajectory's time goes (rosenbrock, median of 5, wall seconds):")
    for name in ("sgd", "adam"):
        rows_phase = [phases(OptimizerSpec(name, lr=BENCH_LR), args.steps) for _ in range(5)]
        medians = [statistics.median(column) for column in zip(*rows_phase)]
        print(f"  {name:5s} optimizer+build {medians[0]:.3f}  trace {medians[1]:.3f}  first call {medians[2]:.3f}"
              f"  (re-running the same graph: {medians[3]:.3f})")

    print("\nfull comparisons, cache off (median of 3; wall and process-CPU seconds):")

    def comparison_time(label, surface, specs, start, steps):
        runs = [cpu_timed(lambda: compare(surface, specs, start, steps, use_cache=False))[:2] for _ in range(3)]
        wall, cpu = (statistics.median(column) for column in zip(*runs))
        print(f"  {label:58s} wall {wall:.3f} s  cpu {cpu:.3f} s")

    for name, preset in PRESETS.items():
        comparison_time(f"preset {name} ({len(preset.specs)} optimizers x {preset.steps} steps)",
                        preset.surface, list(preset.specs), preset.start, preset.steps)
    all_specs = [OptimizerSpec(name, lr=BENCH_LR) for name in OPTIMIZERS]
    comparison_time(f"all {len(all_specs)} optimizers x {args.steps} steps on rosenbrock",
                    "rosenbrock", all_specs, (-1.5, 2.0), args.steps)
    cached = timed(lambda: run_preset("tutorial"))[0]
    cached_again = timed(lambda: run_preset("tutorial"))[0]
    print(f"  preset tutorial through the result cache: first {cached:.3f} s, repeated {cached_again * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    # Warm-up: the very first trace in a process also pays TensorFlow's one-off start-up.
    run_trajectory("booth", OptimizerSpec("sgd", lr=BENCH_LR), (0.0, 0.0), 5, use_cache=False)
    eager_path(SURFACES["booth"], OptimizerSpec("sgd", lr=BENCH_LR), (0.0, 0.0), 5)

    rows = sweep(args.steps, args.repeats) if args.repeats > 0 else []
    if rows:
        report_sweep(rows, args)
    report_costs(args)


if __name__ == "__main__":
    main()
