"""Pictures of optimizer paths on 2D surfaces: contour, animation, loss curves, 3D.

Pure functions: (surface, trajectories) -> ``plotly.graph_objects.Figure``. Nothing here
computes a trajectory; see :mod:`cnnviz.trajectories`. Trajectories hold only finite
points (a diverged path stops at its last finite point), and grid values are made
finite before plotting, so no figure ever carries a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cnnviz.surfaces import Surface, evaluate_grid, get_surface

# Bright, distinct path colours that read on both the dark and light ends of the map.
PATH_COLOURS = ("#e41a1c", "#ff7f00", "#00c853", "#f781bf", "#ffd600", "#00e5ff", "#a65628", "#aa00ff", "#ffffff")
CONTOUR_COLOURS = "Blues_r"  # low = dark blue, as in the classic optimizer animations
# Log contours plot log10(f + LOG_OFFSET): the offset keeps exact zeros (the minima) finite.
LOG_OFFSET = 1e-3
MAX_ANIMATION_FRAMES = 120
# A path may leave the surface's window (the saddle has no bottom); widen the view to
# follow it, but never beyond this many half-widths from the window's centre.
MAX_VIEW_STRETCH = 1.5


def path_colour(index: int) -> str:
    """The colour of the ``index``-th path (shared by every figure, so legends agree)."""
    return PATH_COLOURS[index % len(PATH_COLOURS)]


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


def _finite(values: np.ndarray) -> np.ndarray:
    """Replace NaN/inf by the nearest finite extreme, so plotly never sees them."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values)
    return np.nan_to_num(values, nan=finite.max(), posinf=finite.max(), neginf=finite.min())


def _colour_values(surface: Surface, z: np.ndarray) -> np.ndarray:
    """What the colour encodes: log10 of the loss on surfaces that span decades."""
    if surface.log_levels:
        return np.log10(np.maximum(z, 0.0) + LOG_OFFSET)
    return z


def _colourbar(surface: Surface, colour: np.ndarray) -> dict:
    if not surface.log_levels:
        return {"title": {"text": "loss"}}
    exponents = np.arange(math.floor(colour.min()), math.ceil(colour.max()) + 1)
    return {
        "title": {"text": "loss (log)"},
        "tickvals": exponents.tolist(),
        "ticktext": [f"1e{int(e)}" for e in exponents],
    }


def contour_trace(surface: Surface, x_range, y_range, resolution: int = 160) -> go.Contour:
    """Filled contours of the surface; levels are logarithmic when it spans decades."""
    xs, ys, z = evaluate_grid(surface, x_range, y_range, resolution)
    colour = _finite(_colour_values(surface, _finite(z)))
    return go.Contour(
        x=xs,
        y=ys,
        z=colour,
        colorscale=CONTOUR_COLOURS,
        ncontours=30,
        line={"width": 0.5, "color": "rgba(255,255,255,0.35)"},
        colorbar=_colourbar(surface, colour),
        hoverinfo="skip",
        name=surface.name,
    )


def _landmark_traces(surface: Surface, trajectories: Sequence) -> list[go.Scatter]:
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


def _label(fig: go.Figure, x: float, y: float, text: str, colour: str = "black") -> None:
    """A text label on a pale box, readable on both the dark and light parts of the map."""
    fig.add_annotation(
        x=x, y=y, text=text, showarrow=True, arrowhead=0, arrowcolor=colour, ax=0, ay=-28,
        font={"size": 12, "color": colour}, bgcolor="rgba(255,255,255,0.85)", bordercolor=colour, borderpad=2,
    )


def _add_start_labels(fig: go.Figure, trajectories: Sequence) -> None:
    for x, y in sorted({tuple(t.points[0]) for t in trajectories}):
        _label(fig, x, y, "start")


def path_width(index: int, count: int) -> float:
    """Earlier paths are drawn wider, so a path that runs under a later one still shows."""
    return 2.0 + 3.0 * (count - 1 - index) / max(count - 1, 1)


def _path_trace(trajectory, index: int, count: int, points=None, steps=None) -> go.Scatter:
    points = trajectory.points if points is None else points
    steps = np.arange(len(points)) if steps is None else steps
    losses = trajectory.losses[steps]
    return go.Scatter(
        x=points[:, 0], y=points[:, 1], mode="lines+markers", name=trajectory.label,
        legendgroup=trajectory.label,
        line={"color": path_colour(index), "width": path_width(index, count)},
        marker={"size": 4, "color": path_colour(index)},
        customdata=np.column_stack([steps, losses]),
        hovertemplate=trajectory.label + "<br>step %{customdata[0]:.0f}<br>(%{x:.4g}, %{y:.4g})"
        "<br>loss %{customdata[1]:.4g}<extra></extra>",
    )


def divergence_marks(trajectories: Sequence, x_range, y_range) -> list[tuple[int, float, float, str]]:
    """Where to put each diverged path's X: (path index, x, y, label).

    At the last finite point when it is on the map; a path flung far off the map is
    marked at its last point still on it, and the label says so.
    """
    marks = []
    for index, trajectory in enumerate(trajectories):
        if not trajectory.diverged:
            continue
        points = trajectory.points
        on_map = ((points[:, 0] >= x_range[0]) & (points[:, 0] <= x_range[1])
                  & (points[:, 1] >= y_range[0]) & (points[:, 1] <= y_range[1]))
        text = f"{trajectory.spec.name}: diverged at step {trajectory.diverged_at}"
        if on_map[-1]:
            marks.append((index, *points[-1], text))
        elif on_map.any():
            last = int(np.flatnonzero(on_map)[-1])
            marks.append((index, *points[last], f"{text} (flung off the map after step {last})"))
    return marks


def _add_divergence(fig: go.Figure, trajectories: Sequence, x_range, y_range) -> None:
    """An X in the path's colour, and a label, for every diverged path."""
    for index, x, y, text in divergence_marks(trajectories, x_range, y_range):
        label = trajectories[index].label
        fig.add_trace(
            go.Scatter(
                x=[x], y=[y], mode="markers", legendgroup=label, showlegend=False, name=text,
                marker={"symbol": "x", "size": 16, "color": path_colour(index), "line": {"color": "black", "width": 1}},
                hovertemplate=f"{label}: {text}<extra></extra>",
            )
        )
        _label(fig, x, y, text, colour="black")


def _layout(fig: go.Figure, title: str, x_range, y_range) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "x (weight 1)"}, "range": list(x_range)},
        yaxis={"title": {"text": "y (weight 2)"}, "range": list(y_range)},
        legend={"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        height=560,
    )
    return fig


def contour_figure(surface: str | Surface, trajectories: Sequence, title: str | None = None) -> go.Figure:
    """Each optimizer's whole path drawn over the surface's contours.

    Dark blue is low loss; the gold star is the global minimum, the white disc the
    start, an X where a path blew up. Look at the shape of each path: straight and
    short is good; zig-zags, loops and overshoots show what the optimizer struggles with.
    """
    surface = get_surface(surface)
    x_range, y_range = view_window(surface, trajectories)
    fig = go.Figure([contour_trace(surface, x_range, y_range)])
    for index, trajectory in enumerate(trajectories):
        fig.add_trace(_path_trace(trajectory, index, len(trajectories)))
    _add_divergence(fig, trajectories, x_range, y_range)
    for trace in _landmark_traces(surface, trajectories):
        fig.add_trace(trace)
    _add_start_labels(fig, trajectories)
    return _layout(fig, title or f"Optimizer paths on {surface.name}: {surface.formula}", x_range, y_range)


def animation_steps(longest: int, max_frames: int = MAX_ANIMATION_FRAMES) -> np.ndarray:
    """Which steps get a frame: all of them for short runs, evenly spaced otherwise."""
    return np.unique(np.linspace(0, longest - 1, min(longest, max_frames)).round().astype(int))


def animated_contour_figure(
    surface: str | Surface, trajectories: Sequence, title: str | None = None, max_frames: int = MAX_ANIMATION_FRAMES
) -> go.Figure:
    """The paths drawn step by step (play/pause and a step slider).

    Frames are subsampled to at most ``max_frames`` and only the path traces change
    between frames, so the figure stays light. Watch the speed: a path that covers
    ground early and then creeps is on a plateau; one that keeps circling has too
    much momentum.
    """
    surface = get_surface(surface)
    x_range, y_range = view_window(surface, trajectories)
    longest = max((len(t.points) for t in trajectories), default=1)
    frame_steps = animation_steps(longest, max_frames)

    def paths_at(step: int) -> list[go.Scatter]:
        traces = []
        for index, trajectory in enumerate(trajectories):
            last = min(step, len(trajectory.points) - 1)
            shown = np.unique(np.append(frame_steps[frame_steps <= last], last))
            traces.append(_path_trace(trajectory, index, len(trajectories), trajectory.points[shown], shown))
        return traces

    fig = go.Figure([contour_trace(surface, x_range, y_range), *paths_at(0)])
    for trace in _landmark_traces(surface, trajectories):
        fig.add_trace(trace)
    _add_start_labels(fig, trajectories)
    path_indices = list(range(1, 1 + len(trajectories)))
    fig.frames = [go.Frame(data=paths_at(int(s)), traces=path_indices, name=str(int(s))) for s in frame_steps]

    play = {"frame": {"duration": 60, "redraw": False}, "fromcurrent": True, "transition": {"duration": 0}}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    fig.update_layout(
        updatemenus=[{
            "type": "buttons", "direction": "left", "x": 0, "y": 1.0, "xanchor": "left", "yanchor": "bottom",
            "pad": {"t": 0, "b": 4},
            "buttons": [
                {"label": "▶ play", "method": "animate", "args": [None, play]},
                {"label": "❚❚ pause", "method": "animate", "args": [[None], pause]},
            ],
        }],
        sliders=[{
            "active": 0, "currentvalue": {"prefix": "step "}, "pad": {"t": 50}, "y": 0, "len": 1.0,
            "steps": [
                {"label": str(int(s)), "method": "animate", "args": [[str(int(s))], pause]} for s in frame_steps
            ],
        }],
    )
    _layout(fig, title or f"Optimizer paths on {surface.name}, step by step", x_range, y_range)
    fig.update_layout(legend={"y": -0.35}, height=640, margin={"t": 90, "b": 40})
    return fig


def symlog(values: np.ndarray) -> np.ndarray:
    """sign(v) * log10(1 + |v|): linear near zero, logarithmic far from it, defined for negatives."""
    return np.sign(values) * np.log10(1.0 + np.abs(values))


def _symlog_ticks(values: np.ndarray) -> dict:
    top = max(1, math.ceil(math.log10(1.0 + float(np.max(np.abs(values))))))
    magnitudes = [10.0**k for k in range(0, top + 1)]
    shown = sorted({0.0, *[m for m in magnitudes if m <= np.max(values) * 10],
                    *[-m for m in magnitudes if -m >= np.min(values) * 10]})
    return {"tickvals": symlog(np.array(shown)).tolist(),
            "ticktext": ["0" if v == 0 else f"{'-' if v < 0 else ''}1e{round(math.log10(abs(v)))}" for v in shown]}


def loss_figure(trajectories: Sequence, title: str = "Loss per step") -> go.Figure:
    """Loss against step for each path, log-scaled when every loss is positive.

    On a log axis a straight downward line is steady (linear) convergence, a flat stretch
    is a plateau. Where losses go negative (the saddle) a log axis is impossible: the
    figure switches to a symmetric log axis (sign(loss)·log10(1 + |loss|)), or to a plain
    linear one when every |loss| is small, and says so.
    """
    all_losses = np.concatenate([t.losses for t in trajectories]) if trajectories else np.ones(1)
    scale = "log" if np.all(all_losses > 0) else ("symlog" if np.max(np.abs(all_losses)) > 10 else "linear")
    fig = go.Figure()
    for index, trajectory in enumerate(trajectories):
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(trajectory.losses)),
                y=symlog(trajectory.losses) if scale == "symlog" else trajectory.losses,
                customdata=trajectory.losses, mode="lines", name=trajectory.label,
                line={"color": path_colour(index), "width": 2},
                hovertemplate=trajectory.label + "<br>step %{x}<br>loss %{customdata:.4g}<extra></extra>",
            )
        )
    y_axis = {"title": {"text": f"loss ({'symmetric log' if scale == 'symlog' else scale} scale)"},
              "type": "log" if scale == "log" else "linear", "exponentformat": "power"}
    if scale == "symlog":
        y_axis |= _symlog_ticks(all_losses)
    fig.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "step"}},
        yaxis=y_axis,
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        height=420,
    )
    if scale != "log":
        note = {"symlog": "symmetric log axis: losses go below 0, which a log axis cannot show",
                "linear": "linear axis: some losses are ≤ 0, which a log axis cannot show"}[scale]
        fig.add_annotation(text=note, xref="paper", yref="paper", x=1, y=1.02, xanchor="right", yanchor="bottom",
                           showarrow=False, font={"size": 12})
    return fig


def surface_3d_figure(surface: str | Surface, trajectories: Sequence = (), resolution: int = 80) -> go.Figure:
    """The surface as a landscape with the paths laid on it (height = log10 loss where it spans decades)."""
    surface = get_surface(surface)
    x_range, y_range = view_window(surface, trajectories)
    xs, ys, z = evaluate_grid(surface, x_range, y_range, resolution)
    height = _finite(_colour_values(surface, _finite(z)))
    fig = go.Figure([go.Surface(x=xs, y=ys, z=height, colorscale=CONTOUR_COLOURS, opacity=0.9, showscale=False,
                                hoverinfo="skip")])
    for index, trajectory in enumerate(trajectories):
        # 3D scenes do not clip to the axis ranges: draw each path only until it leaves the view
        points, losses = trajectory.points, trajectory.losses
        outside = ((points[:, 0] < x_range[0]) | (points[:, 0] > x_range[1])
                   | (points[:, 1] < y_range[0]) | (points[:, 1] > y_range[1]))
        shown = int(np.argmax(outside)) if outside.any() else len(points)
        fig.add_trace(
            go.Scatter3d(
                x=points[:shown, 0], y=points[:shown, 1], z=_finite(_colour_values(surface, losses[:shown])),
                mode="lines",
                name=trajectory.label, line={"color": path_colour(index), "width": 6},
            )
        )
    z_title = "log10 loss" if surface.log_levels else "loss"
    fig.update_layout(
        title={"text": f"{surface.name} as a landscape"},
        scene={"xaxis": {"title": {"text": "x"}, "range": list(x_range)},
               "yaxis": {"title": {"text": "y"}, "range": list(y_range)},
               "zaxis": {"title": {"text": z_title}}},
        legend={"orientation": "h", "yanchor": "top", "y": 0, "x": 0},
        margin={"l": 0, "r": 0, "t": 50, "b": 0},
        height=600,
    )
    return fig


def comparison_display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table for people: outcome columns first, readable names, text cells.

    From :func:`cnnviz.trajectories.comparison_table`. Every cell is text (numbers
    rounded), so "never" and "no minimum" can sit where a number would, and the table
    converts to Arrow cleanly for ``st.dataframe``.
    """

    def text(values, missing: str, fmt=str) -> list[str]:
        return [missing if pd.isna(v) else fmt(v) for v in values]

    return pd.DataFrame(
        {
            "optimizer": table["optimizer"],
            "final loss": text(table["final_loss"], "—", lambda v: f"{v:.4g}"),
            "distance to nearest minimum": text(table["distance_to_minimum"], "no minimum", lambda v: f"{v:.4g}"),
            "first step near a minimum": text(table["steps_to_minimum"], "never", lambda v: str(int(v))),
            "diverged at step": text(table["diverged_at"], "—", lambda v: str(int(v))),
            "final point": [f"({x:.4g}, {y:.4g})" for x, y in zip(table["final_x"], table["final_y"])],
            "nearest minimum": text(table["nearest_minimum"], "—"),
        }
    )
