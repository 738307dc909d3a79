"""Findings and the variance-rule theory on the seed's cases, plus each rule on hand-made snapshots.

Seed cases: ltfn_convnet at initialization, embedded MNIST sample, batch 100, seed 0.
"""

import math

import numpy as np
import pytest

from cnnviz.config import RunConfig
from cnnviz.diagnosis import KINDS, SEVERITIES, Context, Finding, diagnose_run, diagnose_snapshot, sort_findings
from cnnviz.diagnosis.findings import fmt
from cnnviz.diagnosis.gradients import check_update_ratio
from cnnviz.diagnosis.softmax import check_softmax
from cnnviz.diagnosis.theory import (activation_second_moment, layers_between, theory_vs_measured_table,
                                     theory_vs_measured_table_for_run)
from cnnviz.probing.histograms import Summary
from cnnviz.probing.snapshot import LayerSnapshot, Snapshot
from cnnviz.training import Run

LN10 = math.log(10)


@pytest.fixture(scope="module")
def seed_runs():
    runs = {}
    for init in ("normal", "normal-0.01", "he-normal"):
        run = Run(RunConfig(arch="ltfn_convnet", init=init, batch_size=100, seed=0))
        run.snapshot_at_init()
        runs[init] = run
    return runs


def kinds(findings, severity=None):
    return {f.kind for f in findings if severity is None or f.severity == severity}


# ------------------------------------------------------------------ seed cases
def test_normal_init_is_diagnosed_as_exploding_with_saturated_softmax(seed_runs):
    findings = diagnose_run(seed_runs["normal"])
    assert {"exploding_activations", "saturated_softmax"} <= kinds(findings, "error")
    exploding = next(f for f in findings if f.kind == "exploding_activations")
    assert exploding.layer == "conv4" and exploding.step == 0
    # The numbers a student checks against the histogram titles, written as people write them.
    assert "10,200" in exploding.message and "conv1" in exploding.message
    assert "1,152" in exploding.message and "he-normal" in exploding.suggestion
    saturated = next(f for f in findings if f.kind == "saturated_softmax")
    assert "1.000" in saturated.message and "1.6e+06" in saturated.message


def test_small_init_is_diagnosed_as_vanishing_with_uniform_softmax(seed_runs):
    findings = diagnose_run(seed_runs["normal-0.01"])
    assert "vanishing_activations" in kinds(findings, "error")
    vanishing = next(f for f in findings if f.kind == "vanishing_activations")
    assert vanishing.layer == "conv4" and "0.000102" in vanishing.message
    uniform = next(f for f in findings if f.kind == "uniform_softmax")
    assert "2.302592" in uniform.message and f"{LN10:.6f}" in uniform.message
    assert "exploding_activations" not in kinds(findings)


def test_he_normal_has_no_error(seed_runs):
    findings = diagnose_run(seed_runs["he-normal"])
    assert not kinds(findings, "error")
    assert not {"exploding_activations", "vanishing_activations", "saturated_softmax", "uniform_softmax"} & kinds(findings)


def test_findings_are_sorted_errors_first_with_stable_kinds(seed_runs):
    for run in seed_runs.values():
        findings = diagnose_run(run)
        order = [SEVERITIES.index(f.severity) for f in findings]
        assert order == sorted(order)
        assert all(f.kind in KINDS for f in findings)
        assert all(set(f.to_dict()) == {"severity", "kind", "layer", "step", "message", "suggestion"} for f in findings)


# ------------------------------------------------------------------ theory
def test_variance_rule_predicts_each_layer_from_its_measured_input(seed_runs):
    for init, run in seed_runs.items():
        table = theory_vs_measured_table_for_run(run)
        assert list(table["layer"]) == ["conv1", "conv2", "conv3", "conv4", "logits"]
        no_pool = table[table["note"] == ""]
        assert len(no_pool) == 3  # conv1, conv2, conv4 have no pooling in front of them
        assert np.allclose(no_pool["ratio"], 1.0, atol=0.1), f"{init}: {no_pool[['layer', 'ratio']]}"
        after_pool = table[table["note"].str.contains("max pooling")]
        assert (after_pool["ratio"] > 0.9).all() and (after_pool["ratio"] < 1.6).all()


def test_variance_rule_chained_reproduces_the_explosion(seed_runs):
    table = theory_vs_measured_table_for_run(seed_runs["normal"]).set_index("layer")
    # From the image alone, N(0,1) weights compound to thousands by conv4 (measured 10,200:
    # the rule misses only the two max pools' ~1.4x each).
    assert 5e3 < table.loc["conv4", "chained"] < 1.5e4
    assert table.loc["conv4", "predicted"] == pytest.approx(10_200, rel=0.05)
    he = theory_vs_measured_table_for_run(seed_runs["he-normal"]).set_index("layer")
    assert np.allclose(he["chained"], he.loc["conv1", "chained"], rtol=0.1)  # He holds the scale flat


def test_first_layer_uses_measured_input_second_moment(seed_runs):
    run = seed_runs["he-normal"]
    snap = run.snapshots[0]
    row = theory_vs_measured_table_for_run(run).iloc[0]
    conv1 = snap.layer("conv1")
    assert row["input_mean_sq"] == pytest.approx(snap.input_rms ** 2)
    assert row["predicted"] == pytest.approx(math.sqrt(9 * conv1.weight_std ** 2 * snap.input_rms ** 2))


def test_second_moment_rules():
    assert activation_second_moment("relu", 0.0, 2.0)[0] == pytest.approx(2.0)
    assert activation_second_moment("linear", 1.0, 2.0)[0] == pytest.approx(5.0)
    rng = np.random.default_rng(0)
    z = rng.normal(0.5, 3.0, 400_000)
    sampled = float(np.mean((1 / (1 + np.exp(-z))) ** 2))
    assert activation_second_moment("sigmoid", 0.5, 3.0)[0] == pytest.approx(sampled, rel=5e-3)
    value, rule = activation_second_moment("softmax", 0.0, 1.0)
    assert math.isnan(value) and "does not cover" in rule


def test_layers_between_names_pooling_and_dropout():
    run = Run(RunConfig(arch="conv3_dropout", init="he-normal", batch_size=8))
    between = layers_between(run.model, run.probed.layer_names)
    assert between["conv1"] == []
    assert between["conv2"] == ["max_pooling2d", "dropout(0.2)"]
    assert between["logits"] == ["dropout(0.5)"]


# ------------------------------------------------------------------ rules on hand-made snapshots
def summary(std, mean=0.0, frac_nonpositive=0.5, edges=None, counts=None):
    edges = edges if edges is not None else list(np.linspace(-3 * std - 1e-9, 3 * std + 1e-9, 11))
    counts = counts if counts is not None else [10] * (len(edges) - 1)
    return Summary(mean, std, edges[0], edges[-1], frac_nonpositive, 0, sum(counts), edges, counts)


def layer(name, std, activation="relu", fan_in=576, weight_std=0.06, grad_norm=None, update_norm=None,
          weight_norm=1.0, dead_units=0.0, backward_std=None, normalized_by=None, **summary_kwargs):
    return LayerSnapshot(name, "conv2d", activation, fan_in, summary(std, **summary_kwargs), weight_norm, weight_std,
                         grad_norm, update_norm, dead_units, backward_std, normalized_by)


def snapshot(layers, step=1, loss=0.5, max_prob=0.6, trained=True, classes=10):
    soft = {"max_prob_mean": max_prob, "entropy_mean": 1.0, "uniform_entropy": math.log(classes),
            "predicted_counts": [10] * classes, "max_prob_hist": [0] * 20}
    return Snapshot(step, loss, 0.5, layers, summary(1.0), soft, np.zeros((100, classes)), np.zeros(100, int), trained)


def healthy(**changes):
    base = [layer("conv1", 0.5, fan_in=9, weight_std=0.47), layer("conv2", 0.5), layer("logits", 0.7, "linear")]
    for name, replacement in changes.items():
        base = [replacement if l.name == name else l for l in base]
    return base


def test_healthy_hand_made_snapshot_has_no_findings():
    assert diagnose_snapshot(snapshot(healthy())) == []


def test_dead_relu_warning_then_error():
    half = diagnose_snapshot(snapshot(healthy(conv2=layer("conv2", 0.5, dead_units=0.6))))
    assert [(f.kind, f.severity, f.layer) for f in half] == [("dead_relu", "warning", "conv2")]
    assert "60%" in half[0].message
    everything = diagnose_snapshot(snapshot(healthy(conv2=layer("conv2", 0.5, dead_units=1.0))))
    assert everything[0].severity == "error" and "nothing flows" in everything[0].message


def test_sigmoid_saturation_reads_the_histogram():
    edges = list(np.linspace(-10, 10, 21))
    counts = [50] * 3 + [0] * 14 + [50] * 3  # all mass beyond |z| = 7
    saturated = layer("fc1", 8.0, "sigmoid", edges=edges, counts=counts)
    findings = diagnose_snapshot(snapshot(healthy(conv2=saturated)))
    assert any(f.kind == "sigmoid_saturation" and f.layer == "fc1" and f.severity == "error" for f in findings)


def test_update_ratio_far_from_1e3_warns_both_ways():
    fast = [snapshot(healthy(conv2=layer("conv2", 0.5, grad_norm=1.0, update_norm=0.5)), step=s) for s in (1, 2, 3)]
    findings = check_update_ratio(fast, Context(learning_rate=0.5))
    assert [(f.kind, f.layer) for f in findings] == [("update_ratio_high", "conv2")]
    assert "median of the last 3 probed steps" in findings[0].message and "0.5" in findings[0].message
    slow = [snapshot([layer("conv1", 0.5, grad_norm=1e-9, update_norm=1e-8), layer("logits", 0.7, "linear",
                      grad_norm=1.0, update_norm=1e-3)])]
    assert [f.kind for f in check_update_ratio(slow)] == ["update_ratio_low"]


def test_exploding_and_vanishing_gradients():
    big = snapshot(healthy(conv2=layer("conv2", 0.5, grad_norm=5e3, weight_norm=2.0)))
    # A plain SGD step at lr 0.01 would change conv2 by 0.01 x 2,500 = 25x its size: an error...
    sgd = {(f.kind, f.severity) for f in diagnose_snapshot(big, optimizer="sgd", learning_rate=0.01)}
    assert ("exploding_gradients", "error") in sgd
    # ... but Adam normalises the gradient away: its steps are judged by their measured size only.
    assert "exploding_gradients" not in {f.kind for f in diagnose_snapshot(big, optimizer="adam", learning_rate=0.01)}
    tiny = snapshot([layer("conv1", 0.5, grad_norm=1e-7, backward_std=1e-9), layer("conv2", 0.5, grad_norm=1e-3,
                                                                                  backward_std=1e-4),
                     layer("logits", 0.7, "linear", grad_norm=1.0, backward_std=0.01)])
    vanishing = [f for f in diagnose_snapshot(tiny) if f.kind == "vanishing_gradients"]
    assert vanishing and vanishing[0].layer == "conv1" and vanishing[0].severity == "warning"
    assert "100,000x" in vanishing[0].message


def test_uniform_softmax_that_persists_becomes_an_error():
    flat = [layer("conv1", 0.001, fan_in=9, weight_std=0.01), layer("logits", 1e-4, "linear")]
    history = [snapshot(flat, step=s, loss=LN10 + 1e-5, max_prob=0.1) for s in range(1, 26)]
    findings = check_softmax(history[-1], Context(history=tuple(history)))
    assert findings[0].kind == "uniform_softmax" and findings[0].severity == "error"
    assert "25 training steps" in findings[0].message


def test_sort_findings_puts_errors_first():
    unsorted = [Finding("info", "dead_relu", "a", 3, "m"), Finding("error", "non_finite", "b", 5, "m"),
                Finding("warning", "dead_relu", "c", 1, "m")]
    assert [f.severity for f in sort_findings(unsorted)] == ["error", "warning", "info"]


def test_number_formatting_reads_like_a_person_wrote_it():
    assert fmt(10_230.7) == "10,200"
    assert fmt(18.61) == "18.6"
    assert fmt(0.0018611) == "0.00186"
    assert fmt(823_394.1) == "8.2e+05"


def test_std_table_marks_rule_gaps_for_sigmoid_inputs():
    snap = snapshot([layer("fc1", 1.0, "sigmoid", fan_in=100, weight_std=0.1), layer("logits", 0.4, "linear",
                                                                                     fan_in=100, weight_std=0.1)],
                    trained=False)
    snap.input_rms = 0.3
    table = theory_vs_measured_table(snap)
    assert table.loc[1, "input_rule"].startswith("sigmoid")
    assert math.isfinite(table.loc[1, "predicted"])
