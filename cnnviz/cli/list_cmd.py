"""``list``: every name the tool knows (architectures, initializers, optimizers, surfaces, datasets)."""

from __future__ import annotations

from cnnviz.cli.output import print_json


def catalogue() -> dict[str, list[str]]:
    """Names by kind, as in the public JSON contract."""
    from cnnviz.data import DATASETS
    from cnnviz.nets.initializers import INITIALIZERS
    from cnnviz.nets.optimizers import OPTIMIZERS
    from cnnviz.nets.zoo import ARCHITECTURES

    try:
        from cnnviz.playground.surfaces import SURFACES
    except ModuleNotFoundError:  # pragma: no cover - surfaces ship with the playground
        SURFACES = {}
    return {"architectures": list(ARCHITECTURES), "initializers": list(INITIALIZERS),
            "optimizers": list(OPTIMIZERS), "surfaces": list(SURFACES), "datasets": list(DATASETS)}


def run(args) -> int:
    names = catalogue()
    if args.json:
        print_json(names)
        return 0
    for kind, values in names.items():
        print(f"{kind}: {', '.join(values)}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help="list architectures, initializers, optimizers, surfaces, datasets")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)
