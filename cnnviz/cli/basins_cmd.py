"""``python -m cnnviz basins``: where one Keras optimizer goes from every start of a grid.

JSON (``--json``): ``{"starts": [[x, y], ...], "ends": [[x, y] or null, ...], "diverged": [...],
"steps_to_converge": [...], "minimum": [...], ...}``, row-major over the N x N grid (y outer,
x inner); ``minimum`` indexes ``minima`` (null: not at a minimum), ``steps_to_converge`` is
the first step from which the path stays within ``tolerance`` of that minimum. Each start's
path is the one ``trajectory --start`` gives from it. Without ``--json``: a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from cnnviz.cli.output import print_table
from cnnviz.cli.run_args import add_playground_optimizer_arguments, optimizer_spec_from_args
from cnnviz.config import parse_tuple

# How many minima the plain-text summary lists (Rastrigin has 121).
SUMMARY_MINIMA = 8


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "basins",
        help="map where an optimizer goes from every start of a grid (basins of attraction)",
        description="Run a real Keras optimizer from every point of an N x N grid of starts at once and "
        "classify each start by where it ends: which minimum, diverged, or not at a minimum after the steps. "
        "Unset hyperparameters take Keras's defaults; 'momentum' and 'nesterov' mean SGD with momentum 0.9.",
    )
    add_playground_optimizer_arguments(parser)
    parser.add_argument("--grid", type=int, default=32, help="starts per side (default 32)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (default 200)")
    parser.add_argument("--box", default=None, help="x0,x1,y0,y1: where the starts lie (default: the surface's window)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="how close to a minimum counts as arrived (default 0.05)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Deferred import: `python -m cnnviz --help` should not wait for TensorFlow.
    from cnnviz.playground.basins import basin_map
    from cnnviz.playground.trajectories import DEFAULT_TOLERANCE

    box = parse_tuple(args.box, float, 4, "--box") if args.box else None
    spec = optimizer_spec_from_args(args)
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    result = basin_map(args.surface, spec, args.grid, args.steps, box, tolerance)
    if args.json:
        # One line, with the C encoder: a 64 x 64 map is ~30,000 numbers, and indented output
        # (pure-Python encoder) took longer than running the optimizer. to_dict() holds no
        # NaN/inf (diverged ends are null), and allow_nan=False would refuse one.
        json.dump(result.to_dict(), sys.stdout, allow_nan=False, separators=(",", ":"))
        sys.stdout.write("\n")
        return 0
    _print_summary(result)
    return 0


def _print_summary(result) -> None:
    x0, x1, y0, y1 = result.box
    print(f"{result.label} on {result.surface}: {result.grid} x {result.grid} starts over "
          f"x {x0:g}..{x1:g}, y {y0:g}..{y1:g}, {result.steps} steps")
    for outcome, count in result.counts().items():
        print(f"  {outcome}: {count} of {result.grid ** 2}")
    reached = Counter(int(m) for m in result.minimum if m >= 0)
    if reached:
        rows = []
        for index, count in reached.most_common(SUMMARY_MINIMA):
            steps = sorted(int(s) for s, m in zip(result.steps_to_converge, result.minimum) if m == index)
            rows.append([f"({result.minima[index][0]:.4g}, {result.minima[index][1]:.4g})", count,
                         steps[len(steps) // 2], steps[-1]])
        print_table(rows, headers=["minimum", "starts", "median steps to converge", "most steps"])
        if len(reached) > SUMMARY_MINIMA:
            print(f"... and {len(reached) - SUMMARY_MINIMA} more minima (see --json)")
