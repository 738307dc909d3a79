"""``inspect --model PATH.keras [--dataset D | --images DIR]``: the bring-your-own-model path.

The file is pre-checked and loaded safely (:mod:`cnnviz.usermodels.loading`), its layers are
probed (:mod:`cnnviz.usermodels.probe`) and the result is a real
:class:`~cnnviz.training.Run`, so ``inspect``'s own code trains it for ``--steps``
and prints the same payload as for ``--arch``, plus ``unprobed_layers``,
``output_is_probability``, ``note`` and ``notes``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cnnviz.cli.run_args import check_steps, optimizer_fields_from_args
from cnnviz.config import parse_tuple


def model_config(args, dataset_label: str, batch_size: int):
    """The RunConfig of a user-model run: the file stands in for --arch and --init."""
    from cnnviz.config import RunConfig
    from cnnviz.errors import check_choice
    from cnnviz.nets.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS

    check_choice("optimizer", args.optimizer, OPTIMIZERS)
    lr = DEFAULT_LEARNING_RATES[args.optimizer] if args.lr is None else args.lr
    return RunConfig(arch=f"file:{Path(args.model).name}", init="from-file", optimizer=args.optimizer, lr=lr,
                     dataset=dataset_label, batch_size=batch_size, seed=args.seed, probe_every=args.probe_every,
                     **optimizer_fields_from_args(args))


def run_for_model(args):
    """A ready :class:`~cnnviz.usermodels.run.UserModelRun` for ``inspect --model`` (not yet trained)."""
    from cnnviz.data.image_folder import load_image_folder
    from cnnviz.errors import UserError
    from cnnviz.usermodels.loading import load_user_model
    from cnnviz.usermodels.probe import model_io_shape
    from cnnviz.usermodels.run import prepare_user_run

    check_steps(args.steps)
    if args.batch_size <= 0:
        raise UserError(f"batch size must be a positive whole number, got {args.batch_size}")
    model = load_user_model(args.model)
    shape, _ = model_io_shape(model)
    if getattr(args, "input_shape", None):
        wanted = parse_tuple(args.input_shape, int, 3, "--input-shape")
        if tuple(wanted) != shape and all(dim is not None for dim in model.inputs[0].shape[1:]):
            raise UserError(f"--input-shape {args.input_shape} does not apply to --model: the model takes "
                            f"{shape[0]}x{shape[1]}x{shape[2]} inputs")
        shape = tuple(wanted)
    notes, dataset, batch_size, label = [], None, args.batch_size, args.dataset
    if getattr(args, "images", None):
        image_set = load_image_folder(args.images, shape)
        batch_size = image_set.fit_batch_size(batch_size)
        dataset, notes, label = image_set.dataset, list(image_set.notes), f"images:{Path(args.images).name}"
    config = model_config(args, label, batch_size)
    if args.reinit:
        from cnnviz.errors import check_choice
        from cnnviz.nets.initializers import INITIALIZERS

        check_choice("initializer", args.reinit, INITIALIZERS)
    from cnnviz.training.resources import check, cli_budget, estimate_model

    check(estimate_model(model, batch_size, config.optimizer, shape, label=Path(args.model).name), cli_budget())
    ignored = ignored_options(args)
    for note in ignored:
        print(f"cnnviz: note: {note}", file=sys.stderr)
    return prepare_user_run(model, config, dataset=dataset, source=Path(args.model).name, notes=notes + ignored,
                            input_shape=shape, input_range=None if args.input_range == "auto" else args.input_range,
                            reinit=args.reinit)


def ignored_options(args) -> list[str]:
    """Sentences for options given with --model that cannot apply to a file's model."""
    notes = []
    if args.arch:
        notes.append(f"--arch {args.arch} does not apply to --model: the file defines the network")
    if args.init:
        notes.append(f"--init {args.init} does not apply to --model: the file's weights are used "
                     f"(--reinit {args.init} re-draws its kernels with it)")
    if args.classes:
        notes.append(f"--classes {args.classes} does not apply to --model: its output layer sets the classes")
    given = [flag for flag in ("depth", "width", "activation", "norm") if getattr(args, flag, None) is not None]
    if given or getattr(args, "residual", None):
        flags = ", ".join(f"--{f}" for f in given + (["residual"] if getattr(args, "residual", None) else []))
        notes.append(f"{flags} do not apply to --model: they describe plain_mlp / plain_cnn")
    return notes
