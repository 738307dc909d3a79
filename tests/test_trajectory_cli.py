"""`python -m cnnviz trajectory`: the JSON contract, the table, and exit code 2 for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnviz.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_json(capsys, *argv):
    code = main(["trajectory", *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_json_contract(capsys):
    payload = run_json(
        capsys, "--surface", "rosenbrock", "--optimizer", "adam", "--lr", "0.05", "--start", "-1.5,2", "--steps", "25"
    )
    assert {"points", "losses", "diverged", "diverged_at", "surface", "optimizer"} <= set(payload)
    assert payload["surface"] == "rosenbrock" and payload["optimizer"] == "adam"
    assert len(payload["points"]) == len(payload["losses"]) == 26
    assert payload["points"][0] == [-1.5, 2.0]
    assert all(len(p) == 2 for p in payload["points"])
    assert payload["diverged"] is False and payload["diverged_at"] is None


def test_json_diverged_path_is_cut(capsys):
    payload = run_json(
        capsys, "--surface", "rosenbrock", "--optimizer", "momentum", "--lr", "0.01", "--start", "-1.5,2", "--steps", "50"
    )
    assert payload["diverged"] is True
    assert len(payload["points"]) == payload["diverged_at"] < 51
    assert None not in payload["losses"]  # no NaN turned into null


def test_hyperparameter_flags_reach_the_optimizer(capsys):
    common = ["--surface", "booth", "--start", "8,-8", "--steps", "30"]
    plain = run_json(capsys, *common, "--optimizer", "momentum", "--lr", "0.01")
    light = run_json(capsys, *common, "--optimizer", "momentum", "--lr", "0.01", "--momentum", "0.5")
    assert plain["points"][-1] != light["points"][-1]
    rms = run_json(capsys, *common, "--optimizer", "rmsprop", "--lr", "0.01", "--rho", "0.5", "--epsilon", "1e-6")
    assert rms["hyperparameters"] == {"rho": 0.5, "epsilon": 1e-6, "lr": 0.01}


def test_table_output(capsys):
    code = main(["trajectory", "--surface", "booth", "--optimizer", "sgd", "--start", "0,0", "--steps", "40"])
    out = capsys.readouterr().out
    assert code == 0
    assert "step" in out and "loss" in out and "final loss" in out and "..." in out


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--surface", "moon", "--optimizer", "adam"], "unknown surface 'moon'"),
        (["--surface", "booth", "--optimizer", "adamax"], "unknown optimizer 'adamax'"),
        (["--surface", "booth", "--optimizer", "adam", "--steps", "0"], "steps"),
        (["--surface", "booth", "--optimizer", "adam", "--start", "1"], "--start"),
        (["--surface", "booth", "--optimizer", "adam", "--lr", "-1"], "learning rate"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, flags, needle):
    code = main(["trajectory", *flags, "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert needle in captured.err and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err and captured.out == ""


def test_module_entry_point_subprocess():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "cnnviz", "trajectory", "--surface", "saddle", "--optimizer", "sgd",
               "--lr", "0.01", "--start", "1,0.001", "--steps", "10", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert len(payload["points"]) == 11 and payload["points"][0] == [1.0, 0.001]
