"""The `python -m cnnviz` contract for list / summary / inspect, and user-error exits."""

import json
import math
import subprocess
import sys

import pytest

from cnnviz.cli import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def run_json(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_list_names_every_kind(capsys):
    names = run_json(capsys, "list", "--json")
    assert set(names) == {"architectures", "initializers", "optimizers", "surfaces", "datasets"}
    assert {"ltfn_mlp", "ltfn_convnet", "ltfn_vgg", "lenet5", "alexnet", "vgg16"} <= set(names["architectures"])
    assert {"normal", "normal-0.01", "glorot-uniform", "he-normal", "zeros"} <= set(names["initializers"])
    assert {"sgd", "momentum", "adam", "rmsprop", "adagrad"} <= set(names["optimizers"])
    assert {"rosenbrock", "beale", "himmelblau", "saddle"} <= set(names["surfaces"])
    assert "mnist-sample" in names["datasets"]


def test_summary_json_has_the_exact_counts(capsys):
    payload = run_json(capsys, "summary", "ltfn_convnet", "--json")
    assert payload["arch"] == "ltfn_convnet" and payload["input_shape"] == [28, 28, 1]
    assert payload["total_params"] == 321_738
    first = payload["layers"][0]
    assert set(first) >= {"name", "type", "output_shape", "params"}
    assert first == {**first, "name": "conv1", "type": "conv2d", "output_shape": [28, 28, 64], "params": 640}


def test_summary_shows_the_vgg_padding(capsys):
    payload = run_json(capsys, "summary", "ltfn_vgg", "--json")
    assert payload["total_params"] == 16_067_786
    assert payload["input_adaptation"] == "zero-padded 28x28 to 32x32"


def test_summary_readable_table(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "total parameters: 61,706" in out and "conv1" in out


def test_inspect_at_init_contract(capsys):
    payload = run_json(capsys, "inspect", "--arch", "ltfn_convnet", "--init", "he-normal", "--dataset", "mnist-sample",
                       "--steps", "0", "--batch-size", "20", "--seed", "0", "--json")
    assert {"loss", "accuracy", "layers", "logits", "softmax", "findings"} <= set(payload)
    names = [layer["name"] for layer in payload["layers"]]
    assert names == ["conv1", "conv2", "conv3", "conv4", "logits"]
    pre = payload["layers"][0]["pre_activation"]
    assert {"mean", "std", "min", "max", "frac_zero_after_relu", "hist"} <= set(pre)
    assert len(pre["hist"]["edges"]) == len(pre["hist"]["counts"]) + 1
    assert sum(pre["hist"]["counts"]) == 20 * 28 * 28 * 64
    assert payload["layers"][0]["type"] == "conv2d" and payload["layers"][-1]["type"] == "dense"
    assert {"max_prob_mean", "entropy_mean"} <= set(payload["softmax"])
    assert math.isfinite(payload["loss"])


def test_inspect_after_steps_reports_gradients(capsys):
    payload = run_json(capsys, "inspect", "--arch", "ltfn_mlp", "--init", "he-normal", "--steps", "2",
                       "--batch-size", "16", "--optimizer", "sgd", "--lr", "0.1", "--json")
    assert payload["steps"] == 2
    assert all(layer["grad_norm"] > 0 and 0 < layer["update_ratio"] < 1 for layer in payload["layers"])


@pytest.mark.parametrize("argv, fragment", [
    (["inspect", "--arch", "resnet"], "unknown architecture 'resnet'"),
    (["inspect", "--init", "xavier"], "unknown initializer 'xavier'"),
    (["inspect", "--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'"),
    (["inspect", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["summary", "alexnet", "--input-shape", "28,28,1"], "too small: at layer pool2"),
    (["summary", "ltfn_convnet", "--input-shape", "28,28"], "needs 3 comma-separated values"),
    (["inspect", "--batch-size", "0"], "batch size must be a positive whole number"),
    (["inspect", "--batch-size", "9000"], "larger than the cap"),
    (["inspect", "--lr", "-1", "--steps", "1"], "learning rate must be a positive"),
])
def test_user_errors_exit_2_with_one_clear_line(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_module_entry_point_reports_errors_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "cnnviz", "summary", "vgg16", "--input-shape", "28,28,1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line: no TensorFlow banner
    assert "pool5" in proc.stderr and "Traceback" not in proc.stderr
