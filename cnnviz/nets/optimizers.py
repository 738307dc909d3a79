"""Optimizers by name: the real ``keras.optimizers`` classes, one fresh object per call.

Keras optimizers bind to the first variables they see, so every Run and every
trajectory asks :func:`make_optimizer` for its own object. Hyperparameters that a
name does not use are ignored; unset ones take Keras's defaults, except that
``momentum``/``nesterov`` mean SGD with momentum 0.9 unless told otherwise.

Keras is imported by :func:`make_optimizer` only: the names, defaults and validation serve
diagnosis and the dashboard's widgets without loading TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from cnnviz.errors import UserError, check_choice

if TYPE_CHECKING:
    import keras

OPTIMIZERS: dict[str, str] = {
    "sgd": "plain gradient descent: w -= lr * g",
    "momentum": "SGD with momentum (default 0.9): a velocity that accumulates gradients",
    "nesterov": "SGD with Nesterov momentum (default 0.9): looks ahead along the velocity",
    "adam": "Adam: per-weight steps from running means of g and g^2",
    "adamw": "Adam with decoupled weight decay (Keras default 0.004)",
    "rmsprop": "RMSProp: divides by a running RMS of recent gradients",
    "adagrad": "Adagrad: divides by the root of the sum of all squared gradients",
    "adadelta": "Adadelta: RMSProp-like, with a step size that adapts its own units",
    "nadam": "Adam with Nesterov momentum",
}

DEFAULT_LEARNING_RATES: dict[str, float] = {
    "sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adam": 0.001, "adamw": 0.001,
    "rmsprop": 0.001, "adagrad": 0.001, "adadelta": 0.001, "nadam": 0.001,
}

# The hyperparameters each optimizer exposes besides its learning rate, with the values a fresh
# Keras optimizer of that name uses (momentum 0.9 for "momentum"/"nesterov", our rule; the rest
# Keras's own). Written out so the dashboard's controls need no Keras; a test checks them against
# real Keras optimizers (cnnviz.playground.engine.keras_defaults).
HYPERPARAMETER_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"momentum": 0.0},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "nadam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "rmsprop": {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7},
    "adagrad": {"epsilon": 1e-7},
    "adadelta": {"rho": 0.95, "epsilon": 1e-7},
}


@dataclass(frozen=True)
class OptimizerSpec:
    """What is needed to make an optimizer: its name and hyperparameters (None = default)."""

    name: str = "adam"
    lr: float | None = None
    momentum: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    rho: float | None = None
    epsilon: float | None = None

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LEARNING_RATES[self.name] if self.lr is None else float(self.lr)

    def to_dict(self) -> dict:
        return asdict(self)


def validate_learning_rate(lr: float) -> float:
    """Refuse learning rates that cannot mean anything (non-finite, zero, negative)."""
    if lr is None or not math.isfinite(lr) or lr <= 0:
        raise UserError(f"learning rate must be a positive finite number, got {lr!r}")
    return float(lr)


def validate_spec(spec: OptimizerSpec) -> OptimizerSpec:
    """Refuse unknown names and hyperparameters outside their meaningful ranges (UserError)."""
    check_choice("optimizer", spec.name, OPTIMIZERS)
    validate_learning_rate(spec.learning_rate)
    for field in ("momentum", "beta1", "beta2", "rho"):
        value = getattr(spec, field)
        if value is not None and not (0.0 <= value < 1.0):
            raise UserError(f"{field} must be in [0, 1), got {value!r}")
    if spec.epsilon is not None and not (spec.epsilon > 0 and math.isfinite(spec.epsilon)):
        raise UserError(f"epsilon must be a positive number, got {spec.epsilon!r}")
    return spec


def make_optimizer(spec: OptimizerSpec) -> keras.optimizers.Optimizer:
    """A new Keras optimizer object for ``spec`` (never shared between runs)."""
    import keras

    validate_spec(spec)
    name, lr = spec.name, spec.learning_rate

    def given(**kwargs):
        return {k: v for k, v in kwargs.items() if v is not None}

    adam_like = given(beta_1=spec.beta1, beta_2=spec.beta2, epsilon=spec.epsilon)
    momentum = 0.9 if spec.momentum is None else spec.momentum
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, **given(momentum=spec.momentum))
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=lr, momentum=momentum)
    if name == "nesterov":
        return keras.optimizers.SGD(learning_rate=lr, momentum=momentum, nesterov=True)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **adam_like)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, **adam_like)
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate=lr, **adam_like)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, **given(rho=spec.rho, momentum=spec.momentum, epsilon=spec.epsilon))
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=lr, **given(epsilon=spec.epsilon))
    # adadelta
    return keras.optimizers.Adadelta(learning_rate=lr, **given(rho=spec.rho, epsilon=spec.epsilon))
