"""The basin map: where one optimizer goes from every start of a grid, as one picture.

Pure function: :class:`cnnviz.playground.basins.BasinMap` in, plotly figure out. Each cell
is a start; its colour says where the path ended (which minimum, diverged, or not at a
minimum), and within a minimum's colour a paler shade means more steps to get there.
Hovering a cell gives the exact outcome.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnnviz.figures.style import two_line_title
from cnnviz.figures.surface_maps import f32, house_layout

# Distinct colours for up to ten minima (more cycle: Rastrigin's 121 dimples).
MINIMUM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                   "#bcbd22", "#393b79")
DIVERGED_COLOUR = "#111111"
NO_MINIMUM_COLOUR = "#d9d9d9"
# A cell's shade goes from the full colour (arrived at once) to this share of white (slowest).
PALEST = 0.7
# Up to this many minima get one legend entry each; beyond, the colours only tell neighbours apart.
LEGEND_MINIMA = 8


def _hex_to_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)], dtype=float)


def _rgb(values) -> str:
    r, g, b = (int(round(v)) for v in values)
    return f"rgb({r},{g},{b})"


def minimum_colour(index: int) -> str:
    return MINIMUM_COLOURS[index % len(MINIMUM_COLOURS)]


def colour_slots(result) -> int:
    """How many minimum colours the map uses: one per minimum, or the whole palette, repeating."""
    return min(len(result.minima), len(MINIMUM_COLOURS))


def shade_codes(result) -> np.ndarray:
    """One number per cell: the outcome's category (minimum colour i, then diverged, then none) plus its shade.

    Category c occupies [c, c+1); a start at a minimum adds PALEST x (its steps / the most
    steps any start took), so the colour scale can grade it from full colour to pale.
    Minima beyond the palette share colours (minimum i gets colour i mod palette size).
    """
    slots = colour_slots(result)
    minimum_slot = np.mod(result.minimum, max(slots, 1))
    codes = np.where(result.minimum >= 0, minimum_slot, np.where(result.diverged, slots, slots + 1)).astype(float)
    steps = result.steps_to_converge.astype(float)
    slowest = max(float(steps.max()), 1.0)
    return codes + np.where(result.minimum >= 0, PALEST * np.maximum(steps, 0.0) / slowest, 0.0)


def _colour_scale(count: int) -> list:
    """Piecewise scale over [0, count + 2]: per minimum a ramp from its colour to pale, then two flat colours."""
    total = count + 2
    scale = []
    for code in range(total):
        base = minimum_colour(code) if code < count else (DIVERGED_COLOUR if code == count else NO_MINIMUM_COLOUR)
        rgb = _hex_to_rgb(base)
        pale = rgb * (1 - PALEST) + 255 * PALEST if code < count else rgb
        scale += [[code / total, _rgb(rgb)], [(code + PALEST) / total, _rgb(pale)],
                  [(code + 0.999) / total, _rgb(pale)]]
    scale[-1][0] = 1.0
    return scale


def _hover_texts(result) -> list[list[str]]:
    """Short per-cell outcomes for the hover box, rows of the grid (y) outer."""
    texts = []
    for k in range(len(result.starts)):
        if result.minimum[k] >= 0:
            x, y = result.minima[result.minimum[k]]
            texts.append(f"({x:.3g}, {y:.3g}), {result.steps_to_converge[k]} steps")
        elif result.diverged[k]:
            texts.append(f"diverged at step {result.diverged_at[k]}")
        else:
            texts.append("no minimum")
    return [texts[row * result.grid:(row + 1) * result.grid] for row in range(result.grid)]


def basin_figure(result, title: str | None = None) -> go.Figure:
    """The basin map of a :class:`~cnnviz.playground.basins.BasinMap` (see the module docstring)."""
    grid, count, slots = result.grid, len(result.minima), colour_slots(result)
    xs = result.starts[:grid, 0]
    ys = result.starts[::grid, 1]
    fig = go.Figure(go.Heatmap(
        x=f32(xs), y=f32(ys), z=f32(shade_codes(result).reshape(grid, grid)),
        zmin=0, zmax=slots + 2, colorscale=_colour_scale(slots), showscale=False,
        text=_hover_texts(result), hovertemplate="start (%{x:.3g}, %{y:.3g})<br>ends: %{text}<extra></extra>",
        name="outcome",
    ))
    # Legend: one square per outcome (the heatmap itself has no legend entries).
    entries = []
    if 0 < count <= LEGEND_MINIMA:
        entries += [(f"minimum ({x:.3g}, {y:.3g})", minimum_colour(i)) for i, (x, y) in enumerate(result.minima)]
    elif count:
        x, y = result.minima[0]
        entries += [(f"global minimum ({x:.3g}, {y:.3g})", minimum_colour(0)),
                    (f"{count - 1} local minima (colours repeat)", minimum_colour(1))]
    entries += [("diverged", DIVERGED_COLOUR), (f"no minimum after {result.steps} steps", NO_MINIMUM_COLOUR)]
    for name, colour in entries:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                 marker={"symbol": "square", "size": 14, "color": colour,
                                         "line": {"color": "#555555", "width": 1}}))
    x0, x1, y0, y1 = result.box
    inside = [(x, y) for x, y in result.minima if x0 <= x <= x1 and y0 <= y <= y1]
    if inside:
        mx, my = zip(*inside)
        fig.add_trace(go.Scatter(x=f32(mx), y=f32(my), mode="markers", name="minima", showlegend=False,
                                 marker={"symbol": "star" if len(inside) <= LEGEND_MINIMA else "circle",
                                         "size": 14 if len(inside) <= LEGEND_MINIMA else 5, "color": "gold",
                                         "line": {"color": "black", "width": 1}},
                                 hovertemplate="minimum (%{x:.4g}, %{y:.4g})<extra></extra>"))
    house_layout(fig, title or two_line_title(f"Basins of attraction on {result.surface}",
                                              f"{result.label}, {result.steps} steps, {result.grid} x {result.grid} starts"),
                 640)
    fig.update_layout(
        xaxis={"title": {"text": "start x"}, "range": [x0, x1], "showgrid": False, "zeroline": False},
        yaxis={"title": {"text": "start y"}, "range": [y0, y1], "showgrid": False, "zeroline": False},
        legend={"y": -0.14},
        margin={"t": 84},
    )
    if 0.5 <= (y1 - y0) / (x1 - x0) <= 2:  # square cells, unless the box is too elongated to fit
        fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
        fig.update_xaxes(constrain="domain")
    return fig


# ------------------------------------------------------------------ captions: what to look for
BASIN_MAP_CAPTION = ("Every start of a grid at once: each square is one start, coloured by where the optimizer ends "
                     "from there (which minimum, diverged, or not at a minimum yet). Within a minimum's colour, paler "
                     "means more steps to get there. Hover a square for the exact outcome.")


def basin_outcome_caption(result) -> str:
    """Beside :func:`basin_figure`: how many starts reached a minimum (median and most steps), diverged, or neither."""
    counts = result.counts()
    converged = result.steps_to_converge[result.minimum >= 0]
    starts = result.grid * result.grid
    reached = (f"{counts['minimum']:,} reach a minimum (median {int(sorted(converged)[len(converged) // 2])} steps, "
               f"at most {int(converged.max())})" if len(converged) else "none reach a minimum")
    return (f"Of {starts:,} starts, {reached}; {counts['diverged']:,} diverge; "
            f"{counts['not at a minimum']:,} are not at a minimum after {result.steps} steps. A start reaches a "
            f"minimum when its last point is within {result.tolerance:g} of it; its steps count to the moment "
            "it came that close for good.")
