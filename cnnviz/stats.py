"""Summaries and histograms computed where the tensors live (inside the compiled step).

Only a handful of scalars and one fixed-width histogram per tensor ever leave the
graph. Design notes:

* A lean set of reductions (sum, sum of squares, min, max, count ≤ 0, one
  histogram) keeps probing cheap; std comes from E[x²] − E[x]².
* ``tf.histogram_fixed_width`` misbehaves on non-finite input and ranges, so
  non-finite values are counted separately, replaced before binning, and binning
  runs only when the range is finite (``tf.cond``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

SUMMARY_KEYS = ("mean", "std", "min", "max", "frac_nonpositive", "nonfinite", "count", "hist")


def tensor_summary(x: tf.Tensor, bins: int, value_range: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """In-graph summary of any tensor: moments, extremes, fraction ≤ 0, histogram.

    ``value_range`` (shape (2,)) fixes the histogram range so frames are comparable
    across steps; values outside land in the edge bins. Without it the range is this
    tensor's own finite [min, max]. Returns tensors: call inside ``tf.function``.

    The common case (all values finite) takes a lean path of six passes over the
    tensor; only when the sums come out non-finite does the masked path run.
    """
    flat = tf.reshape(tf.cast(x, tf.float32), [-1])
    total = tf.reduce_sum(flat)
    total_sq = tf.reduce_sum(tf.square(flat))
    all_finite = tf.logical_and(tf.math.is_finite(total), tf.math.is_finite(total_sq))
    return tf.cond(all_finite,
                   lambda: _finite_summary(flat, total, total_sq, bins, value_range),
                   lambda: _masked_summary(flat, bins, value_range))


def _histogram_range(lo_data, hi_data, value_range):
    lo, hi = (lo_data, hi_data) if value_range is None else (value_range[0], value_range[1])
    # A constant tensor (e.g. zeros init) has lo == hi: widen so the bins have width.
    pad = tf.maximum(tf.abs(hi - lo), tf.maximum(tf.abs(lo), 1e-12)) * 1e-3
    degenerate = hi - lo <= 0.0
    return tf.where(degenerate, lo - pad, lo), tf.where(degenerate, hi + pad, hi)


def _finite_summary(flat, total, total_sq, bins, value_range):
    n = tf.cast(tf.size(flat), tf.float32)
    denom = tf.maximum(n, 1.0)
    mean = total / denom
    lo_data, hi_data = tf.reduce_min(flat), tf.reduce_max(flat)
    lo, hi = _histogram_range(lo_data, hi_data, value_range)
    counts = tf.cond(tf.logical_and(tf.math.is_finite(hi - lo), n > 0),
                     lambda: tf.histogram_fixed_width(flat, tf.stack([lo, hi]), nbins=bins),
                     lambda: tf.zeros([bins], tf.int32))
    return {
        "mean": mean,
        "std": tf.sqrt(tf.maximum(total_sq / denom - tf.square(mean), 0.0)),
        "min": lo_data,
        "max": hi_data,
        "frac_nonpositive": tf.reduce_sum(tf.cast(flat <= 0.0, tf.float32)) / denom,
        "nonfinite": tf.constant(0, tf.int32),
        "count": tf.size(flat, out_type=tf.int32),
        "hist_lo": lo,
        "hist_hi": hi,
        "hist": counts,
    }


def _masked_summary(flat, bins, value_range):
    """The slow path: statistics over the finite values, non-finite ones counted apart."""
    finite = tf.math.is_finite(flat)
    n_finite = tf.reduce_sum(tf.cast(finite, tf.float32))
    n_total = tf.cast(tf.size(flat), tf.float32)
    safe = tf.where(finite, flat, tf.zeros_like(flat))
    denom = tf.maximum(n_finite, 1.0)
    mean = tf.reduce_sum(safe) / denom
    mean_sq = tf.reduce_sum(tf.square(safe)) / denom
    big = tf.constant(np.finfo(np.float32).max, tf.float32)
    lo_data = tf.reduce_min(tf.where(finite, flat, big))
    hi_data = tf.reduce_max(tf.where(finite, flat, -big))
    lo, hi = _histogram_range(lo_data, hi_data, value_range)
    bin_ok = tf.logical_and(tf.math.is_finite(lo - hi), n_finite > 0)

    def histogram():
        counts = tf.histogram_fixed_width(tf.where(finite, flat, lo), tf.stack([lo, hi]), nbins=bins)
        # Non-finite values were parked at `lo`, i.e. in bin 0: take them out again.
        return counts - tf.one_hot(0, bins, dtype=tf.int32) * tf.cast(n_total - n_finite, tf.int32)

    return {
        "mean": mean,
        "std": tf.sqrt(tf.maximum(mean_sq - tf.square(mean), 0.0)),
        "min": tf.where(n_finite > 0, lo_data, tf.constant(math.nan)),
        "max": tf.where(n_finite > 0, hi_data, tf.constant(math.nan)),
        "frac_nonpositive": tf.reduce_sum(tf.cast(flat <= 0.0, tf.float32)) / tf.maximum(n_total, 1.0),
        "nonfinite": tf.cast(n_total - n_finite, tf.int32),
        "count": tf.cast(n_total, tf.int32),
        "hist_lo": lo,
        "hist_hi": hi,
        "hist": tf.cond(bin_ok, histogram, lambda: tf.zeros([bins], tf.int32)),
    }


@dataclass
class Summary:
    """A tensor's distribution in a few numbers plus a fixed-width histogram (host side)."""

    mean: float
    std: float
    min: float
    max: float
    frac_nonpositive: float
    nonfinite: int
    count: int
    hist_edges: list[float]
    hist_counts: list[int]

    @classmethod
    def from_tensors(cls, values: dict) -> Summary:
        """Convert the dict from :func:`tensor_summary` (after evaluation) to plain Python."""
        counts = np.asarray(values["hist"]).astype(int)
        lo, hi = float(values["hist_lo"]), float(values["hist_hi"])
        edges = np.linspace(lo, hi, len(counts) + 1) if math.isfinite(lo) and math.isfinite(hi) else np.full(len(counts) + 1, math.nan)
        return cls(float(values["mean"]), float(values["std"]), float(values["min"]), float(values["max"]),
                   float(values["frac_nonpositive"]), int(values["nonfinite"]), int(values["count"]),
                   edges.tolist(), counts.tolist())

    @property
    def finite(self) -> bool:
        return self.nonfinite == 0 and math.isfinite(self.std)

    def to_dict(self) -> dict:
        """The JSON shape of the public contract (``hist`` = {edges, counts})."""
        data = asdict(self)
        data["hist"] = {"edges": data.pop("hist_edges"), "counts": data.pop("hist_counts")}
        return data


def softmax_summary(logits: tf.Tensor, labels: tf.Tensor, classes: int) -> dict[str, tf.Tensor]:
    """In-graph loss, accuracy and softmax statistics from logits (B, C) and int labels."""
    logits = tf.cast(logits, tf.float32)
    log_probs = tf.nn.log_softmax(logits)
    probs = tf.exp(log_probs)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    # 0 * log 0 is 0 for entropy; log_softmax gives -inf there when a prob underflows.
    entropy = -tf.reduce_sum(tf.where(probs > 0, probs * log_probs, 0.0), axis=-1)
    max_prob = tf.reduce_max(probs, axis=-1)
    return {
        "loss": tf.reduce_mean(losses),
        "accuracy": tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32)),
        "max_prob_mean": tf.reduce_mean(max_prob),
        "entropy_mean": tf.reduce_mean(entropy),
        "predicted_counts": tf.math.bincount(predicted, minlength=classes, maxlength=classes),
        "max_prob_hist": tf.histogram_fixed_width(tf.where(tf.math.is_finite(max_prob), max_prob, 0.0), [0.0, 1.0], nbins=20),
    }
