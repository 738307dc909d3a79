"""``report``: train (or load) a run and write one self-contained HTML report.

    python -m cnnviz report --arch ltfn_convnet --init normal --steps 20 --out run.html
    python -m cnnviz report --resume runs/convnet --out run.html
    python -m cnnviz report --run runs/exp1 --out run.html     # a folder ActivationMonitor wrote

The file inlines plotly.js, so it opens offline. Exit codes as for ``train``: 0, or 1
when the run halted on NaN/Inf (the report is still written and says where), 2 for
user errors. With ``--run`` the report describes a run folder written by
``cnnviz.keras.ActivationMonitor`` during the user's own ``model.fit``; exit 1 then
means the folder records a NaN/Inf.
"""

from __future__ import annotations

from pathlib import Path

from cnnviz.cli.run_args import add_run_arguments, config_from_args, new_run

EXIT_HALTED = 1


def run(args) -> int:
    from cnnviz.errors import UserError
    from cnnviz.report import write_report
    from cnnviz.training import Run

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out {args.out} should name an .html file")
    if args.test_images < 0:
        raise UserError(f"--test-images must be 0 or more, got {args.test_images}")
    if args.run:
        return _report_run_folder(args, out)
    if args.resume:
        training_run = Run.load(args.resume)
    else:
        training_run = new_run(config_from_args(args))
    training_run.snapshot_at_init()
    if args.steps and not args.resume:
        training_run.train(args.steps, probe_last=True)
    write_report(training_run, out, test_images=args.test_images)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return EXIT_HALTED if training_run.halted is not None else 0


def _report_run_folder(args, out: Path) -> int:
    from cnnviz.errors import UserError
    from cnnviz.keras.run_folder import read_run_folder
    from cnnviz.report import build_run_folder_report

    if args.resume:
        raise UserError("give either --run (a monitor's run folder) or --resume (a saved run), not both")
    if not out.parent.is_dir():
        raise UserError(f"cannot write the report to {out}: folder {out.parent} does not exist")
    folder = read_run_folder(args.run)
    if not folder.snapshots:
        raise UserError(f"{args.run} holds no probed step yet; let fit run until the first probe")
    out.write_text(build_run_folder_report(folder), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) from {len(folder.snapshots)} probed steps")
    non_finite = any(e.get("event") == "non_finite" for e in folder.events)
    return EXIT_HALTED if non_finite else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="write a self-contained HTML report of a run",
                                   description="Train N steps (or --resume a saved run) and write an offline HTML "
                                               "report. Exit 0: written; 1: written, the run halted on NaN/Inf; "
                                               "2: user error.")
    add_run_arguments(parser, steps_default=20)
    parser.add_argument("--out", required=True, help="the .html file to write")
    parser.add_argument("--resume", metavar="DIR", help="report on the run saved in DIR (no further training)")
    parser.add_argument("--run", metavar="DIR", help="report on a run folder written by cnnviz.keras.ActivationMonitor "
                                                     "(the other run options are ignored)")
    parser.add_argument("--test-images", type=int, default=0, help="also evaluate on this many test images")
    parser.set_defaults(handler=run)
