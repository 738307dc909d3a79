"""Playground figures: titled, labelled, never a NaN, divergence marked, frames light."""

import numpy as np
import pytest

from cnnviz.figures.surfaces import (
    MAX_ANIMATION_FRAMES,
    animated_contour_figure,
    comparison_display_table,
    contour_figure,
    loss_figure,
    surface_3d_figure,
)
from cnnviz.optimizers import OptimizerSpec
from cnnviz.trajectories import compare


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
    labels = [a.text for a in fig.layout.annotations]
    assert "start" in labels and any("diverged at step" in text for text in labels)
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


def test_loss_figure_is_log_unless_losses_go_negative(diverging, saddle):
    fig = loss_figure(diverging.trajectories)
    assert_clean(fig)
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "step"
    symmetric = loss_figure(saddle.trajectories)  # saddle losses fall far below zero
    assert_clean(symmetric)
    assert symmetric.layout.yaxis.type == "linear" and "symmetric log" in symmetric.layout.yaxis.title.text
    assert any("symmetric log" in a.text for a in symmetric.layout.annotations)
    assert "-1e" in " ".join(symmetric.layout.yaxis.ticktext)
    np.testing.assert_allclose(symmetric.data[1].customdata, saddle.trajectories[1].losses)  # hover shows real loss
    short = compare("saddle", [OptimizerSpec("sgd", lr=0.01)], (0.1, 1.0), 5)  # small negative losses
    linear = loss_figure(short.trajectories)
    assert linear.layout.yaxis.type == "linear" and any("linear" in a.text for a in linear.layout.annotations)


def test_3d_and_saddle_contour_are_clean(saddle):
    for fig in (surface_3d_figure(saddle.surface, saddle.trajectories), contour_figure(saddle.surface, saddle.trajectories)):
        assert_clean(fig)
    fig = surface_3d_figure("himmelblau")
    assert_clean(fig)
    assert fig.layout.scene.zaxis.title.text


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
    from cnnviz.trajectories import Trajectory

    points = np.array([[0.0, 0.0], [1.0, 1.0], [1.5, -1.0]])
    trajectory = Trajectory("booth", OptimizerSpec("sgd", lr=1.0), (0.0, 0.0), 10, points, np.ones(3), True, 3)
    assert divergence_marks([trajectory], (-10, 10), (-10, 10)) == [(0, 1.5, -1.0, "sgd: diverged at step 3")]
    index, x, y, text = divergence_marks([trajectory], (-1, 1.2), (-1, 1.2))[0]
    assert (x, y) == (1.0, 1.0) and "off the map" in text
    fig = contour_figure("booth", [trajectory])
    assert_clean(fig)
