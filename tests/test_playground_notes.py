"""Every surface's note says what the real optimizers do on it: one test per note, claim by claim."""

import numpy as np
import pytest

from cnnviz.nets.optimizers import OptimizerSpec
from cnnviz.playground.surfaces import SURFACES, get_surface
from cnnviz.playground.trajectories import run_trajectory


def path(surface, name, lr, steps, start=None):
    surface = get_surface(surface)
    return run_trajectory(surface, OptimizerSpec(name, lr=lr), start or surface.default_start, steps)


def distance(trajectory, point):
    return np.linalg.norm(trajectory.points - np.asarray(point), axis=1)


def test_every_surface_has_a_tested_note():
    tested = {name[len("test_note_"):] for name in globals() if name.startswith("test_note_")}
    assert tested == set(SURFACES)


def test_note_rosenbrock():
    assert "(1, 1)" in SURFACES["rosenbrock"].lesson
    for name, lr in (("sgd", 0.001), ("adam", 0.01)):
        trajectory = path("rosenbrock", name, lr, 500)
        floor = np.abs(trajectory.points[:, 1] - trajectory.points[:, 0] ** 2) < 0.1
        assert floor[:11].any(), f"{name} reaches the valley floor within 10 steps"
        assert distance(trajectory, (1, 1))[-1] > 1.5
    momentum = path("rosenbrock", "momentum", 0.001, 500)
    assert distance(momentum, (1, 1))[-1] < 0.5


def test_note_beale():
    surface = SURFACES["beale"]
    grid_x, grid_y = np.meshgrid(np.linspace(*surface.x_range, 201), np.linspace(*surface.y_range, 201))
    slope = np.hypot(*surface.numpy_gradient(grid_x, grid_y))
    assert np.percentile(slope, 5) < 10 and slope.max() > 100_000  # plateaus and cliffs, both large areas
    assert np.percentile(slope, 50) > 100


def test_note_himmelblau():
    from cnnviz.playground.basins import basin_map

    surface = SURFACES["himmelblau"]
    assert len(surface.minima) == 4 and all(abs(surface.numpy_loss(*m)) < 1e-9 for m in surface.minima)
    adam = basin_map(surface, OptimizerSpec("adam", lr=0.1), 16, 300)
    assert set(adam.minimum.tolist()) == {0, 1, 2, 3}  # depends on where it starts
    momentum = basin_map(surface, OptimizerSpec("momentum", lr=0.01), 16, 300)
    both = (adam.minimum >= 0) & (momentum.minimum >= 0)
    assert (adam.minimum[both] != momentum.minimum[both]).any()  # and on the optimizer


def test_note_saddle():
    surface = SURFACES["saddle"]
    assert not surface.minima
    assert surface.numpy_loss(0.0, 5.0) < surface.numpy_loss(0.0, 1.0) < surface.numpy_loss(0.0, 0.0)
    sgd = path("saddle", "sgd", 0.01, 100)
    assert abs(sgd.final_point[0]) < 0.2 and abs(sgd.final_point[1]) < 0.01  # at the saddle, still


def test_note_booth():
    assert "(1, 3)" in SURFACES["booth"].lesson
    for name in ("sgd", "momentum"):
        assert (distance(path("booth", name, 0.01, 200), (1, 3)) <= 0.05).any(), name
    for name in ("adam", "adamw", "nadam", "rmsprop", "adagrad", "adadelta"):
        trajectory = path("booth", name, 0.001, 300)
        assert np.linalg.norm(trajectory.points[-1] - trajectory.points[0]) < 0.5, name
    assert np.linalg.norm(np.subtract((-8, -8), (1, 3))) == pytest.approx(14, abs=0.5)
    for name, lr in (("adam", 0.3), ("rmsprop", 0.05), ("adagrad", 5.0)):  # "raise lr to see them arrive"
        assert (distance(path("booth", name, lr, 300), (1, 3)) <= 0.05).any(), name


def test_note_rastrigin():
    surface = SURFACES["rastrigin"]
    minima = np.asarray(surface.all_minima)
    assert len(minima) == 121
    assert np.abs(minima - np.round(minima)).max() < 0.03  # one next to each whole-number point
    sgd = path("rastrigin", "sgd", 0.001, 300)
    end = np.asarray(sgd.final_point)
    nearest_to_start = minima[np.argmin(np.linalg.norm(minima - np.asarray(surface.default_start), axis=1))]
    assert np.linalg.norm(end - nearest_to_start) < 0.05 and sgd.final_loss > 10


def test_note_ravine():
    zigzag = path("ravine", "sgd", 0.09, 100)
    assert np.count_nonzero(np.diff(np.sign(zigzag.points[:40, 1]))) >= 35  # every step, wall to wall
    assert path("ravine", "sgd", 0.11, 300).diverged
    small = path("ravine", "sgd", 0.01, 100)
    assert np.count_nonzero(np.diff(np.sign(small.points[:, 1]))) == 0
    assert (small.points[-1, 0] - small.points[0, 0]) < 9.0 / 5
