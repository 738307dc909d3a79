"""In-graph summaries: exact on finite data, safe on NaN/Inf, fixed ranges clamp."""

import math

import numpy as np
import tensorflow as tf

from cnnviz.stats import Summary, tensor_summary


def summarize(values, bins=10, value_range=None):
    fn = tf.function(lambda x: tensor_summary(x, bins, value_range))
    return Summary.from_tensors(fn(tf.constant(values, tf.float32)))


def test_matches_numpy_on_finite_values():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 7, 7, 5)).astype(np.float32)
    s = summarize(x, bins=20)
    assert math.isclose(s.mean, x.mean(), rel_tol=1e-4) and math.isclose(s.std, x.std(), rel_tol=1e-3)
    assert s.min == x.min() and s.max == x.max() and s.nonfinite == 0
    assert math.isclose(s.frac_nonpositive, (x <= 0).mean(), rel_tol=1e-6)
    counts, edges = np.histogram(x, bins=20, range=(x.min(), x.max()))
    assert np.abs(np.asarray(s.hist_counts) - counts).sum() <= 2  # float edge ties only
    assert sum(s.hist_counts) == x.size


def test_nan_and_inf_are_counted_not_binned():
    x = np.array([1.0, 2.0, np.nan, np.inf, -np.inf, 3.0], np.float32)
    s = summarize(x, bins=4)
    assert s.nonfinite == 3 and sum(s.hist_counts) == 3
    assert (s.min, s.max) == (1.0, 3.0) and math.isclose(s.mean, 2.0)
    assert not s.finite


def test_all_nan_tensor_gives_empty_histogram_not_a_crash():
    s = summarize(np.full(8, np.nan, np.float32), bins=5)
    assert s.nonfinite == 8 and sum(s.hist_counts) == 0 and math.isnan(s.min)


def test_fixed_range_clamps_outliers_into_edge_bins():
    s = summarize(np.array([-100.0, 0.1, 0.2, 100.0], np.float32), bins=4, value_range=tf.constant([0.0, 1.0]))
    assert s.hist_edges[0] == 0.0 and s.hist_edges[-1] == 1.0
    assert s.hist_counts == [3, 0, 0, 1]  # -100 clamps into [0, .25) with 0.1 and 0.2; 100 into the last


def test_constant_tensor_still_has_bins():
    s = summarize(np.zeros(10, np.float32), bins=5)
    assert s.std == 0 and sum(s.hist_counts) == 10 and s.hist_edges[-1] > s.hist_edges[0]
