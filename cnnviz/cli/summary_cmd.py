"""``summary ARCH``: the layer table with output shapes and exact parameter counts."""

from __future__ import annotations

from cnnviz.cli.output import parse_tuple, print_json, print_table


def summarize(arch: str, input_shape=None, classes=None) -> dict:
    """The summary payload (computed from the layer table; no weights are allocated)."""
    from cnnviz import zoo
    from cnnviz.data import describe_adaptation

    shape, n_classes = zoo.resolve_shape(arch, input_shape, classes)
    rows = zoo.layer_table(arch, shape, n_classes)
    return {
        "arch": arch, "input_shape": list(shape), "classes": n_classes,
        "description": zoo.get_arch(arch).description,
        "input_adaptation": describe_adaptation((28, 28, 1), shape),
        "layers": [{k: row[k] for k in ("name", "type", "output_shape", "params", "fan_in", "activation")} for row in rows],
        "total_params": sum(row["params"] for row in rows),
    }


def run(args) -> int:
    shape = parse_tuple(args.input_shape, int, 3, "--input-shape") if args.input_shape else None
    payload = summarize(args.arch, shape, args.classes)
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
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)
