"""Weight initializers by name, each seeded, applied to conv and dense kernels.

Biases always start at zero, as in the seed tutorials, so the initializer alone
decides how the scale of the signal changes from layer to layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from cnnviz.errors import check_choice


@dataclass(frozen=True)
class InitializerInfo:
    """A named initializer: how to make it and what it does to the signal."""

    name: str
    description: str
    make: Callable[[int], keras.initializers.Initializer]


def _entry(name: str, description: str, make: Callable[[int], keras.initializers.Initializer]) -> tuple[str, InitializerInfo]:
    return name, InitializerInfo(name, description, make)


INITIALIZERS: dict[str, InitializerInfo] = dict([
    _entry("normal", "N(0, 1) for every weight, ignoring fan-in (tf.random_normal's default): activations explode",
           lambda seed: keras.initializers.RandomNormal(0.0, 1.0, seed=seed)),
    _entry("normal-0.01", "N(0, 0.01²): the 'multiply by 0.01' fix, so small that activations vanish",
           lambda seed: keras.initializers.RandomNormal(0.0, 0.01, seed=seed)),
    _entry("truncated-normal-0.1", "N(0, 0.1²) truncated at 2σ, a common tutorial default",
           lambda seed: keras.initializers.TruncatedNormal(0.0, 0.1, seed=seed)),
    _entry("glorot-uniform", "Xavier/Glorot uniform: Var = 2/(fan_in + fan_out); Keras's default, made for tanh/linear",
           lambda seed: keras.initializers.GlorotUniform(seed=seed)),
    _entry("glorot-normal", "Xavier/Glorot normal: Var = 2/(fan_in + fan_out)",
           lambda seed: keras.initializers.GlorotNormal(seed=seed)),
    _entry("he-normal", "He/Kaiming normal: Var = 2/fan_in, keeps ReLU activations at a steady scale",
           lambda seed: keras.initializers.HeNormal(seed=seed)),
    _entry("he-uniform", "He/Kaiming uniform: Var = 2/fan_in",
           lambda seed: keras.initializers.HeUniform(seed=seed)),
    _entry("lecun-normal", "LeCun normal: Var = 1/fan_in, steady for linear/SELU layers, shrinks ~0.7x per ReLU layer",
           lambda seed: keras.initializers.LecunNormal(seed=seed)),
    _entry("orthogonal", "orthogonal matrix (gain 1): preserves norms of the linear part",
           lambda seed: keras.initializers.Orthogonal(seed=seed)),
    _entry("zeros", "all weights 0: every unit computes the same thing and nothing flows",
           lambda seed: keras.initializers.Zeros()),
])


def make_initializer(name: str, seed: int) -> keras.initializers.Initializer:
    """A seeded Keras initializer for ``name`` (``seed`` should differ per layer)."""
    return INITIALIZERS[check_choice("initializer", name, INITIALIZERS)].make(seed)
