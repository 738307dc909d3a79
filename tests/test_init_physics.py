"""The seed's initialization lesson, measured on the embedded sample (batch 100, seed 0).

These are the numbers a teacher shows: N(0,1) explodes, 0.01 vanishes, He holds.
"""

import math

import pytest

from cnnviz.config import RunConfig
from cnnviz.training import Run


@pytest.fixture(scope="module")
def at_init():
    snapshots = {}
    for init in ("normal", "normal-0.01", "he-normal", "glorot-uniform"):
        run = Run(RunConfig(arch="ltfn_convnet", init=init, batch_size=100, seed=0))
        snapshots[init] = run.snapshot_at_init()
    return snapshots


def std(snapshot, layer):
    return snapshot.layer(layer).pre_activation.std


def test_normal_explodes_and_saturates_softmax(at_init):
    snap = at_init["normal"]
    ratio = std(snap, "conv4") / std(snap, "conv1")
    assert 2e3 <= ratio <= 3e4
    assert snap.softmax["max_prob_mean"] >= 0.99
    assert snap.loss > 1e3  # confidently wrong


def test_small_weights_vanish_to_a_uniform_softmax(at_init):
    small, big = at_init["normal-0.01"], at_init["normal"]
    for depth, layer in enumerate(["conv1", "conv2", "conv3", "conv4"], start=1):
        # every layer's weights are 100x smaller, so depth k is 100^k smaller than N(0,1)
        assert std(small, layer) / std(big, layer) == pytest.approx(0.01 ** depth, rel=0.05)
    assert small.loss == pytest.approx(math.log(10), abs=1e-3)
    assert small.softmax["max_prob_mean"] == pytest.approx(0.1, abs=0.002)
    assert small.softmax["entropy_mean"] == pytest.approx(math.log(10), abs=1e-3)


def test_he_keeps_the_scale(at_init):
    snap = at_init["he-normal"]
    assert 0.5 <= std(snap, "conv4") / std(snap, "conv1") <= 2.5
    assert 2.0 < snap.loss < 2.8


def test_glorot_shrinks_about_0_7_per_equal_width_layer(at_init):
    snap = at_init["glorot-uniform"]
    for first, second in (("conv1", "conv2"), ("conv3", "conv4")):
        assert 0.55 <= std(snap, second) / std(snap, first) <= 0.8


def test_histograms_hold_every_value(at_init):
    layer = at_init["he-normal"].layer("conv2")
    pre = layer.pre_activation
    assert sum(pre.hist_counts) == pre.count == 100 * 28 * 28 * 64
    assert pre.hist_edges[0] <= pre.min and pre.hist_edges[-1] >= pre.max
    # ReLU zeroes the negative half, plus the exact zeros the black MNIST background gives
    assert 0.5 < layer.frac_zero_after_relu < 0.9
