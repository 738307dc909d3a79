"""Optimizer playground speed and memory: one trace per optimizer kind vs one trace per trajectory.

"before" is ``cnnviz/playground/trajectories.py`` as it was at ``--baseline`` (default 6f2ae68, the last
commit that traced one loop per trajectory), loaded from git into this process; "after" is
``cnnviz.playground.trajectories`` (one compiled loop per optimizer kind, hyperparameters as
run-time values, optimizer variables reset between trajectories). Both run with the result
cache off and alternate within every round, so machine load hits both alike; every figure is
a median over rounds, and the ratios are before/after measured in the same run.

  comparisons  all 9 optimizers x ``--steps`` steps on rosenbrock, and each preset: process CPU
               seconds (wall in brackets); "after, cold" is the very first comparison in the
               process (it pays the nine traces); then a learning-rate change (no new trace).
  memory       RSS growth over ``--memory-runs`` trajectories with changing settings.
  basins       a ``--grid`` x ``--grid`` map x ``--steps`` Adam steps in-process, against the same
               starts run one trajectory at a time (a sample, scaled up); then the CLI, wall
               seconds including interpreter and TensorFlow start-up, against ``cnnviz list``.
  sweep        (``--sweep-repeats`` > 0) eager Keras loop vs the compiled loop, every surface x
               optimizer; reports the CPU ratio and how far the two paths drift apart.

    python bench/bench_trajectories.py [--rounds 5] [--steps 500] [--grid 64] [--memory-runs 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnviz.nets.optimizers import OPTIMIZERS, OptimizerSpec, make_optimizer  # noqa: E402
from cnnviz.playground import engine  # noqa: E402
from cnnviz.playground.basins import basin_map  # noqa: E402
from cnnviz.playground.engine import DIVERGENCE_BOUND  # noqa: E402
from cnnviz.playground.presets import PRESETS  # noqa: E402
from cnnviz.playground.surfaces import SURFACES  # noqa: E402
from cnnviz.playground.trajectories import compare, run_trajectory  # noqa: E402

# Small enough that no optimizer leaves any surface within 500 steps, so every variant does
# the full amount of work (adadelta barely moves at this rate; its cost is the same).
BENCH_LR = 1e-3


def load_baseline(ref: str):
    """The old trajectories module, from git, as a module of this process."""
    source = subprocess.run(["git", "show", f"{ref}:cnnviz/playground/trajectories.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_trajectories.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_trajectories", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_trajectories"] = module
    spec.loader.exec_module(module)
    return module


def cpu_timed(fn):
    """Process-CPU and wall seconds: on a shared machine CPU time is the steadier of the two."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_pair(rows):
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)


def comparisons(baseline, args) -> None:
    all_nine = [OptimizerSpec(name, lr=BENCH_LR) for name in OPTIMIZERS]
    cases = [(f"all {len(all_nine)} optimizers x {args.steps} steps (rosenbrock)", "rosenbrock", all_nine,
              (-1.5, 2.0), args.steps)]
    cases += [(f"preset {name} ({len(p.specs)} x {p.steps} steps)", p.surface, list(p.specs), p.start, p.steps)
              for name, p in PRESETS.items()]
    traces_before = engine.trace_count
    cold_cpu, cold_wall, _ = cpu_timed(lambda: compare("rosenbrock", all_nine, (-1.5, 2.0), args.steps,
                                                       use_cache=False))
    cold_traces = engine.trace_count - traces_before
    print(f"\nafter, cold (first comparison in the process, {cold_traces} traces): "
          f"cpu {cold_cpu:.3f} s (wall {cold_wall:.3f} s)")
    print(f"\n| comparison | before: cpu s (wall) | after: cpu s (wall) | before/after cpu |\n| --- | --- | --- | --- |")
    for label, surface, specs, start, steps in cases:
        before, after = [], []
        for round_ in range(args.rounds):
            old = lambda: [baseline._compute_trajectory(SURFACES[surface], s, start, steps) for s in specs]  # noqa: E731
            new = lambda: compare(surface, specs, start, steps, use_cache=False)  # noqa: E731
            order = (old, new) if round_ % 2 == 0 else (new, old)
            for fn in order:
                cpu, wall, _ = cpu_timed(fn)
                (before if fn is old else after).append((cpu, wall))
        (b_cpu, b_wall), (a_cpu, a_wall) = median_pair(before), median_pair(after)
        print(f"| {label} | {b_cpu:.3f} ({b_wall:.3f}) | {a_cpu:.3f} ({a_wall:.3f}) | {b_cpu / a_cpu:.1f}x |")
    traces = engine.trace_count
    changed = [OptimizerSpec(s.name, lr=BENCH_LR * 3, momentum=0.5 if s.name in ("sgd", "momentum") else None)
               for s in all_nine]
    cpu, wall, _ = cpu_timed(lambda: compare("beale", changed, (1.0, 1.5), args.steps, use_cache=False))
    print(f"\nnew learning rates (and momentum 0.5), another surface: cpu {cpu:.3f} s (wall {wall:.3f} s), "
          f"{engine.trace_count - traces} new traces")


def memory(baseline, args) -> None:
    rng = np.random.default_rng(0)
    names = list(OPTIMIZERS)

    def settings(k):
        return (names[k % len(names)], float(rng.uniform(1e-4, 1e-2)), (float(rng.uniform(-1, 1)), 1.0))

    print(f"\nRSS over {args.memory_runs} trajectories each ({args.steps} steps, changing optimizer, lr and start):")
    for label, run in (("after", lambda n, lr, s: run_trajectory("rosenbrock", OptimizerSpec(n, lr=lr), s,
                                                                  args.steps, use_cache=False)),
                       ("before", lambda n, lr, s: baseline._compute_trajectory(SURFACES["rosenbrock"],
                                                                                OptimizerSpec(n, lr=lr), s,
                                                                                args.steps))):
        for k in range(len(names)):  # warm-up: every kind once
            run(*settings(k))
        start, wall = rss_mib(), time.perf_counter()
        marks = []
        for k in range(args.memory_runs):
            run(*settings(k))
            if (k + 1) % (args.memory_runs // 3) == 0:
                marks.append(f"{k + 1}: {rss_mib():.0f}")
        growth = rss_mib() - start
        print(f"  {label:6s} {start:.0f} MiB after warm-up -> " + ", ".join(marks)
              + f" MiB; growth {growth:+.1f} MiB = {growth / args.memory_runs * 1024:+.0f} KiB per trajectory"
              f" ({time.perf_counter() - wall:.1f} s)")


def basins(args) -> None:
    spec = OptimizerSpec("adam", lr=0.1)
    grid, steps = args.grid, args.steps
    cold_cpu, cold_wall, result = cpu_timed(lambda: basin_map("himmelblau", spec, grid, steps))
    warm = [cpu_timed(lambda: basin_map("himmelblau", spec, grid, steps))[:2] for _ in range(args.rounds)]
    w_cpu, w_wall = median_pair(warm)
    sample = result.starts[:: max(1, len(result.starts) // 64)][:64]
    run_trajectory("himmelblau", spec, tuple(sample[0]), steps, use_cache=False)  # warm
    single_cpu, single_wall, _ = cpu_timed(lambda: [run_trajectory("himmelblau", spec, tuple(s), steps,
                                                                   use_cache=False) for s in sample])
    scale = len(result.starts) / len(sample)
    print(f"\nbasins: {grid} x {grid} starts x {steps} Adam steps on himmelblau "
          f"({result.counts()['minimum']} reach a minimum)")
    print(f"  one map, cold (traces): cpu {cold_cpu:.2f} s (wall {cold_wall:.2f} s); warm: cpu {w_cpu:.3f} s "
          f"(wall {w_wall:.3f} s)")
    print(f"  the same starts one trajectory at a time (64 run, scaled x{scale:.0f}): cpu {single_cpu * scale:.1f} s"
          f" -> the map is {single_cpu * scale / w_cpu:.0f}x cheaper warm, {single_cpu * scale / cold_cpu:.0f}x cold")

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    basins_cli = [sys.executable, "-m", "cnnviz", "basins", "--surface", "himmelblau", "--optimizer", "adam",
                  "--lr", "0.1", "--grid", str(grid), "--steps", str(steps), "--json"]
    list_cli = [sys.executable, "-m", "cnnviz", "list", "--json"]
    walls, cpus = {"basins": [], "list": []}, {"basins": [], "list": []}
    for round_ in range(args.rounds):
        for name in (("basins", "list") if round_ % 2 == 0 else ("list", "basins")):
            command = basins_cli if name == "basins" else list_cli
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            walls[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            assert done.returncode == 0, done.stderr
    b, cli = statistics.median(walls["basins"]), statistics.median(walls["list"])
    b_cpu, cli_cpu = statistics.median(cpus["basins"]), statistics.median(cpus["list"])
    print(f"  CLI `basins --grid {grid} --steps {steps} --json`: wall median {b:.2f} s (min {min(walls['basins']):.2f},"
          f" max {max(walls['basins']):.2f}), CPU {b_cpu:.2f} s; `cnnviz list --json` (start-up only): wall median "
          f"{cli:.2f} s (min {min(walls['list']):.2f}), CPU {cli_cpu:.2f} s; basins / bare start: wall "
          f"{b / cli:.2f}x, CPU {b_cpu / cli_cpu:.2f}x")


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


def sweep(args) -> None:
    ratios, deviations = [], []
    for repeat in range(args.sweep_repeats):
        for surface in SURFACES.values():
            for index, name in enumerate(OPTIMIZERS):
                spec = OptimizerSpec(name, lr=BENCH_LR)
                compiled = lambda: run_trajectory(surface, spec, surface.default_start, args.steps,  # noqa: E731
                                                  use_cache=False)
                eager = lambda: eager_path(surface, spec, surface.default_start, args.steps)  # noqa: E731
                first, second = (compiled, eager) if (repeat + index) % 2 else (eager, compiled)
                t_first = cpu_timed(first)
                t_second = cpu_timed(second)
                (c_cpu, _, trajectory), (e_cpu, _, path) = (t_first, t_second) if first is compiled else (t_second,
                                                                                                           t_first)
                assert len(path) == len(trajectory.points), (surface.name, name)
                deviations.append(float(np.abs(path - trajectory.points).max()))
                ratios.append(e_cpu / c_cpu)
    ratios, deviations = np.array(ratios), np.array(deviations)
    print(f"\neager / compiled CPU time over {len(ratios)} pairs: median {np.median(ratios):.0f}x "
          f"(min {ratios.min():.0f}x, max {ratios.max():.0f}x)")
    print(f"largest |eager - compiled| over a path: median {np.median(deviations):.1e}, max {deviations.max():.1e} "
          f"(the tape's and the formula's gradients differ in the last bit; Adam-type steps amplify that where "
          f"the gradient is nearly zero)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="6f2ae68", help="git ref of the one-trace-per-trajectory code")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--memory-runs", type=int, default=300)
    parser.add_argument("--sweep-repeats", type=int, default=0)
    parser.add_argument("--only", default="comparisons,memory,basins,sweep", help="sections to run")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    baseline = load_baseline(args.baseline)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds; before = {args.baseline}")
    if "comparisons" in sections:
        comparisons(baseline, args)
    if "basins" in sections:
        basins(args)
    if "memory" in sections:
        memory(baseline, args)
    if "sweep" in sections and args.sweep_repeats:
        sweep(args)


if __name__ == "__main__":
    main()
