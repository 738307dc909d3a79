"""Figures laid out for a projector (issue 12): short titles, legends out of the way, many layers
without a scrolling legend, and a shared x range to show a 10,000x difference.

Real runs on the embedded MNIST sample, small batches. How the figures actually render in
Chromium at 1600x1000 and 1280x720/150 % is checked by tests/test_e2e_browser.py.
"""

from __future__ import annotations

import math

import pytest

from cnnviz.config import RunConfig
from cnnviz.figures import activations as figs
from cnnviz.figures import logits as logit_figures
from cnnviz.figures import training_curves as curves
from cnnviz.training import Run

BATCH = 16
# A full-width chart on a projected page is ~500 CSS pixels: ~45 characters of a 19 px title.
TITLE_CHARACTERS = 48


@pytest.fixture(scope="module")
def at_init():
    """ltfn_convnet at step 0 under N(0,1) and He on the same batch; He also trained 2 steps."""
    runs = {init: Run(RunConfig(arch="ltfn_convnet", init=init, batch_size=BATCH)) for init in ("normal", "he-normal")}
    for run in runs.values():
        run.snapshot_at_init()
    runs["he-normal"].train(2)
    return runs


@pytest.fixture(scope="module")
def deep_history():
    """17 probed layers (16 hidden + logits), as many as VGG16 has."""
    run = Run(RunConfig(arch="plain_mlp", depth=16, width=16, batch_size=BATCH))
    run.train(2)
    return run.history()


def test_titles_fit_a_projected_page_and_put_details_in_a_subtitle(at_init):
    he = at_init["he-normal"]
    snapshots = {init: run.snapshot_at_init() for init, run in at_init.items()}
    evaluation = he.evaluate(limit=50)
    probabilities = logit_figures.softmax_probabilities(evaluation["logits"])
    figures = [
        figs.histogram_grid(he.latest), figs.std_per_layer(he.latest), figs.compare_std_chart(snapshots),
        figs.comparison_histogram_grid(snapshots), curves.loss_curve(he.history()),
        curves.gradient_and_update_chart(he.history()), curves.histogram_heatmap(he.history(), "conv4"),
        logit_figures.logit_distribution_figure(evaluation["logits"], list("0123456789"), "after 2 training steps"),
        logit_figures.confusion_matrix_figure(
            logit_figures.confusion_counts(probabilities.argmax(1), evaluation["labels"], 10), list("0123456789"),
            "after 2 training steps"),
        logit_figures.max_probability_figure({"step 2": probabilities}, 10),
    ]
    for figure in figures:
        title = figure.layout.title
        assert "<br>" not in title.text and len(title.text) <= TITLE_CHARACTERS, title.text
        assert title.automargin and title.yref == "container"  # the plot moves down rather than under it
    confusion = figures[8]
    assert confusion.layout.title.text == "Confusion matrix"
    assert "50 test images, after 2 training steps: accuracy" in confusion.layout.title.subtitle.text


def test_legends_sit_below_the_plot_not_over_the_title(at_init):
    he = at_init["he-normal"]
    for figure in (figs.std_per_layer([("step 0", he.snapshot_at_init()), ("now", he.latest)]),
                   curves.loss_curve(he.history()), curves.gradient_and_update_chart(he.history())):
        legend = figure.layout.legend
        assert legend.orientation == "h" and legend.yref == "container" and legend.y == 0, figure.layout.title.text
        assert legend.yanchor == "bottom"


def test_a_deep_network_is_coloured_by_depth_with_a_colour_bar_not_a_long_legend(deep_history, at_init):
    figure = curves.gradient_and_update_chart(deep_history)
    lines = [trace for trace in figure.data if trace.mode == "lines+markers"]
    assert len({trace.name for trace in lines}) == 17
    assert not any(trace.showlegend for trace in figure.data)  # no 17-entry legend to scroll through
    bars = [trace for trace in figure.data if trace.marker.showscale]
    assert len(bars) == 1
    ticks = list(bars[0].marker.colorbar.ticktext)
    assert ticks[0] == "dense1" and ticks[-1] == "logits"
    colours = {trace.name: trace.line.color for trace in lines}
    assert len(set(colours.values())) == 17  # every layer its own shade, input side to output side
    few = curves.gradient_and_update_chart(at_init["he-normal"].history())  # five layers: a legend
    assert sum(bool(trace.showlegend) for trace in few.data) == 5
    assert not any(trace.marker.showscale for trace in few.data)


def test_compare_grid_can_put_every_initializer_of_a_layer_on_one_x_range(at_init):
    snapshots = {init: run.snapshot_at_init() for init, run in at_init.items()}
    own = figs.comparison_histogram_grid(snapshots)
    shared = figs.comparison_histogram_grid(snapshots, shared_x=True)
    layers = [layer.name for layer in snapshots["normal"].layers]
    for row, name in enumerate(layers):
        first, second = 2 * row + 1, 2 * row + 2  # axis numbers of this row's two panels
        axis = shared.layout[f"xaxis{second}"]
        assert axis.matches == (f"x{first}" if first > 1 else "x")
        assert own.layout[f"xaxis{second}"].matches is None
        # The row's ticks reach the wider run: N(0,1)'s conv4 is ~10,000x He's.
        wide = snapshots["normal"].layer(name).pre_activation
        assert max(abs(t) for t in axis.tickvals) > 0.1 * max(abs(wide.min), abs(wide.max))
    narrow = own.layout["xaxis8"]  # he-normal's conv4 on its own range
    assert max(abs(t) for t in narrow.tickvals) < 10
    assert "one x range per layer" in shared.layout.title.subtitle.text
    # Each row is labelled with its layer; each panel with σ and the share ≤ 0 on two short lines.
    assert [shared.layout[f"yaxis{2 * row + 1 if row else ''}"].title.text for row in range(len(layers))] == \
        [f"<b>{name}</b>" for name in layers]
    panel_titles = [a.text for a in shared.layout.annotations if a.text.startswith("σ=")]
    assert len(panel_titles) == 2 * len(layers)
    assert all(len(line) <= 16 for t in panel_titles for line in t.split("<br>"))


def test_histogram_panel_titles_are_two_short_lines(at_init):
    grid = figs.histogram_grid(at_init["he-normal"].latest)
    titles = [a.text for a in grid.layout.annotations if "σ=" in a.text]
    assert len(titles) == 5
    for text in titles:
        name_line, numbers = text.split("<br>")
        assert name_line.startswith("<b>") and numbers.startswith("σ=")
        assert ("≤0" in numbers) == ("relu" in name_line)  # the share switched off, where a ReLU follows
        assert len(numbers) <= 18


@pytest.mark.parametrize("value, shown", [(2000.0, "2000"), (4.25e-4, "4.25e-4"), (1.07e4, "1.07e4"),
                                          (0.0102, "0.0102"), (8.23e5, "8.23e5")])
def test_compact_numbers_stay_short_and_exact_to_three_digits(value, shown):
    assert figs._compact(value) == shown
    assert math.isclose(float(shown), value, rel_tol=5e-3)
