"""``python -m cnnviz trajectory``: one real Keras optimizer's path on a 2D surface.

JSON (``--json``): ``{"surface", "optimizer", "points": [[x, y], ...], "losses": [...],
"diverged", "diverged_at", ...}`` with ``steps + 1`` points, start first (fewer when the
path diverged). Without ``--json``: a short table of the first and last steps.
"""

from __future__ import annotations

import argparse

from cnnviz.cli.output import print_json, print_table
from cnnviz.cli.run_args import add_playground_optimizer_arguments, optimizer_spec_from_args
from cnnviz.config import parse_tuple

# How many leading and trailing steps the plain-text table shows.
TABLE_EDGE_ROWS = 5


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "trajectory",
        help="run a Keras optimizer on a 2D toy surface",
        description="Run a real Keras optimizer on a 2D toy loss surface and print its path. "
        "Unset hyperparameters take Keras's defaults; 'momentum' and 'nesterov' mean SGD with momentum 0.9.",
    )
    add_playground_optimizer_arguments(parser)
    parser.add_argument("--start", default=None, help="start point X,Y (default: the surface's own start)")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps (default 100)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Deferred import: `python -m cnnviz --help` should not wait for TensorFlow.
    from cnnviz.playground.surfaces import get_surface
    from cnnviz.playground.trajectories import run_trajectory

    surface = get_surface(args.surface)
    start = parse_tuple(args.start, float, 2, "--start") if args.start else surface.default_start
    spec = optimizer_spec_from_args(args)
    trajectory = run_trajectory(surface, spec, start, args.steps)
    if args.json:
        print_json(trajectory.to_dict())
        return 0
    _print_summary(trajectory)
    return 0


def _print_summary(trajectory) -> None:
    count = len(trajectory.points)
    shown = list(range(count)) if count <= 2 * TABLE_EDGE_ROWS else [
        *range(TABLE_EDGE_ROWS), *range(count - TABLE_EDGE_ROWS, count)
    ]
    rows = []
    for previous, step in zip([None, *shown], shown):
        if previous is not None and step - previous > 1:
            rows.append(["...", "", "", ""])
        x, y = trajectory.points[step]
        rows.append([step, float(x), float(y), float(trajectory.losses[step])])
    print(f"{trajectory.label} on {trajectory.surface} from {trajectory.start}, {trajectory.steps} steps")
    print_table(rows, headers=["step", "x", "y", "loss"])
    if trajectory.diverged:
        print(f"diverged at step {trajectory.diverged_at}: the path stops at the last finite point")
    else:
        print(f"final loss {trajectory.final_loss:.6g} at ({trajectory.final_point[0]:.6g}, {trajectory.final_point[1]:.6g})")
