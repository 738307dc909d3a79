"""The run flags ``inspect``, ``train`` and ``report`` share (``summary`` takes the plain-net ones,
``trajectory`` and ``basins`` the optimizer ones), and the validated
:class:`~cnnviz.config.RunConfig` / :class:`~cnnviz.nets.optimizers.OptimizerSpec` they make."""

from __future__ import annotations

MAX_CLI_STEPS = 100_000
DEFAULT_ARCH = "ltfn_convnet"
DEFAULT_INIT = "he-normal"


def add_run_arguments(parser, steps_default: int) -> None:
    """Flags shared by ``inspect``, ``train`` and ``report``."""
    parser.add_argument("--arch", default=None, help="architecture name (see `list`; default ltfn_convnet)")
    parser.add_argument("--init", default=None, help="initializer name (see `list`; default he-normal)")
    parser.add_argument("--optimizer", default="adam", help="optimizer name (see `list`)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's usual)")
    parser.add_argument("--dataset", default="mnist-sample", help="dataset name (see `list`)")
    parser.add_argument("--steps", type=int, default=steps_default, help="training steps before inspecting")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-every", type=int, default=1, help="probe every K-th step")
    parser.add_argument("--input-shape", help="H,W,C (default: the architecture's own)")
    parser.add_argument("--classes", type=int, help="number of classes (default: the dataset's)")
    parser.add_argument("--input-range", default="auto", choices=["auto", "0-1", "0-255", "-1-1"],
                        help="pixel values fed for black..white (auto: 0-1, or what a --model's own "
                             "Rescaling/Normalization layer expects)")
    add_optimizer_hyperparameters(parser, "cnnviz's defaults for --optimizer")
    add_net_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_optimizer_hyperparameters(parser, defaults: str) -> None:
    """--momentum --beta1 --beta2 --rho --epsilon (unset: ``defaults`` says what applies)."""
    group = parser.add_argument_group(f"optimizer hyperparameters (default: {defaults})")
    for flag, help_text in (("--momentum", "SGD/RMSProp momentum (momentum/nesterov default 0.9)"),
                            ("--beta1", "Adam-family beta_1"), ("--beta2", "Adam-family beta_2"),
                            ("--rho", "RMSProp/Adadelta rho"), ("--epsilon", "the optimizer's epsilon")):
        group.add_argument(flag, type=float, default=None, help=help_text)


def add_playground_optimizer_arguments(parser) -> None:
    """--surface --optimizer --lr and the hyperparameters, as ``trajectory`` and ``basins`` take them.

    Values like ``--start -1.5,2`` are accepted (these commands have no option that looks
    like a negative number).
    """
    from cnnviz.compat import accept_negative_number_values
    from cnnviz.nets.optimizers import OPTIMIZERS
    from cnnviz.playground.surfaces import SURFACES

    parser.add_argument("--surface", required=True, help="one of: " + ", ".join(SURFACES))
    parser.add_argument("--optimizer", required=True, help="one of: " + ", ".join(OPTIMIZERS))
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's Keras default)")
    add_optimizer_hyperparameters(parser, "Keras's defaults")
    accept_negative_number_values(parser)


def optimizer_spec_from_args(args):
    """The :class:`~cnnviz.nets.optimizers.OptimizerSpec` named by the playground flags."""
    from cnnviz.nets.optimizers import OptimizerSpec

    return OptimizerSpec(name=args.optimizer, lr=args.lr, **optimizer_fields_from_args(args))


def add_net_arguments(parser) -> None:
    """--depth --width --activation --norm --residual: the knobs of plain_mlp / plain_cnn."""
    group = parser.add_argument_group("plain nets (--arch plain_mlp | plain_cnn)")
    group.add_argument("--depth", type=int, help="hidden layers, 1 to 100 (default 5)")
    group.add_argument("--width", type=int, help="units (plain_mlp, default 256) or channels (plain_cnn, default 32)")
    group.add_argument("--activation", help="relu, leaky-relu, tanh, sigmoid, selu, gelu or linear (default relu)")
    group.add_argument("--norm", help="none, batch or layer: normalization before each activation (default none)")
    group.add_argument("--residual", action="store_true", default=None,
                       help="skip connections h + act(norm(layer(h))) on hidden layers 2..depth")


def net_fields_from_args(args, arch: str) -> dict:
    """The plain-net fields given on the command line; UserError naming the flags for a fixed architecture."""
    from cnnviz.nets.params import FIELDS, check_fixed_arch_fields, is_plain

    fields = {name: getattr(args, name, None) for name in FIELDS}
    fields["residual"] = bool(fields["residual"])
    if not is_plain(arch):
        check_fixed_arch_fields(arch, fields, flag_prefix="--")
    return fields


def config_from_args(args):
    """A validated RunConfig from the shared flags."""
    from cnnviz.config import RunConfig, parse_tuple
    from cnnviz.errors import check_choice
    from cnnviz.nets.initializers import INITIALIZERS
    from cnnviz.nets.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS
    from cnnviz.nets.zoo import get_arch

    arch = args.arch or DEFAULT_ARCH
    init = args.init or DEFAULT_INIT
    get_arch(arch)
    check_choice("initializer", init, INITIALIZERS)
    check_choice("optimizer", args.optimizer, OPTIMIZERS)
    check_steps(args.steps)
    lr = DEFAULT_LEARNING_RATES[args.optimizer] if args.lr is None else args.lr
    shape = parse_tuple(args.input_shape, int, 3, "--input-shape") if args.input_shape else None
    config = RunConfig(arch=arch, init=init, optimizer=args.optimizer, lr=lr, dataset=args.dataset,
                       batch_size=args.batch_size, seed=args.seed, probe_every=args.probe_every,
                       input_shape=shape, classes=args.classes, **optimizer_fields_from_args(args),
                       input_range="0-1" if args.input_range == "auto" else args.input_range,
                       **net_fields_from_args(args, arch))
    # Refuse (exit 2, with what would fit) before building a run this machine cannot hold.
    from cnnviz.training.resources import check, cli_budget

    check(config, cli_budget())
    return config


def optimizer_fields_from_args(args) -> dict:
    """--momentum --beta1 --beta2 --rho --epsilon as RunConfig fields (None: not given)."""
    return {name: getattr(args, name, None) for name in ("momentum", "beta1", "beta2", "rho", "epsilon")}


def new_run(config):
    """A fresh Run for ``config`` (every architecture, plain nets and lsuv included)."""
    from cnnviz.training import Run

    return Run(config)


def check_steps(steps: int) -> int:
    """Refuse negative step counts and counts above the CLI cap."""
    from cnnviz.errors import UserError

    if steps < 0:
        raise UserError(f"--steps must be 0 or more, got {steps}")
    if steps > MAX_CLI_STEPS:
        raise UserError(f"--steps {steps} is above the cap of {MAX_CLI_STEPS}")
    return steps
