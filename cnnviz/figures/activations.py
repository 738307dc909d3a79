"""Pictures of what the layers' numbers are doing: histograms and spreads per layer.

Pure functions from :class:`~cnnviz.snapshot.Snapshot` objects to plotly Figures, plus
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
import plotly.io as pio
from plotly.subplots import make_subplots

from cnnviz.figures import specs
from cnnviz.snapshot import Snapshot
from cnnviz.histograms import Summary

# Sizes chosen for a projector at the back of a lecture hall.
FONT_SIZE = 16
TITLE_SIZE = 21
SUBPLOT_TITLE_SIZE = 15
# Dark, saturated colours (D3's) read on projectors; light pastels wash out.
LAYER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#843c39")
INIT_COLOURS = {"normal": "#d62728", "normal-0.01": "#1f77b4", "glorot-uniform": "#ff7f0e",
                "glorot-normal": "#e377c2", "he-normal": "#2ca02c", "he-uniform": "#17becf",
                "lecun-normal": "#9467bd", "truncated-normal-0.1": "#8c564b", "orthogonal": "#7f7f7f",
                "zeros": "#000000"}
SQUASHING_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


# plotly_white's page look (white paper, light grid lines, its colour cycle) without its
# per-trace defaults, 3D/map scenes and colour scales: ~0.7 KB instead of ~7 KB in every
# chart sent to a browser, and applied ~10x faster than a template named by string, which
# plotly validates again for every figure (bench/RESULTS_classroom.md).
HOUSE_TEMPLATE = go.layout.Template(layout={
    key: value for key, value in pio.templates["plotly_white"].to_plotly_json()["layout"].items()
    if key not in ("colorscale", "coloraxis", "geo", "mapbox", "polar", "scene", "ternary", "shapedefaults",
                   "annotationdefaults")})


_HOUSE_TEMPLATE_JSON = HOUSE_TEMPLATE.to_plotly_json()


def layer_colour(index: int) -> str:
    """The colour of the ``index``-th layer; every per-layer chart uses the same one."""
    return LAYER_COLOURS[index % len(LAYER_COLOURS)]


def label_colour(label: str, index: int) -> str:
    """An initializer's own colour when ``label`` names one, else a layer-palette colour."""
    return INIT_COLOURS.get(label, layer_colour(index))


def style(fig: go.Figure, title: str, height: int | None = None) -> go.Figure:
    """Large fonts, a white background and a title: the house look of every figure."""
    fig.update_layout(
        title={"text": title, "font": {"size": TITLE_SIZE}, "x": 0.0, "xanchor": "left"},
        font={"size": FONT_SIZE},
        template=HOUSE_TEMPLATE,
        margin={"l": 70, "r": 30, "t": 90, "b": 70},
        legend={"font": {"size": FONT_SIZE - 1}},
        hoverlabel={"font_size": FONT_SIZE - 2},
    )
    # Axis fonts are set on the axes themselves: a dashboard theme's template sets them
    # there too, and the more specific setting would otherwise shrink them.
    axis_fonts = {"tickfont": {"size": FONT_SIZE - 1}, "title_font": {"size": FONT_SIZE}}
    fig.update_xaxes(**axis_fonts)
    fig.update_yaxes(**axis_fonts)
    if height is not None:
        fig.update_layout(height=height)
    return fig


def style_spec(layout: dict, title: str, height: int | None = None) -> dict:
    """:func:`style` for a figure built as a plain dict (:mod:`cnnviz.figures.specs`): the same look."""
    specs.merge(layout, {"title": {"text": title, "font": {"size": TITLE_SIZE}, "x": 0.0, "xanchor": "left"},
                         "font": {"size": FONT_SIZE}, "margin": {"l": 70, "r": 30, "t": 90, "b": 70},
                         "legend": {"font": {"size": FONT_SIZE - 1}}, "hoverlabel": {"font": {"size": FONT_SIZE - 2}}})
    layout["template"] = _HOUSE_TEMPLATE_JSON
    axis_fonts = {"tickfont": {"size": FONT_SIZE - 1}, "title": {"font": {"size": FONT_SIZE}}}
    specs.update_axes(layout, "xaxis", axis_fonts)
    specs.update_axes(layout, "yaxis", axis_fonts)
    if height is not None:
        layout["height"] = height
    return layout


def log_ticks(values) -> dict:
    """Readable tick marks for a log axis holding ``values``: 1-2-5 steps, or decades only.

    Plotly's own log ticks crowd small digits between the decades, unreadable from
    the back of a room; these are whole labels (0.5, 20, 2×10⁴) and never more than ~8.
    """
    finite = [float(v) for v in values if finite_positive(v)]
    if not finite:
        return {}
    low, high = math.floor(math.log10(min(finite))), math.ceil(math.log10(max(finite)))
    lo, hi = min(finite) / 1.5, max(finite) * 1.5
    # Coarsest first: decades when the data span several, then 1-2-5, then finer steps.
    for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 7, 8)):
        candidates = [m * 10.0 ** k for k in range(low - 1, high + 1) for m in mantissas]
        ticks = [t for t in candidates if lo <= t <= hi]
        if len(ticks) >= (3 if mantissas == (1,) else 4):
            break
    ticks = ticks[::max(1, math.ceil(len(ticks) / 8))]
    # An explicit range, so reference bands and lines passed in ``values`` stay in view.
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [_tick_label(t) for t in ticks],
            "range": [math.log10(min(finite) / 1.3), math.log10(max(finite) * 1.3)]}


def _tick_label(value: float) -> str:
    exponent = math.floor(math.log10(value) + 1e-9)
    if -3 <= exponent <= 4:
        return f"{value:g}"
    mantissa = value / 10.0 ** exponent
    power = f"10<sup>{exponent}</sup>"
    return power if abs(mantissa - 1) < 1e-9 else f"{mantissa:g}×{power}"


def finite_positive(value) -> bool:
    """True for a number that a log axis can show."""
    return value is not None and isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value > 0


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


def _histogram_bar(edges: np.ndarray, counts: np.ndarray, colour: str, name: str) -> dict:
    keep = counts > 0  # empty bins draw nothing anyway, and a log axis cannot show 0
    left, right = edges[:-1][keep], edges[1:][keep]
    return {
        "type": "bar", "x": ((left + right) / 2).tolist(), "y": counts[keep].tolist(), "width": (right - left).tolist(),
        "marker": {"color": colour, "line": {"width": 0}}, "name": name, "showlegend": False,
        "customdata": np.column_stack([left, right]).tolist(),
        "hovertemplate": name + "<br>[%{customdata[0]:.3g}, %{customdata[1]:.3g}): %{y:,} values<extra></extra>",
    }


def _layer_title(layer, post_activation: bool) -> str:
    pre = layer.pre_activation
    arrow = f"→{layer.activation}" if layer.activation != "linear" else "(linear)"
    parts = [f"<b>{layer.name}</b> {arrow}"]
    if math.isfinite(pre.std):
        parts.append(f"σ={pre.std:.3g}")
    if layer.dead_fraction is not None:
        parts.append(f"{layer.dead_fraction:.0%} ≤0" if not post_activation else f"{layer.dead_fraction:.0%} at 0")
    if pre.nonfinite:
        parts.append(f"⚠ {pre.nonfinite:,} NaN/Inf")
    return " ".join(parts[:1]) + "  " + ", ".join(parts[1:])


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
        rows, cols, titles=len(titles), horizontal_spacing=0.06, vertical_spacing=min(0.12, 0.5 / rows),
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
    return specs.figure(data, style_spec(layout, title, height=230 * rows + 150))


def comparison_histogram_grid(snapshots: Mapping[str, Snapshot], post_activation: bool = False,
                              log_counts: bool = False) -> go.Figure:
    """One column per run (e.g. per initializer), one row per layer, same network and batch.

    What to look for: reading down a column shows how a run's signal spreads or
    shrinks with depth; reading across a row compares initializers at one layer
    (each panel has its own x range: compare the σ in the titles).
    """
    labels = list(snapshots)
    layer_names = [l.name for l in snapshots[labels[0]].layers] if labels else []
    rows, cols = max(len(layer_names), 1), max(len(labels), 1)
    titles = []
    for name in layer_names:
        for label in labels:
            titles.append(_layer_title(snapshots[label].layer(name), post_activation))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles or [""], column_titles=None,
                        horizontal_spacing=0.04, vertical_spacing=min(0.1, 0.45 / rows),
                        x_title="post-activation value" if post_activation else "pre-activation value",
                        y_title="count" + (" (log scale)" if log_counts else ""))
    for col, label in enumerate(labels, start=1):
        for row, name in enumerate(layer_names, start=1):
            layer = snapshots[label].layer(name)
            hist = layer_histogram(layer.pre_activation, layer.activation, post_activation)
            if hist is not None:
                bar = _histogram_bar(*hist, label_colour(label, col - 1), f"{label} · {name}")
                fig.add_trace(bar, row=row, col=col)
    if log_counts:
        fig.update_yaxes(type="log", dtick=1)
    fig.update_layout(bargap=0)
    fig.update_annotations(font_size=SUBPLOT_TITLE_SIZE - 1)
    for col, label in enumerate(labels, start=1):  # column headers above the first row
        fig.add_annotation(text=f"<b>{label}</b>", xref=f"x{col if col > 1 else ''} domain", yref="paper",
                           x=0.5, y=1.0, yshift=48, showarrow=False, font={"size": FONT_SIZE + 2,
                                                                              "color": label_colour(label, col - 1)})
    view = "Post-activation" if post_activation else "Pre-activation"
    fig = style(fig, f"{view} histograms: one column per initializer, same network and batch",
                height=190 * rows + 190)
    fig.update_layout(margin={"t": 140})
    return fig


# ------------------------------------------------------------------ spreads
def _as_entries(snapshots) -> list[tuple[str, Snapshot]]:
    if isinstance(snapshots, Snapshot):
        return [(f"step {snapshots.step}", snapshots)]
    if isinstance(snapshots, Mapping):
        return list(snapshots.items())
    return [(str(label), snap) for label, snap in snapshots]


def std_table(snapshots, predicted: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Rows (label, step, layer, std, mean, min, max, frac_nonpositive, predicted_std) behind the std charts."""
    rows = []
    for label, snap in _as_entries(snapshots):
        for layer in snap.layers:
            pre = layer.pre_activation
            rows.append({"label": label, "step": snap.step, "layer": layer.name, "std": pre.std, "mean": pre.mean,
                         "min": pre.min, "max": pre.max, "frac_nonpositive": pre.frac_nonpositive,
                         "nonfinite": pre.nonfinite,
                         "predicted_std": (predicted or {}).get(layer.name, math.nan)})
    return pd.DataFrame(rows, columns=["label", "step", "layer", "std", "mean", "min", "max", "frac_nonpositive",
                                       "nonfinite", "predicted_std"])


def std_per_layer(snapshots, predicted: Mapping[str, float] | None = None, title: str | None = None,
                  predicted_label: str = "theory (predicted)") -> go.Figure:
    """Standard deviation of each layer's pre-activation, input side left, on a log axis.

    ``snapshots`` is one Snapshot or a list of (label, Snapshot) / a dict label -> Snapshot.
    ``predicted`` (layer -> std, e.g. from :mod:`cnnviz.theory`) is drawn dashed and
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
    style_spec(layout, title, height=460)
    specs.merge(layout, {"legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0, "xanchor": "right"}})
    return specs.figure(data, layout)


def compare_std_chart(snapshots: Mapping[str, Snapshot], predicted: Mapping[str, float] | None = None) -> go.Figure:
    """Std per layer for several initializers on one log-scale chart (same net, same batch).

    What to look for: the lines fan out by decades; the one that stays flat is the
    initializer whose variance matches the layers' fan-in.
    """
    return std_per_layer(snapshots, predicted, title="Pre-activation spread per layer, one line per initializer")


def comparison_table(snapshots: Mapping[str, Snapshot]) -> pd.DataFrame:
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
