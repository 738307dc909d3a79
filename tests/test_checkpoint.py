"""Checkpoints: 4 steps == 2 steps + save + load + 2 steps, and bad folders are refused clearly."""

import json
import math

import numpy as np
import pytest

from cnnviz.config import RunConfig
from cnnviz.errors import UserError
from cnnviz.training import checkpoint
from cnnviz.training import Run


def split_and_resume(config, tmp_path, first=2, second=2):
    straight = Run(config)
    straight.train(first + second)
    resumed = Run(config)
    resumed.train(first)
    resumed.save(tmp_path / "ck")
    loaded = Run.load(tmp_path / "ck")
    loaded.train(second)
    return straight, loaded


@pytest.mark.parametrize("arch, optimizer", [("ltfn_convnet", "adam"), ("conv3_dropout", "rmsprop")])
def test_resumed_training_matches_uninterrupted_training(tmp_path, arch, optimizer):
    # conv3_dropout: its dropout layers' seed-generator counters must survive the round trip,
    # or steps 3-4 would reuse the masks of steps 1-2.
    config = RunConfig(arch=arch, init="he-normal", optimizer=optimizer, batch_size=16, seed=3)
    straight, loaded = split_and_resume(config, tmp_path)
    assert loaded.step_count == straight.step_count == 4
    np.testing.assert_allclose(loaded.losses, straight.losses, rtol=1e-5)
    assert [s.step for s in loaded.snapshots] == [s.step for s in straight.snapshots] == [0, 1, 2, 3, 4]
    for a, b in zip(loaded.state_values().model, straight.state_values().model):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # the probes after loading see the same network on the same batch as the uninterrupted run
    assert loaded.snapshots[-1].layers[0].pre_activation.hist_edges == pytest.approx(
        straight.snapshots[-1].layers[0].pre_activation.hist_edges, rel=1e-4)
    assert loaded.latest.loss == pytest.approx(straight.latest.loss, rel=1e-5)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    run = Run(RunConfig(arch="softmax_regression", init="glorot-uniform", optimizer="momentum", lr=0.05,
                        batch_size=8, seed=2))
    run.train(3)
    folder = tmp_path_factory.mktemp("saved") / "run"
    run.save(folder)
    return run, folder


def test_checkpoint_restores_config_history_and_optimizer_state(saved):
    run, folder = saved
    loaded = Run.load(folder)
    assert loaded.config == run.config and loaded.step_count == 3 and loaded.losses == run.losses
    assert loaded.history().drop(columns="hist_counts").equals(run.history().drop(columns="hist_counts"))
    assert loaded.history()["hist_counts"].tolist() == run.history()["hist_counts"].tolist()
    np.testing.assert_array_equal(loaded.latest.batch_logits, run.latest.batch_logits)
    for a, b in zip(loaded.state_values().optimizer, run.state_values().optimizer):
        np.testing.assert_array_equal(a, b)
    assert (folder / checkpoint.HISTORY_FILE).is_file()  # for pandas users: pd.read_parquet


def test_saved_model_is_a_plain_keras_file(saved):
    import keras

    run, folder = saved
    model = keras.saving.load_model(folder / checkpoint.MODEL_FILE, safe_mode=True)
    images, _ = run.batch(1)
    with run.weights_loaded() as own:
        expected = own(images).numpy()
    np.testing.assert_allclose(model(images).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_halted_run_round_trips_with_its_halt(tmp_path):
    run = Run(RunConfig(arch="ltfn_mlp", init="he-normal", optimizer="sgd", lr=1e6, batch_size=8, seed=0))
    run.train(6)
    assert run.halted is not None
    run.save(tmp_path / "halted")
    loaded = Run.load(tmp_path / "halted")
    assert loaded.halted == run.halted
    # the last good network is kept, and the probe that shows where its next step overflows
    assert loaded.step_count == run.step_count == run.halted.step - 1
    assert not loaded.snapshots[-1].finite and loaded.snapshots[-1].step == loaded.step_count
    with pytest.raises(UserError, match="stopped"):
        loaded.step()


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        Run.load(tmp_path / "nowhere")


def test_incomplete_folder_is_refused_naming_missing_files(saved, tmp_path):
    _, folder = saved
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / checkpoint.RUN_FILE).write_text((folder / checkpoint.RUN_FILE).read_text())
    with pytest.raises(UserError, match="model.keras"):
        Run.load(tmp_path / "partial")


@pytest.mark.parametrize("victim, damage", [
    (checkpoint.RUN_FILE, "{not json"),
    (checkpoint.RUN_FILE, json.dumps({"format": "something-else"})),
    (checkpoint.MODEL_FILE, "this is not a zip file"),
    (checkpoint.OPTIMIZER_FILE, "garbage"),
    (checkpoint.SNAPSHOTS_FILE, "[{]"),
])
def test_corrupt_files_are_refused_with_a_user_error(saved, tmp_path, victim, damage):
    import shutil

    _, folder = saved
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / victim).write_text(damage)
    with pytest.raises(UserError) as info:
        Run.load(copy)
    assert str(copy) in str(info.value)


def test_optimizer_state_of_another_optimizer_is_refused(saved, tmp_path):
    import shutil

    _, folder = saved
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    state = json.loads((copy / checkpoint.RUN_FILE).read_text())
    state["config"]["optimizer"] = "adam"  # momentum SGD saved 2 variables per weight, Adam needs others
    (copy / checkpoint.RUN_FILE).write_text(json.dumps(state))
    with pytest.raises(UserError, match="optimizer"):
        Run.load(copy)


def test_save_refuses_a_folder_with_other_files(saved, tmp_path):
    run, _ = saved
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not empty"):
        run.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_saving_over_an_older_checkpoint_replaces_it(saved, tmp_path):
    run, folder = saved
    import shutil

    target = tmp_path / "again"
    shutil.copytree(folder, target)
    run.save(target)
    assert Run.load(target).step_count == run.step_count
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_losses_are_finite_numbers_in_run_json(saved):
    _, folder = saved
    state = json.loads((folder / checkpoint.RUN_FILE).read_text())
    assert state["format"] == checkpoint.FORMAT and len(state["losses"]) == 3
    assert all(math.isfinite(v) for v in state["losses"])
