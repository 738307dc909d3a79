"""A real ``model.fit`` with ActivationMonitor in another process, for tests that read a folder being written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from cnnviz.keras.run_folder import SNAPSHOTS_FILE

ROOT = Path(__file__).resolve().parents[1]
WRITER_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, keras
    from cnnviz.data import load_dataset
    from cnnviz.keras import ActivationMonitor
    data = load_dataset("mnist-sample")
    x, y = data.images("train", np.arange(512)), data.labels("train", np.arange(512))
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
                              keras.layers.MaxPooling2D(), keras.layers.Conv2D(8, 3, name="conv2"),
                              keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(10, name="logits")])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=int(sys.argv[2]), verbose=0,
              callbacks=[ActivationMonitor(sys.argv[1], data=(x[:16], y[:16]), every=1, verbose=0)])
""")


def start_writer(folder: Path, epochs: int = 1000) -> subprocess.Popen:
    """A real fit in another process, writing ``folder`` (the caller stops it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(folder), str(epochs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_lines(folder: Path, lines: int, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    path = folder / SNAPSHOTS_FILE
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= lines:
            return
        if process.poll() is not None:
            raise AssertionError(f"the writer exited early: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    raise AssertionError(f"fewer than {lines} probes after {timeout} s")
