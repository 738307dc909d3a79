"""Command line: ``python -m cnnviz <command> ... [--json]``.

One module per command under this package; each exposes ``register(subparsers)``
which adds its parser and sets ``handler`` to a function ``(args) -> int``.
User mistakes (:class:`cnnviz.errors.UserError`, bad flags) exit with code 2 and a
single line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from cnnviz.errors import UserError

# Order is the order shown in --help.
COMMAND_MODULES = ("list_cmd", "summary_cmd", "inspect_cmd", "train_cmd", "trajectory_cmd", "basins_cmd", "report_cmd")


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit code 2 (its own convention)."""

    def error(self, message: str):  # pragma: no cover - exercised through main()
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available command registered."""
    parser = _Parser(prog="python -m cnnviz", description="See inside a CNN while it trains.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cnnviz.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cnnviz.cli.{module_name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with fd 2 muted: its C++ start-up banner ignores TF_CPP_MIN_LOG_LEVEL
    and would bury the one-line messages this CLI promises on stderr."""
    if "tensorflow" in sys.modules:
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, notebooks
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 2 user error)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _import_tensorflow_quietly()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"cnnviz: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnviz: interrupted", file=sys.stderr)
        return 130
