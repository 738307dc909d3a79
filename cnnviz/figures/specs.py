"""Building figures as plain dicts: plotly's look and layout math, without its per-call validation.

Plotly validates every property on every incremental call (``make_subplots``,
``add_trace``, ``update_layout``, ``update_xaxes``): for the Activations page's five
figures that was ~150 ms of server CPU per redraw, against ~10 ms for validating the
same finished figure once (bench/bench_redraw.py). So the large figures are written
as one ``{"data": [...], "layout": {...}}`` spec and turned into a ``go.Figure`` in a
single constructor call, which still validates it (a typo still fails loudly) and
keeps the ``Figure`` API for callers.

The subplot geometry is plotly's own: :func:`subplot_layout` asks ``make_subplots``
once per grid shape and reuses its axes and title annotations.
"""

from __future__ import annotations

import copy
import functools
import json

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Stand-ins for subplot titles in the cached grid; each figure puts its own texts in.
_TITLE_MARK = "\x00subplot-title-{}"


def subplot_layout(rows: int = 1, cols: int = 1, titles: int = 0, **options) -> tuple[dict, dict]:
    """(layout, axes) of a ``make_subplots`` grid: a fresh copy of its layout dict, and
    {(row, col[, secondary]): {"xaxis": "x3", "yaxis": "y3"}} for placing traces.

    ``titles`` subplot titles come back as annotations whose text :func:`set_subplot_titles`
    fills in; ``options`` are make_subplots' keyword arguments (``specs`` included).
    """
    key = json.dumps(options, sort_keys=True)
    layout, axes = _grid(rows, cols, titles, key)
    return copy.deepcopy(layout), axes


@functools.lru_cache(maxsize=64)
def _grid(rows: int, cols: int, titles: int, options_json: str) -> tuple[dict, dict]:
    options = json.loads(options_json)
    if titles:
        options["subplot_titles"] = [_TITLE_MARK.format(i) for i in range(titles)]
    figure = make_subplots(rows=rows, cols=cols, **options)
    axes = {}
    secondary = any(cell and cell.get("secondary_y") for row in options.get("specs") or [] for cell in row)
    for row in range(1, rows + 1):
        for col in range(1, cols + 1):
            refs = figure.get_subplot(row, col, secondary_y=False) if secondary else figure.get_subplot(row, col)
            if refs is None:
                continue
            axes[(row, col)] = _refs(refs)
            if secondary:
                axes[(row, col, True)] = _refs(figure.get_subplot(row, col, secondary_y=True))
    return figure.to_dict()["layout"], axes


def _refs(subplot) -> dict:
    # "xaxis3" -> "x3": what a trace's xaxis/yaxis property names
    return {"xaxis": subplot.xaxis.plotly_name.replace("axis", ""),
            "yaxis": subplot.yaxis.plotly_name.replace("axis", "")}


def set_subplot_titles(layout: dict, titles: list[str]) -> None:
    """Put ``titles`` into the stand-in annotations that :func:`subplot_layout` made."""
    marks = {_TITLE_MARK.format(i): title for i, title in enumerate(titles)}
    for annotation in layout.get("annotations", []):
        if annotation.get("text") in marks:
            annotation["text"] = marks[annotation["text"]]


def axis_names(layout: dict, prefix: str) -> list[str]:
    """The layout's axes of one kind ("xaxis" or "yaxis"), creating the first if absent.

    Mirrors ``Figure.update_xaxes()`` / ``update_yaxes()``, which always reach the
    first axis and every numbered one present.
    """
    layout.setdefault(prefix, {})
    return [name for name in layout if name == prefix or (name.startswith(prefix) and name[len(prefix):].isdigit())]


def update_axes(layout: dict, prefix: str, values: dict, names: list[str] | None = None) -> None:
    """Deep-merge ``values`` into every ``prefix`` axis (or the ones ``names``)."""
    for name in names if names is not None else axis_names(layout, prefix):
        merge(layout.setdefault(name, {}), values)


def merge(target: dict, values: dict) -> dict:
    """Deep-merge ``values`` into ``target`` (dicts merge, anything else replaces)."""
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
    return target


def figure(data: list[dict], layout: dict) -> go.Figure:
    """The finished ``go.Figure``: validated once, here."""
    return go.Figure({"data": data, "layout": layout})
