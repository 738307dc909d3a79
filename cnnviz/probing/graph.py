"""Summaries and histograms computed where the tensors live (inside the compiled step).

Only a handful of scalars and one fixed-width histogram per tensor ever leave the
graph. Design notes:

* **The histogram covers its data.** Each probe bins a tensor over that tensor's own
  finite [min, max], so every finite value lands in a bin whatever training did to
  the scale. The edges travel with the counts (``hist_lo``/``hist_hi``); figures
  that put several steps on one axis re-bin on the host (:func:`cnnviz.probing.histograms.rebin`).
* **Exact for every finite tensor.** A ReLU net with N(0, 1) weights reaches values
  near 1e23, whose float32 squares overflow. Moments are therefore taken of ``x / m``
  with ``m = max |x|`` (free: min and max are needed for the histogram anyway) and
  scaled back, so std is finite whenever the values are.
* **Non-finite values are counted, never binned.** ``tf.histogram_fixed_width`` misbehaves
  on NaN/Inf input and ranges, so a masked path (taken only when the cheap sums come
  out non-finite) counts them apart and bins the finite rest.
"""

from __future__ import annotations

import math
import numpy as np
import tensorflow as tf

SUMMARY_KEYS = ("mean", "std", "min", "max", "frac_nonpositive", "nonfinite", "count", "hist")
_TINY = 1e-30  # below this max |x| the tensor is treated as all zeros for scaling


def tensor_summary(x: tf.Tensor, bins: int) -> dict[str, tf.Tensor]:
    """In-graph summary of any tensor: moments, extremes, fraction ≤ 0, histogram.

    The histogram spans the tensor's own finite [min, max] (a constant tensor gets a
    small symmetric pad so its bins have width). Returns tensors: call inside
    ``tf.function``. The common case (plain sums finite) takes a lean path of six
    passes over the tensor; a tensor whose squares overflow float32, or that holds
    NaN/Inf, takes the exact masked path instead.
    """
    flat = tf.reshape(tf.cast(x, tf.float32), [-1])
    total = tf.reduce_sum(flat)
    total_sq = tf.reduce_sum(tf.square(flat))
    # NaN and Inf propagate through sums; an overflowing sum of squares is caught here too.
    lean = tf.logical_and(tf.math.is_finite(total), tf.math.is_finite(total_sq))
    return tf.cond(lean, lambda: _finite_summary(flat, total, total_sq, bins), lambda: _masked_summary(flat, bins))


def _scale_of(lo, hi):
    """max |x| as a safe divisor (1 for an all-zero or empty tensor)."""
    magnitude = tf.maximum(tf.abs(lo), tf.abs(hi))
    return tf.where(magnitude > _TINY, magnitude, tf.ones_like(magnitude))


def _moments(count, scale, scaled_sum, scaled_sq):
    """(mean, std) from sums of x/scale, without ever squaring an unscaled value."""
    denom = tf.maximum(count, 1.0)
    scaled_mean = scaled_sum / denom
    scaled_var = tf.maximum(scaled_sq / denom - tf.square(scaled_mean), 0.0)
    return scaled_mean * scale, tf.sqrt(scaled_var) * scale


def _histogram_range(lo, hi):
    # A constant tensor (e.g. zeros init) has lo == hi: widen so the bins have width.
    pad = tf.maximum(tf.abs(lo), 1e-12) * 1e-3
    degenerate = hi - lo <= 0.0
    return tf.where(degenerate, lo - pad, lo), tf.where(degenerate, hi + pad, hi)


def _binned(values, lo, hi, bins, ok):
    # The span hi - lo of two finite float32 values can itself overflow (-3e38 .. 3e38).
    ok = tf.logical_and(ok, tf.math.is_finite(hi - lo))
    return tf.cond(ok, lambda: tf.histogram_fixed_width(values, tf.stack([lo, hi]), nbins=bins),
                   lambda: tf.zeros([bins], tf.int32))


def _finite_summary(flat, total, total_sq, bins):
    n = tf.cast(tf.size(flat), tf.float32)
    lo_data, hi_data = tf.reduce_min(flat), tf.reduce_max(flat)
    mean, std = _moments(n, tf.constant(1.0), total, total_sq)
    lo, hi = _histogram_range(lo_data, hi_data)
    return {
        "mean": mean,
        "std": std,
        "min": lo_data,
        "max": hi_data,
        "frac_nonpositive": tf.reduce_sum(tf.cast(flat <= 0.0, tf.float32)) / tf.maximum(n, 1.0),
        "nonfinite": tf.constant(0, tf.int32),
        "count": tf.size(flat, out_type=tf.int32),
        "hist_lo": lo,
        "hist_hi": hi,
        "hist": _binned(flat, lo, hi, bins, n > 0),
    }


def _masked_summary(flat, bins):
    """The slow path: statistics over the finite values, non-finite ones counted apart."""
    finite = tf.math.is_finite(flat)
    n_finite = tf.reduce_sum(tf.cast(finite, tf.float32))
    n_total = tf.cast(tf.size(flat), tf.float32)
    big = tf.constant(np.finfo(np.float32).max, tf.float32)
    lo_data = tf.reduce_min(tf.where(finite, flat, big))
    hi_data = tf.reduce_max(tf.where(finite, flat, -big))
    scale = _scale_of(lo_data, hi_data)
    scaled = tf.where(finite, flat / scale, tf.zeros_like(flat))
    mean, std = _moments(n_finite, scale, tf.reduce_sum(scaled), tf.reduce_sum(tf.square(scaled)))
    lo, hi = _histogram_range(lo_data, hi_data)

    def histogram():
        counts = tf.histogram_fixed_width(tf.where(finite, flat, lo), tf.stack([lo, hi]), nbins=bins)
        # Non-finite values were parked at `lo`, i.e. in bin 0: take them out again.
        return counts - tf.one_hot(0, bins, dtype=tf.int32) * tf.cast(n_total - n_finite, tf.int32)

    bin_ok = tf.logical_and(tf.math.is_finite(hi - lo), n_finite > 0)
    return {
        "mean": tf.where(n_finite > 0, mean, tf.constant(math.nan)),
        "std": tf.where(n_finite > 0, std, tf.constant(math.nan)),
        "min": tf.where(n_finite > 0, lo_data, tf.constant(math.nan)),
        "max": tf.where(n_finite > 0, hi_data, tf.constant(math.nan)),
        "frac_nonpositive": tf.reduce_sum(tf.cast(flat <= 0.0, tf.float32)) / tf.maximum(n_total, 1.0),
        "nonfinite": tf.cast(n_total - n_finite, tf.int32),
        "count": tf.cast(n_total, tf.int32),
        "hist_lo": lo,
        "hist_hi": hi,
        "hist": tf.cond(bin_ok, histogram, lambda: tf.zeros([bins], tf.int32)),
    }


def norm_and_std(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(‖x‖₂, population std of x) in-graph, finite for every finite tensor.

    Two passes (sum, sum of squares) when the squares fit float32; otherwise an exact
    path that scales by max |x| first (``tf.norm`` would report Inf for entries near
    1e20). NaN in, NaN out; Inf in, Inf out.
    """
    flat = tf.reshape(tf.cast(x, tf.float32), [-1])
    n = tf.cast(tf.size(flat), tf.float32)
    total, total_sq = tf.reduce_sum(flat), tf.reduce_sum(tf.square(flat))

    def lean():
        return tf.sqrt(total_sq), _moments(n, tf.constant(1.0), total, total_sq)[1]

    def exact():
        magnitude = tf.reduce_max(tf.abs(flat))
        scale = tf.where(magnitude > _TINY, magnitude, tf.ones_like(magnitude))
        scaled = flat / scale
        scaled_sq = tf.reduce_sum(tf.square(scaled))
        norm = tf.where(tf.math.is_inf(magnitude), magnitude, tf.sqrt(scaled_sq) * scale)
        return norm, _moments(n, scale, tf.reduce_sum(scaled), scaled_sq)[1]

    ok = tf.logical_and(tf.math.is_finite(total), tf.math.is_finite(total_sq))
    return tf.cond(ok, lean, exact)


def stable_norm(x: tf.Tensor) -> tf.Tensor:
    """‖x‖₂ that stays finite for every finite tensor (in-graph); see :func:`norm_and_std`."""
    return norm_and_std(x)[0]


def stable_std(x: tf.Tensor) -> tf.Tensor:
    """Population std of every element of ``x``, finite for every finite tensor (in-graph)."""
    return norm_and_std(x)[1]


def all_finite(x: tf.Tensor) -> tf.Tensor:
    """True when no element of ``x`` is NaN or ±Inf (a sum can overflow; this cannot)."""
    return tf.reduce_all(tf.math.is_finite(x))


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


# ---------------------------------------------------------------- all layers of a probe at once
# One row of float64 numbers per probed tensor (and its layer's weights, gradient, update and
# backward signal); absent quantities are NaN. The training core packs a probe into these.
LAYER_FIELDS = ("mean", "std", "min", "max", "frac_nonpositive", "nonfinite", "count", "hist_lo", "hist_hi",
                "dead_units", "weight_norm", "weight_std", "grad_norm", "update_norm", "backward_std",
                "prior_weight_norm")
OPTIONAL_FIELDS = ("dead_units", "weight_norm", "weight_std", "grad_norm", "update_norm", "backward_std",
                   "prior_weight_norm")
NORM_ONLY = ("grad", "update", "prior")  # tensors of which a probe reports only the norm


def summarize_layers(items: list[dict], bins: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(rows float64 [n, len(LAYER_FIELDS)], histograms int32 [n, bins]) for a probe's tensors, in-graph.

    Each item is a dict with ``values`` (the pre-activation or logits tensor) and optionally
    ``kernel``, ``grad``, ``update``, ``prior`` (the kernel before the update), ``backward`` tensors and ``dead`` (report the dead-unit
    fraction). Why one function for all layers: a small network's step takes a few
    milliseconds, and one ``tf.cond`` per tensor cost more than the arithmetic. Here the lean
    path (plain sums, six passes per activation tensor, two per weight tensor) runs for every
    tensor at once when every sum is finite — which also proves every value finite and every
    square below float32's limit — and one ``tf.cond`` falls back to the exact, masked
    per-tensor path (:func:`tensor_summary`, :func:`norm_and_std`) otherwise.
    """
    flats = {}
    sums = []
    for index, item in enumerate(items):
        for key in ("values", "kernel", "grad", "update", "prior", "backward"):
            if item.get(key) is not None:
                flat = tf.reshape(tf.cast(item[key], tf.float32), [-1])
                flats[index, key] = flat
                # A norm needs only the sum of squares (one pass); a mean or std needs the sum too.
                total = tf.reduce_sum(flat) if key not in NORM_ONLY else tf.constant(0.0)
                sums.append((index, key, total, tf.reduce_sum(tf.square(flat))))
    totals = {(index, key): (total, total_sq) for index, key, total, total_sq in sums}
    lean_ok = tf.reduce_all(tf.math.is_finite(tf.stack([v for _, _, t, q in sums for v in (t, q)])))

    def lean():
        rows, hists = [], []
        for index, item in enumerate(items):
            flat = flats[index, "values"]
            total, total_sq = totals[index, "values"]
            n = tf.cast(tf.size(flat), tf.float32)
            mean, std = _moments(n, tf.constant(1.0), total, total_sq)
            lo_data, hi_data = tf.reduce_min(flat), tf.reduce_max(flat)
            lo, hi = _histogram_range(lo_data, hi_data)
            counts = tf.histogram_fixed_width(flat, tf.stack([lo, hi]), nbins=bins)
            fields = {"mean": mean, "std": std, "min": lo_data, "max": hi_data,
                      "frac_nonpositive": tf.reduce_sum(tf.cast(flat <= 0.0, tf.float32)) / tf.maximum(n, 1.0),
                      "nonfinite": tf.constant(0.0), "count": n, "hist_lo": lo, "hist_hi": hi}
            fields.update(_extras_lean(item, index, flats, totals))
            rows.append(_row(fields))
            hists.append(counts)
        return tf.stack(rows), tf.stack(hists)

    def exact():
        rows, hists = [], []
        for index, item in enumerate(items):
            fields = dict(tensor_summary(item["values"], bins))
            counts = fields.pop("hist")
            fields.update(_extras_exact(item))
            rows.append(_row(fields))
            hists.append(counts)
        return tf.stack(rows), tf.stack(hists)

    return tf.cond(lean_ok, lean, exact)


def _extras_lean(item, index, flats, totals) -> dict:
    out = {}
    if item.get("dead"):
        out["dead_units"] = dead_unit_fraction(item["values"])
    for key, field, which in (("kernel", "weight_norm", "norm"), ("kernel", "weight_std", "std"),
                              ("grad", "grad_norm", "norm"), ("update", "update_norm", "norm"),
                              ("prior", "prior_weight_norm", "norm"), ("backward", "backward_std", "std")):
        if (index, key) in totals:
            total, total_sq = totals[index, key]
            if which == "norm":
                out[field] = tf.sqrt(total_sq)
            else:
                n = tf.cast(tf.size(flats[index, key]), tf.float32)
                out[field] = _moments(n, tf.constant(1.0), total, total_sq)[1]
    return out


def _extras_exact(item) -> dict:
    out = {}
    if item.get("dead"):
        out["dead_units"] = dead_unit_fraction(item["values"])
    if item.get("kernel") is not None:
        out["weight_norm"], out["weight_std"] = norm_and_std(item["kernel"])
    for key, field, position in (("grad", "grad_norm", 0), ("update", "update_norm", 0), ("prior", "prior_weight_norm", 0),
                                 ("backward", "backward_std", 1)):
        if item.get(key) is not None:
            out[field] = norm_and_std(item[key])[position]
    return out


def _row(fields: dict) -> tf.Tensor:
    missing = tf.constant(math.nan, tf.float64)
    return tf.stack([tf.cast(fields[f], tf.float64) if f in fields else missing for f in LAYER_FIELDS])


def dead_unit_fraction(pre_activation: tf.Tensor) -> tf.Tensor:
    """Fraction of units (last axis) that are ≤ 0 at every position of every example in the batch
    (in-graph): the units a following ReLU never lets fire, ``LayerSnapshot.dead_units``."""
    units = tf.shape(pre_activation)[-1]
    flat = tf.reshape(tf.cast(pre_activation, tf.float32), [-1, units])
    never_positive = tf.logical_not(tf.reduce_any(flat > 0.0, axis=0))
    return tf.reduce_mean(tf.cast(never_positive, tf.float32))
