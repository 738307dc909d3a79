"""What the rules know about a run besides its numbers, so that advice fits the run.

A finding must never recommend what is already in place ("use he-normal" on a He network)
or blame training for what initialization did. :class:`Context` carries the optimizer,
learning rate, initializer and architecture facts, and the run's earlier snapshots (to tell
"already so at step 0" from "came with training"); the helpers here name the initializer
that suits an activation and say why the one in use is or is not it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnviz.diagnosis.findings import fmt

# The initializer whose variance keeps each activation's signal steady.
SUITED_INIT = {"relu": "he-normal", "leaky_relu": "he-normal", "elu": "he-normal", "gelu": "he-normal",
               "silu": "he-normal", "swish": "he-normal", "selu": "lecun-normal", "tanh": "glorot-normal",
               "sigmoid": "glorot-normal", "linear": "glorot-normal", "softmax": "glorot-normal"}
RELU_FAMILY = ("relu", "leaky_relu", "elu", "gelu", "silu", "swish")
# Initializers and the activations they are scaled for ("*": adapts to the activation or the data).
SCALED_FOR = {"he-normal": RELU_FAMILY, "he-uniform": RELU_FAMILY, "activation-gain": "*", "lsuv": "*",
              "glorot-normal": ("tanh", "sigmoid", "linear", "softmax"),
              "glorot-uniform": ("tanh", "sigmoid", "linear", "softmax"),
              "lecun-normal": ("selu", "tanh", "linear"), "orthogonal": ("linear", "tanh")}


@dataclass(frozen=True)
class Context:
    """The run around a snapshot (all optional: rules fall back to general advice)."""

    optimizer: str | None = None
    learning_rate: float | None = None
    init: str | None = None
    residual: bool = False
    history: tuple = ()  # the run's finite snapshots, oldest first

    @property
    def first(self):
        """The step-0 snapshot, if the history holds it."""
        return self.history[0] if self.history and self.history[0].step == 0 else None

    def suits(self, activation: str) -> bool:
        """Whether the initializer in use is scaled for ``activation``."""
        scaled = SCALED_FOR.get(self.init or "", ())
        return scaled == "*" or activation in scaled

    def init_advice(self, activation: str) -> str | None:
        """The initializer to try for ``activation``; None when the one in use already suits it."""
        if self.init is not None and self.suits(activation):
            return None
        return SUITED_INIT.get(activation, "he-normal")


def target_std(activation: str, fan_in: int) -> tuple[float, str]:
    """(weight std that keeps ``activation``'s signal steady, the formula in words)."""
    fan_in = max(fan_in, 1)
    if activation in RELU_FAMILY:
        return math.sqrt(2.0 / fan_in), f"√(2/{fan_in:,})"
    return math.sqrt(1.0 / fan_in), f"√(1/{fan_in:,})"


def scaled_init_phrase(activation: str, fan_in: int, layer: str, advice: str) -> str:
    """"he-normal (std √(2/fan_in), 0.059 for conv4)"."""
    std, formula = target_std(activation, fan_in)
    return f"{advice} (std {formula} = {fmt(std)} for {layer})"


def residual_growth_advice() -> str:
    return ("each residual branch adds to the signal, so its scale grows with depth whatever the initializer: "
            "scale the branches down (e.g. start each branch's last batch norm at γ = 0) or normalise before the "
            "logits; a network like this often trains anyway")
