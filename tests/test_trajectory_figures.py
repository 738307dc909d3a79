"""Playground figures: titled, labelled, never a NaN, divergence marked, labels apart, frames light."""

import json

import numpy as np
import plotly.io as pio
import pytest

from cnnviz.figures.surfaces import (
    MAX_ANIMATION_FRAMES,
    add_click_layer,
    animated_contour_figure,
    comparison_display_table,
    contour_figure,
    loss_figure,
    surface_3d_figure,
    thin_steps,
)
from cnnviz.nets.optimizers import OptimizerSpec
from cnnviz.playground.presets import PRESETS, run_preset
from cnnviz.playground.trajectories import Trajectory, compare


def numbers_in(value):
    """Every float hiding anywhere in a plotly figure dict."""
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from numbers_in(item)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        yield from value.ravel().tolist()
    elif isinstance(value, float):
        yield value


def assert_clean(fig):
    as_dict = fig.to_dict()
    assert fig.layout.title.text
    assert all(np.isfinite(v) for v in numbers_in(as_dict)), "figure contains NaN/inf"
    return as_dict


@pytest.fixture(scope="module")
def diverging():
    specs = [OptimizerSpec("momentum", lr=0.01), OptimizerSpec("adam", lr=0.05)]
    return compare("rosenbrock", specs, (-1.5, 2.0), 300)


@pytest.fixture(scope="module")
def saddle():
    return compare("saddle", [OptimizerSpec("sgd", lr=0.01), OptimizerSpec("adam", lr=0.05)], (1.0, 0.001), 200)


def test_contour_marks_paths_minimum_start_and_divergence(diverging):
    fig = contour_figure(diverging.surface, diverging.trajectories)
    assert_clean(fig)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    names = [trace.name for trace in fig.data]
    assert "momentum (lr 0.01)" in names and "adam (lr 0.05)" in names
    assert "global minimum" in names and "start" in names
    crosses = [t for t in fig.data if getattr(t, "marker", None) is not None and t.marker.symbol == "x"]
    assert len(crosses) == 1  # momentum is flung off the map: the X sits where it left
    assert crosses[0].x[0] in diverging.trajectories[0].points[:, 0]
    x_lo, x_hi = fig.layout.xaxis.range
    assert x_lo <= crosses[0].x[0] <= x_hi
    labels = " ".join(a.text for a in fig.layout.annotations)
    assert "start" in labels and "diverged at step" in labels
    contour = fig.data[0]
    assert "log" in contour.colorbar.title.text  # rosenbrock spans decades


def test_animation_is_light_and_playable(diverging):
    fig = animated_contour_figure(diverging.surface, diverging.trajectories)
    assert_clean(fig)
    assert 1 < len(fig.frames) <= MAX_ANIMATION_FRAMES
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert any("play" in label for label in labels) and any("pause" in label for label in labels)
    assert len(fig.layout.sliders[0].steps) == len(fig.frames)
    last = fig.frames[-1]
    assert len(last.data) == 2  # only the paths change between frames
    assert last.data[1].x[-1] == pytest.approx(diverging.trajectories[1].points[-1, 0])


def test_animation_frames_carry_only_path_coordinates_and_keep_the_map():
    result = run_preset("tutorial")
    fig = animated_contour_figure(result.surface, result.trajectories)
    sent = json.loads(pio.to_json(fig, validate=False))
    names = [trace.get("name") for trace in sent["data"]]
    path_indices = [names.index(t.label) for t in result.trajectories]
    # the map is a background image, not a trace: plotly.js drops traces it cannot animate when play starts
    assert len(sent["layout"]["images"]) == 1 and sent["layout"]["images"][0]["source"].startswith("data:image/png")
    assert all(trace["type"] == "scatter" for trace in sent["data"])
    assert len(sent["frames"]) == MAX_ANIMATION_FRAMES
    for frame in sent["frames"]:
        assert frame["traces"] == path_indices
        for data in frame["data"]:
            assert set(data) <= {"type", "x", "y"}
            assert data["x"]["dtype"] == "f4" and data["y"]["dtype"] == "f4"  # binary float32
    for button in sent["layout"]["updatemenus"][0]["buttons"]:
        assert button["args"][1]["frame"]["redraw"] is False
    final = sent["frames"][-1]["data"][2]  # Adam's whole path at the last frame ends where Adam ends
    end = np.frombuffer(__import__("base64").b64decode(final["x"]["bdata"]), dtype=np.float32)[-1]
    assert end == pytest.approx(result.trajectories[2].points[-1, 0], rel=1e-6)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_page_of_playground_charts_stays_under_300_kb(preset):
    """What the page sends on opening a preset: the map (with its click layer), the animation, the loss curves."""
    result = run_preset(preset)
    charts = [add_click_layer(contour_figure(result.surface, result.trajectories), 41),
              animated_contour_figure(result.surface, result.trajectories), loss_figure(result.trajectories)]
    assert sum(len(pio.to_json(chart, validate=False)) for chart in charts) <= 300_000


def test_many_paths_get_fewer_frames_not_more_bytes():
    specs = [OptimizerSpec(name, lr=0.01) for name in ("sgd", "momentum", "nesterov", "adam", "adamw", "nadam",
                                                        "rmsprop", "adagrad", "adadelta")]
    result = compare("booth", specs, (-8.0, -8.0), 5000)
    fig = animated_contour_figure(result.surface, result.trajectories)
    assert 10 < len(fig.frames) < MAX_ANIMATION_FRAMES
    frames = len(json.dumps(json.loads(pio.to_json(fig, validate=False))["frames"]))
    assert frames <= 100_000
    contour = contour_figure(result.surface, result.trajectories)
    assert len(pio.to_json(contour, validate=False)) <= 200_000  # 9 x 5001 points, thinned


def test_thinning_keeps_every_point_of_short_paths_and_shows_zigzags():
    assert thin_steps(300, 300).tolist() == list(range(300))
    kept = thin_steps(5001, 1000)
    assert kept[0] == 0 and kept[-1] == 5000 and len(kept) <= 1001
    stride = kept[1] - kept[0]
    assert stride % 2 == 1  # an odd stride: a step-by-step zig-zag still alternates sides
    zigzag = (-1.0) ** np.arange(5001)
    assert len(set(np.sign(zigzag[kept[:-1]]))) == 2


def test_labels_at_one_place_share_one_box():
    points = np.array([[0.0, 0.0], [0.2, 0.1], [0.3, 0.2]])  # diverged two steps from the start
    trajectory = Trajectory("booth", OptimizerSpec("sgd", lr=1.0), (0.0, 0.0), 10, points, np.ones(3), True, 3)
    fig = contour_figure("booth", [trajectory])
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["start<br>sgd: diverged at step 3"]
    far = np.array([[-8.0, -8.0], [0.0, 0.0], [6.0, 6.0]])
    apart = Trajectory("booth", OptimizerSpec("sgd", lr=1.0), (-8.0, -8.0), 10, far, np.ones(3), True, 3)
    assert sorted(a.text for a in contour_figure("booth", [apart]).layout.annotations) == [
        "sgd: diverged at step 3", "start"]


def test_no_two_labels_overlap_in_any_preset():
    for name in PRESETS:
        result = run_preset(name)
        fig = contour_figure(result.surface, result.trajectories)
        (x_lo, x_hi), (y_lo, y_hi) = fig.layout.xaxis.range, fig.layout.yaxis.range
        spots = [(a.x, a.y) for a in fig.layout.annotations]
        for i, (xa, ya) in enumerate(spots):
            for xb, yb in spots[i + 1:]:
                assert abs(xa - xb) > 0.12 * (x_hi - x_lo) or abs(ya - yb) > 0.08 * (y_hi - y_lo), name


def test_loss_figure_is_log_unless_losses_go_negative(diverging, saddle):
    fig = loss_figure(diverging.trajectories)
    assert_clean(fig)
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "step"
    symmetric = loss_figure(saddle.trajectories)  # saddle losses fall far below zero
    assert_clean(symmetric)
    assert symmetric.layout.yaxis.type == "linear" and "symmetric log" in symmetric.layout.yaxis.title.text
    assert any("symmetric log" in a.text for a in symmetric.layout.annotations)
    assert "-1e" in " ".join(symmetric.layout.yaxis.ticktext)
    np.testing.assert_allclose(symmetric.data[1].customdata, saddle.trajectories[1].losses, rtol=1e-6)  # real loss
    short = compare("saddle", [OptimizerSpec("sgd", lr=0.01)], (0.1, 1.0), 5)  # small negative losses
    linear = loss_figure(short.trajectories)
    assert linear.layout.yaxis.type == "linear" and any("linear" in a.text for a in linear.layout.annotations)


def test_3d_and_saddle_contour_are_clean(saddle):
    for fig in (surface_3d_figure(saddle.surface, saddle.trajectories), contour_figure(saddle.surface, saddle.trajectories)):
        assert_clean(fig)
    fig = surface_3d_figure("himmelblau")
    assert_clean(fig)
    assert fig.layout.scene.zaxis.title.text == "log10 loss"  # himmelblau's contours are drawn on log levels


def test_display_table(diverging):
    shown = comparison_display_table(diverging.table)
    assert "distance to nearest minimum" in shown.columns and len(shown) == 2
    assert shown.loc[0, "diverged at step"] == str(diverging.trajectories[0].diverged_at)
    assert shown.loc[1, "diverged at step"] == "—"
    import pyarrow as pa

    pa.Table.from_pandas(shown)  # what st.dataframe needs: no mixed-type columns
    saddle_table = comparison_display_table(compare("saddle", [OptimizerSpec("sgd", lr=0.01)], (1.0, 0.001), 3).table)
    assert saddle_table.loc[0, "distance to nearest minimum"] == "no minimum"
    pa.Table.from_pandas(saddle_table)


def test_divergence_on_the_map_is_marked_at_the_last_finite_point():
    from cnnviz.figures.surfaces import divergence_marks

    points = np.array([[0.0, 0.0], [1.0, 1.0], [1.5, -1.0]])
    trajectory = Trajectory("booth", OptimizerSpec("sgd", lr=1.0), (0.0, 0.0), 10, points, np.ones(3), True, 3)
    assert divergence_marks([trajectory], (-10, 10), (-10, 10)) == [(0, 1.5, -1.0, "sgd: diverged at step 3")]
    index, x, y, text = divergence_marks([trajectory], (-1, 1.2), (-1, 1.2))[0]
    assert (x, y) == (1.0, 1.0) and "off the map" in text
    fig = contour_figure("booth", [trajectory])
    assert_clean(fig)
