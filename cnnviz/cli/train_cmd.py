"""``train``: train a network for N steps, then report the last step and the findings.

    python -m cnnviz train --arch ltfn_convnet --init he-normal --optimizer adam --lr 1e-3 \\
        --steps 50 --batch-size 100 --seed 0 [--probe-every K] [--save DIR] [--resume DIR] [--json]

``loss`` in the JSON is the training loss of the last step that was applied. The
last step is always probed, so ``layers``, ``accuracy`` and ``findings`` describe
the weights the run ends with.

Exit codes: 0 when the requested steps ran; 1 when the run halted because a step
went NaN/Inf (the JSON/readable output is still printed, with a ``non_finite``
finding naming the step and layer, ``halted`` set, and the last good weights saved
with ``--save``); 2 for a user error (unknown name, missing checkpoint, ...).
"""

from __future__ import annotations

import sys
import time

from cnnviz.cli.output import print_json
from cnnviz.cli.run_args import MAX_CLI_STEPS, add_run_arguments, config_from_args, new_run
from cnnviz.cli.run_output import payload_for, print_readable

EXIT_HALTED = 1
# Flags a resumed run takes from its checkpoint; giving a different value is refused.
CHECKPOINT_FLAGS = ("arch", "init", "optimizer", "lr", "dataset", "batch_size", "seed", "input_shape", "classes",
                    "depth", "width", "activation", "norm", "residual")
BAR_WIDTH = 30


class ProgressBar:
    """A one-line ``[#####.....] 12/50 loss 0.532`` bar on stderr, redrawn in place."""

    def __init__(self, total: int, stream=None):
        self.total = max(int(total), 1)
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.done = 0

    def __call__(self, run, snapshot) -> None:
        self.done += 1
        filled = round(BAR_WIDTH * self.done / self.total)
        loss = f"loss {run.last_loss:.4g}" if run.last_loss is not None else ""
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        self.stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total} "
                          f"{loss}  {rate:.1f} steps/s ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _resumed_run(args, parser_defaults: dict):
    from cnnviz.errors import UserError
    from cnnviz.training import Run

    if not 0 <= args.steps <= MAX_CLI_STEPS:
        raise UserError(f"--steps must be between 0 and {MAX_CLI_STEPS}, got {args.steps}")
    run = Run.load(args.resume)
    saved = run.config.to_dict()
    for flag in CHECKPOINT_FLAGS:
        given = getattr(args, flag)
        if given is None or given == parser_defaults.get(flag):
            continue  # not given on the command line: the checkpoint's value holds
        value = tuple(int(v) for v in given.split(",")) if flag == "input_shape" else given
        stored = tuple(saved[flag]) if flag == "input_shape" and saved[flag] else saved[flag]
        if value != stored:
            option = "--" + flag.replace("_", "-")
            raise UserError(f"{option} {given} differs from the resumed run's {stored}; a resumed run keeps its "
                            f"configuration (leave {option} out, or start a new run without --resume)")
    if args.probe_every != parser_defaults.get("probe_every") and args.probe_every != run.config.probe_every:
        run.config = run.config.replace(probe_every=args.probe_every)
    return run


def run(args) -> int:
    training_run = _resumed_run(args, args.parser_defaults) if args.resume else new_run(config_from_args(args))
    training_run.snapshot_at_init()
    progress = ProgressBar(args.steps) if args.steps and _stderr_is_terminal() else None
    try:
        if args.steps:
            training_run.train(args.steps, callback=progress, probe_last=True)
    finally:
        if progress is not None:
            progress.close()
    if args.save:
        training_run.save(args.save)
    # A halted run's last snapshot may hold NaN: report the last finite one.
    finite = [s for s in training_run.snapshots if s.finite]
    snapshot = finite[-1] if finite else training_run.latest
    payload = payload_for(training_run, snapshot)
    # The contract: "loss" is the last applied step's training loss (the snapshot's
    # own loss when nothing was trained, e.g. --steps 0 or a halt at step 1).
    payload["loss"] = training_run.last_loss if training_run.last_loss is not None else snapshot.loss
    payload["snapshot_step"] = snapshot.step
    payload["saved_to"] = str(args.save) if args.save else None
    if args.json:
        print_json(payload)
    else:
        print_readable(payload)
        if args.save:
            print(f"saved to {args.save}")
    return EXIT_HALTED if training_run.halted is not None else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train for N steps; print the last step's statistics and findings",
        description="Train for N steps and report the last step. Exit 0: done; 1: the run halted on NaN/Inf "
                    "(output still printed, with a non_finite finding); 2: user error.")
    add_run_arguments(parser, steps_default=20)
    parser.add_argument("--save", metavar="DIR", help="write a checkpoint folder when training ends")
    parser.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR (its own configuration)")
    parser.set_defaults(handler=run)
    parser.set_defaults(parser_defaults={flag: parser.get_default(flag) for flag in (*CHECKPOINT_FLAGS, "probe_every")})
