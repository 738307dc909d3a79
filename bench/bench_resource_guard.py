"""The resource guard: are its estimates right, and does it keep a server up?

    python bench/bench_resource_guard.py --validate    # estimate vs measured peak RSS, 5 nets, small batches
    python bench/bench_resource_guard.py --calibrate   # effective training GFLOP/s of this CPU
    python bench/bench_resource_guard.py               # the two server scenarios below

``--validate`` builds each (network, batch) in a fresh subprocess (bounded by a
timeout): import TensorFlow, load the data, reset the peak-RSS mark (``/proc/self/
clear_refs``), build the Run, probe it at init, train 4 steps; the peak RSS growth
(``VmHWM`` minus the RSS before the build) is compared with the estimate. vgg16 is
measured at batches 1–8 only: at batch 100 it takes 16–19 GiB and 36 s a step.
``--calibrate`` reads the same subprocess runs' step times and prints the GFLOP/s to
put in ``cnnviz.training.resources.estimate.CPU_GFLOPS`` (or ``CNNVIZ_CPU_GFLOPS``).

The scenarios run in one process standing in for a Streamlit server, with one thread
per "session", every build going through ``cnnviz.training.resources.server_guard()`` the way
the pages do (real Runs of the current ``cnnviz.training.Run``; no browser):

1. one lesson session steps ltfn_convnet while another asks for vgg16 at batch 100:
   the refusal's time, the server's peak RSS over its baseline, and the lesson's steps;
2. 10 sessions open Compare initializers (4 runs each) at once with the largest zoo
   network whose comparison fits one session's budget: peak RSS, refusals, wall time;
3. 3 sessions build a heavy network at once: the queue positions they are shown, and
   one that leaves while waiting (cancelled).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

VALIDATION_RUNS = [("lenet5", 1), ("lenet5", 100), ("ltfn_convnet", 1), ("ltfn_convnet", 32),
                   ("ltfn_convnet", 100), ("ltfn_convnet", 200), ("ltfn_convnet", 500), ("ltfn_vgg", 1),
                   ("ltfn_vgg", 16), ("ltfn_vgg", 50), ("alexnet", 1), ("alexnet", 4), ("alexnet", 8),
                   ("alexnet", 32), ("vgg16", 1), ("vgg16", 4), ("vgg16", 8)]
OPTIMIZER_RUNS = [("alexnet", 8, "sgd"), ("alexnet", 8, "momentum"), ("ltfn_vgg", 16, "rmsprop")]
USER_MODEL_RUNS = [("user:128", 100, "adam"), ("user:2048", 32, "adam")]  # (dense width, batch, optimizer)
HELD_RUNS = [("lenet5", 8, 100), ("ltfn_convnet", 8, 100), ("conv2_5x5", 6, 100), ("ltfn_vgg", 4, 100)]  # (arch, runs, batch)
MEASURE_TIMEOUT_S = 300

from _guard_measure import (COMPARE_INITS, MIB, measure_held, measure_one, measure_user_model,  # noqa: E402
                            proc_status, reset_peak)


def measure(arch: str, batch: int, optimizer: str = "adam", mode: str = "--measure-one") -> dict | None:
    if arch.startswith("user:"):
        mode, arch = "--measure-user", arch.split(":", 1)[1]
    command = [sys.executable, __file__, mode, arch, str(batch), optimizer]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=MEASURE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"  {arch} batch {batch}: over {MEASURE_TIMEOUT_S} s, skipped")
        return None
    if done.returncode != 0:
        print(f"  {arch} batch {batch}: failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def validate(runs) -> list[dict]:
    print("| network | optimizer | batch | params (Keras = estimate) | measured peak RSS growth | estimate "
          "| estimate / measured | step measured | step estimated |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    results = []
    for arch, batch, *rest in runs:
        result = measure(arch, batch, rest[0] if rest else "adam")
        if result is None:
            continue
        results.append(result)
        same = "yes" if result["params"] == result["estimated_params"] else f"NO ({result['estimated_params']:,})"
        print(f"| {result['arch']} | {result['optimizer']} | {batch} | {result['params']:,} ({same}) | {result['peak_mib']:,.0f} MiB"
              f" | {result['estimate_mib']:,.0f} MiB | {result['estimate_mib'] / result['peak_mib']:.2f} "
              f"| {result['step_s']:.3f} s | {result['estimate_step_s']:.3f} s |", flush=True)
    ratios = [r["estimate_mib"] / r["peak_mib"] for r in results]
    if ratios:
        print(f"\nestimate / measured: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, "
              f"max {max(ratios):.2f} (target: >= 1, within ~2)")
    return results


def validate_held(cases) -> None:
    print("\n| network | batch | RSS growth per further live run | ledger's estimate (held) | estimate / measured |")
    print("| --- | --- | --- | --- | --- |")
    for arch, runs, batch in cases:
        result = measure(arch, batch, str(runs), mode="--measure-held")
        if result is None:
            continue
        print(f"| {arch} | {batch} | {result['held_per_run_mib']:,.0f} MiB ({runs} runs) | "
              f"{result['estimated_held_mib']:,.0f} MiB | "
              f"{result['estimated_held_mib'] / result['held_per_run_mib']:.2f} |", flush=True)


def calibrate(results: list[dict]) -> None:
    """GFLOP/s = the estimate's FLOPs over the measured step less its fixed and per-weight parts."""
    from cnnviz.training.resources.estimate import SECONDS_PER_WEIGHT, STEP_OVERHEAD_SECONDS

    rates = {}
    for r in results:
        compute_s = r["step_s"] - STEP_OVERHEAD_SECONDS - SECONDS_PER_WEIGHT * r["params"]
        if compute_s > 0.05 and r["optimizer"] == "adam":  # below that, the fixed parts dominate
            rates.setdefault(r["arch"], []).append(r["step_gflop"] / compute_s)
    for arch, values in rates.items():
        print(f"{arch}: {statistics.median(values):.0f} GFLOP/s effective ({len(values)} batch sizes)")
    if rates:
        slowest = min(statistics.median(v) for v in rates.values())
        print(f"slowest network: {slowest:.0f} GFLOP/s -> CPU_GFLOPS = {slowest:.0f} "
              f"(or export CNNVIZ_CPU_GFLOPS={slowest:.0f})")


# ------------------------------------------------------------------ server scenarios (in this process)
def peak_since_reset(base: float) -> float:
    return proc_status("VmHWM") - base


def scenario_vgg16(guard) -> None:
    from cnnviz.config import RunConfig
    from cnnviz.training import Run
    from cnnviz.training.resources import OverBudget

    lesson = Run(RunConfig(arch="ltfn_convnet", init="he-normal", batch_size=100))
    lesson.snapshot_at_init()
    lesson.step()
    base = proc_status("VmRSS")
    reset_peak()
    steps_done, stop = [], threading.Event()

    def lesson_session():
        while not stop.is_set() and len(steps_done) < 50:
            guard.train(lesson, 1)
            steps_done.append(lesson.step_count)

    student = threading.Thread(target=lesson_session)
    student.start()
    start = time.perf_counter()
    try:
        guard.build([RunConfig(arch="vgg16", init="he-normal", batch_size=100)], _make_run)
        outcome = "BUILT (not refused)"
    except OverBudget as refusal:
        outcome = f"refused: {refusal}"
    refused_after = time.perf_counter() - start
    time.sleep(2.0)  # let the lesson session keep stepping a moment after the refusal
    stop.set()
    student.join()
    print("\n### Scenario 1: one session asks for vgg16 at batch 100 while another trains ltfn_convnet")
    print(f"- {outcome}")
    print(f"- refusal after {refused_after * 1000:.0f} ms; server RSS before {base:,.0f} MiB, "
          f"peak growth during the scenario {peak_since_reset(base):,.0f} MiB")
    print(f"- the lesson session kept training: {len(steps_done)} steps meanwhile, now at step {lesson.step_count}, "
          f"halted: {lesson.halted is not None}")


def _make_run(config):
    from cnnviz.training import Run

    run = Run(config)
    run.snapshot_at_init()
    return run


def largest_compare_arch(guard, batch: int, inits: list[str]) -> str | None:
    """The zoo network with the largest estimate whose comparison of ``inits`` fits one session."""
    from cnnviz.config import RunConfig
    from cnnviz.nets.zoo import ARCHITECTURES
    from cnnviz.training.resources import assess

    fitting = []
    for arch in ARCHITECTURES:
        configs = [RunConfig(arch=arch, init=init, batch_size=batch) for init in inits]
        verdict = assess(configs, guard.budget)
        if verdict.fits:
            fitting.append((verdict.total_bytes, arch))
    return max(fitting)[1] if fitting else None


def scenario_compare(guard, sessions: int, batch: int, runs: int, arch: str | None = None) -> None:
    from cnnviz.config import RunConfig
    from cnnviz.training.resources import OverBudget

    inits = COMPARE_INITS[:runs]
    arch = arch or largest_compare_arch(guard, batch, inits)
    configs = [RunConfig(arch=arch, init=init, batch_size=batch) for init in inits]
    verdict = guard.assess(configs)
    base = proc_status("VmRSS")
    reset_peak()
    outcomes, held = [], []  # held keeps the runs alive, as sessions do
    barrier = threading.Barrier(sessions)

    def session(index):
        barrier.wait()
        try:
            held.append(guard.build(configs, _make_run))
            outcomes.append("built")
        except OverBudget as refusal:
            outcomes.append(f"refused: {refusal}")

    start = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    built = outcomes.count("built")
    print(f"\n### Scenario 2: {sessions} sessions open Compare initializers at once ({arch}, batch {batch}, "
          f"{runs} runs each)")
    print(f"- network: {arch}, estimated {verdict.total_bytes / MIB:,.0f} MiB and {verdict.step_seconds:.2f} s per "
          f"step for the {runs} runs (fits a session: {verdict.fits}, heavy: {verdict.heavy})")
    print(f"- built {built} of {sessions} in {wall:.0f} s; refused {sessions - built}; "
          f"ledger holds {guard.ledger.held_bytes() / MIB:,.0f} MiB for {guard.ledger.holders()} runs "
          f"(server budget {guard.budget.server_memory_bytes / MIB:,.0f} MiB)")
    print(f"- server RSS before {base:,.0f} MiB, peak growth {peak_since_reset(base):,.0f} MiB, "
          f"{peak_since_reset(base) / max(built, 1):,.0f} MiB per built session")
    for outcome in sorted(set(outcomes) - {"built"}):
        print(f"- {outcome}")
    held.clear()


def scenario_queue(guard, arch: str, batch: int) -> None:
    from cnnviz.config import RunConfig
    from cnnviz.training.resources import Cancelled, CancelToken

    config = RunConfig(arch=arch, init="he-normal", batch_size=batch)
    verdict = guard.assess(config)
    shown: list[list[str]] = [[], [], []]
    outcomes: dict[int, str] = {}
    token = CancelToken()
    first_building, second_waiting = threading.Event(), threading.Event()

    def make_first(config):
        first_building.set()  # session 1 holds the heavy slot from here on
        return _make_run(config)

    def on_wait_second(status):
        shown[1].append(status.text())
        second_waiting.set()

    def on_wait_third(status):
        shown[2].append(status.text())
        token.cancel("the student closed the tab")

    def session(index, make, on_wait, cancel):
        try:
            guard.build([config], make, cancel=cancel, on_wait=on_wait)
            outcomes[index] = "built"
        except Cancelled as cancelled:
            outcomes[index] = f"cancelled while waiting ({cancelled})"

    threads = [threading.Thread(target=session, args=(0, make_first, None, None)),
               threading.Thread(target=session, args=(1, _make_run, on_wait_second, None)),
               threading.Thread(target=session, args=(2, _make_run, on_wait_third, token))]
    threads[0].start()
    first_building.wait()
    threads[1].start()
    second_waiting.wait()
    threads[2].start()
    for thread in threads:
        thread.join()
    print(f"\n### Scenario 3: 3 sessions build {arch} at batch {batch} (heavy: {verdict.heavy}, "
          f"{verdict.total_bytes / MIB:,.0f} MiB) with {guard.budget.heavy_builds} heavy build at a time")
    for index in range(3):
        print(f"- session {index + 1}: {outcomes.get(index)}; shown while waiting: {shown[index][:3] or 'nothing'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validate", action="store_true", help="estimate vs measured peak RSS (subprocesses)")
    parser.add_argument("--calibrate", action="store_true", help="effective GFLOP/s from measured steps")
    parser.add_argument("--measure-one", nargs=3, metavar=("ARCH", "BATCH", "OPTIMIZER"), help=argparse.SUPPRESS)
    parser.add_argument("--measure-held", nargs=3, metavar=("ARCH", "BATCH", "RUNS"), help=argparse.SUPPRESS)
    parser.add_argument("--measure-user", nargs=3, metavar=("WIDTH", "BATCH", "OPTIMIZER"), help=argparse.SUPPRESS)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--compare-runs", type=int, default=4, choices=[2, 3, 4], help="initializers per session")
    parser.add_argument("--compare-arch", help="default: the largest network whose comparison fits a session")
    parser.add_argument("--only-compare", action="store_true", help="run scenario 2 only")
    parser.add_argument("--queue-arch", default="alexnet")
    parser.add_argument("--queue-batch", type=int, default=4)
    args = parser.parse_args()
    if args.measure_one:
        arch, batch, optimizer = args.measure_one
        print(json.dumps(measure_one(arch, int(batch), optimizer)))
        return
    if args.measure_user:
        width, batch, optimizer = args.measure_user
        print(json.dumps(measure_user_model(int(batch), int(width), optimizer)))
        return
    if args.measure_held:
        arch, batch, runs = args.measure_held
        print(json.dumps(measure_held(arch, int(runs), int(batch))))
        return
    if args.validate or args.calibrate:
        runs = VALIDATION_RUNS + (OPTIMIZER_RUNS + USER_MODEL_RUNS if args.validate else [])
        results = validate(runs)
        if args.validate:
            validate_held(HELD_RUNS)
        if args.calibrate:
            print()
            calibrate(results)
        return

    from cnnviz.training.resources import server_guard

    guard = server_guard()  # budget from the environment: the defaults unless CNNVIZ_* are set
    print(f"budget: {json.dumps(guard.budget.to_dict())}")
    if not args.only_compare:
        scenario_vgg16(guard)
    scenario_compare(guard, args.sessions, args.batch_size, args.compare_runs, args.compare_arch)
    if not args.only_compare:
        scenario_queue(guard, args.queue_arch, args.queue_batch)


if __name__ == "__main__":
    main()
