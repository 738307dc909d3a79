"""Activation functions by name, and their moments under a Gaussian input (numpy only, no Keras).

The variance rule (:mod:`cnnviz.diagnosis.theory`) needs, for a pre-activation z ~ N(μ, σ²),
the first two moments of the next layer's input f(z). They are computed here by
Gauss–Legendre quadrature on the two sides of 0 (ReLU, leaky ReLU and SELU have a
kink there, which a single Gauss–Hermite rule integrates poorly), so one routine
serves every activation, any μ and σ, vectorised over arrays of them.

Names: the CLI and :class:`~cnnviz.config.RunConfig` use the names in
:data:`ACTIVATIONS` (``leaky-relu`` with a hyphen, like the initializer names);
Keras layers report :data:`KERAS_NAMES` (``leaky_relu``). :func:`canonical` maps
either to the Keras name.
"""

from __future__ import annotations

import math

import numpy as np

# User-facing name -> the name Keras's Activation layer reports (function __name__).
ACTIVATIONS: dict[str, str] = {
    "relu": "relu",
    "leaky-relu": "leaky_relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "selu": "selu",
    "gelu": "gelu",
    "linear": "linear",
}
KERAS_NAMES = set(ACTIVATIONS.values())

# keras.activations.leaky_relu(x, negative_slope=0.2) is what Activation("leaky_relu") applies.
# (The LeakyReLU *layer* defaults to 0.3; the zoo uses the activation.)
LEAKY_SLOPE = 0.2
# keras.activations.selu: scale * (x if x > 0 else alpha * (exp(x) - 1)).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _erf(x: np.ndarray) -> np.ndarray:
    """Vectorised erf. numpy has none (``math.erf`` is scalar); this Chebyshev fit of erfc
    (Numerical Recipes' ``erfcc``) has a relative error below 1.2e-7, ample for theory lines."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def _sigmoid(z):
    # exp of a negative number only: no overflow warnings for large |z|.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


FUNCTIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "selu": lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0))),
    "gelu": lambda z: 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0))),  # Keras's default, approximate=False
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "swish": lambda z: z * _sigmoid(z),
    "silu": lambda z: z * _sigmoid(z),
}

# Value and slope at 0: the small-signal (linear) approximation f(z) ≈ f(0) + f'(0)·z.
# Piecewise-linear activations have one slope per side instead.
SIDE_SLOPES = {"linear": (1.0, 1.0), "relu": (0.0, 1.0), "leaky_relu": (LEAKY_SLOPE, 1.0),
               "selu": (SELU_SCALE * SELU_ALPHA, SELU_SCALE), "elu": (1.0, 1.0)}
SMOOTH_SLOPE = {"tanh": (0.0, 1.0), "sigmoid": (0.5, 0.25), "gelu": (0.0, 0.5), "softplus": (math.log(2), 0.5),
                "swish": (0.0, 0.5), "silu": (0.0, 0.5)}

_LEGENDRE_X, _LEGENDRE_W = np.polynomial.legendre.leggauss(96)
_TAIL = 12.0  # integrate z over μ ± 12σ: the Gaussian mass outside is below 1e-32


def canonical(name: str) -> str:
    """The Keras name for a user-facing or Keras activation name (``leaky-relu`` -> ``leaky_relu``)."""
    return ACTIVATIONS.get(name, name.replace("-", "_"))


def covered(name: str) -> bool:
    """Whether :func:`gaussian_moments` knows this activation."""
    return canonical(name) in FUNCTIONS


def gaussian_moments(activation: str, mean, std) -> tuple[np.ndarray, np.ndarray]:
    """(E[f(z)], E[f(z)²]) for z ~ N(mean, std²), elementwise over arrays of mean/std.

    Each side of z = 0 is integrated separately with 96-point Gauss–Legendre, so kinks at
    0 cost no accuracy; std = 0 gives f(mean). Raises KeyError for an unknown activation.
    """
    function = FUNCTIONS[canonical(activation)]
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    mean, std = np.broadcast_arrays(mean, std)
    flat_mean, flat_std = mean.reshape(-1, 1), np.maximum(std.reshape(-1, 1), 1e-300)
    lo, hi = flat_mean - _TAIL * flat_std, flat_mean + _TAIL * flat_std
    first = np.zeros(flat_mean.shape)
    second = np.zeros(flat_mean.shape)
    kink = np.clip(0.0, lo, hi)
    for a, b in ((lo, kink), (kink, hi)):
        half = (b - a) / 2
        z = a + half * (_LEGENDRE_X + 1.0)
        density = np.exp(-0.5 * ((z - flat_mean) / flat_std) ** 2) / (flat_std * math.sqrt(2 * math.pi))
        weights = half * _LEGENDRE_W * density
        values = function(z)
        first += np.sum(weights * values, axis=1, keepdims=True)
        second += np.sum(weights * values * values, axis=1, keepdims=True)
    point = function(flat_mean)
    degenerate = std.reshape(-1, 1) <= 0
    first = np.where(degenerate, point, first).reshape(mean.shape)
    second = np.where(degenerate, point * point, second).reshape(mean.shape)
    return first, second


def linearized_second_moment(activation: str, mean_sq):
    """E[f(z)²] under the small-signal approximation, for zero-mean z with E[z²] = ``mean_sq``.

    Piecewise-linear activations: ½(a₋² + a₊²)·E[z²] (exact for symmetric z); smooth ones:
    f(0)² + f'(0)²·E[z²] (what Glorot & Bengio's linear-regime analysis assumes).
    """
    name = canonical(activation)
    mean_sq = np.asarray(mean_sq, dtype=np.float64)
    if name in SIDE_SLOPES:
        left, right = SIDE_SLOPES[name]
        return 0.5 * (left * left + right * right) * mean_sq
    value, slope = SMOOTH_SLOPE[name]
    return value * value + slope * slope * mean_sq


def unit_gain_squared(activation: str) -> float:
    """g² = 1 / E[f(u)²] for u ~ N(0, 1): the weight-variance gain that keeps a unit-variance
    pre-activation at unit variance through f (2 for ReLU, i.e. He; 1 for SELU/linear, i.e. LeCun)."""
    _, second = gaussian_moments(activation, 0.0, 1.0)
    return float(1.0 / second)
