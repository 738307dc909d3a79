"""What the pages used to compute themselves, now in cnnviz: tables behind the CSV downloads,
test evaluations kept per step, live-training ticks, the words above the charts, the playground's
optimizer entries and defaults. Checked on a real network against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cnnviz.config import RunConfig
from cnnviz.data import load_dataset
from cnnviz.diagnosis import diagnose_run
from cnnviz.figures import activations as layer_figures
from cnnviz.figures import architecture as architecture_figures
from cnnviz.figures import filters as filter_figures
from cnnviz.figures import logits as logit_figures
from cnnviz.nets import layers as layer_math
from cnnviz.nets import zoo
from cnnviz.nets.optimizers import HYPERPARAMETER_DEFAULTS, OPTIMIZERS, OptimizerSpec
from cnnviz.playground import entries
from cnnviz.playground.presets import PRESETS
from cnnviz.probing import feature_maps as fm
from cnnviz.training.describe import snapshot_metrics, training_mode_words, what_is_shown
from cnnviz.training.evaluations import Evaluations, evaluation_limit
from cnnviz.training.run import run_at_init
from cnnviz.training.ticks import steps_for_one_tick
from cnnviz.usermodels.upload import changed_settings


@pytest.fixture(scope="module")
def run():
    """ltfn_convnet on the embedded MNIST sample, probed at init, then trained 2 steps."""
    run = run_at_init(RunConfig(arch="ltfn_convnet", init="he-normal", batch_size=16, seed=0))
    assert run.step_count == 0 and len(run.snapshots) == 1 and run.snapshots[0].step == 0
    return run


# ------------------------------------------------------------------ filters: kernels and feature maps
def test_kernel_table_lists_every_weight_once_at_its_place(run):
    layer = fm.conv_layers(run.model)[0]
    kernel = fm.run_kernels(run, layer)
    kh, kw, cin, cout = kernel.shape
    table = filter_figures.kernel_table(kernel)
    assert list(table.columns) == ["filter", "in_channel", "row", "col", "weight"]
    assert len(table) == kernel.size
    # Sorted by filter, then input channel, row, column: row k is weight [r, c, i, o] in that order.
    expected = [(o, i, r, c, kernel[r, c, i, o]) for o in range(cout) for i in range(cin)
                for r in range(kh) for c in range(kw)]
    got = list(table.itertuples(index=False, name=None))
    assert [row[:4] for row in got] == [row[:4] for row in expected]
    np.testing.assert_array_equal(table["weight"].to_numpy(), np.array([row[4] for row in expected]))
    assert table.to_csv(index=False).splitlines()[0] == "filter,in_channel,row,col,weight"


def test_feature_map_table_holds_the_maps_values(run):
    layer = fm.conv_layers(run.model)[0]
    image = run.dataset.images("test", np.array([0]))[0]
    maps, probabilities = fm.run_feature_maps(run, layer, image, pre_activation=True)
    table = filter_figures.feature_map_table(maps)
    assert list(table.columns) == ["map", "row", "col", "value"]
    assert len(table) == maps.size
    for k in (0, maps.shape[-1] - 1):
        one = table[table["map"] == k]
        np.testing.assert_array_equal(one["value"].to_numpy().reshape(maps.shape[:2]), maps[:, :, k])
    assert probabilities.shape == (run.classes,) and math.isclose(float(probabilities.sum()), 1.0, rel_tol=1e-5)


# ------------------------------------------------------------------ logits: evaluations and tables
def test_evaluations_keep_the_first_and_the_newest_step(run):
    evaluations = Evaluations(run, limit=64)
    at_init = evaluations.current()
    independent = run.evaluate(split="test", limit=64)
    np.testing.assert_allclose(at_init["logits"], independent["logits"], rtol=1e-5, atol=1e-6)
    assert at_init["examples"] == 64 and evaluations.has_current()
    run.train(1)
    assert not evaluations.has_current()
    evaluations.current()
    run.train(1)
    evaluations.current()
    assert sorted(evaluations.by_step) == [0, run.step_count] == [0, 2]  # step 1 dropped, the first one kept
    assert evaluations.by_step[0] is at_init
    assert evaluations.is_for(run) and not evaluations.is_for(run_at_init(run.config))
    assert evaluation_limit((28, 28, 1)) == 500 and evaluation_limit((224, 224, 3)) == 100


def test_logit_tables_match_the_evaluation(run):
    result = run.evaluate(split="test", limit=40)
    logits, labels = result["logits"], result["labels"]
    names = run.dataset.output_names(run.classes)
    assert names == [str(d) for d in range(10)]

    table = logit_figures.logits_table(logits, labels, names)
    assert list(table.columns) == ["test_index", "true_class", *[f"logit_{d}" for d in range(10)]]
    assert table["true_class"].tolist() == [str(int(k)) for k in labels]
    np.testing.assert_array_equal(table[[f"logit_{d}" for d in range(10)]].to_numpy(), logits)

    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    groups = logit_figures.probability_groups({0: result, 7: result})
    assert list(groups) == ["step 0 (init)", "step 7"]
    np.testing.assert_allclose(groups["step 7"], probabilities, rtol=1e-6)
    confidence = logit_figures.confidence_table(groups)
    assert list(confidence.columns) == ["network_at", "max_probability", "entropy_nats"]
    assert len(confidence) == 2 * len(labels)
    np.testing.assert_allclose(confidence["max_probability"].to_numpy()[:40], probabilities.max(axis=1), rtol=1e-6)
    entropy = -(probabilities * np.log(probabilities)).sum(axis=1)
    np.testing.assert_allclose(confidence["entropy_nats"].to_numpy()[40:], entropy, rtol=1e-6)

    predicted = probabilities.argmax(axis=1)
    counts = logit_figures.confusion_counts(predicted, labels, 10)
    confusion = logit_figures.confusion_table(counts, names)
    lines = confusion.to_csv(index=False).splitlines()
    assert lines[0] == "," + ",".join(f"predicted_{d}" for d in range(10))
    for true in range(10):
        row = lines[1 + true].split(",")
        assert row[0] == f"true_{true}"
        assert [int(v) for v in row[1:]] == [int(((labels == true) & (predicted == p)).sum()) for p in range(10)]

    top = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    assert logit_figures.gallery_indices("misclassified", 0, predicted, labels, top, 12).tolist() == wrong[:12].tolist()
    least = logit_figures.gallery_indices("least confident", 0, predicted, labels, top, 5)
    assert top[least].tolist() == sorted(top)[:5]
    assert logit_figures.gallery_indices("in order", 12, predicted, labels, top, 12).tolist() == list(range(12, 24))


def test_output_names_add_units_beyond_the_datasets_classes():
    digits = load_dataset("mnist-sample")
    assert digits.output_names(12) == [str(d) for d in range(10)] + ["unit 10", "unit 11"]
    assert digits.output_names(3) == ["0", "1", "2"]


# ------------------------------------------------------------------ activations: words, numbers, tables
def test_the_words_above_the_charts_describe_the_snapshot(run):
    snapshot = run.latest
    said = what_is_shown(run, snapshot, run.step_count)
    k = snapshot.step
    assert said.startswith(f"**Step {k}**") and f"measured on training batch {k + 1}" in said
    assert training_mode_words(run.model) == ""  # no dropout or BatchNorm in ltfn_convnet
    behind = what_is_shown(run, run.snapshot_at_init(), run.step_count)
    assert "the network at initialization" in behind and f"the run is at step {run.step_count}" in behind
    step, loss, accuracy, prob = snapshot_metrics(run, snapshot, run.step_count)
    assert (step.label, step.value) == ("Training step", f"{run.step_count:,}")
    assert loss.label == f"Loss on batch {k + 1}" and loss.value == f"{snapshot.loss:.4g}"
    assert accuracy.value == f"{snapshot.accuracy:.0%}"
    assert prob.value == f"{snapshot.softmax['max_prob_mean']:.2f}"


def test_layer_stats_table_holds_each_layers_numbers(run):
    snapshot = run.latest
    table = layer_figures.layer_stats_table(snapshot)
    assert table["layer"].tolist() == [layer.name for layer in snapshot.layers]
    for row, layer in zip(table.itertuples(), snapshot.layers):
        assert row.std == layer.pre_activation.std and row.fan_in == layer.fan_in
        assert row.grad_norm == layer.grad_norm


def test_labelled_histogram_table_stacks_each_snapshots_histograms(run):
    snapshots = {"step 0": run.snapshot_at_init(), "now": run.latest}
    table = layer_figures.labelled_histogram_table(snapshots, label="network")
    for name, snapshot in snapshots.items():
        one = table[table["network"] == name].drop(columns="network").reset_index(drop=True)
        pd.testing.assert_frame_equal(one, layer_figures.histogram_table(snapshot))
    first, latest = run.snapshot_at_init(), run.latest
    assert layer_figures.first_and_latest(first, latest) == [("step 0", first), (f"step {latest.step}", latest)]
    assert layer_figures.first_and_latest(first, first) == [("step 0", first)]


# ------------------------------------------------------------------ live training in ticks
def test_a_tick_steps_to_the_target_and_stops_when_told():
    run = run_at_init(RunConfig(arch="ltfn_convnet", batch_size=8, seed=1))
    assert steps_for_one_tick(run, 3, budget_seconds=600, take_step=lambda: run.train(1))
    assert run.step_count == 3
    assert not steps_for_one_tick(run, 10, 600, lambda: run.train(1), keep_going=lambda: False)
    assert run.step_count == 3  # Pause before the tick: no step taken
    done = steps_for_one_tick(run, 10, budget_seconds=0, take_step=lambda: run.train(1))
    assert not done and run.step_count == 4  # a spent budget still lets the due step through, then stops


# ------------------------------------------------------------------ architecture tables
def test_architecture_tables_follow_the_layer_specs():
    rows = zoo.layer_table("lenet5_like")
    table = architecture_figures.layer_display_table(rows)
    assert table["layer"].tolist() == [row["name"] for row in rows]
    assert table["parameters"].sum() == sum(row["params"] for row in rows)
    steps = layer_math.size_arithmetic(zoo.ARCHITECTURES["alexnet"].specs(), 224)
    sizes = architecture_figures.size_arithmetic_table(steps)
    first = sizes.iloc[0]
    assert first["O exact"] == pytest.approx(1 + (224 - 11 + 2 * float(first["P (padding per side)"])) / 4)
    assert first["O"] == str(math.floor(first["O exact"]))


# ------------------------------------------------------------------ optimizer defaults and playground entries
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_hyperparameter_defaults_are_those_of_real_keras_optimizers(name):
    from cnnviz.playground.engine import HYPERPARAMETERS, keras_defaults

    defaults = HYPERPARAMETER_DEFAULTS[name]
    assert tuple(defaults) == HYPERPARAMETERS[name]
    real = keras_defaults(name)
    for field, value in defaults.items():
        assert real[field] == pytest.approx(value, rel=1e-6), field


def test_a_preset_becomes_settings_and_back_the_same_specs():
    from cnnviz.playground.engine import resolved_hyperparameters

    for preset in PRESETS.values():
        settings = entries.preset_settings(preset)
        specs = [entries.spec_from_settings(
            entry, settings[f"lr:{entry}"],
            {p: settings[f"{p}:{entry}"] for p in HYPERPARAMETER_DEFAULTS[entries.optimizer_of(entry)]})
            for entry in settings["entries"]]
        assert entries.preset_matches(preset, settings["surface"], (settings["start_x"], settings["start_y"]),
                                      settings["steps"], specs)
        for spec in specs:
            sent = entries.handoff(spec)
            assert {k: v for k, v in sent.items() if v is not None and k not in ("optimizer", "lr")} == \
                pytest.approx(resolved_hyperparameters(spec))
    preset = PRESETS["tutorial"]
    faster = [OptimizerSpec(s.name, lr=s.learning_rate * 2) for s in preset.specs]
    assert not entries.preset_matches(preset, preset.surface, preset.start, preset.steps, faster)
    assert entries.spec_from_settings("momentum #2", 0.01, {"momentum": 0.9}) == OptimizerSpec("momentum", lr=0.01)
    assert entries.spec_from_settings("momentum #2", 0.01, {"momentum": 0.5}).momentum == 0.5


def test_upload_settings_name_what_changed():
    built = {"file": ("a.keras", 10), "source": "mnist-sample", "images": (), "optimizer": "adam", "lr": 0.001,
             "batch_size": 32, "seed": 0, "input_range": "auto", "reinit": "none"}
    assert changed_settings(built, dict(built)) == []
    assert changed_settings(built, {**built, "lr": 0.01, "seed": 3}) == ["learning rate", "seed"]


# ------------------------------------------------------------------ findings in words
def test_findings_read_the_same_on_every_page():
    from dashboard.components import finding_text

    exploding = run_at_init(RunConfig(arch="ltfn_convnet", init="normal", batch_size=16, seed=0))
    findings = diagnose_run(exploding)
    assert findings, "N(0,1) weights explode: there is something to say"
    finding = next(f for f in findings if f.layer)
    full = finding_text(finding)
    assert full.startswith(f"**{finding.layer}** (step {finding.step}): {finding.message}")
    assert (f"→ *{finding.suggestion}*" in full) == bool(finding.suggestion)
    assert finding_text(finding, step=False).startswith(f"**{finding.layer}**: ")
    assert finding_text(finding, compact=True) == f"{finding.layer}: {finding.message}"
