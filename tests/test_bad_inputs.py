"""The bad-input catalogue: every mistake gets one clear sentence, never a traceback.

CLI (in-process ``cnnviz.cli.main``): exit code 2 and exactly one line on stderr.
Pages (AppTest): an ``st.error`` with the reason, the page keeps serving, and the
session's existing run is the same object afterwards.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnviz.cli import main
from cnnviz.config import RunConfig
from cnnviz.training import Run
from scripts import make_test_models as models

PAGES = Path(__file__).resolve().parents[1] / "dashboard" / "views"


def refused(capsys, argv, *fragments) -> str:
    """Run the CLI, expect a user error; return its one stderr line."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.out[-500:]
    assert len(lines) == 1 and lines[0].startswith("cnnviz: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad model files, written once (scripts/make_test_models.py)."""
    folder = tmp_path_factory.mktemp("bad_models")
    models.write_all(folder)
    return folder


# ------------------------------------------------------------ names and numbers
NAME_AND_NUMBER_CASES = {
    "unknown architecture": (["inspect", "--arch", "resnet9000"], "unknown architecture 'resnet9000'", "lenet5"),
    "unknown initializer": (["inspect", "--init", "magic"], "unknown initializer 'magic'", "he-normal"),
    "unknown optimizer": (["inspect", "--optimizer", "adamax"], "unknown optimizer 'adamax'", "adam"),
    "unknown surface": (["trajectory", "--surface", "everest", "--optimizer", "adam"], "unknown surface 'everest'"),
    "unknown dataset": (["inspect", "--arch", "softmax_regression", "--dataset", "imagenet"], "unknown dataset"),
    "input too small": (["inspect", "--arch", "lenet5", "--input-shape", "8,8,1"], "too small", "at least 12x12"),
    "batch larger than dataset": (["inspect", "--arch", "softmax_regression", "--dataset", "synthetic",
                                   "--batch-size", "3000"], "larger than the 2000 training images of synthetic"),
    "batch size zero": (["inspect", "--batch-size", "0"], "batch size must be a positive whole number, got 0"),
    "batch size negative": (["inspect", "--batch-size", "-5"], "batch size must be a positive whole number"),
    "learning rate zero": (["inspect", "--lr", "0"], "learning rate must be a positive finite number, got 0.0"),
    "learning rate negative": (["inspect", "--lr", "-0.1"], "learning rate must be a positive finite number"),
    "steps negative": (["inspect", "--steps", "-1"], "--steps must be 0 or more"),
    "steps huge": (["inspect", "--steps", str(10**9)], "above the cap of 100000"),
}


@pytest.mark.parametrize("case", list(NAME_AND_NUMBER_CASES))
def test_names_and_numbers_are_refused_in_one_line(capsys, case):
    argv, *fragments = NAME_AND_NUMBER_CASES[case]
    refused(capsys, argv, *fragments)


def test_zero_steps_inspects_the_network_at_initialization(capsys):
    code = main(["inspect", "--arch", "softmax_regression", "--steps", "0", "--batch-size", "16", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["steps"] == 0 and payload["halted"] is None


def test_a_huge_learning_rate_halts_mid_training_with_the_step_and_layer(capsys):
    code = main(["inspect", "--arch", "ltfn_mlp", "--optimizer", "sgd", "--lr", "1e9", "--steps", "5",
                 "--batch-size", "32", "--json"])
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert code == 0 and "Traceback" not in captured.err
    assert payload["steps"] < 5  # stopped before the 5 requested steps
    assert "non-finite" in payload["halted"] and "weights of step" in payload["halted"]
    assert any(f["kind"] == "non_finite" and f["severity"] == "error" for f in payload["findings"])


# ------------------------------------------------------------ model files
FILE_CASES = {
    "not a zip": ("not_a_zip.keras", "not a readable .keras archive"),
    "truncated": ("truncated.keras", "corrupt or truncated"),
    "Lambda layer": ("lambda.keras", "contains a Lambda layer ('sneaky')", "would run that code"),
    "custom class": ("custom.keras", "custom class 'someone>Doubler'", "not part of Keras"),
    "legacy h5": ("legacy.h5", "legacy HDF5 (.h5)", "model.save('model.keras')"),
    "zip bomb": ("bomb.keras", "would unpack to 64.0 MB", "zip bomb"),
    "no Dense or Conv": ("no_dense.keras", "no Dense or convolution layer"),
    "two outputs": ("two_outputs.keras", "1 input and 2 outputs"),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_bad_model_files_are_refused_with_the_reason(capsys, files, case):
    name, *fragments = FILE_CASES[case]
    refused(capsys, ["inspect", "--model", files / name], *fragments)


def test_the_lambdas_code_never_runs(capsys, files):
    marker = files / "lambda_ran.txt"
    assert not marker.exists()  # write_all removed the one made while building the model
    refused(capsys, ["inspect", "--model", files / "lambda.keras"], "Lambda")
    assert not marker.exists()


def test_h5_content_renamed_to_keras_is_still_recognised(capsys, files, tmp_path):
    disguised = tmp_path / "disguised.keras"
    disguised.write_bytes((files / "legacy.h5").read_bytes())
    refused(capsys, ["inspect", "--model", disguised], "legacy HDF5")


def test_oversized_upload_is_refused_before_opening(capsys, files, monkeypatch):
    monkeypatch.setenv("CNNVIZ_MAX_UPLOAD_MB", "0.02")
    refused(capsys, ["inspect", "--model", files / "fused.keras"], "over the upload limit of 20 KB")


def test_missing_file_and_directory(capsys, files):
    refused(capsys, ["inspect", "--model", files / "nope.keras"], "no model file")
    refused(capsys, ["inspect", "--model", files], "is a directory")


def test_model_that_does_not_take_images(capsys, tmp_path):
    inputs = keras.Input((784,))
    path = models.save(keras.Model(inputs, keras.layers.Dense(10)(inputs)), tmp_path / "flat.keras")
    refused(capsys, ["inspect", "--model", path], "cnnviz feeds images (height, width, channels)")


def test_model_with_fewer_outputs_than_the_dataset_has_classes(capsys, tmp_path):
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    refused(capsys, ["inspect", "--model", models.save(model, tmp_path / "three.keras")],
            "3 outputs but mnist-sample has 10 classes")


def test_output_that_is_not_a_probability_vector_is_shown_as_logits_with_a_note(capsys, files):
    code = main(["inspect", "--model", str(files / "logits.keras"), "--batch-size", "16", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert payload["output_is_probability"] is False and "not a probability vector" in payload["note"]
    assert payload["softmax"]["max_prob_mean"] > 0  # the softmax is computed from the logits


# ------------------------------------------------------------ --images
def png(height, width):
    return tf.io.encode_png(np.zeros((height, width, 1), np.uint8)).numpy()


@pytest.mark.parametrize("case", ["wrong shape", "not an image", "empty", "not a folder"])
def test_bad_image_folders(capsys, files, tmp_path, case):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "0_ok.png").write_bytes(png(28, 28))
    if case == "wrong shape":
        (folder / "1_banner.png").write_bytes(png(20, 100))
        expected = ("1_banner.png is 20x100 pixels", "distort")
    elif case == "not an image":
        (folder / "notes.txt").write_text("my digits")
        expected = ("notes.txt is not an image",)
    elif case == "empty":
        (folder / "0_ok.png").unlink()
        expected = ("no images were given",)
    else:
        folder = folder / "0_ok.png"
        expected = ("is not a folder of images",)
    refused(capsys, ["inspect", "--model", files / "fused.keras", "--images", folder], *expected)


# ------------------------------------------------------------ pages
def app(page: str):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(PAGES / page), default_timeout=120)


@pytest.fixture(scope="module")
def session_run():
    """A real, small Run standing for the session's work on other pages."""
    run = Run(RunConfig(arch="softmax_regression", batch_size=16, seed=3))
    run.train(1)
    return run


def errors(at) -> str:
    return " | ".join(e.value for e in at.error)


def upload_and_inspect(at, name: str, data: bytes):
    at.file_uploader(key="your_model:model_file").set_value((name, data, "application/octet-stream"))
    at.button(key="your_model:inspect").click()
    at.run()


def test_your_model_page_refuses_each_bad_upload_and_keeps_every_run(files, session_run, monkeypatch):
    at = app("your_model.py")
    at.session_state["cnnviz:run"] = session_run
    at.run()
    upload_and_inspect(at, "fused.keras", (files / "fused.keras").read_bytes())
    assert not at.exception and not at.error
    good = at.session_state["cnnviz:user_model_run"]

    bad = [("lambda.keras", "Lambda layer"), ("custom.keras", "custom class"), ("legacy.h5", "legacy HDF5"),
           ("truncated.keras", "corrupt or truncated"), ("bomb.keras", "zip bomb"),
           ("no_dense.keras", "no Dense or convolution layer")]
    for name, fragment in bad:
        upload_and_inspect(at, name, (files / name).read_bytes())
        assert not at.exception, name
        assert fragment in errors(at), (name, errors(at))
        assert at.session_state["cnnviz:run"] is session_run  # the session's run is untouched
        assert at.session_state["cnnviz:user_model_run"] is good  # and so is the last good upload's run

    monkeypatch.setenv("CNNVIZ_MAX_UPLOAD_MB", "0.02")
    upload_and_inspect(at, "fused.keras", (files / "fused.keras").read_bytes())
    assert "over the upload limit" in errors(at)
    monkeypatch.delenv("CNNVIZ_MAX_UPLOAD_MB")

    at.number_input(key="your_model:lr").set_value(0.0)
    at.button(key="your_model:inspect").click()
    at.run()
    assert "Learning rate must be a positive finite number" in errors(at)
    assert at.session_state["cnnviz:user_model_run"] is good
    assert at.session_state["cnnviz:run"] is session_run


def test_your_model_page_refuses_files_that_are_not_images(files):
    at = app("your_model.py")
    at.run()
    at.radio(key="your_model:source").set_value("upload")
    at.run()
    at.file_uploader(key="your_model:images").set_value([
        ("0_fine.png", png(28, 28), "image/png"), ("1_fake.png", b"just some text, not pixels", "image/png")])
    upload_and_inspect(at, "fused.keras", (files / "fused.keras").read_bytes())
    assert not at.exception
    assert "1_fake.png is not an image" in errors(at)
    assert "cnnviz:user_model_run" not in at.session_state


def test_activations_page_keeps_the_sessions_run_when_a_setting_is_refused(session_run):
    at = app("activations.py")
    at.session_state["cnnviz:run"] = session_run
    at.run()
    at.selectbox(key="activations:arch").set_value("lenet5")
    at.text_input(key="activations:input_shape").set_value("8,8,1")
    at.button(key="activations:reset").click()
    at.run()
    assert not at.exception
    assert "too small" in errors(at)
    assert at.session_state["cnnviz:run"] is session_run
