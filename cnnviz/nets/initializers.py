"""Weight initializers by name, each seeded, applied to conv and dense kernels.

Biases always start at zero, as in the seed tutorials, so the initializer alone
decides how the scale of the signal changes from layer to layer.

Two are special:

* ``activation-gain`` knows the activation feeding the layer: Var[w] = g²/fan_in with
  g² = 1/E[f(u)²], u ~ N(0, 1), so a unit-variance pre-activation stays at unit variance
  through f (g² = 2 for ReLU = He, 1 for SELU and linear = LeCun, 2.54 for tanh,
  3.41 for sigmoid, 1.92 for leaky ReLU, 2.35 for GELU).
* ``lsuv`` is data-dependent: this module gives its first stage (orthogonal); the
  builder (:func:`cnnviz.nets.zoo.build_from_config`) then rescales each layer on a batch
  of images (:func:`cnnviz.nets.lsuv.apply_lsuv`).
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
    make: Callable[..., keras.initializers.Initializer]  # (seed) or, with needs_activation, (seed, activation)
    needs_activation: bool = False
    data_dependent: bool = False  # True: the kernel is finished on data after build (lsuv)


def _entry(name: str, description: str, make: Callable[..., keras.initializers.Initializer],
           **flags) -> tuple[str, InitializerInfo]:
    return name, InitializerInfo(name, description, make, **flags)


def _activation_gain(seed: int, activation: str) -> keras.initializers.Initializer:
    from cnnviz.nets.activations import unit_gain_squared

    return keras.initializers.VarianceScaling(scale=unit_gain_squared(activation), mode="fan_in",
                                              distribution="untruncated_normal", seed=seed)


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
    _entry("standard-uniform", "U[−1/√fan_in, 1/√fan_in] (Var = 1/(3·fan_in)), the 'standard' init Glorot & Bengio "
           "2010 compare against: the signal shrinks ×0.58 per tanh layer, forward and backward",
           lambda seed: keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform",
                                                           seed=seed)),
    _entry("he-normal", "He/Kaiming normal: Var = 2/fan_in, keeps ReLU activations at a steady scale",
           lambda seed: keras.initializers.HeNormal(seed=seed)),
    _entry("he-uniform", "He/Kaiming uniform: Var = 2/fan_in",
           lambda seed: keras.initializers.HeUniform(seed=seed)),
    _entry("lecun-normal", "LeCun normal: Var = 1/fan_in, steady for linear/SELU layers, shrinks ~0.7x per ReLU layer",
           lambda seed: keras.initializers.LecunNormal(seed=seed)),
    _entry("orthogonal", "orthogonal matrix (gain 1): preserves norms of the linear part",
           lambda seed: keras.initializers.Orthogonal(seed=seed)),
    _entry("activation-gain", "Var = g²/fan_in with the gain g² = 1/E[f(u)²] of the activation feeding the layer: "
           "He for ReLU, LeCun for SELU, 2.54/fan_in for tanh: holds a unit-variance signal steady through any activation",
           _activation_gain, needs_activation=True),
    _entry("lsuv", "LSUV (Mishkin & Matas 2016): orthogonal, then each layer rescaled in forward order to unit "
           "pre-activation variance on a batch of training images (data-dependent)",
           lambda seed: keras.initializers.Orthogonal(seed=seed), data_dependent=True),
    _entry("zeros", "all weights 0: every unit computes the same thing and nothing flows",
           lambda seed: keras.initializers.Zeros()),
])


def make_initializer(name: str, seed: int, activation: str = "linear") -> keras.initializers.Initializer:
    """A seeded Keras initializer for ``name`` (``seed`` should differ per layer).

    ``activation`` is the nonlinearity feeding the layer (Keras or user-facing name);
    only ``activation-gain`` uses it. For ``lsuv`` this is only the orthogonal first
    stage: see :func:`cnnviz.nets.lsuv.apply_lsuv`.
    """
    info = INITIALIZERS[check_choice("initializer", name, INITIALIZERS)]
    return info.make(seed, activation) if info.needs_activation else info.make(seed)


def is_data_dependent(name: str) -> bool:
    """True when ``name`` must be finished on a batch of images after the model is built (lsuv)."""
    return INITIALIZERS[check_choice("initializer", name, INITIALIZERS)].data_dependent
