"""Named 2D loss surfaces: small worlds where an optimizer's path can be seen whole.

Each :class:`Surface` is a two-parameter "network" ``f(x, y)`` with known minima and a
window worth plotting. The formula is written once, as ``expression(x, y, xp)``, where
``xp`` is either ``numpy`` (grids for contour plots) or ``tf.math`` (the loss that the
real Keras optimizers descend in :mod:`cnnviz.playground.trajectories` and
:mod:`cnnviz.playground.basins`), so the picture and the optimizer always agree on what
the surface is.

This module imports only numpy; TensorFlow is imported on first use of
:meth:`Surface.tf_loss`, so listing surfaces stays instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cnnviz.errors import check_choice

Point = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """A 2D toy loss surface.

    ``minima`` lists every global minimum (empty when the surface has none, e.g. the
    saddle); ``local_minima`` the other local minima inside the window (Rastrigin's
    dimples), which a basin map must tell apart; ``log_levels`` says the values span
    decades, so contour levels should be spaced logarithmically or the valley floor
    would be one flat colour.
    """

    name: str
    formula: str
    expression: Callable = field(repr=False, compare=False)
    gradient: Callable = field(repr=False, compare=False)
    minima: tuple[Point, ...]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    log_levels: bool
    lesson: str
    default_start: Point
    minimum_value: float | None = 0.0
    local_minima: tuple[Point, ...] = ()

    def tf_loss(self, point):
        """The loss at ``point`` (a tensor whose first axis is (x, y)), as a TensorFlow tensor."""
        import tensorflow as tf  # deferred: see module docstring

        return self.expression(point[0], point[1], tf.math)

    def tf_row_losses(self, points):
        """The loss at each row ``(x, y)`` of an ``(n, 2)`` tensor: a tensor of shape ``(n,)``."""
        import tensorflow as tf  # deferred: see module docstring

        return self.expression(points[:, 0], points[:, 1], tf.math)

    def tf_row_gradients(self, points):
        """The gradient at each row of an ``(n, 2)`` tensor, from the analytic formula: shape ``(n, 2)``.

        Written out rather than taken with ``tf.GradientTape``: autodiff sums the
        contributions of each use of x (x*x uses it twice) in an AddN that TensorFlow's
        graph optimizer may regroup, and it did so differently between the first and
        later calls of one compiled loop, moving paths by a rounding error that chaotic
        surfaces amplify. A fixed formula rounds the same way every call, for one row or
        thousands. ``tests/test_surfaces.py`` checks it against the tape gradient.
        """
        import tensorflow as tf  # deferred: see module docstring

        gx, gy = self.gradient(points[:, 0], points[:, 1], tf.math)
        return tf.stack([gx, gy], axis=1)

    def numpy_gradient(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """The analytic gradient ``(df/dx, df/dy)`` at arrays ``x``, ``y``, computed in numpy."""
        return self.gradient(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), np)

    def numpy_loss(self, x, y) -> np.ndarray:
        """The loss at arrays ``x``, ``y`` (broadcast together), computed in numpy."""
        return self.expression(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), np)

    @property
    def has_minimum(self) -> bool:
        return bool(self.minima)

    @property
    def all_minima(self) -> tuple[Point, ...]:
        """Global minima first, then the local ones: what an optimizer can settle in."""
        return self.minima + self.local_minima


def _rosenbrock(x, y, xp):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _rosenbrock_gradient(x, y, xp):
    valley = y - x * x
    return -2.0 * (1.0 - x) - 400.0 * x * valley, 200.0 * valley


def _beale(x, y, xp):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _beale_gradient(x, y, xp):
    y2 = y * y
    y3 = y2 * y
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y2, 2.625 - x + x * y3
    gx = 2.0 * a * (y - 1.0) + 2.0 * b * (y2 - 1.0) + 2.0 * c * (y3 - 1.0)
    gy = 2.0 * a * x + 4.0 * b * x * y + 6.0 * c * x * y2
    return gx, gy


def _himmelblau(x, y, xp):
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def _himmelblau_gradient(x, y, xp):
    a, b = x * x + y - 11.0, x + y * y - 7.0
    return 4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b


def _saddle(x, y, xp):
    return x * x - y * y


def _saddle_gradient(x, y, xp):
    return 2.0 * x, -2.0 * y


def _booth(x, y, xp):
    return (x + 2.0 * y - 7.0) ** 2 + (2.0 * x + y - 5.0) ** 2


def _booth_gradient(x, y, xp):
    a, b = x + 2.0 * y - 7.0, 2.0 * x + y - 5.0
    return 2.0 * a + 4.0 * b, 4.0 * a + 2.0 * b


def _rastrigin(x, y, xp):
    two_pi = 2.0 * math.pi
    return 20.0 + x * x - 10.0 * xp.cos(two_pi * x) + y * y - 10.0 * xp.cos(two_pi * y)


def _rastrigin_gradient(x, y, xp):
    two_pi = 2.0 * math.pi
    return 2.0 * x + 10.0 * two_pi * xp.sin(two_pi * x), 2.0 * y + 10.0 * two_pi * xp.sin(two_pi * y)


def _rastrigin_local_minima(limit: float = 5.12) -> tuple[Point, ...]:
    """Every local minimum of Rastrigin inside ``[-limit, limit]^2`` except the global one.

    The surface is a sum of one 1D function per coordinate, h(t) = t^2 - 10 cos(2 pi t),
    so its local minima are all pairs of 1D minima. h has one minimum next to each
    integer k (where cos(2 pi t) peaks), pulled slightly towards 0 by the t^2 term;
    Newton's method on h'(t) = 2t + 20 pi sin(2 pi t) from t = k finds it to machine
    precision in a few steps (h'' > 0 near every integer, so Newton is safe there).
    """
    two_pi = 2.0 * math.pi
    roots = []
    for k in range(-math.floor(limit), math.floor(limit) + 1):
        t = float(k)
        for _ in range(50):
            step = (2.0 * t + 10.0 * two_pi * math.sin(two_pi * t)) / (2.0 + 10.0 * two_pi**2 * math.cos(two_pi * t))
            t -= step
            if abs(step) < 1e-15:
                break
        roots.append(0.0 if k == 0 else t)
    return tuple((x, y) for y in roots for x in roots if (x, y) != (0.0, 0.0))


# Curvatures 0.2 along x and 20 along y: a condition number of 100, like a badly
# scaled layer. Plain SGD must keep lr < 2/20 to stay stable, which makes progress
# along the shallow x direction (rate 0.2 * lr) painfully slow.
RAVINE_CURVATURES = (0.2, 20.0)


def _ravine(x, y, xp):
    return 0.5 * RAVINE_CURVATURES[0] * x * x + 0.5 * RAVINE_CURVATURES[1] * y * y


def _ravine_gradient(x, y, xp):
    return RAVINE_CURVATURES[0] * x, RAVINE_CURVATURES[1] * y


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            name="rosenbrock",
            formula="(1 - x)^2 + 100 (y - x^2)^2",
            expression=_rosenbrock,
            gradient=_rosenbrock_gradient,
            minima=((1.0, 1.0),),
            x_range=(-2.0, 2.0),
            y_range=(-1.0, 3.0),
            log_levels=True,
            lesson="A curved, flat-bottomed valley with its minimum at (1, 1): finding the valley is easy, "
            "following it is not. From (-1.5, 2), SGD (lr 0.001) and Adam (lr 0.01) reach the valley floor within "
            "10 steps and are still more than 1.5 from (1, 1) after 500; momentum (lr 0.001) gets much further.",
            default_start=(-1.5, 2.0),
        ),
        Surface(
            name="beale",
            formula="(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            expression=_beale,
            gradient=_beale_gradient,
            minima=((3.0, 0.5),),
            x_range=(-4.5, 4.5),
            y_range=(-4.5, 4.5),
            log_levels=True,
            lesson="Flat plateaus next to cliffs: across this window the slope ranges from under 10 to over "
            "100,000, so a step size that suits one region is wrong in the other.",
            default_start=(1.0, 1.5),
        ),
        Surface(
            name="himmelblau",
            formula="(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            expression=_himmelblau,
            gradient=_himmelblau_gradient,
            minima=(
                (3.0, 2.0),
                (-2.805118, 3.131312),
                (-3.779310, -3.283186),
                (3.584428, -1.848126),
            ),
            x_range=(-5.0, 5.0),
            y_range=(-5.0, 5.0),
            log_levels=True,
            lesson="Four equally good minima (loss 0): which one a path reaches depends on where it starts and "
            "on the optimizer. The basin map below shows it for every start at once.",
            default_start=(-0.5, -0.5),
        ),
        Surface(
            name="saddle",
            formula="x^2 - y^2",
            expression=_saddle,
            gradient=_saddle_gradient,
            minima=(),
            x_range=(-2.0, 2.0),
            y_range=(-2.0, 2.0),
            log_levels=False,
            lesson="No minimum at all: (0, 0) is a saddle point where the gradient vanishes, and the loss falls "
            "forever along y. Started next to the ridge, plain SGD (lr 0.01) slides to the saddle and is still "
            "sitting there after 100 steps.",
            default_start=(1.0, 0.001),
            minimum_value=None,
        ),
        Surface(
            name="booth",
            formula="(x + 2y - 7)^2 + (2x + y - 5)^2",
            expression=_booth,
            gradient=_booth_gradient,
            minima=((1.0, 3.0),),
            x_range=(-10.0, 10.0),
            y_range=(-10.0, 10.0),
            log_levels=True,
            lesson="A tilted, stretched bowl (a plain quadratic) with one minimum at (1, 3) and nothing to trap an "
            "optimizer. SGD and momentum at lr 0.01 arrive within 200 steps. Adam, RMSProp and Adagrad move about "
            "lr per step whatever the slope (Adadelta even less), so at lr 0.001 they cover under 0.5 of the 14 "
            "to go in 300 steps: raise lr (Adam 0.3, RMSProp 0.05, Adagrad 5) to see them arrive.",
            default_start=(-8.0, -8.0),
        ),
        Surface(
            name="rastrigin",
            formula="20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)",
            expression=_rastrigin,
            gradient=_rastrigin_gradient,
            minima=((0.0, 0.0),),
            x_range=(-5.12, 5.12),
            y_range=(-5.12, 5.12),
            log_levels=False,
            lesson="A bowl covered in dimples, a local minimum next to every point with whole-number coordinates "
            "(121 in this window): gradient methods with small steps settle in the nearest one.",
            default_start=(3.2, -2.7),
            local_minima=_rastrigin_local_minima(),
        ),
        Surface(
            name="ravine",
            formula="0.1 x^2 + 10 y^2",
            expression=_ravine,
            gradient=_ravine_gradient,
            minima=((0.0, 0.0),),
            x_range=(-10.0, 10.0),
            y_range=(-3.0, 3.0),
            log_levels=True,
            lesson="An ill-conditioned quadratic (curvatures 0.2 and 20): the steep direction caps SGD's step "
            "(above lr 2/20 = 0.1 it diverges). Near that limit (lr 0.09) it zig-zags from wall to wall every step; "
            "at lr 0.01 the zig-zag is gone, but it covers under a fifth of the way along the floor in 100 steps.",
            default_start=(-9.0, 1.5),
        ),
    )
}


def get_surface(surface: str | Surface) -> Surface:
    """The :class:`Surface` for a name (or the surface itself); unknown names raise UserError."""
    if isinstance(surface, Surface):
        return surface
    return SURFACES[check_choice("surface", surface, SURFACES)]


def nearest_minimum(surface: Surface, point: Point) -> tuple[Point | None, float]:
    """The closest global minimum to ``point`` and its Euclidean distance (None, nan if none)."""
    if not surface.minima:
        return None, math.nan
    distances = [math.dist(point, m) for m in surface.minima]
    best = int(np.argmin(distances))
    return surface.minima[best], distances[best]


def evaluate_grid(
    surface: Surface,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    resolution: int = 160,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample the surface on a regular grid for contour and 3D plots.

    Returns ``(xs, ys, z)`` with ``z[i, j] = f(xs[j], ys[i])`` (rows are y, as plotly
    expects). Ranges default to the surface's own window.
    """
    x_lo, x_hi = x_range or surface.x_range
    y_lo, y_hi = y_range or surface.y_range
    xs = np.linspace(x_lo, x_hi, resolution)
    ys = np.linspace(y_lo, y_hi, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return xs, ys, surface.numpy_loss(grid_x, grid_y)
