"""``python -m cnnviz train`` (and ``inspect --steps``): the JSON contract, exit codes, resume, determinism."""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnviz.cli import main
from cnnviz.cli.train_cmd import ProgressBar
from cnnviz.config import RunConfig
from cnnviz.training import Run

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--arch", "ltfn_convnet", "--init", "he-normal", "--optimizer", "adam", "--lr", "0.001",
         "--batch-size", "16", "--seed", "0"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small run through the CLI: (exit code, parsed JSON, checkpoint folder, stderr)."""
    folder = tmp_path_factory.mktemp("cli") / "ck"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", *SMALL, "--steps", "3", "--probe-every", "2", "--save", str(folder), "--json"])
    return code, json.loads(out.getvalue()), folder, err.getvalue()


def test_train_json_follows_the_contract(trained):
    code, payload, _, err = trained
    assert code == 0 and err == ""  # no progress bar when stderr is not a terminal
    assert {"loss", "accuracy", "steps", "findings", "layers", "logits", "softmax", "halted"} <= set(payload)
    assert payload["steps"] == 3 and payload["halted"] is None and 0 <= payload["accuracy"] <= 1
    assert [layer["name"] for layer in payload["layers"]] == ["conv1", "conv2", "conv3", "conv4", "logits"]
    for layer in payload["layers"]:
        assert layer["grad_norm"] > 0 and layer["update_ratio"] > 0
        assert {"mean", "std", "min", "max", "frac_zero_after_relu", "hist"} <= set(layer["pre_activation"])
    assert all({"severity", "kind", "layer", "step", "message", "suggestion"} == set(f) for f in payload["findings"])


def test_train_loss_is_the_last_steps_loss_and_the_last_step_is_probed(trained):
    _, payload, folder, _ = trained
    saved = Run.load(folder)
    assert saved.step_count == 3
    assert payload["loss"] == pytest.approx(saved.losses[-1], rel=1e-7)
    # step 3 is not a multiple of --probe-every 2, yet the layers describe step 3
    assert payload["snapshot_step"] == 3 == saved.latest.step
    # the layers describe the step-3 network on batch 4, the batch step 4 would learn from
    measured = payload["measured_on"]
    assert measured["step"] == 3 and measured["batch"] == 4
    assert measured["loss"] == pytest.approx(saved.latest.loss, rel=1e-5)
    assert measured["accuracy"] == payload["accuracy"]


def test_train_resume_continues_the_saved_run(trained, capsys):
    _, _, folder, _ = trained
    code, out, _ = run_cli(capsys, "train", "--resume", str(folder), "--steps", "2", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["steps"] == 5 and payload["config"]["batch_size"] == 16


def test_resume_refuses_conflicting_flags(trained, capsys):
    _, _, folder, _ = trained
    code, out, err = run_cli(capsys, "train", "--resume", str(folder), "--steps", "1", "--lr", "0.5")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--lr 0.5" in err and "Traceback" not in err


def test_resume_of_missing_checkpoint_is_a_user_error(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", "--resume", str(tmp_path / "missing"), "--steps", "1")
    assert code == 2 and err.startswith("cnnviz: error:") and err.count("\n") == 1


def test_unknown_optimizer_is_a_user_error(capsys):
    code, _, err = run_cli(capsys, "train", "--optimizer", "adamax", "--steps", "1")
    assert code == 2 and "adam" in err and err.count("\n") == 1


def test_exploding_learning_rate_exits_1_with_a_non_finite_finding(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", "--arch", "ltfn_convnet", "--optimizer", "sgd", "--lr", "1e6",
                             "--steps", "10", "--batch-size", "16", "--save", str(tmp_path / "halted"), "--json")
    assert code == 1 and "Traceback" not in err
    payload = json.loads(out)  # strict JSON: no NaN tokens
    assert payload["halted"] and payload["steps"] < 10
    first = payload["findings"][0]
    assert first["kind"] == "non_finite" and first["severity"] == "error"
    assert first["step"] == payload["steps"] + 1 and first["layer"] in first["message"]
    assert Run.load(tmp_path / "halted").halted is not None  # the last good weights were saved


def test_inspect_with_steps_reports_gradients_and_findings(capsys):
    code, out, _ = run_cli(capsys, "inspect", "--arch", "ltfn_convnet", "--init", "normal", "--steps", "1",
                           "--batch-size", "16", "--probe-every", "5", "--json")
    assert code == 0
    payload = json.loads(out)
    assert all(layer["grad_norm"] > 0 and layer["update_ratio"] > 0 for layer in payload["layers"])
    assert "exploding_activations" in {f["kind"] for f in payload["findings"]}


def test_readable_output_shows_the_table_and_findings(capsys):
    code, out, _ = run_cli(capsys, "train", "--arch", "ltfn_convnet", "--init", "normal", "--steps", "1",
                           "--batch-size", "16")
    assert code == 0
    assert "conv4" in out and "grad norm" in out and "[error]" in out and "he-normal" in out


def test_progress_bar_redraws_one_line():
    stream = io.StringIO()
    bar = ProgressBar(4, stream)

    class FakeRun:
        last_loss = 0.25

    for _ in range(4):
        bar(FakeRun(), None)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    assert "4/4" in text and "loss 0.25" in text and "#" * 30 in text


def test_cli_in_a_fresh_process_matches_in_process_training(capsys):
    """Same seed + config → same numbers in another process (no Keras global seeding involved)."""
    argv = ["train", "--arch", "softmax_regression", "--init", "glorot-uniform", "--optimizer", "adam",
            "--lr", "0.01", "--batch-size", "32", "--seed", "7", "--steps", "4", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CNNVIZ_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "cnnviz", *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    other_process = json.loads(done.stdout)
    run = Run(RunConfig(arch="softmax_regression", init="glorot-uniform", optimizer="adam", lr=0.01,
                        batch_size=32, seed=7))
    run.train(4)
    assert other_process["loss"] == pytest.approx(run.last_loss, rel=1e-6)
    assert other_process["layers"][0]["weight_norm"] == pytest.approx(run.latest.layers[0].weight_norm, rel=1e-6)
