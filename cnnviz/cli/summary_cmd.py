"""``summary ARCH``: the layer table with output shapes and exact parameter counts."""

from __future__ import annotations

from cnnviz.cli.output import print_json, print_table
from cnnviz.cli.run_args import add_net_arguments, net_fields_from_args
from cnnviz.config import parse_tuple


def summarize(arch: str, input_shape=None, classes=None, **net_fields) -> dict:
    """The summary payload (computed from the layer table; no weights are allocated).

    ``net_fields`` (depth, width, activation, norm, residual) describe a plain net; ``net``
    in the payload echoes them in full (None for a fixed architecture).
    """
    from cnnviz.data import describe_adaptation
    from cnnviz.nets import zoo

    name, net = zoo.resolve_net(arch, **net_fields)
    shape, n_classes = zoo.resolve_shape(name, input_shape, classes)
    rows = zoo.layer_table(name, shape, n_classes, net=net)
    return {
        "arch": name, "input_shape": list(shape), "classes": n_classes,
        "description": zoo.describe(name, net=net),
        "net": net.to_dict() if net is not None else None,
        "input_adaptation": describe_adaptation((28, 28, 1), shape),
        "layers": [{k: row[k] for k in ("name", "type", "output_shape", "params", "fan_in", "activation")} for row in rows],
        "total_params": sum(row["params"] for row in rows),
    }


def run(args) -> int:
    from cnnviz.nets.zoo import get_arch

    args.arch = args.arch or "ltfn_convnet"
    get_arch(args.arch)
    shape = parse_tuple(args.input_shape, int, 3, "--input-shape") if args.input_shape else None
    payload = summarize(args.arch, shape, args.classes, **net_fields_from_args(args, args.arch))
    if args.json:
        print_json(payload)
        return 0
    print(f"{payload['arch']}: {payload['description']}")
    print(f"input {'x'.join(map(str, payload['input_shape']))}, {payload['classes']} classes"
          + (f" (MNIST digits are {payload['input_adaptation']})" if payload["input_adaptation"] else ""))
    rows = [(l["name"], l["type"], "x".join(map(str, l["output_shape"])), l["params"], l["fan_in"] or "", l["activation"] or "")
            for l in payload["layers"]]
    print_table(rows, ["layer", "type", "output", "params", "fan-in", "activation"])
    print(f"total parameters: {payload['total_params']:,}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("summary", help="layer table of an architecture with parameter counts")
    parser.add_argument("arch", help="architecture name (see `list`)")
    parser.add_argument("--input-shape", help="H,W,C (default: the architecture's own)")
    parser.add_argument("--classes", type=int, help="number of classes (default: the architecture's own)")
    add_net_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)
