"""Snapshot: what one probed step saw, as plain Python (no tensors, no raw activations)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cnnviz.probing.histograms import Summary


@dataclass
class LayerSnapshot:
    """One probed layer at one step."""

    name: str
    type: str
    activation: str
    fan_in: int
    pre_activation: Summary
    weight_norm: float
    weight_std: float
    grad_norm: float | None = None
    update_norm: float | None = None
    # Fraction of output units (channels for a conv) that are ≤ 0 at every position of
    # every image in the batch: a ReLU after them passes nothing at all ("dead" units).
    # Unlike ``frac_nonpositive`` it is not inflated by MNIST's black background.
    dead_units: float | None = None
    # Std of ∂loss/∂pre-activation over the batch: the backward signal reaching this layer
    # (Glorot & Bengio's picture of vanishing gradients). None where it cannot be measured.
    backward_std: float | None = None
    # The normalisation layer between this layer and its nonlinearity, if any ("batch_normalization").
    normalized_by: str | None = None
    # ‖w‖ before this step's update (the update ratio's reference); None at step 0 and in old records.
    prior_weight_norm: float | None = None

    @property
    def update_ratio(self) -> float | None:
        """‖Δw‖/‖w‖ of this step's update, relative to the weights it changed (None at init or when
        not measured). Relative to the weights *after* it, a huge update would read as ~1."""
        reference = self.prior_weight_norm if self.prior_weight_norm is not None else self.weight_norm
        if self.update_norm is None or not reference:
            return None
        return self.update_norm / reference

    @property
    def dead_fraction(self) -> float | None:
        """Fraction of units that a following ReLU zeroes (None if not followed by ReLU)."""
        return self.pre_activation.frac_nonpositive if self.activation == "relu" else None

    def to_dict(self) -> dict:
        pre = self.pre_activation.to_dict()
        pre["frac_zero_after_relu"] = self.dead_fraction
        return {"name": self.name, "type": self.type, "activation": self.activation, "fan_in": self.fan_in,
                "pre_activation": pre, "weight_norm": self.weight_norm, "weight_std": self.weight_std,
                "grad_norm": self.grad_norm, "update_ratio": self.update_ratio,
                "dead_units": self.dead_units if self.activation == "relu" else None,
                "backward_std": self.backward_std, "normalized_by": self.normalized_by}


@dataclass
class Snapshot:
    """Per-layer statistics plus loss, accuracy, logits and softmax for one step.

    ``step`` counts the updates already applied: step 0 is the network at
    initialization, step k the network after k updates. Every number describes exactly
    those weights, measured in training mode (BatchNorm on batch statistics, dropout on)
    on training batch ``batch`` — the batch the next update (step k + 1) learns from.
    ``loss``/``accuracy`` are therefore the loss and accuracy of the step-k network on
    that batch, before learning from it.
    """

    step: int
    loss: float
    accuracy: float
    layers: list[LayerSnapshot]
    logits: Summary
    softmax: dict
    batch_logits: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    batch_labels: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    trained: bool = True
    # Moments of the input images of this batch: the variance rule (cnnviz.diagnosis.theory) needs
    # E[x²] of the first layer's input. None for snapshots from older checkpoints.
    input_mean: float | None = None
    input_rms: float | None = None
    # Kept for checkpoints written by cnnviz 0.1, whose halted step recorded a refused update.
    applied: bool = True
    # The 1-based training step whose batch this was measured on (step + 1); None in old checkpoints.
    batch: int | None = None

    @property
    def finite(self) -> bool:
        """True when every number a figure would plot is finite: loss, logits, and each
        layer's pre-activation summary, weight, gradient and update norms."""
        def ok(value) -> bool:
            return value is None or math.isfinite(value)

        return (math.isfinite(self.loss) and self.logits.finite
                and all(l.pre_activation.finite and ok(l.weight_norm) and ok(l.weight_std)
                        and ok(l.grad_norm) and ok(l.update_norm) for l in self.layers))

    def layer(self, name: str) -> LayerSnapshot:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def first_nonfinite_layer(self) -> str | None:
        """The earliest layer (forward order) whose pre-activation held NaN/Inf."""
        for layer in self.layers:
            if not layer.pre_activation.finite:
                return layer.name
        return None

    def to_dict(self) -> dict:
        """The public JSON shape used by ``inspect``/``train`` (see DESIGN.md)."""
        return {"step": self.step, "batch": self.batch, "loss": self.loss, "accuracy": self.accuracy,
                "layers": [layer.to_dict() for layer in self.layers],
                "logits": self.logits.to_dict(), "softmax": dict(self.softmax)}
