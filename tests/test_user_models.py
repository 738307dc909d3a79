"""Bring your own model: probing arbitrary functional/Sequential Keras models, --images, the page.

Models are built and saved into tmp_path by scripts/make_test_models.py (nothing
binary is committed). Batches are small and training runs a few steps only.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnviz.cli import main
from cnnviz.config import RunConfig
from cnnviz.data.image_folder import load_image_folder
from cnnviz.errors import UserError
from cnnviz.usermodels.loading import load_user_model
from cnnviz.usermodels.probe import probe_user_model
from cnnviz.usermodels.run import prepare_user_run
from scripts import make_test_models as models

CONFIG = RunConfig(arch="file", init="from-file", batch_size=16, seed=0)


def images(n=8, seed=0):
    from cnnviz.data import load_dataset

    return load_dataset("mnist-sample").images("train", np.arange(seed, seed + n))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each good model saved once and loaded back through the safe loader."""
    folder = tmp_path_factory.mktemp("models")
    paths = {name: models.save(build(), folder / f"{name}.keras") for name, build in [
        ("fused", models.fused_model), ("resnet_like", models.resnet_like_model),
        ("logits", models.logits_model), ("hidden_softmax", models.hidden_softmax_model)]}
    return paths


def test_fused_activations_are_recovered_exactly_without_touching_the_model(saved):
    model = load_user_model(saved["fused"])
    config_before = json.dumps(model.get_config(), sort_keys=True, default=str)
    batch = images()
    expected = np.asarray(model(batch))
    probe = probe_user_model(model, sample_images=batch)

    assert [p.name for p in probe.probed.points] == ["conv_relu", "conv_tanh", "dense_relu", "head"]
    assert [p.activation for p in probe.probed.points] == ["relu", "tanh", "relu", "softmax"]
    errors = probe.recovered_pre_activation_error(batch)
    assert set(errors) == {"conv_relu", "conv_tanh", "dense_relu", "head"}
    assert max(errors.values()) < 1e-5  # activation(recovered z) is the layer's real output
    pre, logits = probe.probed(batch)
    assert float(np.min(pre[0])) < 0  # a real pre-activation: ReLU outputs are never negative
    # The logits are the pre-softmax scores: softmax of them is the user's output.
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), expected, atol=1e-6)
    assert probe.output_kind == "softmax" and probe.output_is_probability
    # The user's model still computes what it did, with the same config.
    np.testing.assert_allclose(np.asarray(model(batch)), expected, atol=1e-7)
    assert json.dumps(model.get_config(), sort_keys=True, default=str) == config_before
    assert model.get_layer("conv_relu").activation.__name__ == "relu"


def test_residual_model_with_nested_sequential_is_probed_and_trains_the_users_weights(saved):
    model = load_user_model(saved["resnet_like"])
    run = prepare_user_run(model, CONFIG, source="resnet_like.keras")
    batch = run.batch(1)[0]
    with run.weights_loaded() as flat:
        np.testing.assert_allclose(np.asarray(flat(batch)), np.asarray(model(batch)), atol=1e-6)

    names = [p.name for p in run.probed.points]
    assert names == ["stem", "res_a", "res_b", "inner_conv", "inner_logits"]
    activations = {p.name: p.activation for p in run.probed.points}
    # res_a feeds BatchNorm and then a ReLU: its activation is found through the normalisation,
    # which is recorded so scale findings know its output is rescaled before the ReLU sees it
    assert activations == {"stem": "relu", "res_a": "relu", "res_b": "linear", "inner_conv": "relu",
                           "inner_logits": "softmax"}
    normalized = {p.name: p.normalized_by for p in run.probed.points}
    assert normalized["res_a"] == "batch_normalization" and normalized["stem"] is None
    unprobed = {u.name: u.reason for u in run.user_model.unprobed}
    assert "normalisation" in unprobed["res_a_bn"]
    assert {"residual_add", "inner_gap", "probabilities"} <= set(unprobed)

    from cnnviz.probing.feature_maps import run_kernels

    own = model.get_layer("inner_head").get_layer("inner_conv").kernel.numpy()
    before = run_kernels(run, "inner_conv")
    np.testing.assert_array_equal(before, own)  # the run starts from the file's weights of the nested layer
    run.snapshot_at_init()
    run.train(2)
    assert run.step_count == 2 and run.halted is None
    assert not np.allclose(run_kernels(run, "inner_conv"), before)  # training moved the nested layer's weights
    assert all(layer.grad_norm and layer.grad_norm > 0 for layer in run.latest.layers)
    extras = run.payload_extras()
    assert extras["output_is_probability"] is True and "softmax" in extras["note"]


def test_logits_output_is_used_as_is_with_a_note(saved):
    probe = probe_user_model(load_user_model(saved["logits"]), sample_images=images())
    assert probe.output_kind == "logits" and not probe.output_is_probability
    assert "not a probability vector" in probe.note
    assert [p.name for p in probe.probed.points] == ["hidden", "scores"]


def test_probabilities_without_a_softmax_layer_become_log_probabilities(saved):
    model = load_user_model(saved["hidden_softmax"])
    batch = images()
    probe = probe_user_model(model, sample_images=batch)
    assert probe.output_kind == "probabilities" and probe.output_is_probability
    assert "log(probability)" in probe.note
    _, logits = probe.probed(batch)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), np.asarray(model(batch)), atol=1e-5)


def test_frozen_layers_are_probed_but_not_updated(tmp_path):
    model = models.logits_model()
    model.get_layer("hidden").trainable = False
    path = models.save(model, tmp_path / "frozen.keras")
    run = prepare_user_run(path, CONFIG.replace(optimizer="sgd", lr=0.1))
    def hidden_kernel():
        with run.weights_loaded() as flat:
            return flat.get_layer("hidden").kernel.numpy().copy()

    frozen = hidden_kernel()
    run.train(2)
    layers = {layer.name: layer for layer in run.latest.layers}
    assert layers["hidden"].grad_norm is None and layers["scores"].grad_norm > 0
    np.testing.assert_array_equal(hidden_kernel(), frozen)


def test_open_spatial_input_takes_the_datasets_size():
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    run = prepare_user_run(model, CONFIG)
    assert run.dataset.shape == (28, 28, 1)
    assert run.snapshot_at_init().layers[0].pre_activation.count == 16 * 26 * 26 * 4


def test_class_count_mismatch_says_what_to_do():
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    with pytest.raises(UserError, match="3 outputs but mnist-sample has 10 classes; feed it your own images"):
        prepare_user_run(model, CONFIG)


def test_cli_inspect_model_has_the_inspect_contract_plus_model_fields(saved, capsys):
    code = main(["inspect", "--model", str(saved["resnet_like"]), "--steps", "1", "--batch-size", "16", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"loss", "accuracy", "layers", "logits", "softmax", "findings"} <= set(payload)
    assert {"unprobed_layers", "output_is_probability", "note", "model"} <= set(payload)
    assert payload["steps"] == 1 and payload["model"]["file"] == "resnet_like.keras"
    first = payload["layers"][0]
    assert {"mean", "std", "min", "max", "frac_zero_after_relu", "hist"} <= set(first["pre_activation"])
    assert all(set(u) == {"name", "type", "reason"} for u in payload["unprobed_layers"])


def write_png(path, height, width, value=200, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((height, width, channels), value, np.uint8)
    pixels[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = 255 - value
    path.write_bytes(tf.io.encode_png(pixels).numpy())


def test_image_folder_with_class_subfolders(tmp_path):
    for label in ("0", "3"):
        for k in range(3):
            write_png(tmp_path / "digits" / label / f"{k}.png", 56, 60, value=40 * k, channels=3)
    image_set = load_image_folder(tmp_path / "digits", (28, 28, 1))
    data = image_set.dataset
    assert image_set.labelled and data.size("train") == 6
    assert sorted(set(data.labels("train", np.arange(6)).tolist())) == [0, 3]
    assert data.images("train", np.arange(2)).shape == (2, 28, 28, 1)
    assert data.classes == 4  # folders named by number keep their class index


def test_cli_inspect_model_on_an_image_folder(saved, tmp_path, capsys):
    for k in range(5):
        write_png(tmp_path / "mine" / f"{k}_photo.png", 28, 28, value=30 * k)
    code = main(["inspect", "--model", str(saved["fused"]), "--images", str(tmp_path / "mine"), "--steps", "1",
                 "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["steps"] == 1
    assert payload["config"]["batch_size"] == 5
    assert any("batch size lowered from 100 to 5" in note for note in payload["notes"])


# ----------------------------------------------------------------- the page
PAGE = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "dashboard" / "views" / "your_model.py")


def page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(PAGE, default_timeout=120)


def test_page_inspects_an_uploaded_model_and_lists_unprobed_layers(saved):
    at = page()
    at.run()
    assert not at.exception
    at.file_uploader(key="your_model:model_file").set_value(
        ("resnet_like.keras", saved["resnet_like"].read_bytes(), "application/octet-stream"))
    at.button(key="your_model:inspect").click()
    at.run()
    assert not at.exception and not at.error
    run = at.session_state["cnnviz:user_model_run"]
    assert [p.name for p in run.probed.points] == ["stem", "res_a", "res_b", "inner_conv", "inner_logits"]
    tables = [frame.value for frame in at.dataframe]
    assert list(tables[0]["layer"]) == ["stem", "res_a", "res_b", "inner_conv", "inner_logits"]
    assert "res_a_bn" in set(tables[1]["name"])
    assert any("softmax" in info.value for info in at.info)
