"""AppTest of the Runs page: a folder followed while another process writes it, a killed run, a zip upload."""

from __future__ import annotations

import io
import json
import signal
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.errors import UserError
from cnnviz.keras.run_archive import extract_run_zip
from cnnviz.keras.run_folder import SNAPSHOTS_FILE, read_run_folder
from run_writer import start_writer, wait_for_lines

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "runs.py"


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]


def count(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture()
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS_ROOT", str(tmp_path))
    return tmp_path


def test_page_follows_a_folder_while_fit_writes_it_and_opens_it_after_a_kill(runs_root):
    folder = runs_root / "live"
    process = start_writer(folder)
    try:
        wait_for_lines(folder, 2, process)
        at = AppTest.from_file(str(PAGE), default_timeout=120).run()
        assert not at.exception, at.exception
        seen = count(metric(at, "Probed steps"))
        assert seen >= 2 and at.toggle(key="runs:follow").value
        wait_for_lines(folder, seen + 3, process)
        at.run()  # what the live fragment does every LIVE_SECONDS
        assert not at.exception, at.exception
        now = count(metric(at, "Probed steps"))
        assert now >= seen + 3
        latest = read_run_folder(folder).snapshots[now - 1]
        assert count(metric(at, "Latest probed step")) == latest.step
        assert any(title.startswith(f"Pre-activation histograms per layer — step {latest.step}")
                   for title in chart_titles(at))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    at.run()  # the killed run's folder still opens, with every complete line
    assert not at.exception, at.exception
    complete = (folder / SNAPSHOTS_FILE).read_bytes().count(b"\n")
    assert count(metric(at, "Probed steps")) == complete
    assert any("no end mark yet" in caption.value for caption in at.caption)
    titles = chart_titles(at)
    for start in ("Pre-activation histograms", "Pre-activation spread per layer", "Training loss",
                  "Gradients and update sizes", "conv2: histogram at every probed step"):
        assert any(t.startswith(start) for t in titles), (start, titles)


def test_empty_root_explains_how_to_make_a_run(runs_root):
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    assert "No run folders under" in at.info[0].value and "ActivationMonitor" in at.code[0].value


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def finished_folder(tmp_path_factory):
    import keras
    import numpy as np

    from cnnviz.data import load_dataset
    from cnnviz.keras import ActivationMonitor

    data = load_dataset("mnist-sample")
    x, y = data.images("train", np.arange(64)), data.labels("train", np.arange(64))
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
                              keras.layers.Flatten(), keras.layers.Dense(10, name="logits")])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    folder = tmp_path_factory.mktemp("finished") / "exp"
    model.fit(x, y, batch_size=16, epochs=1, verbose=0,
              callbacks=[ActivationMonitor(folder, data=(x[:8], y[:8]), every=1, verbose=0)])
    return folder


def run_files(folder: Path, prefix: str) -> dict[str, bytes]:
    return {f"{prefix}{p.name}": p.read_bytes() for p in folder.iterdir() if p.suffix in (".json", ".jsonl")}


def test_uploaded_zip_opens_and_hostile_entries_are_never_written(finished_folder, runs_root, tmp_path):
    hostile = {"../../escaped/run.json": b"{}", "/abs/run.json": b"{}", "exp/notes.txt": b"not a run file"}
    data = zipped({**run_files(finished_folder, "exp/"), **hostile})
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    at.radio(key="runs:source").set_value("a zip upload").run()
    at.file_uploader(key="runs:zip").set_value(("exp.zip", data, "application/zip"))
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert count(metric(at, "Probed steps")) == 5  # steps 0..4 of 64 digits in batches of 16
    assert any("fit finished" in caption.value for caption in at.caption)
    assert not list(tmp_path.parent.rglob("escaped")) and not Path("/abs/run.json").exists()


def test_zip_extraction_refuses_traversal_bombs_and_non_zips(finished_folder, tmp_path):
    files = run_files(finished_folder, "exp/")
    folders = extract_run_zip(zipped({**files, "../up/run.json": b"{}", "exp/../../x/run.json": b"{}"}), tmp_path / "a")
    assert folders == [tmp_path / "a" / "exp"] and not (tmp_path / "up").exists() and not (tmp_path / "x").exists()
    assert len(read_run_folder(folders[0]).snapshots) == 5
    bomb = zipped({**files, "exp/snapshots.jsonl": b"\n" * (3 * 2**20)})  # ~3 KB that inflates to 3 MB
    with pytest.raises(UserError, match="inflate past 1 MB"):
        extract_run_zip(bomb, tmp_path / "b", max_unpacked=2**20)
    with pytest.raises(UserError, match="not a zip file"):
        extract_run_zip(b"PK but not really", tmp_path / "c")
    with pytest.raises(UserError, match="holds no run folder"):
        extract_run_zip(zipped({"notes/readme.txt": b"hello"}), tmp_path / "d")
