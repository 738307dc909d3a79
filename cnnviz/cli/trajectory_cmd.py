"""``python -m cnnviz trajectory``: one real Keras optimizer's path on a 2D surface.

JSON (``--json``): ``{"surface", "optimizer", "points": [[x, y], ...], "losses": [...],
"diverged", "diverged_at", ...}`` with ``steps + 1`` points, start first (fewer when the
path diverged). Without ``--json``: a short table of the first and last steps.
"""

from __future__ import annotations

import argparse
import re

from cnnviz.cli.output import print_json, print_table
from cnnviz.config import parse_tuple
from cnnviz.nets.optimizers import OPTIMIZERS, OptimizerSpec
from cnnviz.playground.surfaces import SURFACES

# How many leading and trailing steps the plain-text table shows.
TABLE_EDGE_ROWS = 5


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "trajectory",
        help="run a Keras optimizer on a 2D toy surface",
        description="Run a real Keras optimizer on a 2D toy loss surface and print its path. "
        "Unset hyperparameters take Keras's defaults; 'momentum' and 'nesterov' mean SGD with momentum 0.9.",
    )
    parser.add_argument("--surface", required=True, help="one of: " + ", ".join(SURFACES))
    parser.add_argument("--optimizer", required=True, help="one of: " + ", ".join(OPTIMIZERS))
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's Keras default)")
    parser.add_argument("--momentum", type=float, default=None, help="momentum for sgd/momentum/nesterov/rmsprop")
    parser.add_argument("--beta1", type=float, default=None, help="Adam-family beta_1")
    parser.add_argument("--beta2", type=float, default=None, help="Adam-family beta_2")
    parser.add_argument("--rho", type=float, default=None, help="RMSProp/Adadelta rho")
    parser.add_argument("--epsilon", type=float, default=None, help="numerical-stability epsilon")
    parser.add_argument("--start", default=None, help="start point X,Y (default: the surface's own start)")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps (default 100)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    # `--start -1.5,2` must work: argparse (before Python 3.13) only recognises plain
    # numbers like -1.5 as values, so "-1.5,2" would be taken for an unknown option.
    # This command has no options that look like negative numbers, so any "-<digit>"
    # word is a value (the rule Python 3.13 adopted).
    parser._negative_number_matcher = re.compile(r"^-\.?\d")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Deferred import: `python -m cnnviz --help` should not wait for TensorFlow.
    from cnnviz.playground.surfaces import get_surface
    from cnnviz.playground.trajectories import run_trajectory

    surface = get_surface(args.surface)
    start = parse_tuple(args.start, float, 2, "--start") if args.start else surface.default_start
    spec = OptimizerSpec(
        name=args.optimizer, lr=args.lr, momentum=args.momentum, beta1=args.beta1,
        beta2=args.beta2, rho=args.rho, epsilon=args.epsilon,
    )
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
