"""Basins of attraction: every start of a grid at once, each row exactly its own trajectory."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.errors import UserError
from cnnviz.nets.optimizers import OptimizerSpec
from cnnviz.playground.basins import MAX_GRID, MAX_WORK, basin_map, grid_starts
from cnnviz.playground.surfaces import get_surface
from cnnviz.playground.trajectories import run_trajectory

ROOT = Path(__file__).resolve().parents[1]

CASES = [  # (surface, spec, grid, steps): some converge, some diverge, one never settles
    ("himmelblau", OptimizerSpec("adam", lr=0.1), 12, 200),
    ("himmelblau", OptimizerSpec("momentum", lr=0.01), 12, 200),
    ("rosenbrock", OptimizerSpec("momentum", lr=0.004), 10, 150),
    ("rastrigin", OptimizerSpec("nesterov", lr=0.004, momentum=0.8), 10, 150),
    ("beale", OptimizerSpec("rmsprop", lr=0.02, momentum=0.3), 10, 200),
    ("saddle", OptimizerSpec("nadam", lr=0.05), 9, 100),
    ("booth", OptimizerSpec("adadelta", lr=1.0, rho=0.9), 8, 100),
    ("ravine", OptimizerSpec("adagrad", lr=0.5), 8, 100),
]


@pytest.mark.parametrize("surface,spec,grid,steps", CASES, ids=[f"{c[0]}-{c[1].name}" for c in CASES])
def test_every_start_follows_its_own_trajectory(surface, spec, grid, steps):
    result = basin_map(surface, spec, grid, steps)
    rng = np.random.default_rng(grid * steps)
    for k in rng.choice(grid * grid, size=12, replace=False):
        alone = run_trajectory(surface, spec, tuple(result.starts[k]), steps, use_cache=False)
        assert bool(result.diverged[k]) == alone.diverged
        if alone.diverged:
            assert result.diverged_at[k] == alone.diverged_at and np.isnan(result.ends[k]).all()
        else:
            np.testing.assert_allclose(result.ends[k], alone.points[-1], rtol=0, atol=1e-12)
            assert result.diverged_at[k] == -1


def test_classification_and_steps_match_the_single_paths():
    surface = get_surface("himmelblau")
    result = basin_map(surface, OptimizerSpec("adam", lr=0.1), 16, 300, tolerance=0.05)
    assert set(result.minimum.tolist()) == {0, 1, 2, 3}  # all four minima have a basin
    for k in range(0, 256, 7):
        alone = run_trajectory(surface, OptimizerSpec("adam", lr=0.1), tuple(result.starts[k]), 300, use_cache=False)
        distances = np.linalg.norm(np.asarray(surface.minima) - alone.points[-1], axis=1)
        if distances.min() <= 0.05:
            index = int(np.argmin(distances))
            assert result.minimum[k] == index
            near = np.linalg.norm(alone.points - np.asarray(surface.minima[index]), axis=1) <= 0.05
            first_of_last_run = len(near) - np.argmin(near[::-1]) if not near.all() else 0
            assert result.steps_to_converge[k] == first_of_last_run
            assert near[first_of_last_run:].all() and (first_of_last_run == 0 or not near[first_of_last_run - 1])
        else:
            assert result.minimum[k] == -1 and result.steps_to_converge[k] == -1


def test_momentum_overshoot_changes_the_map():
    """With heavy momentum many starts end in a different minimum than plain descent sends them to."""
    plain = basin_map("himmelblau", OptimizerSpec("sgd", lr=0.002), 24, 1000)
    heavy = basin_map("himmelblau", OptimizerSpec("momentum", lr=0.002, momentum=0.95), 24, 1000)
    both = (plain.minimum >= 0) & (heavy.minimum >= 0)
    assert both.mean() > 0.9
    assert (plain.minimum[both] != heavy.minimum[both]).mean() > 0.1


def test_rastrigin_minima_are_the_local_minima_and_basins_find_them():
    from scipy.optimize import minimize

    surface = get_surface("rastrigin")
    minima = np.asarray(surface.all_minima)
    assert len(minima) == 121 and tuple(minima[0]) == (0.0, 0.0)
    gx, gy = surface.numpy_gradient(minima[:, 0], minima[:, 1])
    assert np.abs(gx).max() < 1e-9 and np.abs(gy).max() < 1e-9
    # every local minimum found by an independent optimizer (BFGS) from random starts is listed
    rng = np.random.default_rng(1)
    for start in rng.uniform(-5.0, 5.0, size=(30, 2)):
        found = minimize(lambda p: float(surface.numpy_loss(*p)), start, method="BFGS", options={"gtol": 1e-10}).x
        if np.abs(found).max() <= 5.12:
            assert np.linalg.norm(minima - found, axis=1).min() < 1e-6
    small_steps = basin_map(surface, OptimizerSpec("sgd", lr=0.001), 21, 400)
    assert len(set(small_steps.minimum.tolist()) - {-1}) > 50  # plain descent stays in its dimple


def test_saddle_has_no_minimum_to_reach():
    result = basin_map("saddle", OptimizerSpec("sgd", lr=0.01), 5, 50)
    assert (result.minimum == -1).all() and result.minima == ()
    assert result.counts()["not at a minimum"] + result.counts()["diverged"] == 25


def test_grid_is_row_major_over_the_box():
    xs, ys, starts = grid_starts((-1.0, 3.0, 10.0, 12.0), 5)
    assert starts.shape == (25, 2)
    assert tuple(starts[0]) == (-1.0, 10.0) and tuple(starts[4]) == (3.0, 10.0) and tuple(starts[5]) == (-1.0, 10.5)
    assert tuple(starts[-1]) == (3.0, 12.0)
    result = basin_map("booth", OptimizerSpec("adam", lr=0.5), 4, 10)
    assert result.box == (-10.0, 10.0, -10.0, 10.0)  # the surface's own window by default


@pytest.mark.parametrize("kwargs,message", [
    ({"grid": 0}, "grid must be between"),
    ({"grid": 1}, "grid must be between"),
    ({"grid": MAX_GRID + 1}, "grid must be between"),
    ({"grid": 2.5}, "whole number"),
    ({"box": (1.0, 0.0, 0.0, 1.0)}, "x0 < x1"),
    ({"box": (0.0, 1.0, 0.0, math.nan)}, "finite"),
    ({"box": (0.0, 1.0)}, "four numbers"),
    ({"box": (0.0, 1e9, 0.0, 1.0)}, "within"),
    ({"tolerance": 0.0}, "tolerance"),
    ({"grid": 128, "steps": MAX_WORK // (128 * 128) + 1}, "too much work"),
    ({"spec": OptimizerSpec("adam", lr=-1.0)}, "learning rate"),
    ({"surface": "moon"}, "unknown surface"),
])
def test_bad_input_is_a_user_error(kwargs, message):
    arguments = {"surface": "booth", "spec": OptimizerSpec("adam", lr=0.1), "grid": 4, "steps": 10} | kwargs
    with pytest.raises(UserError, match=message):
        basin_map(**arguments)


def test_csv_frame_has_one_row_per_start():
    result = basin_map("himmelblau", OptimizerSpec("momentum", lr=0.01), 6, 100)
    frame = result.frame()
    assert len(frame) == 36 and list(frame.columns[:3]) == ["start_x", "start_y", "outcome"]
    assert set(frame["outcome"]) <= {"minimum", "diverged", "not at a minimum"}
    reached = frame[frame["outcome"] == "minimum"]
    assert reached["minimum"].notna().all() and reached["steps_to_converge"].notna().all()


# ---------------------------------------------------------------- CLI


def run_json(capsys, *argv):
    code = main(["basins", *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_cli_json_contract(capsys):
    payload = run_json(capsys, "--surface", "rosenbrock", "--optimizer", "momentum", "--lr", "0.004",
                       "--grid", "6", "--steps", "120", "--box", "-2,2,-1,3")
    for key in ("starts", "ends", "diverged", "steps_to_converge", "minimum"):
        assert len(payload[key]) == 36, key
    assert payload["starts"][0] == [-2.0, -1.0] and payload["starts"][5] == [2.0, -1.0]
    assert payload["starts"][6] == pytest.approx([-2.0, -0.2], abs=1e-15)  # row-major: y outer, x inner
    for end, diverged, minimum, steps in zip(payload["ends"], payload["diverged"], payload["minimum"],
                                             payload["steps_to_converge"]):
        assert (end is None) == diverged
        assert (minimum is None) == (steps is None)
        if minimum is not None:
            assert payload["minima"][minimum] == [1.0, 1.0] and math.dist(end, [1.0, 1.0]) <= payload["tolerance"]
    assert any(payload["diverged"]) and not all(payload["diverged"])
    start = payload["starts"][8]
    alone = run_trajectory("rosenbrock", OptimizerSpec("momentum", lr=0.004), tuple(start), 120, use_cache=False)
    assert payload["diverged"][8] == alone.diverged
    if not alone.diverged:
        assert payload["ends"][8] == alone.points[-1].tolist()


def test_cli_hyperparameters_reach_the_optimizer(capsys):
    common = ["--surface", "himmelblau", "--optimizer", "rmsprop", "--lr", "0.05", "--grid", "4", "--steps", "60"]
    plain = run_json(capsys, *common)
    changed = run_json(capsys, *common, "--rho", "0.5", "--momentum", "0.5", "--epsilon", "1e-4")
    assert changed["hyperparameters"] == {"rho": 0.5, "momentum": 0.5, "epsilon": 1e-4, "lr": 0.05}
    assert plain["ends"] != changed["ends"]


def test_cli_summary_table(capsys):
    code = main(["basins", "--surface", "himmelblau", "--optimizer", "adam", "--lr", "0.1", "--grid", "8",
                 "--steps", "200"])
    out = capsys.readouterr().out
    assert code == 0 and "minimum: 64 of 64" in out and "median steps to converge" in out


@pytest.mark.parametrize("flags,needle", [
    (["--grid", "0"], "grid must be between"),
    (["--grid", "100000"], "grid must be between"),
    (["--box", "1,0,0,1"], "x0 < x1"),
    (["--box", "1,2,3"], "--box"),
    (["--grid", "abc"], "invalid int value"),
    (["--tolerance", "-1"], "tolerance"),
])
def test_cli_bad_input_exits_2_with_one_line(capsys, flags, needle):
    try:
        code = main(["basins", "--surface", "booth", "--optimizer", "adam", *flags, "--json"])
    except SystemExit as exit:  # argparse's own errors (not a number) exit from the parser
        code = exit.code
    captured = capsys.readouterr()
    assert code == 2
    assert needle in captured.err and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err and captured.out == ""


def test_module_entry_point_subprocess():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "cnnviz", "basins", "--surface", "himmelblau", "--optimizer", "sgd",
               "--lr", "0.01", "--grid", "3", "--steps", "50", "--box", "-4,4,-4,4", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["starts"][4] == [0.0, 0.0] and len(payload["ends"]) == 9
    too_big = [*command[:command.index("--grid") + 1], "100000", "--json"]
    bad = subprocess.run(too_big, capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
