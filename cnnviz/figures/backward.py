"""The backward signal: std of ∂loss/∂pre-activation per layer, at init and over the training steps.

Glorot & Bengio's Fig. 7 picture. The left panel puts the layers side by side (input side
left) at step 0 and now, with the variance rule's prediction dashed
(:mod:`cnnviz.nets.backward`); the right panel follows each layer over the probed steps.
A line that falls toward the input side is a vanishing gradient: the first layers learn
last, or never. Pure: snapshots / a history DataFrame in, a plotly Figure out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures.style import LEGEND_BELOW, SUBPLOT_TITLE_SIZE, finite_positive, layer_colour, log_ticks, style
from cnnviz.figures.training_curves import step_ticks
from cnnviz.probing.snapshot import Snapshot

TITLE = "Backward signal per layer: std of ∂loss/∂pre-activation"
MAX_LAYER_LINES = 12  # the over-steps panel draws at most this many layers (evenly spread, first and last kept)
ENTRY_COLOURS = ("#7f7f7f", "#1f77b4")  # step 0 grey, now blue


def backward_table(history: pd.DataFrame) -> pd.DataFrame:
    """Rows (step, layer, backward_std) for every probed step and layer that measured one."""
    columns = ["step", "layer", "backward_std"]
    if history.empty or "backward_std" not in history:
        return pd.DataFrame(columns=columns)
    return history.loc[history["backward_std"].notna(), columns].reset_index(drop=True)


def layers_to_draw(names: Sequence[str], limit: int = MAX_LAYER_LINES) -> list[str]:
    """At most ``limit`` layer names, evenly spread over ``names``, the first and the last always in."""
    names = list(names)
    if len(names) <= limit:
        return names
    picks = np.unique(np.round(np.linspace(0, len(names) - 1, limit)).astype(int))
    return [names[i] for i in picks]


def backward_signal_figure(entries: Sequence[tuple[str, Snapshot]], history: pd.DataFrame,
                           predicted: Mapping[str, float] | None = None, theory_note: str | None = None) -> go.Figure:
    """Left: std of ∂loss/∂z per layer for each (label, snapshot) entry, log scale, with the
    rule's prediction at step 0 dashed; right: each layer's value over the probed steps.

    ``theory_note`` says why no prediction is drawn (shown under the title). Layers whose
    value is missing, zero or not finite cannot sit on a log axis: they are named instead.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, column_widths=[0.5, 0.5],
                        subplot_titles=["by layer (input → output)", "over the steps"])
    skipped: list[str] = []
    shown: list[float] = []
    for index, (label, snap) in enumerate(entries):
        names = [l.name for l in snap.layers]
        values = [l.backward_std for l in snap.layers]
        keep = [finite_positive(v) for v in values]
        skipped += [f"{n} ({label})" for n, k in zip(names, keep) if not k]
        shown += [v for v, k in zip(values, keep) if k]
        fig.add_trace(go.Scatter(
            x=[n for n, k in zip(names, keep) if k], y=[v for v, k in zip(values, keep) if k],
            mode="lines+markers", name=label, legendgroup=label,
            line={"color": ENTRY_COLOURS[min(index, len(ENTRY_COLOURS) - 1)], "width": 3}, marker={"size": 8},
            hovertemplate=label + "<br>%{x}: std ∂loss/∂z = %{y:.3g}<extra></extra>"), row=1, col=1)
    if predicted and entries:
        order = [l.name for l in entries[0][1].layers]
        points = [(n, predicted[n]) for n in order if finite_positive(predicted.get(n))]
        if points:
            shown += [p[1] for p in points]
            fig.add_trace(go.Scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name="theory (step 0)",
                line={"color": "#444444", "width": 2, "dash": "dash"}, marker={"size": 7, "symbol": "diamond-open"},
                hovertemplate="theory<br>%{x}: %{y:.3g}<extra></extra>"), row=1, col=1)
    table = backward_table(history)
    drawn = layers_to_draw(list(dict.fromkeys(table["layer"]))) if not table.empty else []
    for index, layer in enumerate(drawn):
        rows = table[table["layer"] == layer]
        keep = rows["backward_std"].map(finite_positive)
        shown += rows.loc[keep, "backward_std"].astype(float).tolist()
        fig.add_trace(go.Scatter(
            x=rows.loc[keep, "step"].tolist(), y=rows.loc[keep, "backward_std"].astype(float).tolist(),
            mode="lines+markers", marker={"size": 4}, line={"color": layer_colour(index), "width": 2},
            name=layer, legendgroup=f"over:{layer}",
            hovertemplate=f"{layer}<br>step %{{x}}: %{{y:.3g}}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(type="category", row=1, col=1)
    fig.update_xaxes(title_text="training step", row=1, col=2, **step_ticks(table["step"]) if not table.empty else {})
    ticks = log_ticks(shown)
    fig.update_yaxes(type="log", **ticks)
    fig.update_yaxes(title_text="std of ∂loss/∂z (log scale)", row=1, col=1)
    fig.update_annotations(font_size=SUBPLOT_TITLE_SIZE)
    title = TITLE
    notes = []
    if theory_note:  # the reason is long: the page's caption gives it, the chart only says so
        notes.append("no theory line for this network")
    if len(drawn) < len(dict.fromkeys(table["layer"])):
        notes.append(f"right: {len(drawn)} of {table['layer'].nunique()} layers drawn")
    if skipped:
        notes.append(f"not drawn (missing, zero or non-finite): {', '.join(skipped[:8])}"
                     + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else ""))
    if notes:
        title += "<br><sup>" + "; ".join(notes) + "</sup>"
    # The legend goes in rows below both panels: on the right it took a third of a projected
    # chart's width and pushed the two panels' titles into each other.
    legend_rows = math.ceil(sum(1 for trace in fig.data if trace.showlegend is not False) / 4)
    style(fig, title, height=470 + 30 * legend_rows, margin={"t": 110, "b": 90 + 30 * legend_rows})
    fig.update_layout(legend=LEGEND_BELOW)
    return fig


def backward_signal_caption(why_not: str | None = None) -> str:
    """Beside :func:`backward_signal_figure` (``why_not``: why there is no theory line, if there is none)."""
    return ("Std of ∂loss/∂(pre-activation) per layer (log scale), measured on the same batch as everything "
            "else. Dashed: the variance rule run backwards from the logits, n·Var[w]·E[f′(z)²] per layer "
            "(Glorot & Bengio 2010, Fig. 7). Falling toward the input side = vanishing gradients: the first "
            "layers learn last." + (f" No theory line here: {why_not}." if why_not else ""))
