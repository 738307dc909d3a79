"""Run folders under stress, and the monitor's bad-input messages.

A fit killed by SIGKILL mid-run leaves a folder that reads back (and renders);
a torn last line is skipped; a problem inside the monitor never stops the user's
training; wrong arguments get one clear sentence.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.data import load_dataset
from cnnviz.errors import UserError
from cnnviz.keras import ActivationMonitor, read_run_folder
from cnnviz.keras.run_folder import SNAPSHOTS_FILE, RunFolderWriter
from run_writer import start_writer, wait_for_lines

DATA = load_dataset("mnist-sample")


def digits(n: int, start: int = 0):
    idx = np.arange(start, start + n)
    return DATA.images("train", idx), DATA.labels("train", idx)


def tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((28, 28, 1)),
                              keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
                              keras.layers.Flatten(), keras.layers.Dense(10, name="logits")])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# --------------------------------------------------------------- killed mid-run
def test_fit_killed_by_sigkill_leaves_a_readable_folder(tmp_path):
    folder = tmp_path / "killed"
    process = start_writer(folder)
    try:
        wait_for_lines(folder, 6, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    run = read_run_folder(folder)
    complete = folder.joinpath(SNAPSHOTS_FILE).read_bytes().count(b"\n")
    assert len(run.snapshots) == complete >= 6  # every complete line, nothing invented
    assert [s.step for s in run.snapshots] == list(range(len(run.snapshots)))
    assert not run.finished  # no fit_end: the page says it may still be running or was stopped
    assert run.findings() is not None and not run.history().empty
    out = tmp_path / "killed.html"
    assert main(["report", "--run", str(folder), "--out", str(out)]) == 0
    assert "conv2" in out.read_text(encoding="utf-8")


def test_torn_last_line_is_skipped_then_healed_by_the_next_fit(tmp_path):
    folder = tmp_path / "torn"
    model = tiny_model()
    x, y = digits(64)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0,
              callbacks=[ActivationMonitor(folder, data=(x[:8], y[:8]), every=1, verbose=0)])
    path = folder / SNAPSHOTS_FILE
    whole = path.read_bytes()
    with open(path, "ab") as handle:  # what a kill in the middle of a write leaves
        handle.write(whole.splitlines()[-1][:100])
    assert len(read_run_folder(folder).snapshots) == 3  # steps 0, 1, 2; the torn line ignored
    model.fit(x, y, batch_size=32, epochs=1, verbose=0,  # a second fit continues the same folder
              callbacks=[ActivationMonitor(folder, data=(x[:8], y[:8]), every=1, verbose=0)])
    run = read_run_folder(folder)
    assert [s.step for s in run.snapshots] == [0, 1, 2, 2, 3, 4] and run.bad_lines == 1
    assert run.finished


# --------------------------------------------------------------- bad input
def test_log_dir_that_is_a_file_is_refused_clearly(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("not a folder")
    with pytest.raises(UserError, match="is a file, not a folder"):
        ActivationMonitor(target, data=digits(8))


def test_unwritable_log_dir_is_refused_clearly(tmp_path):
    with pytest.raises(UserError, match="cannot (write into|create) log_dir /proc"):
        ActivationMonitor("/proc", data=digits(8))  # writable by nobody, not even root
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="cannot write into log_dir"):
            ActivationMonitor(locked, data=digits(8))


@pytest.mark.parametrize("data, message", [
    (None, r"needs data=\(x, y\)"),
    ("images.npy", "must be an \\(x, y\\) pair"),
    (([np.zeros((4, 28, 28, 1))] * 2, np.zeros(4)), "models with one input"),
    ((np.zeros((4, 28, 28, 1)), np.zeros(3)), "4 inputs and 3 targets"),
    ((np.zeros((5000, 2)), np.zeros(5000)), "take a batch"),
])
def test_bad_probe_data_gets_one_clear_sentence(tmp_path, data, message):
    with pytest.raises(UserError, match=message):
        ActivationMonitor(tmp_path / "run", data=data)


@pytest.mark.parametrize("kwargs, message", [({"every": 0}, "every must be"), ({"bins": 2}, "bins must be")])
def test_bad_settings_are_refused(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        ActivationMonitor(tmp_path / "run", data=digits(8), **kwargs)


def test_two_input_model_trains_on_with_one_warning(tmp_path):
    left, right = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    merged = keras.layers.Concatenate()([keras.layers.Flatten()(left), keras.layers.Flatten()(right)])
    model = keras.Model([left, right], keras.layers.Dense(10, name="logits")(merged))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = digits(64)
    with pytest.warns(RuntimeWarning, match="2 inputs and 1 outputs; the monitor probes models with one input"):
        history = model.fit([x, x], y, batch_size=32, epochs=2, verbose=0,
                            callbacks=[ActivationMonitor(tmp_path / "two", data=(x[:8], y[:8]))])
    assert len(history.history["loss"]) == 2  # the user's training ran to the end


def test_unknown_layer_name_switches_the_monitor_off_not_the_training(tmp_path):
    model, (x, y) = tiny_model(), digits(64)
    with pytest.warns(RuntimeWarning, match="'conv9' is not a probed layer.*choose from conv1, logits"):
        history = model.fit(x, y, batch_size=32, epochs=1, verbose=0,
                            callbacks=[ActivationMonitor(tmp_path / "run", data=(x[:8], y[:8]), layers=["conv9"])])
    assert len(history.history["loss"]) == 1


class ReplaceFolderWithFile(keras.callbacks.Callback):
    """The run folder vanishes mid-fit (a disk clean-up, a full disk): every write fails from then on."""

    def __init__(self, folder: Path, after_batch: int):
        super().__init__()
        self.folder, self.after_batch = folder, after_batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.after_batch and self.folder.is_dir():
            for child in self.folder.iterdir():
                child.unlink()
            self.folder.rmdir()
            self.folder.write_text("in the way")


def test_a_monitor_failure_mid_fit_never_stops_training(tmp_path):
    model, (x, y) = tiny_model(), digits(128)
    folder = tmp_path / "vanishing"
    with pytest.warns(RuntimeWarning, match="ActivationMonitor is off for the rest of this fit"):
        history = model.fit(x, y, batch_size=32, epochs=3, verbose=0,
                            callbacks=[ReplaceFolderWithFile(folder, after_batch=1),
                                       ActivationMonitor(folder, data=(x[:8], y[:8]), every=1)])
    assert len(history.history["loss"]) == 3 and all(np.isfinite(history.history["loss"]))


def test_folder_of_another_model_is_not_mixed_into(tmp_path):
    folder = tmp_path / "shared"
    RunFolderWriter(folder).start({"layers": [{"name": "dense_a"}]})
    model, (x, y) = tiny_model(), digits(32)
    with pytest.warns(RuntimeWarning, match="already holds a run of another model"):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0,
                  callbacks=[ActivationMonitor(folder, data=(x[:8], y[:8]))])
    assert json.loads((folder / "run.json").read_text())["layers"] == [{"name": "dense_a"}]


def test_report_command_on_bad_folders_exits_2_with_one_line(tmp_path, capsys):
    assert main(["report", "--run", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    assert main(["report", "--run", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"cnnviz: error: run folder {tmp_path / 'missing'} does not exist",
                     f"cnnviz: error: {tmp_path} is not a cnnviz run folder: it has no run.json "
                     "(ActivationMonitor writes one when fit starts)"]
