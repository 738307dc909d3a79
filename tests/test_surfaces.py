"""Surfaces, gradients, and trajectories checked against independent numpy transcriptions
of the Keras update rules (keras/src/optimizers/{sgd,adam,rmsprop,adagrad}.py, Keras 3.15).
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from cnnviz.errors import UserError
from cnnviz.nets.optimizers import OptimizerSpec
from cnnviz.playground.surfaces import SURFACES, evaluate_grid, get_surface, nearest_minimum
from cnnviz.playground.trajectories import DIVERGENCE_BOUND, MAX_STEPS, compare, run_trajectory

# ---------------------------------------------------------------- analytic gradients


def grad_rosenbrock(x, y):
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def grad_beale(x, y):
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    return np.array([
        2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
        2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2,
    ])


def grad_himmelblau(x, y):
    a, b = x * x + y - 11, x + y * y - 7
    return np.array([4 * x * a + 2 * b, 2 * a + 4 * y * b])


def grad_saddle(x, y):
    return np.array([2 * x, -2 * y])


def grad_booth(x, y):
    a, b = x + 2 * y - 7, 2 * x + y - 5
    return np.array([2 * a + 4 * b, 4 * a + 2 * b])


def grad_rastrigin(x, y):
    w = 2 * math.pi
    return np.array([2 * x + 10 * w * math.sin(w * x), 2 * y + 10 * w * math.sin(w * y)])


def grad_ravine(x, y):
    return np.array([0.2 * x, 20.0 * y])


GRADIENTS = {
    "rosenbrock": grad_rosenbrock, "beale": grad_beale, "himmelblau": grad_himmelblau, "saddle": grad_saddle,
    "booth": grad_booth, "rastrigin": grad_rastrigin, "ravine": grad_ravine,
}

# ---------------------------------------------------------------- Keras rules in numpy


def f32(value: float) -> float:
    """What TensorFlow makes of a Python float converted on its own: float32, then widened."""
    return float(np.float32(value))


def numpy_path(surface_name, rule, lr, start, steps, **hyper):
    """Independent transcription of one Keras 3.15 optimizer; returns (steps+1, 2) points.

    Rounding as Keras does it: the learning rate lives in a float32 variable; a Python
    hyperparameter passed through ``ops.cast`` (SGD's momentum, Adam's and Nadam's betas in
    the bias corrections, Nadam's 0.96) is converted to float32 first; in arithmetic with
    float64 tensors (``1 - beta_1``, ``+ epsilon``, RMSprop's rho) it stays a double.
    """
    grad = GRADIENTS[surface_name]
    lr = f32(lr)
    w = np.array(start, dtype=np.float64)
    slot_a = np.zeros(2)  # momentum / first moment / accumulated gradient
    slot_b = np.zeros(2)  # second moment / accumulated update
    accumulator = np.full(2, 0.1)  # Adagrad's initial_accumulator_value
    u_product = 1.0  # Nadam
    momentum = hyper.get("momentum", 0.9 if rule in ("momentum", "nesterov") else 0.0)
    b1, b2 = hyper.get("beta1", 0.9), hyper.get("beta2", 0.999)
    eps = hyper.get("epsilon", 1e-7)
    rho = hyper.get("rho", 0.95 if rule == "adadelta" else 0.9)
    points = [w.copy()]
    for t in range(1, steps + 1):
        g = grad(*w)
        if rule in ("sgd", "momentum", "nesterov"):
            if momentum == 0:
                w = w - g * lr
            else:
                slot_a = slot_a * f32(momentum) - g * lr
                w = w + (slot_a * f32(momentum) - g * lr if rule == "nesterov" else slot_a)
        elif rule in ("adam", "adamw"):
            if rule == "adamw":
                w = w - w * f32(0.004) * lr  # decoupled weight decay, before the update
            alpha = lr * math.sqrt(1 - f32(b2) ** t) / (1 - f32(b1) ** t)
            slot_a = slot_a + (g - slot_a) * (1 - b1)
            slot_b = slot_b + (g * g - slot_b) * (1 - b2)
            w = w - slot_a * alpha / (np.sqrt(slot_b) + eps)
        elif rule == "nadam":
            u_product = u_product * b1 * (1.0 - 0.5 * 0.96**t)
            beta1, beta2 = f32(b1), f32(b2)
            u_t = beta1 * (1.0 - 0.5 * f32(0.96) ** t)
            u_t_1 = beta1 * (1.0 - 0.5 * f32(0.96) ** (t + 1))
            slot_a = slot_a + (g - slot_a) * (1 - beta1)
            slot_b = slot_b + (g * g - slot_b) * (1 - beta2)
            m_hat = u_t_1 * slot_a / (1 - u_product * u_t_1) + (1 - u_t) * g / (1 - u_product)
            v_hat = slot_b / (1 - beta2**t)
            w = w - m_hat * lr / (np.sqrt(v_hat) + eps)
        elif rule == "rmsprop":
            slot_b = rho * slot_b + (1 - rho) * g * g
            increment = lr * g / np.sqrt(slot_b + eps)
            if momentum > 0:
                slot_a = momentum * slot_a + increment
                w = w - slot_a
            else:
                w = w - increment
        elif rule == "adagrad":
            accumulator = accumulator + g * g
            w = w - lr * g / np.sqrt(accumulator + eps)
        elif rule == "adadelta":
            slot_a = rho * slot_a + (1 - rho) * g * g
            delta = -(np.sqrt(slot_b + eps) * g / np.sqrt(slot_a + eps))
            slot_b = rho * slot_b + (1 - rho) * delta * delta
            w = w + lr * delta
        points.append(w.copy())
    return np.array(points)


# Every optimizer, default and changed hyperparameters, on paths that are not chaotic (a
# rounding difference must not be amplified past the tolerance).
KERAS_CASES = [
    ("rosenbrock", OptimizerSpec("sgd", lr=1e-3), "sgd", {}, (-1.5, 2.0)),
    ("booth", OptimizerSpec("sgd", lr=0.01, momentum=0.5), "sgd", {"momentum": 0.5}, (-8.0, -8.0)),
    ("rosenbrock", OptimizerSpec("momentum", lr=1e-3, momentum=0.9), "momentum", {"momentum": 0.9}, (-1.5, 2.0)),
    ("booth", OptimizerSpec("momentum", lr=0.01, momentum=0.99), "momentum", {"momentum": 0.99}, (-8.0, -8.0)),
    ("ravine", OptimizerSpec("momentum", lr=0.02, momentum=0.0), "momentum", {"momentum": 0.0}, (-9.0, 1.5)),
    ("himmelblau", OptimizerSpec("nesterov", lr=0.005), "nesterov", {}, (-0.5, -0.5)),
    ("rosenbrock", OptimizerSpec("adam", lr=0.05), "adam", {}, (-1.5, 2.0)),
    ("booth", OptimizerSpec("adam", lr=0.05, beta1=0.5, beta2=0.9, epsilon=1e-4), "adam",
     {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-4}, (8.0, -8.0)),
    ("himmelblau", OptimizerSpec("adamw", lr=0.05), "adamw", {}, (-0.5, -0.5)),
    ("booth", OptimizerSpec("nadam", lr=0.2, beta1=0.8), "nadam", {"beta1": 0.8}, (-8.0, -8.0)),
    ("beale", OptimizerSpec("rmsprop", lr=0.01), "rmsprop", {}, (1.0, 1.5)),
    ("booth", OptimizerSpec("rmsprop", lr=0.01, rho=0.8, momentum=0.5, epsilon=1e-5), "rmsprop",
     {"rho": 0.8, "momentum": 0.5, "epsilon": 1e-5}, (-8.0, -8.0)),
    ("himmelblau", OptimizerSpec("adagrad", lr=0.1), "adagrad", {}, (-0.5, -0.5)),
    ("booth", OptimizerSpec("adadelta", lr=1.0, rho=0.9), "adadelta", {"rho": 0.9}, (-8.0, -8.0)),
    ("saddle", OptimizerSpec("sgd", lr=0.01), "sgd", {}, (1.0, 0.001)),
]


@pytest.mark.parametrize("surface,spec,rule,hyper,start", KERAS_CASES,
                         ids=[f"{c[0]}-{c[2]}-{'-'.join(f'{k}{v:g}' for k, v in c[3].items())}" for c in KERAS_CASES])
def test_trajectory_matches_numpy_transcription_of_keras(surface, spec, rule, hyper, start):
    steps = 200
    trajectory = run_trajectory(surface, spec, start, steps)
    expected = numpy_path(surface, rule, spec.lr, start, steps, **hyper)
    assert not trajectory.diverged
    assert trajectory.points.shape == (steps + 1, 2)
    np.testing.assert_allclose(trajectory.points, expected, atol=1e-6, rtol=0)
    # and it moved: a test that passes on a frozen path would prove nothing
    assert np.linalg.norm(trajectory.points[-1] - trajectory.points[0]) > 0.01


def test_changed_hyperparameters_change_the_path_without_retracing():
    from cnnviz.playground import engine

    run_trajectory("booth", OptimizerSpec("nadam", lr=0.1), (0.0, 0.0), 10)  # traced here (or earlier)
    before = engine.trace_count
    paths = [run_trajectory("booth", spec, (-8.0, -8.0), 50).points for spec in (
        OptimizerSpec("nadam", lr=0.1), OptimizerSpec("nadam", lr=0.2), OptimizerSpec("nadam", lr=0.1, beta1=0.5),
        OptimizerSpec("nadam", lr=0.1, beta2=0.9), OptimizerSpec("nadam", lr=0.1, epsilon=0.1))]
    run_trajectory("rastrigin", OptimizerSpec("nadam", lr=0.3), (1.0, 1.0), 20)  # another surface, same trace
    assert engine.trace_count == before
    for index, path in enumerate(paths[1:], start=1):
        assert np.abs(path - paths[0]).max() > 1e-3, f"setting {index} did not reach the optimizer"


def test_fresh_keras_optimizer_takes_the_same_path():
    """The compiled, reused engine against the plainest use of Keras: a new optimizer, eager steps."""
    import keras

    surface = get_surface("himmelblau")
    point = tf.Variable([-0.5, -0.5], dtype=tf.float64)
    optimizer = keras.optimizers.Adam(learning_rate=0.05, beta_1=0.8)
    expected = [point.numpy().copy()]
    for _ in range(60):
        with tf.GradientTape() as tape:
            loss = surface.tf_loss(point)
        optimizer.apply_gradients([(tape.gradient(loss, point), point)])
        expected.append(point.numpy().copy())
    run_trajectory("booth", OptimizerSpec("adam", lr=0.3), (3.0, 3.0), 40)  # leave state behind in the engine
    trajectory = run_trajectory(surface, OptimizerSpec("adam", lr=0.05, beta1=0.8), (-0.5, -0.5), 60)
    np.testing.assert_allclose(trajectory.points, np.array(expected), atol=1e-12, rtol=0)


def test_losses_are_the_surface_at_each_point():
    trajectory = run_trajectory("beale", OptimizerSpec("adam", lr=0.05), (1.0, 1.5), 50)
    surface = get_surface("beale")
    np.testing.assert_allclose(trajectory.losses, surface.numpy_loss(*trajectory.points.T), rtol=1e-12)
    assert trajectory.points[0].tolist() == [1.0, 1.5]
    assert len(trajectory.losses) == len(trajectory.points) == 51


# ---------------------------------------------------------------- surfaces


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_tape_gradient_equals_analytic_gradient(name):
    """The formula the optimizers descend (Surface.gradient) against autodiff of the loss and our own."""
    surface = SURFACES[name]
    rng = np.random.default_rng(0)
    (x_lo, x_hi), (y_lo, y_hi) = surface.x_range, surface.y_range
    xs, ys = rng.uniform(x_lo, x_hi, 5), rng.uniform(y_lo, y_hi, 5)
    rows = tf.constant(np.column_stack([xs, ys]))
    library = surface.tf_row_gradients(rows).numpy()
    for k, (x, y) in enumerate(zip(xs, ys)):
        point = tf.Variable([x, y], dtype=tf.float64)
        with tf.GradientTape() as tape:
            loss = surface.tf_loss(point)
        np.testing.assert_allclose(tape.gradient(loss, point).numpy(), GRADIENTS[name](x, y), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(library[k], GRADIENTS[name](x, y), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(np.array(surface.numpy_gradient(x, y)), GRADIENTS[name](x, y), rtol=1e-12, atol=1e-9)
        assert float(loss) == pytest.approx(float(surface.numpy_loss(x, y)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_minima_are_stationary_and_lowest(name):
    surface = SURFACES[name]
    _, _, z = evaluate_grid(surface, resolution=101)
    for minimum in surface.minima:
        assert float(surface.numpy_loss(*minimum)) == pytest.approx(surface.minimum_value, abs=1e-9)
        assert np.linalg.norm(GRADIENTS[name](*minimum)) < 1e-3
        assert z.min() >= surface.minimum_value - 1e-9
    if not surface.minima:  # the saddle: stationary at the origin but not a minimum
        assert name == "saddle" and surface.minimum_value is None
        assert z.min() < 0 and np.linalg.norm(GRADIENTS[name](0.0, 0.0)) == 0


def test_every_surface_has_a_lesson_formula_and_sane_window():
    for surface in SURFACES.values():
        assert surface.formula and surface.lesson
        assert surface.x_range[0] < surface.x_range[1] and surface.y_range[0] < surface.y_range[1]
        xs, ys, z = evaluate_grid(surface, resolution=31)
        assert z.shape == (31, 31) and np.isfinite(z).all()
        if surface.log_levels:  # spans decades: what the log contour levels are for
            assert z.max() / max(z.min(), 1e-12) > 100


def test_himmelblau_has_four_minima_and_nearest_minimum_picks_one():
    surface = get_surface("himmelblau")
    assert len(surface.minima) == 4
    minimum, distance = nearest_minimum(surface, (3.5, -2.0))
    assert minimum == (3.584428, -1.848126) and distance < 0.2
    assert nearest_minimum(get_surface("saddle"), (1.0, 1.0))[0] is None


# ---------------------------------------------------------------- divergence


def test_momentum_diverges_cleanly_on_rosenbrock():
    trajectory = run_trajectory("rosenbrock", OptimizerSpec("momentum", lr=0.01, momentum=0.9), (-1.5, 2.0), 200)
    assert trajectory.diverged
    assert isinstance(trajectory.diverged_at, int) and 0 < trajectory.diverged_at <= 200
    assert len(trajectory.points) == len(trajectory.losses) == trajectory.diverged_at
    assert np.isfinite(trajectory.points).all() and np.isfinite(trajectory.losses).all()
    assert np.abs(trajectory.points).max() <= DIVERGENCE_BOUND
    assert trajectory.points[0].tolist() == [-1.5, 2.0]


def test_healthy_run_has_steps_plus_one_points():
    trajectory = run_trajectory("booth", OptimizerSpec("adam", lr=0.3), (8.0, -8.0), 37)
    assert not trajectory.diverged and trajectory.diverged_at is None
    assert trajectory.points.shape == (38, 2)


def test_each_trajectory_starts_from_a_fresh_optimizer_state():
    spec = OptimizerSpec("adam", lr=0.05)
    first = run_trajectory("rosenbrock", spec, (-1.5, 2.0), 30, use_cache=False)
    run_trajectory("beale", OptimizerSpec("adam", lr=0.5, beta1=0.3), (4.0, -4.0), 77, use_cache=False)
    second = run_trajectory("rosenbrock", spec, (-1.5, 2.0), 30, use_cache=False)
    # a reused optimizer would carry its moments and step count into the second run
    np.testing.assert_array_equal(first.points, second.points)
    # Trajectory equality compares only the run's settings, not its path: compare the path itself.
    cached = run_trajectory("rosenbrock", spec, (-1.5, 2.0), 30)
    assert cached == first
    np.testing.assert_array_equal(cached.points, first.points)
    np.testing.assert_array_equal(cached.losses, first.losses)


def test_finished_trajectories_do_not_keep_their_graphs_alive():
    import gc

    from cnnviz.playground import engine

    def traced_graphs() -> int:
        gc.collect()
        return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())

    spec = OptimizerSpec("adam", lr=0.1)
    run_trajectory("booth", spec, (0.0, 0.0), 20, use_cache=False)
    before = traced_graphs()
    for i in range(5):
        run_trajectory("booth", OptimizerSpec("adam", lr=0.1 + i), (float(i), 1.0), 20, use_cache=False)
    assert traced_graphs() <= before  # one trace per optimizer kind: nothing new per trajectory
    # Basin engines are dropped and rebuilt (a few kept); Keras's optimizer registers a global
    # custom gradient per trace, and without the clean-up each dropped engine's traced loop
    # (~1.4 MiB) would stay alive with it.
    from cnnviz.playground.basins import basin_map

    for grid in range(2, 3 + engine.MAX_BASIN_ENGINES + 4):
        basin_map("booth", OptimizerSpec("sgd", lr=0.01), grid, 5)
    gc.collect()
    with_basins = traced_graphs()
    for grid in range(20, 28):
        basin_map("booth", OptimizerSpec("sgd", lr=0.01), grid, 5)
    assert traced_graphs() <= with_basins + 1


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"surface": "moon"}, "unknown surface"),
        ({"start": (math.nan, 1.0)}, "finite"),
        ({"start": (1.0, math.inf)}, "finite"),
        ({"start": (1.0,)}, "two numbers"),
        ({"start": (1e9, 0.0)}, "within"),
        ({"steps": 0}, "between 1 and"),
        ({"steps": MAX_STEPS + 1}, "between 1 and"),
        ({"steps": 2.5}, "whole number"),
        ({"spec": OptimizerSpec("adam", lr=-0.1)}, "learning rate"),
        ({"spec": OptimizerSpec("adam", lr=math.nan)}, "learning rate"),
        ({"spec": OptimizerSpec("momentum", lr=0.1, momentum=1.5)}, "momentum"),
        ({"spec": OptimizerSpec("adamax")}, "unknown optimizer"),
    ],
)
def test_bad_input_is_a_user_error(kwargs, message):
    arguments = {"surface": "booth", "spec": OptimizerSpec("sgd", lr=0.01), "start": (0.0, 0.0), "steps": 10} | kwargs
    with pytest.raises(UserError, match=message):
        run_trajectory(**arguments)


def test_compare_table_reports_outcomes():
    result = compare("booth", [OptimizerSpec("sgd", lr=0.001), OptimizerSpec("adam", lr=0.3)], (8.0, -8.0), 120)
    table = result.table
    assert list(table["optimizer"]) == ["sgd (lr 0.001)", "adam (lr 0.3)"]
    assert {"final_loss", "distance_to_minimum", "steps_to_minimum", "diverged"} <= set(table.columns)
    assert table.loc[1, "distance_to_minimum"] < 0.05 and not pd_isna(table.loc[1, "steps_to_minimum"])
    assert pd_isna(table.loc[0, "steps_to_minimum"])  # slow SGD never gets there
    saddle = compare("saddle", [OptimizerSpec("sgd", lr=0.01)], (1.0, 0.001), 10).table
    assert math.isnan(saddle.loc[0, "distance_to_minimum"])
    with pytest.raises(UserError):
        compare("booth", [], (0.0, 0.0), 10)


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_sessions_running_at_once_do_not_disturb_each_other():
    """Streamlit serves sessions from threads that share one engine per optimizer kind."""
    from concurrent.futures import ThreadPoolExecutor

    specs = [OptimizerSpec("adam", lr=lr) for lr in (0.01, 0.05, 0.1, 0.2)]

    def path(spec):
        return run_trajectory("himmelblau", spec, (0.5, 0.5), 200, use_cache=False).points

    alone = [path(spec) for spec in specs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(path, specs * 3))
    for index, points in enumerate(together):
        np.testing.assert_array_equal(points, alone[index % len(specs)])
