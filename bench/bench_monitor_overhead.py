"""ActivationMonitor overhead: model.fit with the monitor vs the same fit without it.

The 4-layer convnet (``ltfn_convnet``, he-normal, Adam 1e-3) trains on the embedded
MNIST sample with batches of ``--batch`` digits; the monitor probes a fixed batch of
``--probe`` digits. Variants, each with its own model (same initial weights) and
compiled once before timing:

  plain    - model.fit(..., callbacks=[])
  every10  - model.fit(..., callbacks=[ActivationMonitor(every=10)])
  every1   - model.fit(..., callbacks=[ActivationMonitor(every=1)])

Rounds interleave the variants (the order rotates every round) so machine noise
hits all alike; each round runs one ``fit`` of ``--steps`` steps per variant. Two
numbers per variant, each the median (and min..max) of the per-round ratios to plain:

  per step - the median time from one batch's start to the next one's, i.e. the
             training step plus every monitor hook around it (steady state);
  per fit  - the whole ``fit`` call, which also holds the probe the monitor takes
             when fit starts (a long fit amortises it, a 20-step one does not).

The shared 2-core machine's load average is printed before and after: other
people's jobs make single rounds noisy, the median over rounds much less so.

    python bench/bench_monitor_overhead.py [--rounds 5] [--steps 20] [--batch 100] [--probe 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from cnnviz.data import load_dataset  # noqa: E402
from cnnviz.keras import ActivationMonitor  # noqa: E402
from cnnviz.nets import zoo  # noqa: E402


def build_model() -> keras.Model:
    model = zoo.build("ltfn_convnet", "he-normal", (28, 28, 1), 10, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class StepTimer(keras.callbacks.Callback):
    """Time between consecutive batch starts (listed after the monitor, so its hooks are inside)."""

    def __init__(self):
        super().__init__()
        self.starts: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.starts.append(time.perf_counter())

    def step_time(self) -> float:
        return statistics.median(np.diff(self.starts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--probe", type=int, default=32)
    args = parser.parse_args()

    data = load_dataset("mnist-sample")
    n = args.steps * args.batch
    x, y = data.images("train", np.arange(n)), data.labels("train", np.arange(n))
    probe = (data.images("test", np.arange(args.probe)), data.labels("test", np.arange(args.probe)))
    folder = tempfile.mkdtemp(prefix="cnnviz-bench-")
    variants = {name: build_model() for name in ("plain", "every10", "every1")}
    # One monitor per variant, kept across rounds (as in a real fit loop); each writes its own folder.
    monitors = {"every10": ActivationMonitor(f"{folder}/every10", data=probe, every=10, verbose=0),
                "every1": ActivationMonitor(f"{folder}/every1", data=probe, every=1, verbose=0)}

    def fit(name: str) -> tuple[float, float]:
        model = variants[name]
        timer = StepTimer()
        callbacks = ([monitors[name]] if name in monitors else []) + [timer]
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
        return timer.step_time(), time.perf_counter() - start

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    names = list(variants)
    for name in names:  # trace and warm up every variant first
        fit(name)
    steps: dict[str, list[float]] = {name: [] for name in names}
    fits: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            step, whole = fit(name)
            steps[name].append(step)
            fits[name].append(whole)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"ltfn_convnet, batch {args.batch}, probe batch {args.probe}, {args.steps} steps per fit, "
          f"{args.rounds} interleaved rounds")
    print(f"{'variant':<9} {'s/step':>8} {'per step vs plain':>28} {'per fit vs plain':>28}")
    for name in names:
        cells = []
        for table in (steps, fits):
            ratios = [v / p for v, p in zip(table[name], table["plain"])]
            cells.append(f"{statistics.median(ratios):.3f}x ({min(ratios):.2f}..{max(ratios):.2f})")
        print(f"{name:<9} {statistics.median(steps[name]):>8.4f} {cells[0]:>28} {cells[1]:>28}")


if __name__ == "__main__":
    main()
