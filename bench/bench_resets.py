"""Memory hygiene: does resetting a session's Run 100 times grow the process?

A dashboard session "resets" whenever a person changes the architecture, the
initializer or the optimizer and starts again: a new Run (new Keras model, new
optimizer, new compiled step) replaces the old one, which must then be freed.
This script does exactly that in one process, the way one long-lived Streamlit
server would, and prints the growth of the resident set size (RSS) over the
measured resets relative to the RSS after a warm-up.

    python bench/bench_resets.py                   # 100 resets of lenet5, target <= 5%
    python bench/bench_resets.py --arch ltfn_mlp --resets 100 --warmup 10
    python bench/bench_resets.py --user-model      # the same with a loaded .keras model

Each reset builds the Run, probes it at init and runs one probed training step, so
every compiled function is traced and executed at least once.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_GROWTH_PERCENT = 5.0


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def settled_rss() -> float:
    gc.collect()
    gc.collect()
    return rss_mib()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="lenet5")
    parser.add_argument("--resets", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--user-model", action="store_true", help="reset a Run over a loaded .keras model instead")
    args = parser.parse_args()

    from cnnviz.config import RunConfig
    from cnnviz.training import Run

    model_path = None
    if args.user_model:
        import keras

        from cnnviz.usermodels.run import prepare_user_run

        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(10, activation="softmax")(x)
        model_path = Path(tempfile.mkdtemp()) / "bench.keras"
        keras.Model(inputs, outputs).save(model_path)

    def one_reset(seed: int) -> None:
        config = RunConfig(arch=args.arch, init="he-normal", batch_size=args.batch_size, seed=seed)
        if model_path is not None:
            run = prepare_user_run(model_path, config)
        else:
            run = Run(config)
        run.snapshot_at_init()
        run.step(probe=True)
        del run

    start = time.perf_counter()
    for seed in range(args.warmup):
        one_reset(seed)
    baseline = settled_rss()
    samples = []
    for seed in range(args.resets):
        one_reset(args.warmup + seed)
        if (seed + 1) % 10 == 0:
            samples.append(settled_rss())
    final = settled_rss()
    growth = 100.0 * (final - baseline) / baseline
    what = "user .keras model" if model_path else args.arch
    print(f"| {what} | resets {args.resets} (after {args.warmup} warm-up) | RSS {baseline:.0f} -> {final:.0f} MiB "
          f"| growth {growth:+.1f}% | target <= {TARGET_GROWTH_PERCENT:.0f}% | {time.perf_counter() - start:.0f} s |")
    print("RSS every 10 resets (MiB): " + ", ".join(f"{s:.0f}" for s in samples))


if __name__ == "__main__":
    main()
