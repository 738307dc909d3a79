"""Pictures of what conv layers learn and compute: kernels as tiles, feature maps, the input.

Pure functions from arrays to plotly Figures (see :mod:`cnnviz.probing.feature_maps` for
getting the arrays out of a model). Every grid shares one colour range across its
tiles so tiles can be compared; signed values use a diverging scale centred at 0.
Non-finite values are replaced by 0 before drawing and the title says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cnnviz.figures.style import FONT_SIZE, style

DIVERGING = "RdBu_r"  # negative = blue, 0 = white, positive = red
NON_NEGATIVE = "Viridis"
MAX_TILES = 64
MAX_IMAGE_SIDE = 112  # pixels a side drawn for the input image


def grid_shape(count: int, max_columns: int = 16) -> tuple[int, int]:
    """(rows, columns) for ``count`` tiles: one row if they fit, else rows of ``max_columns``."""
    columns = max(1, min(max_columns, count))
    return math.ceil(count / columns), columns


def _finite(values: np.ndarray) -> tuple[np.ndarray, int]:
    values = np.asarray(values, dtype=np.float64)
    bad = int((~np.isfinite(values)).sum())
    return (np.where(np.isfinite(values), values, 0.0) if bad else values), bad


def _tile_grid(tiles: np.ndarray, labels: Sequence[str], title: str, colour_title: str,
               signed: bool, max_columns: int, max_tile_px: int, plot_px: int) -> go.Figure:
    """Tiles laid out as a mosaic on one pair of axes (one heatmap trace per tile, offset by x0/y0).

    One set of axes keeps the figure fast to build and draw even with 64 tiles, and the
    gaps between tiles are empty background rather than NaN cells.
    """
    tiles, bad = _finite(tiles)
    count, height, width = tiles.shape if tiles.ndim == 3 else (0, 1, 1)
    rows, columns = grid_shape(max(count, 1), max_columns)
    gap = max(1.0, 0.25 * max(height, width))
    label_room = max(1.6, 0.35 * height)  # space above each tile for its label
    biggest = float(np.abs(tiles).max()) if tiles.size else 0.0
    biggest = biggest if biggest > 0 else 1.0  # all-zero kernels (zeros init) still get a scale
    # Five significant digits of the largest value are more than a colour can show, and keep
    # the page light (32 maps of 54x54 would otherwise ship ~2 MB of float digits).
    tiles = np.round(tiles, max(0, 4 - math.floor(math.log10(biggest))))
    traces, annotations = [], []
    for k in range(count):
        row, col = divmod(k, columns)
        x0 = col * (width + gap)
        y0 = row * (height + gap + label_room) + label_room
        traces.append(go.Heatmap(z=tiles[k].tolist(), x0=x0, dx=1, y0=y0, dy=1, coloraxis="coloraxis",
                                 hovertemplate=f"{labels[k]}: %{{z:.4g}}<extra></extra>"))
        annotations.append({"x": x0 + (width - 1) / 2, "y": y0 - 0.5, "text": labels[k], "showarrow": False,
                            "xref": "x", "yref": "y", "yanchor": "bottom", "font": {"size": 13}})
    colour_axis = {"colorscale": DIVERGING, "cmin": -biggest, "cmax": biggest, "cmid": 0.0} if signed \
        else {"colorscale": NON_NEGATIVE, "cmin": 0.0, "cmax": biggest}
    colour_axis["colorbar"] = {"title": {"text": colour_title, "side": "right", "font": {"size": FONT_SIZE}},
                               "thickness": 18, "tickfont": {"size": FONT_SIZE - 1}}
    note = f" ({bad} non-finite values shown as 0)" if bad else ""
    hidden = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
    fig = style(go.Figure(traces), title + note,
                height=_height(rows, columns, height, width, gap, label_room, max_tile_px, plot_px),
                margin={"l": 20, "r": 20, "t": 70, "b": 20})
    fig.update_layout(
        coloraxis=colour_axis, annotations=annotations,
        xaxis={**hidden, "range": [-0.5 - gap / 2, columns * (width + gap) - gap / 2 - 0.5], "constrain": "domain"},
        yaxis={**hidden, "range": [rows * (height + gap + label_room) - gap / 2 - 0.5, -0.5],
               "scaleanchor": "x", "constrain": "domain"},
    )
    return fig


def _height(rows: int, columns: int, tile_h: int, tile_w: int, gap: float, label_room: float,
            max_tile_px: int, plot_px: int) -> int:
    """Figure height that fits the mosaic's aspect ratio into about ``plot_px`` of width."""
    unit = min(max_tile_px, plot_px / columns) / (tile_w + gap)  # pixels per data unit
    return int(max(200, rows * (tile_h + gap + label_room) * unit + 100))


def kernel_grid_figure(tiles: np.ndarray, labels: Sequence[str], title: str, max_columns: int = 8) -> go.Figure:
    """Kernel weights as a grid of small images on one shared, symmetric diverging scale.

    Red weights excite, blue inhibit, white is 0. Untrained kernels look like noise;
    after training first-layer kernels turn into smooth strokes and edge detectors.
    All-white tiles are filters whose weights are (near) zero.
    """
    tiles = np.asarray(tiles)[:MAX_TILES]
    # Eight to a row: on a projected half page a tile is then ~50 px, room for its label.
    return _tile_grid(tiles, list(labels)[:MAX_TILES], title, "weight", signed=True,
                      max_columns=max_columns, max_tile_px=80, plot_px=560)


def feature_map_grid_figure(maps: np.ndarray, title: str, pre_activation: bool, limit: int = 32,
                            max_columns: int = 8, shared_scale: bool = False) -> go.Figure:
    """The first ``limit`` feature maps of one image, (H, W, C) -> a grid of C heatmaps.

    Pre-activation maps are signed (diverging scale at 0); after a ReLU they are ≥ 0
    and a map that is entirely dark is a filter that stays silent for this image.
    ``shared_scale=True`` puts all maps on one colour range, so faint maps really are weak
    responses; otherwise each map is divided by its own largest |value| so its pattern
    shows however weak it is.
    """
    maps, _ = _finite(maps)
    shown = min(limit, maps.shape[-1])
    tiles = np.moveaxis(maps[..., :shown], -1, 0)
    signed = pre_activation or bool((tiles < 0).any())
    colour_title = "value" if signed else "value (≥ 0)"
    if not shared_scale:
        peaks = np.abs(tiles).reshape(shown, -1).max(axis=1)
        tiles = tiles / np.where(peaks > 0, peaks, 1.0)[:, None, None]
        colour_title = "value ÷ map's max |value|"
    # Tiles are labelled by number only ("map 12" does not fit over a small tile); the title says "maps".
    return _tile_grid(tiles, [str(k) for k in range(shown)], title, colour_title, signed=signed,
                      max_columns=max_columns, max_tile_px=110, plot_px=640)


def input_image_figure(image: np.ndarray, title: str) -> go.Figure:
    """The image fed to the network, grey levels 0 (black) to 1 (white)."""
    image, _ = _finite(image)
    grey = image.mean(axis=-1) if image.ndim == 3 else image
    stride = max(1, max(grey.shape) // MAX_IMAGE_SIDE)  # a 224x224 input is drawn at 112x112
    grey = np.round(grey[::stride, ::stride], 3)
    fig = go.Figure(go.Heatmap(z=grey.tolist(), colorscale="gray", zmin=0, zmax=1, showscale=False,
                               hovertemplate="pixel (%{y}, %{x}) = %{z:.2f}<extra></extra>"))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed",
                     scaleanchor="x", constrain="domain")
    # No fixed width: the figure takes its column's width (a 300 px figure in a narrow column was cut off).
    style(fig, title, 320, margin={"l": 10, "r": 10, "t": 60, "b": 10}, title_size=FONT_SIZE)
    return fig


# ------------------------------------------------------------------ tables (the CSV downloads)
def kernel_table(kernel: np.ndarray) -> pd.DataFrame:
    """A conv kernel (kh, kw, in, out) in long form: one row per weight, by filter, input channel, row, column."""
    kh, kw, cin, cout = kernel.shape
    r, c, i, o = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(cin), np.arange(cout), indexing="ij")
    frame = pd.DataFrame({"filter": o.ravel(), "in_channel": i.ravel(), "row": r.ravel(), "col": c.ravel(),
                          "weight": np.asarray(kernel).ravel()})
    return frame.sort_values(["filter", "in_channel", "row", "col"], ignore_index=True)


def feature_map_table(maps: np.ndarray) -> pd.DataFrame:
    """Feature maps (h, w, channels) in long form: one row per value, by map, row, column."""
    h, w, channels = maps.shape
    r, c, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(channels), indexing="ij")
    frame = pd.DataFrame({"map": k.ravel(), "row": r.ravel(), "col": c.ravel(), "value": np.asarray(maps).ravel()})
    return frame.sort_values(["map", "row", "col"], ignore_index=True)


# ------------------------------------------------------------------ captions: what to look for
def first_kernels_caption(filters: int, limit: int = MAX_TILES) -> str:
    """Beside :func:`kernel_grid_figure` of a first conv layer with ``filters`` kernels."""
    shown = min(filters, limit)
    return ("Red weights respond to bright pixels, blue ones to dark; one shared colour range, 0 is white. "
            "At init they are noise; after training, look for smooth edges and strokes."
            + (f" Showing the first {shown} of {filters} filters." if shown < filters else ""))


def deeper_kernels_caption(tiles: int, what: str, limit: int = MAX_TILES) -> str:
    """Beside :func:`kernel_grid_figure` of a deeper layer (``what``: "filters (of 16)" and the like)."""
    return ("A deeper filter combines the previous layer's maps: each tile is how strongly it weighs one input map. "
            "All-white tiles are input maps it ignores."
            + (f" Showing the first {limit} {what}." if tiles > limit else ""))


def feature_maps_caption(pre_activation: bool, activation: str, shared_scale: bool, maps: int, limit: int) -> str:
    """Beside :func:`feature_map_grid_figure`."""
    return (("Pre-activation maps are signed: red where the kernel matches the image, blue where it is opposed. "
             if pre_activation else
             f"After the {activation} only the positive responses remain; an all-dark map is a filter silent here. ")
            + ("All maps share one colour range. " if shared_scale else
               "Each map has its own colour range (tick the box to compare strengths). ")
            + (f"Showing the first {limit} of {maps} maps." if maps > limit else ""))
