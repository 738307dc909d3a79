"""The playground's other pictures: loss per step, the 3D landscape, and the outcome table."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cnnviz.figures.surface_maps import (
    CONTOUR_COLOURS,
    FONT_SIZE,
    POINT_BUDGET,
    colour_values,
    f32,
    finite,
    house_layout,
    path_colour,
    thin_steps,
    view_window,
)
from cnnviz.playground.surfaces import Surface, evaluate_grid, get_surface


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
    linear one when every |loss| is small, and says so. Long runs are thinned to an odd
    stride (:func:`thin_steps`), so step-to-step oscillation still shows.
    """
    all_losses = np.concatenate([t.losses for t in trajectories]) if trajectories else np.ones(1)
    scale = "log" if np.all(all_losses > 0) else ("symlog" if np.max(np.abs(all_losses)) > 10 else "linear")
    budget = max(POINT_BUDGET // max(len(trajectories), 1), 50)
    fig = go.Figure()
    for index, trajectory in enumerate(trajectories):
        steps = thin_steps(len(trajectory.losses), budget)
        losses = trajectory.losses[steps]
        fig.add_trace(
            go.Scatter(
                x=f32(steps), y=f32(symlog(losses) if scale == "symlog" else losses),
                customdata=f32(losses) if scale == "symlog" else None, mode="lines", name=trajectory.label,
                line={"color": path_colour(index), "width": 2},
                hovertemplate=trajectory.label + "<br>step %{x}<br>loss "
                + ("%{customdata:.4g}" if scale == "symlog" else "%{y:.4g}") + "<extra></extra>",
            )
        )
    y_axis = {"title": {"text": f"loss ({'symmetric log' if scale == 'symlog' else scale} scale)"},
              "type": "log" if scale == "log" else "linear", "exponentformat": "power"}
    if scale == "symlog":
        y_axis |= _symlog_ticks(all_losses)
    house_layout(fig, title, 460)
    fig.update_layout(xaxis={"title": {"text": "step"}}, yaxis=y_axis, legend={"y": -0.2})
    if scale != "log":
        note = {"symlog": "symmetric log axis: losses go below 0, which a log axis cannot show",
                "linear": "linear axis: some losses are ≤ 0, which a log axis cannot show"}[scale]
        fig.add_annotation(text=note, xref="paper", yref="paper", x=1, y=1.02, xanchor="right", yanchor="bottom",
                           showarrow=False, font={"size": FONT_SIZE - 3})
    return fig


def surface_3d_figure(surface: str | Surface, trajectories: Sequence = (), resolution: int = 80) -> go.Figure:
    """The surface as a landscape with the paths laid on it (height = log10 loss where it spans decades)."""
    surface = get_surface(surface)
    x_range, y_range = view_window(surface, trajectories)
    xs, ys, z = evaluate_grid(surface, x_range, y_range, resolution)
    height = finite(colour_values(surface, finite(z)))
    fig = go.Figure([go.Surface(x=f32(xs), y=f32(ys), z=f32(height), colorscale=CONTOUR_COLOURS, opacity=0.9,
                                showscale=False, hoverinfo="skip")])
    budget = max(POINT_BUDGET // max(len(trajectories), 1), 50)
    for index, trajectory in enumerate(trajectories):
        # 3D scenes do not clip to the axis ranges: draw each path only until it leaves the view
        points, losses = trajectory.points, trajectory.losses
        outside = ((points[:, 0] < x_range[0]) | (points[:, 0] > x_range[1])
                   | (points[:, 1] < y_range[0]) | (points[:, 1] > y_range[1]))
        steps = thin_steps(int(np.argmax(outside)) if outside.any() else len(points), budget)
        fig.add_trace(
            go.Scatter3d(
                x=f32(points[steps, 0]), y=f32(points[steps, 1]),
                z=f32(finite(colour_values(surface, losses[steps]))),
                mode="lines", name=trajectory.label, line={"color": path_colour(index), "width": 6},
            )
        )
    z_title = "log10 loss" if surface.log_levels else "loss"
    house_layout(fig, f"{surface.name} as a landscape", 620)
    fig.update_layout(
        scene={"xaxis": {"title": {"text": "x"}, "range": list(x_range)},
               "yaxis": {"title": {"text": "y"}, "range": list(y_range)},
               "zaxis": {"title": {"text": z_title}}},
        legend={"y": 0},
        margin={"l": 0, "r": 0, "t": 50, "b": 0},
    )
    return fig


def comparison_display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table for people: outcome columns first, readable names, text cells.

    From :func:`cnnviz.playground.trajectories.trajectory_comparison_table`. Every cell is text (numbers
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


# ------------------------------------------------------------------ captions: what to look for
LOSS_PER_STEP_CAPTION = ("Lower is better. On a log axis a straight falling line is steady progress; "
                         "a flat stretch is a plateau; spikes are overshoots.")


def comparison_caption(tolerance: float) -> str:
    """Beside :func:`comparison_display_table` (``tolerance``: how near counts as reaching a minimum)."""
    return ("Distance is to the nearest global minimum; 'first step near a minimum' is the first step "
            f"within {tolerance:g} of one.")
