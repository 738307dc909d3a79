"""Var[w] of each named initializer for a kernel shape (no Keras; checked against Keras's draws in tests).

The variance rule needs only Var[w] and the fan-in, so the theory can predict a
network at initialization from its table alone. Shapes follow Keras: a dense kernel
is (n_in, n_out), a conv kernel (kh, kw, c_in, c_out); Keras's fan_in = kh·kw·c_in and
fan_out = kh·kw·c_out (Glorot), while ``orthogonal`` flattens to
(kh·kw·c_in, c_out) and makes whichever side is shorter orthonormal.
"""

from __future__ import annotations

import math

from cnnviz.nets.activations import unit_gain_squared


def _truncated_variance_factor(bound: float) -> float:
    """Var of N(0, 1) truncated to ±bound (Keras's TruncatedNormal does not rescale)."""
    phi = math.exp(-0.5 * bound * bound) / math.sqrt(2 * math.pi)
    mass = math.erf(bound / math.sqrt(2))
    return 1.0 - 2.0 * bound * phi / mass


def kernel_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) the way Keras's variance-scaling initializers count them."""
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


def weight_variance(init: str, shape: tuple[int, ...], activation: str = "linear") -> float:
    """Var[w] that initializer ``init`` draws for a kernel of ``shape``.

    ``activation`` matters only for ``activation-gain`` (the activation feeding the
    layer). Returns NaN for ``lsuv`` (data-dependent: see :mod:`cnnviz.nets.lsuv`) and
    for names it does not know.
    """
    fan_in, fan_out = kernel_fans(shape)
    if init == "normal":
        return 1.0
    if init == "normal-0.01":
        return 1e-4
    if init == "truncated-normal-0.1":
        return 0.01 * _truncated_variance_factor(2.0)
    if init in ("glorot-uniform", "glorot-normal"):
        return 2.0 / (fan_in + fan_out)
    if init in ("he-normal", "he-uniform"):
        return 2.0 / fan_in
    if init == "standard-uniform":
        return 1.0 / (3.0 * fan_in)
    if init == "lecun-normal":
        return 1.0 / fan_in
    if init == "activation-gain":
        return unit_gain_squared(activation) / fan_in
    if init == "orthogonal":
        rows = math.prod(shape[:-1])
        return 1.0 / max(rows, int(shape[-1]))
    if init == "zeros":
        return 0.0
    return math.nan
