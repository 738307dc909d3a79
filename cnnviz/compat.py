"""The private Keras, TensorFlow (and argparse) internals cnnviz relies on, each in one place.

Keras 3 and TensorFlow offer no public way to do these things. Each function says why it
is needed and what happens without it; ``tests/test_compat.py`` exercises every one, so
an upstream change fails a test with a clear message instead of silently changing what
cnnviz shows. (The Streamlit counterpart lives in ``dashboard/``: the library never
imports Streamlit.)
"""

from __future__ import annotations

from collections.abc import Callable


def consumers(layer) -> list:
    """The layers (or ops) that take ``layer``'s output in the functional graphs it is part of.

    Needed to find the nonlinearity that follows a Conv/Dense layer built with
    ``activation=None`` (Conv → BatchNorm → ReLU). Keras keeps this list as
    ``Layer._outbound_nodes`` only.
    """
    return [node.operation for node in getattr(layer, "_outbound_nodes", [])]


def run_functional_graph(model, inputs, operation_fn: Callable):
    """Call a functional model on ``inputs`` with every node's call routed through ``operation_fn``.

    ``operation_fn(op)`` returns the callable used in place of ``op``. This is how a user's
    model is re-traced with each layer's pre-activation exposed, without copying a weight.
    Keras's own executor ``Functional._run_through_graph`` is the only implementation.
    """
    return model._run_through_graph(inputs, operation_fn=operation_fn)


def is_functional(model) -> bool:
    """Whether :func:`run_functional_graph` can walk ``model`` (functional, not subclassed)."""
    return hasattr(model, "_run_through_graph")


def tensorflow_gradient_registry() -> dict | None:
    """TensorFlow's global ``name -> gradient function`` registry, or None if it moved.

    Keras 3.15's optimizer registers a ``@custom_gradient`` under a new global name each
    time its update is traced, and that entry keeps the whole traced graph alive for the
    life of the process (about 1.4 MiB per playground trajectory engine). The playground
    removes exactly its own entries (:mod:`cnnviz.playground.engine`).
    """
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None


def nested_function_graphs(graph) -> list:
    """The graphs of the functions nested in a traced ``FuncGraph`` (while-loop bodies, conds)."""
    return [function.graph for function in graph._functions.values() if getattr(function, "graph", None) is not None]


def accept_negative_number_values(parser) -> None:
    """Let ``parser`` take values such as ``--start -1.5,2`` or ``--box -5,5,-5,5``.

    argparse before Python 3.13 treats any word starting with "-" that is not a plain number
    as an option, so "-1.5,2" is refused as an unknown flag. Python 3.13 changed the rule to
    "a dash followed by a digit is a value"; this applies the same rule through the parser's
    ``_negative_number_matcher`` (no public setting exists). Only for parsers with no option
    that itself looks like a negative number.
    """
    import re

    parser._negative_number_matcher = re.compile(r"^-\.?\d")
