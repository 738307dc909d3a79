"""Pictures of optimizer paths on 2D surfaces: the map of whole paths and the step-by-step animation.

Pure functions: (surface, trajectories) -> ``plotly.graph_objects.Figure``. Nothing here
computes a trajectory; see :mod:`cnnviz.playground.trajectories`. Trajectories hold only
finite points (a diverged path stops at its last finite point), and grid values are made
finite before plotting, so no figure ever carries a NaN. The loss curves, the 3D view and
the outcome table live in :mod:`cnnviz.figures.surface_curves` (re-exported here).

Every array goes out as float32 binary, and the animation's frames carry only the path
coordinates, so a page of these charts stays a few hundred kilobytes
(``bench/bench_chart_payload.py --playground``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cnnviz.figures.surface_curves import comparison_display_table, loss_figure, surface_3d_figure, symlog  # noqa: F401
from cnnviz.figures.surface_maps import (  # noqa: F401
    FONT_SIZE,
    POINT_BUDGET,
    add_labels,
    contour_image,
    contour_trace,
    f32,
    landmark_traces,
    map_layout,
    map_title,
    path_colour,
    path_width,
    start_labels,
    thin_steps,
    view_window,
)
from cnnviz.playground.surfaces import Surface, get_surface

MAX_ANIMATION_FRAMES = 60
# Bytes the animation's frames may take (frame k repeats the first k frame points of every
# path, so the total grows with frames^2 x paths): many paths get fewer frames.
ANIMATION_FRAME_BUDGET = 75_000


def _path_trace(trajectory, index: int, count: int, budget: int) -> go.Scatter:
    """One path, thinned to ``budget`` points, with step and loss on hover."""
    steps = thin_steps(len(trajectory.points), budget)
    points = trajectory.points[steps]
    return go.Scatter(
        x=f32(points[:, 0]), y=f32(points[:, 1]), mode="lines+markers" if len(steps) <= 300 else "lines",
        name=trajectory.label, legendgroup=trajectory.label,
        line={"color": path_colour(index), "width": path_width(index, count)},
        marker={"size": 4, "color": path_colour(index)},
        customdata=f32(np.column_stack([steps, trajectory.losses[steps]])),
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


def _add_divergence(fig: go.Figure, trajectories: Sequence, x_range, y_range) -> list[tuple[float, float, str]]:
    """An X in the path's colour for every diverged path; returns the labels to place."""
    labels = []
    for index, x, y, text in divergence_marks(trajectories, x_range, y_range):
        label = trajectories[index].label
        fig.add_trace(
            go.Scatter(
                x=[x], y=[y], mode="markers", legendgroup=label, showlegend=False, name=text,
                marker={"symbol": "x", "size": 16, "color": path_colour(index), "line": {"color": "black", "width": 1}},
                hovertemplate=f"{label}: {text}<extra></extra>",
            )
        )
        labels.append((x, y, text))
    return labels


def contour_figure(surface: str | Surface, trajectories: Sequence, title: str | None = None) -> go.Figure:
    """Each optimizer's whole path drawn over the surface's contours.

    Dark blue is low loss; the gold star is the global minimum, the white disc the
    start, an X where a path blew up. Look at the shape of each path: straight and
    short is good; zig-zags, loops and overshoots show what the optimizer struggles with.
    """
    surface = get_surface(surface)
    x_range, y_range = view_window(surface, trajectories)
    fig = go.Figure([contour_trace(surface, x_range, y_range)])
    budget = max(POINT_BUDGET // max(len(trajectories), 1), 50)
    for index, trajectory in enumerate(trajectories):
        fig.add_trace(_path_trace(trajectory, index, len(trajectories), budget))
    labels = start_labels(trajectories) + _add_divergence(fig, trajectories, x_range, y_range)
    for trace in landmark_traces(surface, trajectories):
        fig.add_trace(trace)
    add_labels(fig, labels, x_range, y_range)
    return map_layout(fig, title or map_title(surface, "Optimizer paths on"), x_range, y_range)


def add_click_layer(fig: go.Figure, points_per_side: int) -> go.Figure:
    """Invisible points all over the map, so that a click anywhere is a point selection (Streamlit's on_select)."""
    (x_lo, x_hi), (y_lo, y_hi) = fig.layout.xaxis.range, fig.layout.yaxis.range
    grid_x, grid_y = np.meshgrid(np.linspace(x_lo, x_hi, points_per_side), np.linspace(y_lo, y_hi, points_per_side))
    fig.add_trace(go.Scatter(x=f32(grid_x.ravel()), y=f32(grid_y.ravel()), mode="markers", showlegend=False,
                             marker={"size": 10, "opacity": 0}, hoverinfo="none", name="click to start here"))
    return fig


def animation_steps(longest: int, max_frames: int = MAX_ANIMATION_FRAMES) -> np.ndarray:
    """Which steps get a frame: all of them for short runs, evenly spaced otherwise."""
    return np.unique(np.linspace(0, longest - 1, min(longest, max_frames)).round().astype(int))


def frame_count(paths: int, max_frames: int = MAX_ANIMATION_FRAMES) -> int:
    """How many frames fit :data:`ANIMATION_FRAME_BUDGET` for ``paths`` paths.

    Frame k carries k points per path (x and y as float32 in base64: ~10.7 bytes a point)
    and ~70 bytes of wrapping per path, plus ~40 bytes of its own.
    """

    def cost(frames: int) -> float:
        return max(paths, 1) * (frames * (frames + 1) / 2 * 8 * 4 / 3 + 70 * frames) + 40 * frames

    frames = max_frames
    while frames > 2 and cost(frames) > ANIMATION_FRAME_BUDGET:
        frames -= 1
    return frames


def animated_contour_figure(
    surface: str | Surface, trajectories: Sequence, title: str | None = None, max_frames: int = MAX_ANIMATION_FRAMES
) -> go.Figure:
    """The paths drawn step by step (play/pause and a step slider).

    The contour map (a background image, :func:`contour_image`) and the landmarks are drawn
    once; each frame updates only the path traces (``traces=`` their indices), with only
    their coordinates, so the map stays under the paths while they play and the figure
    stays light. Watch the speed: a path that
    covers ground early and then creeps is on a plateau; one that keeps circling has too
    much momentum.
    """
    surface = get_surface(surface)
    x_range, y_range = view_window(surface, trajectories)
    longest = max((len(t.points) for t in trajectories), default=1)
    frame_steps = animation_steps(longest, min(max_frames, frame_count(len(trajectories), max_frames)))

    def shown_at(trajectory, step: int) -> np.ndarray:
        last = min(step, len(trajectory.points) - 1)
        return trajectory.points[np.unique(np.append(frame_steps[frame_steps <= last], last))]

    image, colour_key = contour_image(surface, x_range, y_range)
    fig = go.Figure([colour_key])
    fig.add_layout_image(image)
    for index, trajectory in enumerate(trajectories):
        start = trajectory.points[:1]
        fig.add_trace(go.Scatter(
            x=f32(start[:, 0]), y=f32(start[:, 1]), mode="lines+markers", name=trajectory.label,
            line={"color": path_colour(index), "width": path_width(index, len(trajectories))},
            marker={"size": 5, "color": path_colour(index)},
            hovertemplate=trajectory.label + "<br>(%{x:.4g}, %{y:.4g})<extra></extra>",
        ))
    for trace in landmark_traces(surface, trajectories):
        fig.add_trace(trace)
    path_indices = list(range(1, 1 + len(trajectories)))
    frames = []
    for step in frame_steps:
        data = []
        for trajectory in trajectories:
            points = shown_at(trajectory, int(step))
            data.append(go.Scatter(x=f32(points[:, 0]), y=f32(points[:, 1])))
        frames.append(go.Frame(data=data, traces=path_indices, name=str(int(step))))
    fig.frames = frames

    # No redraw: only the scatter traces move, over a background that is a layout image
    # (see contour_image for why the map cannot be a contour trace here).
    play = {"frame": {"duration": 80, "redraw": False}, "fromcurrent": True, "transition": {"duration": 0},
            "mode": "immediate"}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    map_layout(fig, title or map_title(surface, "Step by step on"), x_range, y_range)
    # Below the plot, one row each: play/pause, then the step slider (its current step on the
    # right), then the legend. On separate rows nothing overlaps at projector widths.
    fig.update_layout(
        updatemenus=[{
            "type": "buttons", "direction": "left", "x": 0, "y": -0.14, "xanchor": "left", "yanchor": "top",
            "pad": {"t": 0, "r": 8}, "showactive": False,
            "buttons": [
                {"label": "▶ play", "method": "animate", "args": [None, play]},
                {"label": "❚❚ pause", "method": "animate", "args": [[None], pause]},
            ],
        }],
        sliders=[{
            "active": 0, "x": 0, "len": 1.0, "y": -0.14, "yanchor": "top", "pad": {"t": 48},
            "currentvalue": {"prefix": "step ", "xanchor": "right", "font": {"size": FONT_SIZE - 1}},
            "steps": [
                {"label": str(int(s)), "method": "animate", "args": [[str(int(s))], pause]} for s in frame_steps
            ],
        }],
        # fixed bottom margin (px) and plot height, so these fractions of the plot height land
        # on their rows: axis title to -0.13, buttons from -0.14, slider to ~-0.46; the legend
        # sits at the bottom of the figure (container units), below the slider however the
        # title's automargin shrinks the plot
        legend={"yref": "container", "y": 0.0, "yanchor": "bottom"},
        height=840,
        margin={"b": 340},
    )
    return fig




# ------------------------------------------------------------------ captions: what to look for
ANIMATION_CAPTION = ("Press play: watch the speed. Fast early then creeping means a plateau; "
                     "circling means too much momentum. The slider jumps to any step.")
SURFACE_3D_CAPTION = "The same surface as terrain (drag to rotate): the paths run downhill on it."


def contour_caption(has_minimum: bool, clickable: bool) -> str:
    """Beside :func:`contour_figure`; ``clickable`` when :func:`add_click_layer` made the map a start picker."""
    return ("Each line is one optimizer from the white start"
            + ("; the gold star is the global minimum. " if has_minimum else " (this surface has no minimum). ")
            + "Look for zig-zags across a valley, loops past the minimum, and paths that stall."
            + (" Click anywhere on the map to start from there." if clickable else ""))
