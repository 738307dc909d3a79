"""``inspect``: per-layer pre-activation statistics at initialization or after N steps."""

from __future__ import annotations

from cnnviz.cli.output import parse_tuple, print_json, print_table

MAX_CLI_STEPS = 100_000


def add_run_arguments(parser, steps_default: int) -> None:
    """Flags shared by ``inspect``, ``train`` and ``report``."""
    parser.add_argument("--arch", default="ltfn_convnet", help="architecture name (see `list`)")
    parser.add_argument("--init", default="he-normal", help="initializer name (see `list`)")
    parser.add_argument("--optimizer", default="adam", help="optimizer name (see `list`)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's usual)")
    parser.add_argument("--dataset", default="mnist-sample", help="dataset name (see `list`)")
    parser.add_argument("--steps", type=int, default=steps_default, help="training steps before inspecting")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-every", type=int, default=1, help="probe every K-th step")
    parser.add_argument("--input-shape", help="H,W,C (default: the architecture's own)")
    parser.add_argument("--classes", type=int, help="number of classes (default: the dataset's)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def config_from_args(args):
    """A validated RunConfig from the shared flags."""
    from cnnviz.config import RunConfig
    from cnnviz.errors import UserError, check_choice
    from cnnviz.initializers import INITIALIZERS
    from cnnviz.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS
    from cnnviz.zoo import get_arch

    get_arch(args.arch)
    check_choice("initializer", args.init, INITIALIZERS)
    check_choice("optimizer", args.optimizer, OPTIMIZERS)
    if args.steps < 0:
        raise UserError(f"--steps must be 0 or more, got {args.steps}")
    if args.steps > MAX_CLI_STEPS:
        raise UserError(f"--steps {args.steps} is above the cap of {MAX_CLI_STEPS}")
    lr = DEFAULT_LEARNING_RATES[args.optimizer] if args.lr is None else args.lr
    shape = parse_tuple(args.input_shape, int, 3, "--input-shape") if args.input_shape else None
    config = RunConfig(arch=args.arch, init=args.init, optimizer=args.optimizer, lr=lr, dataset=args.dataset,
                       batch_size=args.batch_size, seed=args.seed, probe_every=args.probe_every,
                       input_shape=shape, classes=args.classes)
    # Refuse (exit 2, with what would fit) before building a run this machine cannot hold.
    from cnnviz.resources import check, cli_budget

    check(config, cli_budget())
    return config


def findings_for(run) -> list[dict]:
    """Diagnosis of the run's snapshots, as JSON-ready dicts."""
    from cnnviz.diagnose import diagnose_run

    return [f.to_dict() for f in diagnose_run(run)]


def payload_for(run, snapshot) -> dict:
    """The inspect/train JSON payload for ``snapshot`` of ``run``."""
    payload = snapshot.to_dict()
    payload.update(config=run.config.to_dict(), steps=run.step_count, input_shape=list(run.dataset.shape),
                   input_adaptation=run.dataset.adaptation(), findings=findings_for(run),
                   halted=run.halted.message() if run.halted else None)
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
    from cnnviz.training import Run

    if getattr(args, "model", None):
        from cnnviz.cli.model_inspect import run_for_model  # bring-your-own-model path

        training_run = run_for_model(args)
    else:
        training_run = Run(config_from_args(args))
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
    parser.set_defaults(handler=run)
