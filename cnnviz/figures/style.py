"""The house look of every cnnviz figure: fonts, colours, titles, legends, log ticks.

Sized for a projector at the back of a lecture hall (1280×720 at 150 % zoom leaves a
full-width chart about 500 CSS pixels) and for a desktop. Pure plotly, no data.
"""

from __future__ import annotations

import math
import re

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

# Sizes chosen for a projector at the back of a lecture hall. A projected page at 150 % zoom
# gives a full-width chart about 500 CSS pixels: a title line of ~45 characters at TITLE_SIZE
# fits; longer titles put their details on a smaller second line (see two_line_title).
FONT_SIZE = 16
TITLE_SIZE = 19
SUBPLOT_TITLE_SIZE = 15
# Legends sit in a row below the plot (never over a title or the data); they take one line
# per ~5 entries, so charts with many layers colour by depth with a colour bar instead.
LEGEND_BELOW = {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0.0, "xanchor": "left"}
MAX_LEGEND_ENTRIES = 8
# Dark, saturated colours (D3's) read on projectors; light pastels wash out.
LAYER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#843c39")
INIT_COLOURS = {"normal": "#d62728", "normal-0.01": "#1f77b4", "glorot-uniform": "#ff7f0e",
                "glorot-normal": "#e377c2", "he-normal": "#2ca02c", "he-uniform": "#17becf",
                "lecun-normal": "#9467bd", "truncated-normal-0.1": "#8c564b", "orthogonal": "#7f7f7f",
                "zeros": "#000000"}


# plotly_white's page look (white paper, light grid lines, its colour cycle) without its
# per-trace defaults, 3D/map scenes and colour scales: ~0.7 KB instead of ~7 KB in every
# chart sent to a browser, and applied ~10x faster than a template named by string, which
# plotly validates again for every figure (bench/RESULTS_classroom.md).
HOUSE_TEMPLATE = go.layout.Template(layout={
    key: value for key, value in pio.templates["plotly_white"].to_plotly_json()["layout"].items()
    if key not in ("colorscale", "coloraxis", "geo", "mapbox", "polar", "scene", "ternary", "shapedefaults",
                   "annotationdefaults")})
_HOUSE_TEMPLATE_JSON = HOUSE_TEMPLATE.to_plotly_json()


# Many layers (VGG16's 16) are coloured by depth along this scale, dark enough on white at both ends.
DEPTH_SCALE = [[0.0, "#08306b"], [0.3, "#2171b5"], [0.55, "#2ca02c"], [0.8, "#f16913"], [1.0, "#a50f15"]]


def layer_colours(names) -> tuple[dict[str, str], go.Scatter | None]:
    """(name -> colour, colour bar or None) for per-layer lines.

    Up to MAX_LEGEND_ENTRIES layers get the house palette and a legend; more are coloured
    by depth (input side dark blue, output side red) and explained by a colour bar whose
    ticks name a few layers — a legend of 16 entries would scroll or cover the chart.
    """
    names = list(names)
    if len(names) <= MAX_LEGEND_ENTRIES:
        return {name: layer_colour(i) for i, name in enumerate(names)}, None
    from plotly.colors import sample_colorscale

    colours = sample_colorscale(DEPTH_SCALE, [i / (len(names) - 1) for i in range(len(names))])
    ticks = sorted({round(i * (len(names) - 1) / 4) for i in range(5)})
    bar = go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip", marker={
        "colorscale": DEPTH_SCALE, "cmin": 0, "cmax": len(names) - 1, "color": [0], "showscale": True,
        "colorbar": {"title": {"text": f"layer (1–{len(names)})", "side": "right"}, "thickness": 16,
                     "tickvals": ticks, "ticktext": [names[t] for t in ticks], "len": 0.9}})
    return dict(zip(names, colours)), bar


def layer_colour(index: int) -> str:
    """The colour of the ``index``-th layer; every per-layer chart uses the same one."""
    return LAYER_COLOURS[index % len(LAYER_COLOURS)]


def label_colour(label: str, index: int) -> str:
    """An initializer's own colour when ``label`` names one, else a layer-palette colour."""
    return INIT_COLOURS.get(label, layer_colour(index))


def two_line_title(main: str, detail: str | None) -> str:
    """``main`` in the title's size, ``detail`` on a smaller second line (so neither is cut off)."""
    return main if not detail else f"{main}<br><sup>{detail}</sup>"


def title_layout(title: str, size: int = TITLE_SIZE) -> dict:
    """Plotly ``layout.title`` for ``title``; anything after its first ``<br>`` becomes the subtitle.

    Plotly places a multi-line title by its first line and cuts the rest off at the top of
    the figure; a subtitle is laid out below the title. The title sits at the top of the
    figure and pushes the plot down when it needs the room (``automargin``).
    """
    main, _, rest = title.partition("<br>")
    layout = {"text": main, "font": {"size": size}, "x": 0.0, "xanchor": "left", "xref": "container",
              "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 12, "l": 8}, "automargin": True}
    detail = re.sub(r"</?sup>", "", rest).strip()
    if detail:
        layout["subtitle"] = {"text": detail, "font": {"size": max(size - 5, 13)}}
    return layout


def full_title(fig: go.Figure) -> str:
    """The title and subtitle of ``fig`` as one line of text (for notes and tests)."""
    title = fig.layout.title
    subtitle = title.subtitle.text if title.subtitle and title.subtitle.text else ""
    return f"{title.text or ''} {subtitle}".strip()


HOUSE_MARGIN = {"l": 70, "r": 30, "t": 90, "b": 70}


def style(fig: go.Figure, title: str, height: int | None = None, *, margin: dict | None = None,
          title_size: int = TITLE_SIZE) -> go.Figure:
    """Large fonts, a white background and a title: the house look of every figure.

    Every figure module calls this (or :func:`style_spec` for dict-built figures) and then
    sets only what its chart needs on top: a legend's place, a tighter ``margin`` for tiles.
    Legends, subplot titles and the data never draw over the title (see :func:`title_layout`).
    """
    fig.update_layout(
        title=title_layout(title, title_size),
        font={"size": FONT_SIZE},
        template=HOUSE_TEMPLATE,
        margin={**HOUSE_MARGIN, **(margin or {})},
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
    """:func:`style` for a figure built as a plain dict (:mod:`cnnviz.figures.specs`): the same look,
    without plotly's per-call validation (a page redraw builds several figures)."""
    from cnnviz.figures import specs

    specs.merge(layout, {"title": title_layout(title), "font": {"size": FONT_SIZE},
                         "margin": dict(HOUSE_MARGIN),
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


def short_number(value: float) -> str:
    """3 significant digits, with a short exponent for very small or large values (4.4e-4, 1.07e4)."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{float(f'{value:.3g}'):g}"  # 2000, not 2e+03
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{float(mantissa):.3g}e{int(exponent)}"
