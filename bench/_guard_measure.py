"""Measurements for bench/bench_resource_guard.py, each run in a fresh subprocess.

Peak RSS growth = ``VmHWM`` after the work minus ``VmRSS`` before it, with the peak
mark reset first (``/proc/self/clear_refs``), so imports and data loading do not count.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

MIB = 1024 * 1024
COMPARE_INITS = ["normal", "normal-0.01", "glorot-uniform", "he-normal"]


def proc_status(key: str) -> float:
    """A /proc/self/status field in MiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False

def measure_one(arch: str, batch: int, optimizer: str) -> dict:
    import numpy as np

    from cnnviz import data
    from cnnviz.config import RunConfig
    from cnnviz.nets import zoo
    from cnnviz.training import Run
    from cnnviz.training.resources import estimate_config

    config = RunConfig(arch=arch, batch_size=batch, optimizer=optimizer)
    shape, _ = zoo.resolve_shape(arch, None, None)
    dataset = data.load_dataset(config.dataset, shape)
    dataset.images("train", np.arange(batch))  # the resize path's imports and kernels, before the baseline
    base = proc_status("VmRSS")
    exact = reset_peak()
    start = time.perf_counter()
    run = Run(config, dataset=dataset)
    run.snapshot_at_init()
    build_s = time.perf_counter() - start
    times = []
    for _ in range(4):
        start = time.perf_counter()
        run.step()
        times.append(time.perf_counter() - start)
    estimate = estimate_config(config)
    return {"arch": arch, "batch": batch, "optimizer": optimizer, "params": run.model.count_params(),
            "estimated_params": estimate.profile.params, "peak_mib": proc_status("VmHWM") - base,
            "exact_peak": exact, "estimate_mib": estimate.total_bytes / MIB, "build_s": build_s,
            "step_s": statistics.median(times[1:]), "estimate_step_s": estimate.step_seconds,
            "step_gflop": estimate.step_flops / 1e9}


def measure_user_model(batch: int, width: int, optimizer: str) -> dict:
    """Like :func:`measure_one` for a loaded .keras model (fused ReLUs, softmax output, a ``width``-unit
    dense layer), built through ``prepare_user_run`` as ``inspect --model`` does. The loaded weights are
    in the baseline: the estimate counts them, the measurement does not."""
    import tempfile

    import keras

    from cnnviz import data
    from cnnviz.config import RunConfig
    from cnnviz.training.resources import estimate_model
    from cnnviz.usermodels.loading import load_user_model
    from cnnviz.usermodels.run import prepare_user_run

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(width, activation="relu")(x))
    path = Path(tempfile.mkdtemp()) / f"user_{width}.keras"
    keras.Model(inputs, outputs).save(path)
    model = load_user_model(path)
    dataset = data.load_dataset("mnist-sample")
    base = proc_status("VmRSS")
    exact = reset_peak()
    config = RunConfig(arch=f"file:{path.name}", init="from-file", optimizer=optimizer, batch_size=batch)
    start = time.perf_counter()
    run = prepare_user_run(model, config, dataset=dataset)
    run.snapshot_at_init()
    build_s = time.perf_counter() - start
    times = []
    for _ in range(4):
        start = time.perf_counter()
        run.step()
        times.append(time.perf_counter() - start)
    estimate = estimate_model(model, batch, optimizer)
    return {"arch": f"user model, dense {width}", "batch": batch, "optimizer": optimizer,
            "params": model.count_params(), "estimated_params": estimate.profile.params,
            "peak_mib": proc_status("VmHWM") - base, "exact_peak": exact, "estimate_mib": estimate.total_bytes / MIB,
            "build_s": build_s, "step_s": statistics.median(times[1:]), "estimate_step_s": estimate.step_seconds,
            "step_gflop": estimate.step_flops / 1e9}


def measure_held(arch: str, runs: int, batch: int) -> dict:
    """RSS growth per further live Run (built, probed, one step; all kept alive) vs the ledger's estimate."""
    import gc

    from cnnviz.config import RunConfig
    from cnnviz.training import Run
    from cnnviz.training.resources import estimate_config

    kept, rss = [], []
    for index in range(runs):
        config = RunConfig(arch=arch, batch_size=batch, seed=index, init=COMPARE_INITS[index % 4])
        run = Run(config)
        run.snapshot_at_init()
        run.step()
        kept.append(run)
        gc.collect()
        rss.append(proc_status("VmRSS"))
    per_run = (rss[-1] - rss[0]) / (runs - 1)
    return {"arch": arch, "batch": batch, "runs": runs, "held_per_run_mib": per_run,
            "estimated_held_mib": estimate_config(RunConfig(arch=arch, batch_size=batch)).held_bytes / MIB}
