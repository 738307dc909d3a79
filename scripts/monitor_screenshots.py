"""Make docs/tensorboard.png and docs/runs_page.png from a real monitored fit.

Trains the 4-layer convnet with N(0, 1) weights (the exploding-activation lesson) for
two short epochs on the embedded sample with ActivationMonitor(tensorboard=True),
then photographs TensorBoard's Histograms tab and the dashboard's Runs page with
headless Chromium. Offline; needs `chromium` (Debian) and the test extras.

    python scripts/monitor_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def train(runs: Path) -> Path:
    import keras
    import numpy as np

    from cnnviz.data import load_dataset
    from cnnviz.keras import ActivationMonitor
    from cnnviz.nets import zoo

    digits = load_dataset("mnist-sample")
    x, y = digits.images("train", np.arange(3000)), digits.labels("train", np.arange(3000))
    model = zoo.build("ltfn_convnet", "normal", (28, 28, 1), 10, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    folder = runs / "convnet_normal_init"
    monitor = ActivationMonitor(folder, data=(digits.images("test", np.arange(64)), digits.labels("test", np.arange(64))),
                                every=3, tensorboard=True)
    model.fit(x, y, batch_size=100, epochs=2, callbacks=[monitor], verbose=0)
    return folder


def shoot(url: str, path: Path, wait_selector: str | None, settle: float, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": height})
        page.goto(url)
        if wait_selector:
            page.wait_for_selector(wait_selector, timeout=120_000)
        time.sleep(settle)
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    out = Path(args.out)
    runs = Path(tempfile.mkdtemp(prefix="cnnviz-runs-"))
    folder = train(runs)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CNNVIZ_RUNS_ROOT": str(runs)}
    servers = []
    try:
        tb_port, app_port = free_port(), free_port()
        servers.append(subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(runs), "--host",
                                         "127.0.0.1", "--port", str(tb_port)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        servers.append(subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                                         "--server.headless", "true", "--server.port", str(app_port),
                                         "--browser.gatherUsageStats", "false"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(f"http://127.0.0.1:{tb_port}/")
        shoot(f"http://127.0.0.1:{tb_port}/?darkMode=false#histograms&tagFilter=pre_activation", out / "tensorboard.png", None, 15, 1000)
        wait_for(f"http://127.0.0.1:{app_port}/")
        shoot(f"http://127.0.0.1:{app_port}/runs", out / "runs_page.png", "text=Latest probed step", 8, 1500)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {out / 'tensorboard.png'} and {out / 'runs_page.png'} from {folder}")


if __name__ == "__main__":
    main()
