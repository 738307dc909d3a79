"""Shared pieces of the playground's pictures: colours, the contour background, labels, layout.

Every array goes out as float32 (plotly sends numpy arrays as binary ``bdata``), so a map
costs a few tens of kilobytes. This module never imports TensorFlow.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale, sample_colorscale

from cnnviz.figures.style import FONT_SIZE, style, two_line_title
from cnnviz.playground.surfaces import Surface, evaluate_grid

# Bright, distinct path colours that read on both the dark and light ends of the map.
PATH_COLOURS = ("#e41a1c", "#ff7f00", "#00c853", "#f781bf", "#ffd600", "#00e5ff", "#a65628", "#aa00ff", "#ffffff")
CONTOUR_COLOURS = "Blues_r"  # low = dark blue, as in the classic optimizer animations
CONTOUR_LEVELS = 30
# Log contours plot log10(f + LOG_OFFSET): the offset keeps exact zeros (the minima) finite.
LOG_OFFSET = 1e-3
# 100 x 100 float32 values: 40 KB of contour per map, smooth enough for 30 levels.
CONTOUR_RESOLUTION = 100
# Points drawn per figure, over all paths: longer paths are thinned (see thin_steps).
POINT_BUDGET = 4000
# A path may leave the surface's window (the saddle has no bottom); widen the view to
# follow it, but never beyond this many half-widths from the window's centre.
MAX_VIEW_STRETCH = 1.5
# Labels closer than this (as a fraction of the view's width and height) share one box.
LABEL_MERGE_DISTANCE = (0.12, 0.08)


def path_colour(index: int) -> str:
    """The colour of the ``index``-th path (shared by every figure, so legends agree)."""
    return PATH_COLOURS[index % len(PATH_COLOURS)]


def f32(values) -> np.ndarray:
    """A float32 copy: plotly sends it as 4-byte binary instead of 8-byte binary or decimal text."""
    return np.asarray(values, dtype=np.float32)


def thin_steps(length: int, budget: int) -> np.ndarray:
    """Which of a path's ``length`` points to draw: all when they fit ``budget``, else every k-th.

    k is odd, and the last point is always kept: a path that zig-zags every step (SGD in a
    ravine) then still shows alternate sides, where an even stride would draw a smooth line.
    """
    if length <= budget:
        return np.arange(length)
    stride = math.ceil(length / max(budget, 2))
    stride += 1 - stride % 2
    return np.unique(np.append(np.arange(0, length, stride), length - 1))


def view_window(surface: Surface, trajectories: Sequence = ()) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y ranges to draw: the surface's window, stretched to show the paths."""

    def stretch(window, values):
        lo, hi = window
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        if len(values):
            lo, hi = min(lo, float(np.min(values))), max(hi, float(np.max(values)))
        lo, hi = max(lo, centre - MAX_VIEW_STRETCH * half), min(hi, centre + MAX_VIEW_STRETCH * half)
        return lo, hi

    points = np.concatenate([t.points for t in trajectories]) if trajectories else np.zeros((0, 2))
    return stretch(surface.x_range, points[:, 0]), stretch(surface.y_range, points[:, 1])


def finite(values: np.ndarray) -> np.ndarray:
    """Replace NaN/inf by the nearest finite extreme, so plotly never sees them."""
    good = values[np.isfinite(values)]
    if good.size == 0:
        return np.zeros_like(values)
    return np.nan_to_num(values, nan=good.max(), posinf=good.max(), neginf=good.min())


def colour_values(surface: Surface, z: np.ndarray) -> np.ndarray:
    """What the colour encodes: log10 of the loss on surfaces that span decades."""
    if surface.log_levels:
        return np.log10(np.maximum(z, 0.0) + LOG_OFFSET)
    return z


def colourbar(surface: Surface, colour: np.ndarray) -> dict:
    """The colour bar: "loss", or "loss (log)" with ticks at powers of ten."""
    bar = {"thickness": 14, "len": 0.9}
    if not surface.log_levels:
        return bar | {"title": {"text": "loss"}}
    exponents = np.arange(math.floor(colour.min()), math.ceil(colour.max()) + 1)
    return bar | {
        "title": {"text": "loss (log)"},
        "tickvals": exponents.tolist(),
        "ticktext": [f"1e{int(e)}" for e in exponents],
    }


def contour_trace(surface: Surface, x_range, y_range, resolution: int = CONTOUR_RESOLUTION) -> go.Contour:
    """Filled contours of the surface; levels are logarithmic when it spans decades."""
    xs, ys, z = evaluate_grid(surface, x_range, y_range, resolution)
    colour = finite(colour_values(surface, finite(z)))
    return go.Contour(
        x=f32(xs),
        y=f32(ys),
        z=f32(colour),
        colorscale=CONTOUR_COLOURS,
        ncontours=CONTOUR_LEVELS,
        line={"width": 0.5, "color": "rgba(255,255,255,0.35)"},
        colorbar=colourbar(surface, colour),
        hoverinfo="skip",
        name=surface.name,
        showlegend=False,
    )


def contour_image(surface: Surface, x_range, y_range, pixels: int = 256) -> tuple[dict, go.Scatter]:
    """The contour map as a background picture, and an invisible trace that carries its colour bar.

    For the animation: plotly.js drops every trace it cannot animate (contours included)
    from view when frames play without a full redraw, and a full redraw per frame makes
    the map flicker. A layout image is not a trace, so it stays. It is the same map: the
    colour value binned into :data:`CONTOUR_LEVELS` equal bands, coloured like the contour
    trace, with a paler line where the band changes; as an indexed PNG it takes 4-20 KB.
    """
    xs, ys, z = evaluate_grid(surface, x_range, y_range, pixels)
    colour = finite(colour_values(surface, finite(z)))
    low, high = float(colour.min()), float(colour.max())
    bands = np.clip(((colour - low) / max(high - low, 1e-300) * CONTOUR_LEVELS).astype(int), 0, CONTOUR_LEVELS - 1)
    edges = np.zeros_like(bands, dtype=bool)
    edges[1:] |= bands[1:] != bands[:-1]
    edges[:, 1:] |= bands[:, 1:] != bands[:, :-1]
    centres = [(k + 0.5) / CONTOUR_LEVELS for k in range(CONTOUR_LEVELS)]
    fills = np.array(sample_colorscale(get_colorscale(CONTOUR_COLOURS), centres, colortype="tuple")) * 255
    palette = np.vstack([fills, fills * 0.65 + 255 * 0.35]).round().astype(np.uint8)  # lines: 35% white
    indices = (bands + CONTOUR_LEVELS * edges)[::-1]  # image rows run from the top (high y) down
    source = "data:image/png;base64," + base64.b64encode(_indexed_png(indices, palette)).decode()
    image = {"source": source, "xref": "x", "yref": "y", "x": x_range[0], "y": y_range[1],
             "sizex": x_range[1] - x_range[0], "sizey": y_range[1] - y_range[0],
             "xanchor": "left", "yanchor": "top", "sizing": "stretch", "layer": "below"}
    colour_key = go.Scatter(
        x=[x_range[0], x_range[0]], y=[y_range[0], y_range[0]], mode="markers", hoverinfo="skip", showlegend=False,
        marker={"size": 0.1, "opacity": 0, "color": [low, high], "colorscale": CONTOUR_COLOURS, "showscale": True,
                "colorbar": colourbar(surface, colour)},
        name="colour scale",
    )
    return image, colour_key


def _indexed_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """A minimal palette PNG (8-bit indices, no filter): enough for a banded map."""
    height, width = indices.shape
    rows = np.hstack([np.zeros((height, 1), np.uint8), indices.astype(np.uint8)])  # filter byte 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit, palette colour
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", palette.tobytes())
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))


def landmark_traces(surface: Surface, trajectories: Sequence) -> list[go.Scatter]:
    """Stars on the global minima and a white disc on each distinct start."""
    traces = []
    if surface.minima:
        mx, my = zip(*surface.minima)
        traces.append(
            go.Scatter(
                x=mx, y=my, mode="markers", name="global minimum",
                marker={"symbol": "star", "size": 18, "color": "gold", "line": {"color": "black", "width": 1}},
                hovertemplate="minimum (%{x:.4g}, %{y:.4g})<extra></extra>",
            )
        )
    starts = sorted({tuple(t.points[0]) for t in trajectories})
    if starts:
        sx, sy = zip(*starts)
        traces.append(
            go.Scatter(
                x=sx, y=sy, mode="markers", name="start",
                marker={"symbol": "circle", "size": 12, "color": "white", "line": {"color": "black", "width": 2}},
                hovertemplate="start (%{x:.4g}, %{y:.4g})<extra></extra>",
            )
        )
    return traces


def merge_labels(labels: Sequence[tuple[float, float, str]], x_range, y_range) -> list[tuple[float, float, str]]:
    """Labels that would overlap on the map, joined into one box (texts on separate lines).

    Two labels overlap when they are closer than :data:`LABEL_MERGE_DISTANCE` of the view
    in both directions; the merged box sits at the first label's point.
    """
    width, height = x_range[1] - x_range[0], y_range[1] - y_range[0]
    groups: list[list[tuple[float, float, str]]] = []
    for x, y, text in labels:
        for group in groups:
            gx, gy, _ = group[0]
            if abs(x - gx) < LABEL_MERGE_DISTANCE[0] * width and abs(y - gy) < LABEL_MERGE_DISTANCE[1] * height:
                if text not in [t for _, _, t in group]:
                    group.append((x, y, text))
                break
        else:
            groups.append([(x, y, text)])
    return [(group[0][0], group[0][1], "<br>".join(text for _, _, text in group)) for group in groups]


def add_labels(fig: go.Figure, labels, x_range, y_range) -> None:
    """Text labels on pale boxes (readable on dark and light parts of the map), never on top of each other."""
    for x, y, text in merge_labels(labels, x_range, y_range):
        fig.add_annotation(
            x=x, y=y, text=text, showarrow=True, arrowhead=0, arrowcolor="black", ax=0, ay=-30, yanchor="bottom",
            font={"size": FONT_SIZE - 2, "color": "black"}, bgcolor="rgba(255,255,255,0.85)", bordercolor="black",
            borderpad=2, align="left",
        )


def start_labels(trajectories: Sequence) -> list[tuple[float, float, str]]:
    return [(x, y, "start") for x, y in sorted({tuple(t.points[0]) for t in trajectories})]


def path_width(index: int, count: int) -> float:
    """Earlier paths are drawn wider, so a path that runs under a later one still shows."""
    return 2.0 + 3.0 * (count - 1 - index) / max(count - 1, 1)


def house_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    """The house look (:func:`cnnviz.figures.style.style`) with the playground's legend row below the plot."""
    style(fig, title, height, margin={"l": 64, "r": 16, "t": 64, "b": 48})
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0})
    return fig


def map_layout(fig: go.Figure, title: str, x_range, y_range, height: int = 600) -> go.Figure:
    """A map's layout: axis titles, the view window, no grid over the contours, room for a two-line title."""
    house_layout(fig, title, height)
    fig.update_layout(
        margin={"t": 84},
        legend={"y": -0.17},  # clear of the x-axis title below a 600-pixel map
        xaxis={"title": {"text": "x (weight 1)"}, "range": list(x_range), "showgrid": False, "zeroline": False},
        yaxis={"title": {"text": "y (weight 2)"}, "range": list(y_range), "showgrid": False, "zeroline": False},
    )
    return fig


def map_title(surface: Surface, lead: str) -> str:
    """A short title with the formula on a second, smaller line (long formulas would be cut on one)."""
    return two_line_title(f"{lead} {surface.name}", f"f(x, y) = {surface.formula}")


