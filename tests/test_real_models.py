"""Real networks nobody here wrote: the findings a careful engineer would sign, and no false alarms.

The catalogue (``scripts/real_models.py``, also the README's table) holds Keras application
networks built with ``weights=None``, the keras-io MNIST convnet, BatchNorm / Rescaling /
Dropout models and deep plain MLPs. Every model is generated here; nothing binary is committed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scripts import real_models
from scripts.real_models import CATALOGUE, run_case


def kinds(findings) -> set[str]:
    return {f.kind for f in findings if f.severity in ("error", "warning")}


@pytest.fixture(scope="module", params=CATALOGUE, ids=[case.name for case in CATALOGUE])
def outcome(request):
    case = request.param
    run, at_init, after = run_case(case)
    return case, run, at_init, after


def test_expected_findings_appear_and_nothing_else(outcome):
    case, run, at_init, after = outcome
    assert case.expect_at_init <= kinds(at_init), [f.message for f in at_init]
    assert case.expect_after <= kinds(after), [f.message for f in after]
    false_alarms = (kinds(at_init) | kinds(after)) & case.forbidden()
    assert not false_alarms, [f"{f.kind}: {f.message}" for f in at_init + after if f.kind in false_alarms]


def test_the_input_range_is_read_from_the_model(outcome):
    case, run, _, _ = outcome
    if case.input_range is None:
        pytest.skip("a zoo network: cnnviz feeds its own [0, 1] pixels")
    assert run.config.input_range == case.input_range
    fed = next(note for note in run.notes if note.startswith("pixels are fed"))
    assert ("0, 255" in fed) == (case.input_range == "0-255")


def test_every_number_shown_is_finite_or_marked(outcome):
    _, run, _, _ = outcome
    for snapshot in run.snapshots:
        for layer in snapshot.layers:
            pre = layer.pre_activation
            if pre.nonfinite == 0:  # finite values get exact, finite summaries, however large
                assert math.isfinite(pre.std) and math.isfinite(pre.mean)
                assert pre.hist_edges[0] <= pre.min and pre.hist_edges[-1] >= pre.max
                assert sum(pre.hist_counts) == pre.count


def test_batchnorm_numbers_match_an_independent_keras_computation():
    """Training-mode probe = what Keras computes for the same batch in training mode (BatchNorm on batch stats)."""
    import keras

    case = next(c for c in CATALOGUE if c.name == "BatchNorm Sequential")
    run, _, _ = run_case(case, steps=2)
    snapshot = run.latest
    images, _ = run.batch(snapshot.batch)
    convs, outputs = [], []
    with run.weights_loaded() as model:
        values = images
        for layer in model.layers:  # the layers one by one, in training mode, as Keras runs them
            if isinstance(layer, keras.layers.InputLayer):
                continue
            values = layer(values, training=True)
            if isinstance(layer, keras.layers.Conv2D):
                convs.append(layer)
                outputs.append(values)
    assert len(convs) == 3
    for layer, values in zip(convs, outputs):
        values = np.asarray(values, np.float64)
        measured = snapshot.layer(layer.name)
        assert measured.normalized_by == "batch_normalization" and measured.activation == "relu"
        assert measured.pre_activation.std == pytest.approx(values.std(), rel=1e-5)
        assert measured.pre_activation.mean == pytest.approx(values.mean(), rel=1e-4, abs=1e-6)


def test_the_same_file_with_dropout_gives_the_same_numbers_every_time(tmp_path):
    """A .keras file starts its dropout seed generators from random seeds: cnnviz seeds them from --seed."""
    from cnnviz.config import RunConfig
    from cnnviz.usermodels.run import prepare_user_run

    path = tmp_path / "dropout.keras"
    real_models.dropout_mlp().save(path)

    def losses(seed: int):
        run = prepare_user_run(path, RunConfig(arch="file", init="from-file", batch_size=16, seed=seed))
        run.train(3)
        return run.losses, run.notes

    (first, notes), (second, _), (other, _) = losses(0), losses(0), losses(1)
    assert first == second
    assert any("seeded from seed 0" in note for note in notes)
    assert other != first


def test_a_starved_model_is_called_starved_only_when_it_is():
    """Feeding [0, 1] to a model that divides by 255 itself starves it: say so, and say what cnnviz would feed."""
    from cnnviz.config import RunConfig
    from cnnviz.diagnosis import diagnose_run
    from cnnviz.usermodels.run import prepare_user_run

    config = RunConfig(arch="file:rescaling", init="from-file", batch_size=16)
    forced = prepare_user_run(real_models.rescaling_inside(), config, source="rescaling", input_range="0-1")
    forced.snapshot_at_init()
    assert "vanishing_activations" in kinds(diagnose_run(forced))
    assert any("as chosen" in note and "would have fed [0, 255]" in note for note in forced.notes)


def test_an_exploding_deep_net_blames_the_initialization_not_the_learning_rate():
    case = next(c for c in CATALOGUE if "N(0,1)" in c.name)
    run, at_init, after = run_case(case)
    exploding = next(f for f in at_init if f.kind == "exploding_activations")
    assert "inf" not in exploding.message and "e+2" in exploding.message  # a finite number near 1e23
    halt = next(f for f in after if f.kind == "non_finite")
    assert "he-normal" in halt.suggestion and "cannot prevent" in halt.suggestion
    assert "overflowed float32" in halt.message
