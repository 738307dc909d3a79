"""``report``: train (or load) a run and write one self-contained HTML report.

    python -m cnnviz report --arch ltfn_convnet --init normal --steps 20 --out run.html
    python -m cnnviz report --resume runs/convnet --out run.html

The file inlines plotly.js, so it opens offline. Exit codes as for ``train``: 0, or 1
when the run halted on NaN/Inf (the report is still written and says where), 2 for
user errors.
"""

from __future__ import annotations

from pathlib import Path

from cnnviz.cli.inspect_cmd import add_run_arguments, config_from_args, new_run

EXIT_HALTED = 1


def run_command(args) -> int:
    from cnnviz.errors import UserError
    from cnnviz.report import write_report
    from cnnviz.training import Run

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out {args.out} should name an .html file")
    if args.test_images < 0:
        raise UserError(f"--test-images must be 0 or more, got {args.test_images}")
    if args.resume:
        training_run = Run.load(args.resume)
    else:
        training_run = new_run(config_from_args(args))
    training_run.initial_snapshot()
    if args.steps and not args.resume:
        training_run.train(args.steps, probe_last=True)
    write_report(training_run, out, test_images=args.test_images)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return EXIT_HALTED if training_run.halted is not None else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="write a self-contained HTML report of a run",
                                   description="Train N steps (or --resume a saved run) and write an offline HTML "
                                               "report. Exit 0: written; 1: written, the run halted on NaN/Inf; "
                                               "2: user error.")
    add_run_arguments(parser, steps_default=20)
    parser.add_argument("--out", required=True, help="the .html file to write")
    parser.add_argument("--resume", metavar="DIR", help="report on the run saved in DIR (no further training)")
    parser.add_argument("--test-images", type=int, default=0, help="also evaluate on this many test images")
    parser.set_defaults(handler=run_command)
