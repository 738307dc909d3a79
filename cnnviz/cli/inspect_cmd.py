"""``inspect``: per-layer pre-activation statistics at initialization or after N steps."""

from __future__ import annotations

from cnnviz.cli.output import parse_tuple, print_json, print_table

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
    group = parser.add_argument_group("optimizer hyperparameters (default: cnnviz's defaults for --optimizer)")
    for flag, help_text in (("--momentum", "SGD/RMSProp momentum (momentum/nesterov default 0.9)"),
                            ("--beta1", "Adam-family beta_1"), ("--beta2", "Adam-family beta_2"),
                            ("--rho", "RMSProp/Adadelta rho"), ("--epsilon", "the optimizer's epsilon")):
        group.add_argument(flag, type=float, default=None, help=help_text)
    add_net_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


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
    from cnnviz.config import RunConfig
    from cnnviz.errors import UserError, check_choice
    from cnnviz.initializers import INITIALIZERS
    from cnnviz.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS
    from cnnviz.zoo import get_arch

    arch = args.arch or DEFAULT_ARCH
    init = args.init or DEFAULT_INIT
    get_arch(arch)
    check_choice("initializer", init, INITIALIZERS)
    check_choice("optimizer", args.optimizer, OPTIMIZERS)
    if args.steps < 0:
        raise UserError(f"--steps must be 0 or more, got {args.steps}")
    if args.steps > MAX_CLI_STEPS:
        raise UserError(f"--steps {args.steps} is above the cap of {MAX_CLI_STEPS}")
    lr = DEFAULT_LEARNING_RATES[args.optimizer] if args.lr is None else args.lr
    shape = parse_tuple(args.input_shape, int, 3, "--input-shape") if args.input_shape else None
    config = RunConfig(arch=arch, init=init, optimizer=args.optimizer, lr=lr, dataset=args.dataset,
                       batch_size=args.batch_size, seed=args.seed, probe_every=args.probe_every,
                       input_shape=shape, classes=args.classes, **optimizer_fields_from_args(args),
                       input_range="0-1" if args.input_range == "auto" else args.input_range,
                       **net_fields_from_args(args, arch))
    # Refuse (exit 2, with what would fit) before building a run this machine cannot hold.
    from cnnviz.resources import check, cli_budget

    check(config, cli_budget())
    return config


def optimizer_fields_from_args(args) -> dict:
    """--momentum --beta1 --beta2 --rho --epsilon as RunConfig fields (None: not given)."""
    return {name: getattr(args, name, None) for name in ("momentum", "beta1", "beta2", "rho", "epsilon")}


def new_run(config):
    """A fresh Run for ``config`` (every architecture, plain nets and lsuv included)."""
    from cnnviz.training import Run

    return Run(config)


def measured_on(snapshot) -> dict:
    """Where the per-layer numbers come from: the network after ``step`` updates, in training mode
    (BatchNorm on batch statistics, dropout on), on training batch ``batch``; its loss and accuracy there."""
    return {"step": snapshot.step, "batch": snapshot.batch, "mode": "training", "loss": snapshot.loss,
            "accuracy": snapshot.accuracy}


def findings_for(run) -> list[dict]:
    """Diagnosis of the run's snapshots, as JSON-ready dicts."""
    from cnnviz.diagnose import diagnose_run

    return [f.to_dict() for f in diagnose_run(run)]


def payload_for(run, snapshot) -> dict:
    """The inspect/train JSON payload for ``snapshot`` of ``run``."""
    payload = snapshot.to_dict()
    payload.update(config=run.config.to_dict(), steps=run.step_count, input_shape=list(run.dataset.shape),
                   input_adaptation=run.dataset.adaptation(), findings=findings_for(run),
                   halted=run.halted.message() if run.halted else None, measured_on=measured_on(snapshot))
    extras = getattr(run, "payload_extras", None)  # inspect --model: unprobed layers, output note, ...
    if extras is not None:
        payload.update(extras())
    return payload


def print_readable(payload: dict) -> None:
    """The human view: a per-layer table, then softmax and findings."""
    cfg = payload["config"]
    print(f"{cfg['arch']} / {cfg['init']} on {cfg['dataset']} after {payload['steps']} steps"
          + (f" (inputs {payload['input_adaptation']})" if payload.get("input_adaptation") else ""))
    if payload.get("step") is not None and payload["step"] != payload["steps"]:
        print(f"layer statistics from the forward pass of step {payload['step']} (the last finite probe)")
    rows = []
    for layer in payload["layers"]:
        pre = layer["pre_activation"]
        dead = pre["frac_zero_after_relu"]
        rows.append((layer["name"], layer["type"], pre["mean"], pre["std"], pre["min"], pre["max"],
                     "" if dead is None else f"{dead:.0%}", "" if layer["grad_norm"] is None else layer["grad_norm"],
                     "" if layer["update_ratio"] is None else layer["update_ratio"]))
    print_table(rows, ["layer", "type", "mean", "std", "min", "max", "zero after ReLU", "grad norm", "update/weight"])
    soft = payload["softmax"]
    print(f"loss {payload['loss']:.4g}   accuracy {payload['accuracy']:.1%}   max softmax prob (mean) "
          f"{soft['max_prob_mean']:.3f}   entropy {soft['entropy_mean']:.3f} (uniform: {soft['uniform_entropy']:.3f})")
    for finding in payload["findings"]:
        print(f"[{finding['severity']}] {finding['layer'] or ''}: {finding['message']}")
        if finding.get("suggestion"):
            print(f"    → {finding['suggestion']}")
    unprobed = payload.get("unprobed_layers", [])
    for layer in unprobed:
        if not layer["reason"].startswith("no weights"):
            print(f"not probed: {layer['name']} ({layer['type']}): {layer['reason']}")
    weightless = [layer["name"] for layer in unprobed if layer["reason"].startswith("no weights")]
    if weightless:
        print(f"not probed (no weights): {', '.join(weightless)}")
    for note in [payload.get("note"), *payload.get("notes", [])]:
        if note:
            print(f"note: {note}")
    if payload.get("halted"):
        print(f"run halted: {payload['halted']}")


def run(args) -> int:
    if getattr(args, "model", None):
        from cnnviz.cli.model_inspect import run_for_model  # bring-your-own-model path

        training_run = run_for_model(args)
    else:
        training_run = new_run(config_from_args(args))
    training_run.initial_snapshot()
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
