"""Each preset lesson still shows what its text claims, with the real Keras optimizers."""

import numpy as np
import pandas as pd
import pytest

from cnnviz.errors import UserError
from cnnviz.surfaces import get_surface, nearest_minimum
from cnnviz.trajectories import trajectories_frame
from cnnviz.trajectory_presets import PRESETS, get_preset, run_preset


def overshoot(trajectory, minimum) -> float:
    """How far the path went past ``minimum``, measured along the start->minimum line."""
    minimum = np.asarray(minimum)
    towards_start = trajectory.points[0] - minimum
    towards_start /= np.linalg.norm(towards_start)
    return float(-min(0.0, ((trajectory.points - minimum) @ towards_start).min()))


@pytest.fixture(scope="module")
def runs():
    return {name: run_preset(name) for name in PRESETS}


def test_presets_are_complete(runs):
    assert {"tutorial", "saddle-escape", "ravine-zigzag", "rastrigin-local-minima", "momentum-overshoots"} <= set(PRESETS)
    for name, preset in PRESETS.items():
        assert preset.title and preset.lesson and preset.specs
        result = runs[name]
        assert len(result.trajectories) == len(preset.specs) == len(result.table)
        assert all(t.points[0].tolist() == list(preset.start) for t in result.trajectories)


def test_tutorial_sgd_slow_momentum_overshoots_adam_balanced(runs):
    preset = PRESETS["tutorial"]
    assert preset.steps == 120 and [s.name for s in preset.specs] == ["sgd", "momentum", "adam"]
    sgd, momentum, adam = runs["tutorial"].trajectories
    table = runs["tutorial"].table
    minimum = get_surface(preset.surface).minima[0]
    assert table.loc[0, "distance_to_minimum"] > 0.5  # SGD does not make it in 120 steps
    assert overshoot(momentum, minimum) > 1.0 > overshoot(adam, minimum)
    assert table.loc[2, "steps_to_minimum"] < table.loc[1, "steps_to_minimum"]  # Adam arrives first
    assert not table["diverged"].any()


def test_saddle_escape(runs):
    sgd, momentum, rmsprop, adam = runs["saddle-escape"].trajectories
    assert abs(sgd.final_point[1]) < 0.1  # still at the saddle
    for escaped in (momentum, rmsprop, adam):
        assert abs(escaped.final_point[1]) > 1.0


def test_ravine_sgd_zigzags_momentum_arrives(runs):
    sgd, momentum, adam = runs["ravine-zigzag"].trajectories
    table = runs["ravine-zigzag"].table
    y_sign_changes = np.count_nonzero(np.diff(np.sign(sgd.points[:40, 1])))
    assert y_sign_changes > 30  # bouncing wall to wall
    assert nearest_minimum(get_surface("ravine"), sgd.final_point)[1] > 1.0
    assert pd.isna(table.loc[0, "steps_to_minimum"])
    assert table.loc[1, "steps_to_minimum"] < 100 and table.loc[2, "steps_to_minimum"] < 100


def test_rastrigin_sgd_stuck_in_a_local_minimum(runs):
    sgd = runs["rastrigin-local-minima"].trajectories[0]
    assert sgd.final_loss > 10 and not sgd.diverged  # far above the global minimum's 0


def test_more_momentum_overshoots_more(runs):
    minimum = get_surface("booth").minima[0]
    amounts = [overshoot(t, minimum) for t in runs["momentum-overshoots"].trajectories]
    assert amounts == sorted(amounts) and amounts[-1] > 5 * max(amounts[1], 0.1)


def test_divergence_preset_flags_the_big_step(runs):
    table = runs["divergence"].table
    assert list(table["diverged"]) == [True, False, False]


def test_unknown_preset_and_csv_frame(runs):
    with pytest.raises(UserError, match="unknown preset"):
        get_preset("nope")
    frame = trajectories_frame(runs["divergence"].trajectories)
    assert list(frame.columns) == ["optimizer", "step", "x", "y", "loss"]
    assert np.isfinite(frame[["x", "y", "loss"]].to_numpy()).all()
