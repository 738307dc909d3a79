"""Each preset lesson still shows what its text claims, with the real Keras optimizers."""

import numpy as np
import pandas as pd
import pytest

from cnnviz.errors import UserError
from cnnviz.playground.presets import PRESETS, get_preset, run_preset
from cnnviz.playground.surfaces import get_surface, nearest_minimum
from cnnviz.playground.trajectories import trajectories_frame


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
    speed = np.abs(np.diff(momentum.points[:, 1]))
    assert speed[-10:].mean() > 10 * speed[:10].mean()  # momentum builds speed
    for steady in (rmsprop, adam):  # a steady pace: each late step moves y by about the same amount
        late = np.abs(np.diff(steady.points[-51:, 1]))
        assert late.max() < 1.1 * late.min()


def test_ravine_sgd_zigzags_momentum_arrives(runs):
    sgd, momentum, adam = runs["ravine-zigzag"].trajectories
    table = runs["ravine-zigzag"].table
    y_sign_changes = np.count_nonzero(np.diff(np.sign(sgd.points[:40, 1])))
    assert y_sign_changes >= 35  # bouncing wall to wall, every step
    assert nearest_minimum(get_surface("ravine"), sgd.final_point)[1] > 1.0
    assert pd.isna(table.loc[0, "steps_to_minimum"])
    assert table.loc[1, "steps_to_minimum"] < 100 and table.loc[2, "steps_to_minimum"] < 100


def test_rastrigin_sgd_stuck_in_a_local_minimum(runs):
    sgd, momentum, adam = runs["rastrigin-local-minima"].trajectories
    assert sgd.final_loss > 10 and not sgd.diverged  # far above the global minimum's 0
    minima = np.asarray(get_surface("rastrigin").all_minima)

    def dimple(trajectory):
        distances = np.linalg.norm(minima - trajectory.points[-1], axis=1)
        assert distances.min() < 0.05  # settled in a dimple
        return int(np.argmin(distances))

    home = dimple(sgd)
    for hopper in (momentum, adam):  # out of SGD's dimple, into another one, not the global minimum
        assert dimple(hopper) not in (home, 0)
        assert 0 < hopper.final_loss < sgd.final_loss


def test_more_momentum_overshoots_more(runs):
    minimum = get_surface("booth").minima[0]
    amounts = [overshoot(t, minimum) for t in runs["momentum-overshoots"].trajectories]
    assert amounts == sorted(amounts) and amounts[-1] > 5 * max(amounts[1], 0.1)
    circling = runs["momentum-overshoots"].trajectories[-1]  # 0.99: still circling after 120 steps
    assert np.linalg.norm(circling.points[-1] - minimum) > 1.0
    assert np.linalg.norm(np.diff(circling.points[-21:], axis=0), axis=1).sum() > 10


def test_legends_tell_the_momentum_entries_apart(runs):
    labels = [t.label for t in runs["momentum-overshoots"].trajectories]
    assert len(set(labels)) == len(labels)
    assert labels[1:] == ["momentum (lr 0.01, momentum 0.5)", "momentum (lr 0.01, momentum 0.9)",
                          "momentum (lr 0.01, momentum 0.99)"]


def test_divergence_preset_flags_the_big_step(runs):
    table = runs["divergence"].table
    assert list(table["diverged"]) == [True, False, False]
    flung, careful, adam = runs["divergence"].trajectories
    assert flung.diverged_at <= 10  # "within a few steps"
    x, y = careful.final_point
    assert abs(y - x * x) < 0.01  # follows the valley floor
    steps = np.linalg.norm(np.diff(adam.points, axis=0), axis=1)
    assert steps.max() <= np.sqrt(2) * 0.05 * 1.01  # at most lr per coordinate


def test_unknown_preset_and_csv_frame(runs):
    with pytest.raises(UserError, match="unknown preset"):
        get_preset("nope")
    frame = trajectories_frame(runs["divergence"].trajectories)
    assert list(frame.columns) == ["optimizer", "step", "x", "y", "loss"]
    assert np.isfinite(frame[["x", "y", "loss"]].to_numpy()).all()
