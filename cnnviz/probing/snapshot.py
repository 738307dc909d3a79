"""Snapshot: what one probed step saw, as plain Python (no tensors, no raw activations).

Glossary of the "how much is zero" quantities (one name per idea):

``frac_nonpositive``
    A :class:`~cnnviz.probing.histograms.Summary` field: the fraction of *values* of any
    tensor that are ≤ 0 (every position of every image). Defined for every layer.
``frac_zero_after_relu``
    The same number, but only where a ReLU follows the layer: the fraction of values the
    ReLU sets to 0 (``LayerSnapshot.frac_zero_after_relu``; the JSON key of the public
    contract). None for layers not followed by ReLU. On MNIST it is inflated by the black
    background, which gives many zero pixels whatever the weights.
``dead_units``
    A different idea: the fraction of *units* (channels of a conv, neurons of a dense
    layer) that are ≤ 0 at every position of every image in the batch, so the ReLU after
    them never fires at all — "dead ReLUs". None for layers not followed by ReLU.
    Always ≤ ``frac_zero_after_relu``.

One record per layer snapshot: :meth:`LayerSnapshot.to_row` is the flat dict every
consumer derives from (history frames, checkpoints, run folders, the JSON payload via
:meth:`LayerSnapshot.to_dict`, tables); :meth:`LayerSnapshot.from_row` reads it back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from cnnviz.probing.histograms import Summary

SUMMARY_FIELDS = tuple(f.name for f in dataclasses.fields(Summary))
# Keys of LayerSnapshot.to_row computed from the others (from_row ignores them).
DERIVED_ROW_KEYS = ("frac_zero_after_relu", "update_ratio")


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
    # Unlike ``frac_zero_after_relu`` it is not inflated by MNIST's black background.
    # None for layers not followed by ReLU (see __post_init__).
    dead_units: float | None = None
    # Std of ∂loss/∂pre-activation over the batch: the backward signal reaching this layer
    # (Glorot & Bengio's picture of vanishing gradients). None where it cannot be measured.
    backward_std: float | None = None
    # The normalisation layer between this layer and its nonlinearity, if any ("batch_normalization").
    normalized_by: str | None = None
    # ‖w‖ before this step's update (the update ratio's reference); None at step 0 and in old records.
    prior_weight_norm: float | None = None

    def __post_init__(self):
        # The probes measure never-firing units for every layer; the number only means
        # "dead ReLUs" where a ReLU follows, so elsewhere the field holds None.
        if self.activation != "relu":
            self.dead_units = None

    @property
    def update_ratio(self) -> float | None:
        """‖Δw‖/‖w‖ of this step's update, relative to the weights it changed (None at init or when
        not measured). Relative to the weights *after* it, a huge update would read as ~1."""
        reference = self.prior_weight_norm if self.prior_weight_norm is not None else self.weight_norm
        if self.update_norm is None or not reference:
            return None
        return self.update_norm / reference

    @property
    def frac_zero_after_relu(self) -> float | None:
        """Fraction of values that a following ReLU zeroes (None if not followed by ReLU)."""
        return self.pre_activation.frac_nonpositive if self.activation == "relu" else None

    def to_row(self) -> dict:
        """This layer as one flat record: ``layer`` (the name), type, activation, fan_in, the
        pre-activation summary's fields (mean, std, min, max, frac_nonpositive, nonfinite, count,
        hist_edges, hist_counts), the weight/gradient numbers, and the derived
        ``frac_zero_after_relu`` and ``update_ratio``. JSON-ready; :meth:`from_row` inverts it."""
        pre = self.pre_activation
        return {
            "layer": self.name, "type": self.type, "activation": self.activation, "fan_in": self.fan_in,
            **{name: getattr(pre, name) for name in SUMMARY_FIELDS},
            "frac_zero_after_relu": self.frac_zero_after_relu, "dead_units": self.dead_units,
            "weight_norm": self.weight_norm, "weight_std": self.weight_std, "grad_norm": self.grad_norm,
            "update_norm": self.update_norm, "prior_weight_norm": self.prior_weight_norm,
            "update_ratio": self.update_ratio, "backward_std": self.backward_std,
            "normalized_by": self.normalized_by,
        }

    @classmethod
    def from_row(cls, row: dict) -> LayerSnapshot:
        """The layer a :meth:`to_row` record describes. Also reads the nested form older
        checkpoints and run folders wrote (``name`` plus a ``pre_activation`` dict of Summary
        fields); unknown keys from newer versions are ignored."""
        if isinstance(row.get("pre_activation"), dict):
            row = {**row, **row["pre_activation"], "layer": row.get("layer", row.get("name"))}
        summary = Summary(**{name: row[name] for name in SUMMARY_FIELDS})
        own = {f.name for f in dataclasses.fields(cls)} - {"name", "pre_activation"}
        return cls(name=row["layer"], pre_activation=summary,
                   **{k: v for k, v in row.items() if k in own and k not in DERIVED_ROW_KEYS})

    def to_dict(self) -> dict:
        """The public JSON shape of a layer (DESIGN.md's contract), derived from :meth:`to_row`."""
        row = self.to_row()
        pre = {name: row[name] for name in SUMMARY_FIELDS if not name.startswith("hist_")}
        pre["hist"] = {"edges": row["hist_edges"], "counts": row["hist_counts"]}
        pre["frac_zero_after_relu"] = row["frac_zero_after_relu"]
        return {"name": row["layer"], "type": row["type"], "activation": row["activation"], "fan_in": row["fan_in"],
                "pre_activation": pre,
                **{key: row[key] for key in ("weight_norm", "weight_std", "grad_norm", "update_ratio", "dead_units",
                                             "backward_std", "normalized_by")}}


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

    def to_record(self) -> dict:
        """Everything but the batch arrays, JSON-ready, for files: the snapshot's own fields,
        ``layers`` as :meth:`LayerSnapshot.to_row` records and ``logits`` as Summary fields."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(Snapshot) if f.name not in _NOT_RECORDED}
        record.update(softmax=dict(self.softmax), layers=[layer.to_row() for layer in self.layers],
                      logits=dataclasses.asdict(self.logits))
        return record

    @classmethod
    def from_record(cls, record: dict, batch_logits: np.ndarray | None = None,
                    batch_labels: np.ndarray | None = None) -> Snapshot:
        """Inverse of :meth:`to_record` (unknown keys from newer versions are ignored)."""
        own = {f.name for f in dataclasses.fields(cls)} - _NOT_RECORDED
        arrays = {name: value for name, value in (("batch_logits", batch_logits), ("batch_labels", batch_labels))
                  if value is not None}
        return cls(layers=[LayerSnapshot.from_row(row) for row in record["layers"]],
                   logits=Summary(**{name: record["logits"][name] for name in SUMMARY_FIELDS}),
                   **{k: v for k, v in record.items() if k in own}, **arrays)

    def to_dict(self) -> dict:
        """The public JSON shape used by ``inspect``/``train`` (see DESIGN.md)."""
        return {"step": self.step, "batch": self.batch, "loss": self.loss, "accuracy": self.accuracy,
                "layers": [layer.to_dict() for layer in self.layers],
                "logits": self.logits.to_dict(), "softmax": dict(self.softmax)}


# Snapshot fields a record does not hold as plain values (layers and logits are records of their own).
_NOT_RECORDED = frozenset({"layers", "logits", "batch_logits", "batch_labels"})
