"""Server CPU of one Activations redraw: what a Step, a toggle and an idle rerun cost besides training.

The real page runs through ``dashboard/app.py`` under Streamlit's AppTest in this
process, so every cost is server-side (no browser). ``time.process_time`` brackets
each script run; the CPU spent inside ``Run.step`` (the training step itself, TF's
threads included) is measured by a wrapper and subtracted, leaving the redraw:
widgets, findings, history, figures and their serialisation.

    python bench/bench_redraw.py                       # ltfn_convnet, batch 100, redraws at steps 1..5 and 30..34
    python bench/bench_redraw.py --arch lenet5 --steps 3 --long 0
    python bench/bench_redraw.py --no-cache            # the same without the figure cache (CNNVIZ_FIGURE_CACHE=0)
    python bench/bench_redraw.py --root /work/main     # another tree (e.g. before the cache), same script

Target (issue 13): a Step redraw costs <= 0.15 s of server CPU; a rerun that does
not change the step rebuilds no figure. ``figures built`` counts cache misses (calls
to a figure function) per rerun.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--root" in sys.argv:  # measure another tree's app with this script
    ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CNNVIZ_OFFLINE", "1")
os.environ.setdefault("CNNVIZ_WARM_UP", "0")  # the redraw alone, no background warm-up

TARGET_STEP_REDRAW_S = 0.15


class StepMeter:
    """Wraps ``Run.step`` to add up the CPU spent training, so a rerun's redraw can be split from it."""

    def __init__(self):
        from cnnviz.training import run as run_module

        self.cpu = 0.0
        original = run_module.Run.step

        def step(run, *args, **kwargs):
            started = time.process_time()
            try:
                return original(run, *args, **kwargs)
            finally:
                self.cpu += time.process_time() - started

        run_module.Run.step = step


def figures_built() -> float:
    """Figures built so far (cache misses); NaN for a tree without the figure cache."""
    try:
        from cnnviz.figures import cache as figure_cache
    except ImportError:
        return float("nan")
    return figure_cache.STATS.built


def timed(at, meter: StepMeter, action) -> tuple[float, float, float]:
    """(redraw CPU s, training CPU s, figures built) of one script run triggered by ``action``."""
    meter.cpu = 0.0
    built = figures_built()
    started = time.process_time()
    action()
    at.run()
    total = time.process_time() - started
    if at.exception:
        raise RuntimeError(at.exception[0].message)
    return total - meter.cpu, meter.cpu, figures_built() - built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ltfn_convnet")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5, help="Step presses measured from step 0")
    parser.add_argument("--long", type=int, default=30, help="then train to this step and measure again (0: skip)")
    parser.add_argument("--no-cache", action="store_true", help="switch the figure cache off")
    parser.add_argument("--root", help="the repository whose dashboard/app.py to measure (default: this one)")
    args = parser.parse_args()
    if args.no_cache:
        os.environ["CNNVIZ_FIGURE_CACHE"] = "0"

    from streamlit.testing.v1 import AppTest

    meter = StepMeter()
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    at.session_state["activations:arch"] = args.arch
    at.session_state["activations:batch_size"] = args.batch_size
    at.run()
    at.switch_page("views/activations.py").run()
    step_button = lambda: at.button(key="activations:step").click()  # noqa: E731
    rows = []

    def measure(label: str, action, repeats: int) -> None:
        for _ in range(repeats):
            redraw, training, built = timed(at, meter, action)
            rows.append((label, redraw, training, built))

    measure("Step (from step 0)", step_button, args.steps)
    measure("idle rerun (nothing changed)", lambda: None, 3)
    measure("toggle log counts", lambda: at.toggle(key="activations:log_counts").set_value(
        not at.toggle(key="activations:log_counts").value), 4)
    if args.long:
        run = at.session_state["cnnviz:run"]
        run.train(args.long - run.step_count)
        measure(f"Step (from step {args.long})", step_button, args.steps)
    print(f"\nActivations redraw of {ROOT}, {args.arch}, batch {args.batch_size}, figure cache "
          f"{'off' if args.no_cache else 'on'} (server CPU s per script run, training step subtracted)")
    print("| rerun | n | redraw CPU s, median (min..max) | training CPU s | figures built per rerun |")
    print("| --- | --- | --- | --- | --- |")
    for label in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == label]
        redraw = [r[1] for r in mine]
        # the first Step also traces the step: its redraw is not representative of a steady Step
        print(f"| {label} | {len(mine)} | {statistics.median(redraw):.3f} ({min(redraw):.3f}..{max(redraw):.3f}) | "
              f"{statistics.median(r[2] for r in mine):.2f} | {statistics.median(r[3] for r in mine):.0f} |"
              .replace("| nan |", "| n/a |"))
    steady = [r[1] for r in rows if r[0].startswith("Step")][1:]
    verdict = "meets" if statistics.median(steady) <= TARGET_STEP_REDRAW_S else "misses"
    print(f"steady Step redraw median {statistics.median(steady):.3f} s; target <= {TARGET_STEP_REDRAW_S} s: {verdict}")


if __name__ == "__main__":
    main()
