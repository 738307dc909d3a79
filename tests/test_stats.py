"""In-graph summaries: exact on finite data (however large), safe on NaN/Inf, histograms cover their data."""

import math

import numpy as np
import tensorflow as tf

from cnnviz.probing.graph import tensor_summary
from cnnviz.probing.histograms import Summary


def summarize(values, bins=10):
    fn = tf.function(lambda x: tensor_summary(x, bins))
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


def test_histogram_covers_every_value_with_outliers():
    s = summarize(np.array([-100.0, 0.1, 0.2, 100.0], np.float32), bins=4)
    assert s.hist_edges[0] == -100.0 and s.hist_edges[-1] == 100.0
    assert s.hist_counts == [1, 0, 2, 1]  # [-100, -50) [-50, 0) [0, 50) [50, 100]


def test_huge_finite_values_get_exact_finite_summaries():
    """A deep N(0, 1) ReLU net reaches 1e23: squares overflow float32, the summary must not."""
    x = np.random.default_rng(1).normal(0.0, 3e22, size=10_000).astype(np.float32)
    s = summarize(x, bins=20)
    assert s.finite and s.nonfinite == 0
    assert math.isclose(s.std, float(x.astype(np.float64).std()), rel_tol=1e-4)
    assert math.isclose(s.mean, float(x.astype(np.float64).mean()), rel_tol=1e-3, abs_tol=1e-3 * s.std)
    assert sum(s.hist_counts) == x.size and s.hist_edges[0] <= s.min and s.hist_edges[-1] >= s.max


def test_stable_norm_and_std_match_float64_for_huge_values():
    from cnnviz.probing.graph import stable_norm, stable_std

    x = np.random.default_rng(2).normal(0.0, 1e25, size=(300, 40)).astype(np.float32)
    norm = float(tf.function(stable_norm)(tf.constant(x)))
    std = float(tf.function(stable_std)(tf.constant(x)))
    assert math.isclose(norm, float(np.linalg.norm(x.astype(np.float64))), rel_tol=1e-5)
    assert math.isclose(std, float(x.astype(np.float64).std()), rel_tol=1e-4)
    assert math.isinf(float(tf.function(stable_norm)(tf.constant([1.0, np.inf], tf.float32))))


def test_rebin_moves_counts_onto_a_wider_grid_without_losing_any():
    from cnnviz.probing.histograms import rebin

    moved = rebin([0.0, 1.0, 2.0], [10, 30], np.linspace(-4.0, 4.0, 9))
    assert moved.sum() == 40 and moved[4] == 10 and moved[5] == 30


def test_constant_tensor_still_has_bins():
    s = summarize(np.zeros(10, np.float32), bins=5)
    assert s.std == 0 and sum(s.hist_counts) == 10 and s.hist_edges[-1] > s.hist_edges[0]
