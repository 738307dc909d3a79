"""The depth view: std per layer for 2–4 initializers on one log-scale chart, theory dashed.

Pure: a DataFrame from :func:`cnnviz.nets.depth_view.depth_profile_of_runs` in, a plotly
Figure out. The x axis counts layers (1 = the first, the logits last), so a 100-layer
net reads as well as a 5-layer one; a straight line on the log axis is a constant gain
per layer, and its slope is that gain.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from cnnviz.figures.style import LEGEND_BELOW, finite_positive, label_colour, log_ticks, style

TITLE = "Depth view: pre-activation std per layer at initialization"


def depth_view_figure(profile: pd.DataFrame, title: str = TITLE) -> go.Figure:
    """One solid line per initializer (measured) and, where the rule applies, a dashed one in
    the same colour (``predicted``). Values that a log axis cannot show (0, inf, NaN) are
    left out and counted under the title."""
    fig = go.Figure()
    shown: list[float] = []
    skipped: list[str] = []
    many = profile["index"].max() > 30 if not profile.empty else False
    for position, (label, rows) in enumerate(profile.groupby("label", sort=False)):
        colour = label_colour(str(label), position)
        keep = rows["measured"].map(finite_positive)
        if (~keep).any():
            skipped.append(f"{label}: {int((~keep).sum())} layers")
        measured = rows[keep]
        shown += measured["measured"].astype(float).tolist()
        fig.add_trace(go.Scatter(
            x=measured["index"].tolist(), y=measured["measured"].astype(float).tolist(), customdata=measured["layer"],
            mode="lines" if many else "lines+markers", name=f"{label} (measured)", legendgroup=str(label),
            line={"color": colour, "width": 3}, marker={"size": 7},
            hovertemplate=f"{label}<br>layer %{{x}} (%{{customdata}}): σ = %{{y:.3g}}<extra></extra>"))
        theory = rows[rows["predicted_valid"] & rows["predicted"].map(finite_positive)]
        if not theory.empty:
            shown += theory["predicted"].astype(float).tolist()
            fig.add_trace(go.Scatter(
                x=theory["index"].tolist(), y=theory["predicted"].astype(float).tolist(), customdata=theory["layer"],
                mode="lines", name=f"{label} (theory)", legendgroup=str(label),
                line={"color": colour, "width": 2, "dash": "dash"},
                hovertemplate=f"{label} theory<br>layer %{{x}} (%{{customdata}}): σ = %{{y:.3g}}<extra></extra>"))
    fig.update_xaxes(title_text="layer number (1 = input side; the last is the logits)")
    ticks = log_ticks(shown)
    if "range" in ticks:  # room above the top line (a flat He line would sit on the frame)
        ticks["range"] = [ticks["range"][0], ticks["range"][1] + 0.4]
    fig.update_yaxes(title_text="std of pre-activation (log scale)", type="log", **ticks)
    if skipped:
        title += f"<br><sup>not drawn (std zero or non-finite): {'; '.join(skipped)}</sup>"
    fig = style(fig, title, height=480)
    fig.update_layout(legend=LEGEND_BELOW)
    return fig


DEPTH_VIEW_CAPTION = ("Every initializer's std per layer at initialization on one log axis, layers numbered from the "
                      "input (plain_mlp / plain_cnn: up to 100). Dashed, for plain nets: the variance rule chained "
                      "from the batch's pixels. A straight line is a constant gain per layer; "
                      "its slope is that gain.")
