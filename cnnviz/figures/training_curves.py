"""Pictures over training steps, from a run's history DataFrame (:mod:`cnnviz.probing.history`).

Histograms as a heatmap over steps, gradient norms and update sizes per layer, and
loss/accuracy curves. Pure functions; non-finite values are left out (a halted run's
last loss is marked by a note, not plotted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cnnviz.figures import specs
from cnnviz.figures.style import (LEGEND_BELOW, SUBPLOT_TITLE_SIZE, finite_positive, label_colour, layer_colours,
                                   log_ticks, style, style_spec)
from cnnviz.probing.histograms import histogram_edges, rebin

MAX_HEATMAP_STEPS = 300  # more probed steps than this are thinned evenly (the last one always kept)
# A layer whose values reach this many times its narrowest step's span gets an asinh value axis.
DECADES_FOR_ASINH = 100.0
HEALTHY_UPDATE_RATIO = 1e-3  # the usual rule of thumb for ‖Δw‖/‖w‖ per step


def step_ticks(steps) -> dict:
    """Whole-number ticks for a training-step axis (plotly would write 1.5, 2.5 for few steps)."""
    steps = [int(s) for s in steps]
    if not steps:
        return {}
    span = max(steps) - min(steps)
    raw = max(span / 8, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    dtick = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return {"tickmode": "linear", "tick0": 0, "dtick": dtick}


def _empty(layout: dict, message: str) -> dict:
    """A centred note instead of data (layout of a figure built as a dict spec)."""
    layout.setdefault("annotations", []).append({"text": message, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                                 "showarrow": False, "font": {"size": 18}})
    return layout


# ------------------------------------------------------------------ heatmap
def heatmap_table(history: pd.DataFrame, layer: str) -> pd.DataFrame:
    """One layer's histograms over steps, re-binned on one common value grid.

    Columns (step, bin_lo, bin_hi, bin_centre, count). Every probe bins over its own
    [min, max], so the histograms are moved onto one grid spanning them all before they
    can share an axis. When that span is decades wider than the narrowest step's (an
    exploding layer), the grid is spaced evenly in asinh(value / scale) — linear near 0,
    logarithmic far out — so the early, narrow histograms keep their shape instead of
    collapsing into one row; :func:`heatmap_scale` gives that scale (None: linear grid).
    """
    steps, edges, counts, _ = _heatmap_grid(history, layer)
    if not steps:
        return pd.DataFrame(columns=["step", "bin_lo", "bin_hi", "bin_centre", "count"])
    bins = len(edges) - 1
    return pd.DataFrame({"step": np.repeat(steps, bins), "bin_lo": np.tile(edges[:-1], len(steps)),
                         "bin_hi": np.tile(edges[1:], len(steps)),
                         "bin_centre": np.tile((edges[:-1] + edges[1:]) / 2, len(steps)),
                         "count": counts.T.reshape(-1)})


def _heatmap_grid(history: pd.DataFrame, layer: str) -> tuple[list[int], np.ndarray, np.ndarray, float | None]:
    """(steps, common edges, counts[bin, step], asinh scale or None) behind :func:`heatmap_table` and the figure."""
    rows = _heatmap_rows(history, layer)
    if rows.empty:
        return [], np.zeros(0), np.zeros((0, 0)), None
    bins = len(rows["hist_counts"].iloc[0])
    lo, hi = float(rows["hist_lo"].min()), float(rows["hist_hi"].max())
    scale = _asinh_scale(rows)
    if scale is None:
        edges = np.linspace(lo, hi, bins + 1)
    else:
        edges = scale * np.sinh(np.linspace(np.arcsinh(lo / scale), np.arcsinh(hi / scale), bins + 1))
    columns = [rebin(histogram_edges(float(step_lo), float(step_hi), len(counts)), counts, edges)
               for step_lo, step_hi, counts in zip(rows["hist_lo"], rows["hist_hi"], rows["hist_counts"])]
    return [int(step) for step in rows["step"]], edges, np.column_stack(columns), scale


def _heatmap_rows(history: pd.DataFrame, layer: str) -> pd.DataFrame:
    rows = history[history["layer"] == layer].drop_duplicates("step", keep="last").sort_values("step")
    rows = rows[np.isfinite(rows["hist_lo"].astype(float)) & np.isfinite(rows["hist_hi"].astype(float))]
    if len(rows) > MAX_HEATMAP_STEPS:
        picks = np.unique(np.linspace(0, len(rows) - 1, MAX_HEATMAP_STEPS).round().astype(int))
        rows = rows.iloc[picks]
    return rows


def _asinh_scale(rows: pd.DataFrame) -> float | None:
    """The asinh grid's linear-zone width when the ranges span decades, else None."""
    spans = (rows["hist_hi"].astype(float) - rows["hist_lo"].astype(float)).to_numpy()
    spans = spans[spans > 0]
    if not len(spans):
        return None
    reach = max(abs(float(rows["hist_lo"].min())), abs(float(rows["hist_hi"].max())))
    narrowest = float(spans.min())
    return narrowest / 4 if reach / narrowest > DECADES_FOR_ASINH else None


def heatmap_scale(history: pd.DataFrame, layer: str) -> float | None:
    """The asinh scale :func:`heatmap_table` uses for ``layer`` (None: a linear value axis)."""
    rows = _heatmap_rows(history, layer)
    return None if rows.empty else _asinh_scale(rows)


def _asinh_ticks(lo: float, hi: float, scale: float) -> dict:
    """Tick positions (in asinh units) labelled with the values: 0, ±1 decade steps."""
    values = [0.0]
    top = max(abs(lo), abs(hi))
    exponent = math.floor(math.log10(scale))
    while 10.0 ** exponent <= top * 1.0001:
        for sign in (-1, 1):
            value = sign * 10.0 ** exponent
            if lo <= value <= hi:
                values.append(value)
        exponent += 1
    values = sorted(values)
    if len(values) > 9:  # keep every other decade on crowded axes
        values = [v for i, v in enumerate(values) if v == 0 or i % 2 == 0]
    return {"tickvals": [float(np.arcsinh(v / scale)) for v in values], "ticktext": [_value_label(v) for v in values]}


def _value_label(value: float) -> str:
    if value == 0:
        return "0"
    exponent = int(round(math.log10(abs(value))))
    text = f"{10 ** exponent:g}" if -3 <= exponent <= 3 else f"1e{exponent}"
    return ("−" if value < 0 else "") + text


def histogram_heatmap(history: pd.DataFrame, layer: str) -> go.Figure:
    """One layer's pre-activation histogram at every probed step: x step, y value, colour log count.

    What to look for: a band that widens over steps is a layer whose activations
    grow; a band that collapses onto 0 is a layer going quiet; a band that stays put
    while the loss falls is a layer that is learning calmly. When the values grow by
    decades the value axis turns logarithmic away from 0 (its ticks say so).
    """
    steps, edges, counts, scale = _heatmap_grid(history, layer)
    title = f"{layer}: histogram at every probed step"
    if not steps:
        return specs.figure([], style_spec(_empty({}, "no finite histograms for this layer yet"), title, height=430))
    z = np.log10(1.0 + counts)
    top = max(1, math.ceil(float(z.max())))
    ticks = [math.log10(1 + 10 ** k) for k in range(top + 1)]
    centres = (edges[:-1] + edges[1:]) / 2
    y = centres if scale is None else np.arcsinh(centres / scale)
    heatmap = {
        "type": "heatmap", "x": steps, "y": y.tolist(), "z": z.tolist(),
        "colorscale": "Viridis", "zmin": 0.0,
        "colorbar": {"title": {"text": "count (log)", "side": "right"}, "tickvals": ticks,
                     "ticktext": [f"{10 ** k:,}" for k in range(top + 1)]},
        "customdata": np.dstack([counts.round(), np.repeat(centres[:, None], counts.shape[1], axis=1)]).tolist(),
        "hovertemplate": ("step %{x}<br>value ≈ %{customdata[1]:.3g}<br>≈ %{customdata[0]:,.0f} values"
                          "<extra></extra>"),
    }
    layout = {"xaxis": {"title": {"text": "training step"}, **step_ticks(steps)}}
    if scale is None:
        layout["yaxis"] = {"title": {"text": "pre-activation value"}}
    else:
        layout["yaxis"] = {"title": {"text": "pre-activation value (log scale away from 0)"},
                           **_asinh_ticks(float(centres.min()), float(centres.max()), scale)}
    return specs.figure([heatmap], style_spec(layout, title, height=430))


# ------------------------------------------------------------------ gradients
def gradient_table(history: pd.DataFrame) -> pd.DataFrame:
    """Rows (step, layer, grad_norm, weight_norm, update_norm, update_ratio) for every step with a gradient.

    The gradient at step k is the one measured on the step-k network (the one step k + 1
    applies); the update at step k is the one that made it (none at step 0)."""
    columns = ["step", "layer", "grad_norm", "weight_norm", "update_norm", "update_ratio"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    return history.loc[history["grad_norm"].notna(), columns].reset_index(drop=True)


def gradient_and_update_chart(history: pd.DataFrame) -> go.Figure:
    """Gradient norm ‖∇w‖ (left) and update/weight ratio ‖Δw‖/‖w‖ (right) per layer over steps.

    Both on log axes. What to look for: gradient norms that differ by decades between
    layers mean the early layers barely learn (vanishing) or get hammered
    (exploding); update ratios far above the 1e-3 band mean the learning rate is too
    large for that layer, far below mean it hardly moves.
    """
    table = gradient_table(history)
    layout, axes = specs.subplot_layout(1, 2, titles=2, horizontal_spacing=0.14)
    specs.set_subplot_titles(layout, ["gradient ‖∇w‖<br>(log scale)", "update ‖Δw‖/‖w‖<br>(log scale)"])
    title = "Gradients and update sizes per layer"
    if table.empty:
        return specs.figure([], style_spec(_empty(layout, "no gradients measured yet"), title, height=440))
    colours, colour_bar = layer_colours(table["layer"].unique())
    data = []
    for layer, rows in table.groupby("layer", sort=False):
        for col, column in ((1, "grad_norm"), (2, "update_ratio")):
            keep = rows[column].map(finite_positive)
            data.append({
                "type": "scatter", "x": rows.loc[keep, "step"].tolist(),
                "y": rows.loc[keep, column].astype(float).tolist(),
                "mode": "lines+markers", "marker": {"size": 5}, "line": {"color": colours[layer], "width": 2.5},
                "name": layer, "legendgroup": layer, "showlegend": col == 1 and colour_bar is None,
                "hovertemplate": f"{layer}<br>step %{{x}}: %{{y:.3g}}<extra></extra>", **axes[(1, col)],
            })
    if colour_bar is not None:  # many layers: coloured by depth, with a colour bar instead of a legend
        data.append({**colour_bar.to_plotly_json(), **axes[(1, 2)]})
    band = (HEALTHY_UPDATE_RATIO / 10 ** 0.5, HEALTHY_UPDATE_RATIO * 10 ** 0.5)  # half a decade either side
    right = axes[(1, 2)]
    layout["shapes"] = [
        {"type": "rect", "x0": 0, "x1": 1, "xref": f"{right['xaxis']} domain", "y0": band[0], "y1": band[1],
         "yref": right["yaxis"], "fillcolor": "#2ca02c", "opacity": 0.15, "line": {"width": 0}},
        {"type": "line", "x0": 0, "x1": 1, "xref": f"{right['xaxis']} domain", "y0": HEALTHY_UPDATE_RATIO,
         "y1": HEALTHY_UPDATE_RATIO, "yref": right["yaxis"], "line": {"color": "#2ca02c", "dash": "dash", "width": 2}}]
    for annotation in layout["annotations"]:  # the subplot titles
        specs.merge(annotation, {"font": {"size": SUBPLOT_TITLE_SIZE}})
    # Annotations on a log axis take log10 of the value (a line's own label would land elsewhere).
    layout["annotations"].append({"text": "1e-3 rule of thumb", "xref": "x2 domain", "yref": "y2", "x": 0.0,
                                  "xanchor": "left", "y": math.log10(HEALTHY_UPDATE_RATIO * 10 ** 0.5),
                                  "yanchor": "bottom", "showarrow": False, "font": {"size": 13, "color": "#1b7a1b"}})
    if not table["update_ratio"].map(finite_positive).any():
        # Step 0 has a gradient (the one step 1 will apply) but no update yet.
        layout["annotations"].append({"text": "press Step or Train:<br>update sizes exist<br>after the first step",
                                      "xref": "x2 domain", "yref": "y2 domain", "x": 0.5, "y": 0.5, "showarrow": False,
                                      "font": {"size": 15}})
    specs.update_axes(layout, "xaxis", {"title": {"text": "training step"}, **step_ticks(table["step"])})
    specs.update_axes(layout, "yaxis", {"type": "log"})
    # The subplot titles name the quantities: y-axis titles between the panels would cover the left one.
    specs.merge(layout["yaxis"], log_ticks(table["grad_norm"]))
    specs.merge(layout["yaxis2"], log_ticks([*table["update_ratio"], *band]))
    style_spec(layout, title, height=480)
    specs.merge(layout, {"legend": LEGEND_BELOW})
    return specs.figure(data, layout)


# ------------------------------------------------------------------ loss
def loss_table(history: pd.DataFrame) -> pd.DataFrame:
    """One row per probed step: (step, loss, accuracy)."""
    if history.empty:
        return pd.DataFrame(columns=["step", "loss", "accuracy"])
    table = history[["step", "loss", "accuracy"]].drop_duplicates("step", keep="last")
    return table.sort_values("step").reset_index(drop=True)


def _histories(history) -> list[tuple[str, pd.DataFrame]]:
    if isinstance(history, pd.DataFrame):
        return [("loss", history)]
    if isinstance(history, dict):
        return list(history.items())
    return [(str(label), frame) for label, frame in history]


def loss_curve(history, chance_loss: float | None = None) -> go.Figure:
    """Training loss per probed step (log axis); with one run also its batch accuracy.

    ``history`` is one history DataFrame or a list of (label, DataFrame) / a dict,
    e.g. one run per initializer, drawn as one line each. ``chance_loss`` (ln of the
    number of classes) is the loss of a network that guesses uniformly. What to look
    for: a loss stuck on the chance line has learned nothing (vanishing signal); a
    loss starting decades above it comes from over-confident, exploding logits.
    """
    entries = _histories(history)
    single = len(entries) == 1
    layout, axes = specs.subplot_layout(specs=[[{"secondary_y": single}]])
    left, right = axes[(1, 1)], axes.get((1, 1, True))
    data, notes = [], []
    for index, (label, frame) in enumerate(entries):
        table = loss_table(frame)
        keep = table["loss"].map(finite_positive)
        if (~keep).any():
            notes.append(f"{label}: non-finite loss at step {int(table.loc[~keep, 'step'].iloc[0])}"
                         if not single else f"non-finite loss at step {int(table.loc[~keep, 'step'].iloc[0])}")
        data.append({
            "type": "scatter", "x": table.loc[keep, "step"].tolist(),
            "y": table.loc[keep, "loss"].astype(float).tolist(),
            "mode": "lines+markers", "marker": {"size": 5}, "name": label if not single else "loss",
            "line": {"color": label_colour(label, index) if not single else "#1f77b4", "width": 3},
            "hovertemplate": (label if not single else "loss") + "<br>step %{x}: %{y:.4g}<extra></extra>", **left,
        })
        if single:
            accuracy = table["accuracy"].astype(float)
            ok = np.isfinite(accuracy)
            data.append({
                "type": "scatter", "x": table.loc[ok, "step"].tolist(), "y": (accuracy[ok] * 100).tolist(),
                "mode": "lines", "name": "batch accuracy", "line": {"color": "#ff7f0e", "width": 2, "dash": "dot"},
                "hovertemplate": "step %{x}: %{y:.1f}%<extra></extra>", **right,
            })
    shown = [y for trace in data if trace["yaxis"] == left["yaxis"] for y in trace["y"]]
    if chance_loss is not None and finite_positive(chance_loss):
        shown.append(chance_loss)
        layout.setdefault("shapes", []).append({
            "type": "line", "x0": 0, "x1": 1, "xref": f"{left['xaxis']} domain", "y0": chance_loss, "y1": chance_loss,
            "yref": left["yaxis"], "line": {"color": "#7f7f7f", "dash": "dash", "width": 2}})
        layout.setdefault("annotations", []).append({
            "text": f"chance: ln C = {chance_loss:.3f}", "xref": "x domain", "yref": "y", "x": 1.0, "xanchor": "right",
            "y": math.log10(chance_loss), "yanchor": "bottom", "showarrow": False,
            "font": {"size": 14, "color": "#555555"}})
    all_steps = [step for _, frame in entries for step in loss_table(frame)["step"]]
    specs.update_axes(layout, "xaxis", {"title": {"text": "training step"}, **step_ticks(all_steps)})
    specs.merge(layout["yaxis"], {"title": {"text": "cross-entropy loss (log scale)"}, "type": "log",
                                  **log_ticks(shown)})
    if single:
        specs.merge(layout["yaxis2"], {"title": {"text": "batch accuracy (%)"}, "range": [0, 100], "showgrid": False,
                                       "tickmode": "linear", "tick0": 0, "dtick": 25})
    title = "Training loss" + (" and accuracy" if single else " per run")
    if notes:
        title += f"<br><sup>{'; '.join(notes)} (not drawn)</sup>"
    style_spec(layout, title, height=460)
    specs.merge(layout, {"legend": LEGEND_BELOW})
    return specs.figure(data, layout)


def histories_table(histories: Sequence[tuple[str, pd.DataFrame]] | dict) -> pd.DataFrame:
    """Several runs' loss tables stacked, with a ``label`` column (CSV for the comparison chart)."""
    frames = [loss_table(frame).assign(label=label) for label, frame in _histories(histories)]
    if not frames:
        return pd.DataFrame(columns=["step", "loss", "accuracy", "label"])
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ captions: what to look for
# Shown under the figures on the pages and in the HTML report (cnnviz.report): one text per figure.
PROBED_LOSS_CAPTION = ("At each probed step k: the loss and accuracy of the step-k network on training batch k+1 "
                       "(log scale). Stuck on the dashed chance line = nothing learned; far above it = over-confident, "
                       "exploding logits.")
STEP_LOSS_CAPTION = ("Training loss of every applied step (log scale); the dashed line is guessing uniformly. "
                     "A loss stuck on it learns nothing; one far above it comes from exploding logits.")
PROBE_BATCH_LOSS_CAPTION = ("Cross-entropy and accuracy on the fixed probe batch at each probed step (log scale); the "
                            "dashed line is guessing uniformly. The same examples every time, so the curve shows the "
                            "weights changing, not the data.")
COMPARE_LOSS_CAPTION = ("Training loss of every initializer on the same batches (log scale): the runs diverge within "
                        "a few steps; the dashed line is the loss of uniform guessing.")
GRADIENT_CAPTION = ("Gradient norm and update/weight ratio ‖Δw‖/‖w‖ per layer (log scale). Updates far above the "
                    "green 1e-3 band mean the learning rate is too big for that layer; far below, it barely moves. "
                    "Gradient norms far apart between layers mean the input side learns much slower or faster.")
HEATMAP_CAPTION = ("One column per probed step: the band's height is the spread of this layer's values. "
                   "A widening band is growing activations; a band collapsing to 0 is a layer going quiet.")
