"""``inspect``: per-layer pre-activation statistics at initialization or after N steps."""

from __future__ import annotations

from cnnviz.cli.output import print_json
from cnnviz.cli.run_args import add_run_arguments, config_from_args, new_run
from cnnviz.cli.run_output import payload_for, print_readable


def run(args) -> int:
    if getattr(args, "model", None):
        from cnnviz.cli.model_inspect import run_for_model  # bring-your-own-model path

        training_run = run_for_model(args)
    else:
        training_run = new_run(config_from_args(args))
    training_run.snapshot_at_init()
    if args.steps:
        # Probe the last step whatever --probe-every says, so grad_norm/update_ratio
        # describe the final weights.
        training_run.train(args.steps, probe_last=True)
    finite = [s for s in training_run.snapshots if s.finite]
    snapshot = finite[-1] if finite else training_run.latest
    payload = payload_for(training_run, snapshot)
    if args.json:
        print_json(payload)
    else:
        print_readable(payload)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("inspect", help="per-layer pre-activation statistics at init or after N steps")
    add_run_arguments(parser, steps_default=0)
    parser.add_argument("--model", help="a .keras file to inspect instead of --arch")
    parser.add_argument("--images", help="a folder of images to feed --model instead of --dataset")
    parser.add_argument("--reinit", metavar="INIT",
                        help="with --model: re-draw its Dense/Conv kernels with this initializer (biases 0) "
                             "instead of using the file's weights, e.g. to try the advice 'use he-normal'")
    parser.set_defaults(handler=run)
