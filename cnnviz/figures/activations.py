"""Pictures of what the layers' numbers are doing: histograms and spreads per layer.

Pure functions from :class:`~cnnviz.probing.snapshot.Snapshot` objects to plotly Figures, plus
the tables behind them (so a page can offer each chart's data as CSV). Histograms
arrive already binned (about 50 bins per layer), so every figure here is small.
Nothing non-finite is ever handed to plotly: a layer whose values or range are
NaN/Inf is left out of the picture and named in a note instead.

Curves over training steps live in :mod:`cnnviz.figures.training_curves`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures import specs
from cnnviz.probing.histograms import Summary
from cnnviz.probing.snapshot import Snapshot

# The house look lives in cnnviz.figures.style; these names stay importable from here.
from cnnviz.figures.style import (  # noqa: F401
    DEPTH_SCALE, FONT_SIZE, HOUSE_TEMPLATE, INIT_COLOURS, LAYER_COLOURS, LEGEND_BELOW, MAX_LEGEND_ENTRIES,
    SUBPLOT_TITLE_SIZE, TITLE_SIZE, finite_positive, full_title, label_colour, layer_colour, layer_colours, log_ticks,
    short_number, style, style_spec, title_layout, two_line_title)

SQUASHING_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


# ------------------------------------------------------------------ histograms
def layer_histogram(summary: Summary, activation: str, post_activation: bool = False
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """(edges, counts) of one layer's histogram, or None when its range is not finite.

    With ``post_activation`` the pre-activation histogram is mapped through the
    nonlinearity without any new probing: for ReLU, all mass at or below 0 moves into
    the bin that holds 0 (whose left edge becomes 0); for sigmoid/tanh each bin's
    mass moves to f(bin centre), re-binned on f's output range; other activations
    leave the histogram unchanged.
    """
    edges = np.asarray(summary.hist_edges, dtype=float)
    counts = np.asarray(summary.hist_counts, dtype=float)
    if len(edges) < 2 or not np.all(np.isfinite(edges)):
        return None
    if not post_activation or activation not in ("relu", *SQUASHING_RANGES):
        return edges, counts
    if activation == "relu":
        return _relu_histogram(edges, counts)
    centres = (edges[:-1] + edges[1:]) / 2
    squashed = 1 / (1 + np.exp(-np.clip(centres, -60, 60))) if activation == "sigmoid" else np.tanh(centres)
    lo, hi = SQUASHING_RANGES[activation]
    new_edges = np.linspace(lo, hi, len(counts) + 1)
    new_counts, _ = np.histogram(np.clip(squashed, lo, hi), bins=new_edges, weights=counts)
    return new_edges, new_counts


def _relu_histogram(edges: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if edges[0] >= 0:
        return edges, counts
    width = edges[1] - edges[0]
    if edges[-1] <= 0:  # everything is switched off: one bar at 0
        return np.array([0.0, width]), np.array([counts.sum()])
    zero_bin = int(np.searchsorted(edges, 0.0, side="right")) - 1
    new_counts = counts[zero_bin:].copy()
    new_counts[0] += counts[:zero_bin].sum()
    new_edges = edges[zero_bin:].copy()
    new_edges[0] = 0.0
    return new_edges, new_counts


def histogram_table(snapshot: Snapshot, post_activation: bool = False) -> pd.DataFrame:
    """Every layer's histogram as rows (layer, activation, view, bin_left, bin_right, count)."""
    rows = []
    view = "post-activation" if post_activation else "pre-activation"
    for layer in snapshot.layers:
        hist = layer_histogram(layer.pre_activation, layer.activation, post_activation)
        if hist is None:
            continue
        edges, counts = hist
        for left, right, count in zip(edges[:-1], edges[1:], counts):
            rows.append({"step": snapshot.step, "layer": layer.name, "activation": layer.activation, "view": view,
                         "bin_left": float(left), "bin_right": float(right), "count": int(count)})
    return pd.DataFrame(rows, columns=["step", "layer", "activation", "view", "bin_left", "bin_right", "count"])


def labelled_histogram_table(snapshots: Mapping[str, Snapshot], post_activation: bool = False,
                              label: str = "initializer") -> pd.DataFrame:
    """:func:`histogram_table` of several snapshots, one after another, each row with a ``label`` column
    naming its snapshot (the data behind :func:`comparison_histogram_grid`)."""
    return pd.concat([histogram_table(snap, post_activation).assign(**{label: name})
                      for name, snap in snapshots.items()], ignore_index=True)


def _histogram_bar(edges: np.ndarray, counts: np.ndarray, colour: str, name: str) -> dict:
    keep = counts > 0  # empty bins draw nothing anyway, and a log axis cannot show 0
    left, right = edges[:-1][keep], edges[1:][keep]
    return {
        "type": "bar", "x": ((left + right) / 2).tolist(), "y": counts[keep].tolist(), "width": (right - left).tolist(),
        "marker": {"color": colour, "line": {"width": 0}}, "name": name, "showlegend": False,
        "customdata": np.column_stack([left, right]).tolist(),
        "hovertemplate": name + "<br>[%{customdata[0]:.3g}, %{customdata[1]:.3g}): %{y:,} values<extra></extra>",
    }


_compact = short_number  # short alias used by the panel titles below


def _few_ticks(lo: float, hi: float) -> dict:
    """At most three x ticks for [lo, hi]: 0 and ± a one-digit step about 60 % of the way to the nearer end."""
    # Both ticks must fit: measure from 0 to the nearer end when the range straddles 0.
    reach = min(-lo, hi) if lo < 0 < hi else max(abs(lo), abs(hi))
    if not math.isfinite(reach) or reach == 0:
        return {}
    step = float(f"{0.6 * reach:.1g}")  # one digit, ~60 % of the way out: labels stay inside and apart
    ticks = [t for t in (-step, 0.0, step) if lo - 1e-12 * reach <= t <= hi + 1e-12 * reach]
    if len(ticks) < 2:  # a range away from 0: its ends, rounded
        ticks = [float(f"{lo:.1g}"), float(f"{hi:.1g}")]
    elif len(ticks) == 3 and len(_compact(step)) > 2:  # "-0.02 0 0.02" would not fit: the ends say enough
        ticks = [ticks[0], ticks[2]]
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [_compact(t) for t in ticks]}


def _layer_stats(layer, post_activation: bool) -> list[str]:
    pre = layer.pre_activation
    parts = []
    if math.isfinite(pre.std):
        parts.append(f"σ={_compact(pre.std)}")
    if layer.frac_zero_after_relu is not None:
        zeroed = layer.frac_zero_after_relu
        parts.append(f"{zeroed:.0%} ≤0" if not post_activation else f"{zeroed:.0%} at 0")
    if pre.nonfinite:
        parts.append(f"⚠ {pre.nonfinite:,} NaN/Inf")
    return parts


def _layer_title(layer, post_activation: bool) -> str:
    """'<b>conv1</b> →relu' over 'σ=0.475, 83% ≤0': two short lines fit a panel a third of a projected page."""
    arrow = f"→{layer.activation}" if layer.activation != "linear" else "(linear)"
    return f"<b>{layer.name}</b> {arrow}<br>" + ", ".join(_layer_stats(layer, post_activation))


def _grid_shape(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2 if n <= 4 else 3 if n <= 9 else 4
    return math.ceil(n / cols), cols


def histogram_grid(snapshot: Snapshot, post_activation: bool = False, shared_x: bool = False,
                   log_counts: bool = False) -> go.Figure:
    """Small multiples: one histogram per layer, in forward order, from one snapshot.

    What to look for: healthy layers keep a similar width from first to last; widths
    growing layer by layer (check with ``shared_x``) mean exploding activations,
    shrinking ones vanishing signal. ``post_activation`` shows what the next layer
    receives: a tall bar at 0 is the share of ReLU units that are off; sigmoid layers
    piled at 0 and 1 are saturated. ``log_counts`` makes thin tails visible.
    """
    layers = snapshot.layers
    rows, cols = _grid_shape(max(len(layers), 1))
    titles = [_layer_title(l, post_activation) for l in layers] or [""]
    # One dict spec, validated once (specs module): the incremental plotly calls cost ~10x more.
    layout, axes = specs.subplot_layout(
        rows, cols, titles=len(titles), horizontal_spacing=0.07, vertical_spacing=min(0.16, 0.6 / rows),
        x_title="post-activation value" if post_activation else "pre-activation value",
        y_title="count" + (" (log scale)" if log_counts else ""))
    specs.set_subplot_titles(layout, titles)
    data, skipped = [], []
    for index, layer in enumerate(layers):
        hist = layer_histogram(layer.pre_activation, layer.activation, post_activation)
        if hist is None:
            skipped.append(layer.name)
            continue
        data.append({**_histogram_bar(*hist, layer_colour(index), layer.name),
                     **axes[(index // cols + 1, index % cols + 1)]})
    if shared_x:
        specs.update_axes(layout, "xaxis", {"matches": "x"})
    if log_counts:
        specs.update_axes(layout, "yaxis", {"type": "log", "dtick": 1})  # one tick per decade: minor digits crowd
    layout["bargap"] = 0
    for annotation in layout.get("annotations", []):
        specs.merge(annotation, {"font": {"size": SUBPLOT_TITLE_SIZE}})
    view = "Post-activation (what the next layer sees)" if post_activation else "Pre-activation"
    title = f"{view} histograms per layer — step {snapshot.step}"
    if skipped:
        title += f"<br><sup>not drawn (non-finite values): {', '.join(skipped)}</sup>"
    layout = style_spec(layout, title, height=250 * rows + 160)
    layout["margin"]["t"] = 120  # the first row's two-line panel titles sit under the title
    return specs.figure(data, layout)


def comparison_histogram_grid(snapshots: Mapping[str, Snapshot], post_activation: bool = False,
                              log_counts: bool = False, shared_x: bool = False) -> go.Figure:
    """One column per run (e.g. per initializer), one row per layer, same network and batch.

    What to look for: reading down a column shows how a run's signal spreads or
    shrinks with depth; reading across a row compares initializers at one layer. Each
    panel has its own x range unless ``shared_x``: then every panel of a row (one layer)
    shares one, so a layer 10,000x wider under one initializer looks 10,000x wider.
    The layer's name labels each row; the panel titles give σ and the share ≤ 0.
    """
    labels = list(snapshots)
    layer_names = [l.name for l in snapshots[labels[0]].layers] if labels else []
    rows, cols = max(len(layer_names), 1), max(len(labels), 1)
    titles = []
    for name in layer_names:
        for label in labels:
            stats = _layer_stats(snapshots[label].layer(name), post_activation)
            titles.append("<br>".join([", ".join(stats[:1]), ", ".join(stats[1:])]) if stats else "")
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles or [""], column_titles=None,
                        horizontal_spacing=0.07, vertical_spacing=min(0.12, 0.5 / rows),
                        x_title="post-activation value" if post_activation else "pre-activation value")
    spans = {}  # (row, col) -> (lo, hi) of the panel's histogram
    for col, label in enumerate(labels, start=1):
        for row, name in enumerate(layer_names, start=1):
            layer = snapshots[label].layer(name)
            hist = layer_histogram(layer.pre_activation, layer.activation, post_activation)
            if hist is not None:
                bar = _histogram_bar(*hist, label_colour(label, col - 1), f"{label} · {name}")
                fig.add_trace(bar, row=row, col=col)
                spans[row, col] = (float(hist[0][0]), float(hist[0][-1]))
    for row in range(1, rows + 1):
        # Three short tick labels per panel (-2000, 0, 2000): four panels share a projected half page.
        row_spans = [spans[row, col] for col in range(1, cols + 1) if (row, col) in spans]
        for col in range(1, cols + 1):
            lo_hi = ((min(s[0] for s in row_spans), max(s[1] for s in row_spans)) if shared_x and row_spans
                     else spans.get((row, col)))
            if lo_hi is not None:
                fig.update_xaxes(row=row, col=col, **_few_ticks(*lo_hi))
    for row, name in enumerate(layer_names, start=1):
        # Row label: the layer, on the first column's y axis. The runs of a row saw the same batch, so
        # they share one count axis (labelled once) and, with ``shared_x``, one value axis.
        fig.update_yaxes(title_text=f"<b>{name}</b>", title_standoff=4, row=row, col=1)
        first = (row - 1) * cols + 1
        for col in range(2, cols + 1):
            fig.update_yaxes(matches=f"y{first if first > 1 else ''}", showticklabels=False, row=row, col=col)
            if shared_x:
                fig.update_xaxes(matches=f"x{first if first > 1 else ''}", row=row, col=col)
    fig.update_xaxes(tickangle=0, tickfont={"size": FONT_SIZE - 3})
    if log_counts:
        fig.update_yaxes(type="log", dtick=1)
    fig.update_layout(bargap=0)
    fig.update_annotations(font_size=SUBPLOT_TITLE_SIZE - 2)
    for col, label in enumerate(labels, start=1):  # column headers above the first row's panel titles
        # A projected page gives each of four columns ~100 px: long names break at their hyphen.
        header = label.replace("-", "-<br>", 1) if len(label) > 10 and "-" in label else label
        fig.add_annotation(text=f"<b>{header}</b>", xref=f"x{col if col > 1 else ''} domain", yref="paper",
                           x=0.5, y=1.0, yanchor="bottom", yshift=38, showarrow=False,
                           font={"size": FONT_SIZE - 1, "color": label_colour(label, col - 1)})
    view = "Pre-activation" if not post_activation else "Post-activation"
    scale = "one x range per layer (row)" if shared_x else "each panel on its own x range"
    counts = "counts on a log scale" if log_counts else "counts"
    fig = style(fig, two_line_title(f"{view} histograms per initializer",
                                    f"one column each, same network and batch; {scale}; {counts}"),
                height=200 * rows + 200)
    fig.update_layout(margin={"t": 170, "l": 80})
    return fig


# ------------------------------------------------------------------ spreads
def _as_entries(snapshots) -> list[tuple[str, Snapshot]]:
    if isinstance(snapshots, Snapshot):
        return [(f"step {snapshots.step}", snapshots)]
    if isinstance(snapshots, Mapping):
        return list(snapshots.items())
    return [(str(label), snap) for label, snap in snapshots]


def first_and_latest(first: Snapshot, latest: Snapshot) -> list[tuple[str, Snapshot]]:
    """[("step 0", first), ("step k", latest)] for the charts that compare the first probe with now
    (just the first when they are the same snapshot)."""
    return [(f"step {first.step}", first)] + ([(f"step {latest.step}", latest)] if latest is not first else [])


def pre_activation_stats_table(snapshots, predicted: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Rows (label, step, layer, std, mean, min, max, frac_nonpositive, nonfinite, predicted_std) behind
    the std charts: the pre-activation columns of :meth:`LayerSnapshot.to_row`."""
    rows = []
    for label, snap in _as_entries(snapshots):
        for layer in snap.layers:
            row = layer.to_row()
            rows.append({**row, "label": label, "step": snap.step,
                         "predicted_std": (predicted or {}).get(layer.name, math.nan)})
    return pd.DataFrame(rows, columns=["label", "step", "layer", "std", "mean", "min", "max", "frac_nonpositive",
                                       "nonfinite", "predicted_std"])


def std_per_layer(snapshots, predicted: Mapping[str, float] | None = None, title: str | None = None,
                  predicted_label: str = "theory (predicted)") -> go.Figure:
    """Standard deviation of each layer's pre-activation, input side left, on a log axis.

    ``snapshots`` is one Snapshot or a list of (label, Snapshot) / a dict label -> Snapshot.
    ``predicted`` (layer -> std, e.g. from :mod:`cnnviz.diagnosis.theory`) is drawn dashed and
    named ``predicted_label``.
    What to look for: a flat line is a healthy scale; a line climbing a decade per
    layer is exploding (N(0,1) weights), one falling is vanishing (tiny weights).
    Layers with zero or non-finite std cannot sit on a log axis and are listed below
    the title instead.
    """
    entries = _as_entries(snapshots)
    data, skipped = [], []
    for index, (label, snap) in enumerate(entries):
        names = [l.name for l in snap.layers]
        stds = [l.pre_activation.std for l in snap.layers]
        keep = [finite_positive(s) for s in stds]
        skipped += [f"{label}: {n}" if len(entries) > 1 else n for n, k in zip(names, keep) if not k]
        colour = label_colour(label, index) if len(entries) > 1 else layer_colour(0)
        data.append({
            "type": "scatter", "x": [n for n, k in zip(names, keep) if k], "y": [s for s, k in zip(stds, keep) if k],
            "mode": "lines+markers", "name": f"measured ({label})" if len(entries) == 1 else label,
            "line": {"color": colour, "width": 3}, "marker": {"size": 10},
            "hovertemplate": label + "<br>%{x}: σ = %{y:.3g}<extra></extra>",
        })
    if predicted:
        order = [l.name for l in entries[0][1].layers] if entries else list(predicted)
        points = [(n, predicted[n]) for n in order if n in predicted and finite_positive(predicted[n])]
        if points:
            data.append({
                "type": "scatter", "x": [p[0] for p in points], "y": [p[1] for p in points], "mode": "lines+markers",
                "name": predicted_label, "line": {"color": "#444444", "width": 2, "dash": "dash"},
                "marker": {"size": 8, "symbol": "diamond-open"},
                "hovertemplate": "theory<br>%{x}: σ = %{y:.3g}<extra></extra>",
            })
    shown = [y for trace in data for y in trace["y"]]
    layout = {"xaxis": {"title": {"text": "layer (input side → output side)"}, "type": "category"},
              "yaxis": {"title": {"text": "std of pre-activation (log scale)"}, "type": "log", **log_ticks(shown)}}
    title = title or "Pre-activation spread per layer"
    if skipped:
        title += f"<br><sup>not drawn (std zero or non-finite): {', '.join(skipped)}</sup>"
    style_spec(layout, title, height=470)
    specs.merge(layout, {"legend": LEGEND_BELOW})
    return specs.figure(data, layout)


def compare_std_chart(snapshots: Mapping[str, Snapshot], predicted: Mapping[str, float] | None = None) -> go.Figure:
    """Std per layer for several initializers on one log-scale chart (same net, same batch).

    What to look for: the lines fan out by decades; the one that stays flat is the
    initializer whose variance matches the layers' fan-in.
    """
    return std_per_layer(snapshots, predicted,
                         title=two_line_title("Pre-activation spread per layer", "one line per initializer"))


def init_comparison_table(snapshots: Mapping[str, Snapshot]) -> pd.DataFrame:
    """One row per run: loss, accuracy, logit spread and what the softmax says."""
    rows = []
    for label, snap in snapshots.items():
        stds = [l.pre_activation.std for l in snap.layers]
        first, last_hidden = (stds[0], stds[-2]) if len(stds) > 1 else (stds[0], stds[0])
        growth = last_hidden / first if finite_positive(first) and math.isfinite(last_hidden) else math.nan
        soft = snap.softmax
        rows.append({
            "initializer": label, "step": snap.step, "loss": snap.loss, "accuracy": snap.accuracy,
            "logit std": snap.logits.std,
            "max softmax prob (mean)": soft.get("max_prob_mean"),
            "softmax entropy (mean)": soft.get("entropy_mean"),
            "uniform entropy": soft.get("uniform_entropy"),
            "first layer std": first, "last hidden layer std": last_hidden,
            "growth last/first": growth,
        })
    return pd.DataFrame(rows)


def layer_stats_table(snapshot: Snapshot) -> pd.DataFrame:
    """One row per probed layer: the numbers behind its histogram, gradient and update size."""
    rows = []
    for layer in snapshot.layers:
        pre = layer.pre_activation
        rows.append({"layer": layer.name, "type": layer.type, "activation": layer.activation, "fan_in": layer.fan_in,
                     "mean": pre.mean, "std": pre.std, "min": pre.min, "max": pre.max,
                     "zero_after_relu": layer.frac_zero_after_relu, "nonfinite": pre.nonfinite,
                     "grad_norm": layer.grad_norm, "update_ratio": layer.update_ratio})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ captions: what to look for
# Shown under the figures on the pages and in the HTML report (cnnviz.report): one text per figure.
HISTOGRAM_GRID_CAPTION = ("Each panel is one layer (input side first). Look for widths that grow or shrink from "
                          "panel to panel, and for a spike at 0: units a ReLU switches off.")
STEP_COMPARISON_GRID_CAPTION = ("Each row is a layer. Look for widths that grow or shrink by decades from row to row "
                                "(exploding or vanishing signal) and for how training reshaped each layer.")
LAYER_STATISTICS_CAPTION = ("Per-layer pre-activation statistics. Look for std far from ~1 (exploding or vanishing), "
                            "a large share of zeros after ReLU (dead units), and any NaN/Inf.")


def init_comparison_grid_caption(shared_x: bool) -> str:
    """Beside :func:`comparison_histogram_grid` with one column per initializer."""
    if shared_x:
        return ("One column per initializer, one row per layer; every row shares one x range. The narrow "
                "initializers' histograms shrink to a line at 0: that is how much smaller their values are.")
    return ("One column per initializer, one row per layer. Each panel has its own x range, so the shapes look "
            "alike: compare the σ in the panel titles, or switch on **Same x range across initializers**.")


def std_per_layer_caption(first: str = "step 0") -> str:
    """Beside :func:`std_per_layer` drawn with the variance rule at ``first`` (the first probed step)."""
    return (f"Std of each layer's pre-activation (log scale) at {first} and at the latest probed step; dashed: the "
            f"variance rule Var = fan-in·Var[w]·E[x²] from each layer's measured input at {first}. A line that climbs "
            "or falls a decade per layer is trouble; where the measured line follows the dashed one, the "
            "initializer explains the scale (max pooling pushes the measured value up to ~1.4x after the pools).")


def compare_std_caption(lead: str = "One line per initializer (log scale).") -> str:
    """Beside :func:`compare_std_chart` (or :func:`std_per_layer` of several runs): ``lead`` says what the lines are."""
    return (f"{lead} A line climbing a decade per layer is exploding, one falling is vanishing; the flattest keeps "
            "the signal at one scale.")


def init_comparison_table_caption(classes: int) -> str:
    """Beside :func:`init_comparison_table`."""
    return (f"Loss ln {classes} = {math.log(classes):.4f} and entropy at its uniform value mean the "
            "softmax is guessing; a max probability of 1.00 with a huge loss means certain and wrong.")
