"""Building and probing a 100-layer plain MLP at init: is it quick enough for a page?

One round = build ``plain_mlp`` (depth 100, width 256, ReLU, He init) as a real Keras
model through :func:`cnnviz.nets.zoo.build_from_config`, then one forward pass of a batch of
100 embedded MNIST digits that reads every layer's pre-activation std
(:func:`cnnviz.nets.measure.pre_activation_stats`). The first round pays for
TensorFlow's first use of each op; later rounds are what a page pays per change.
Also timed, for reference: wrapping the model in the training core's
:class:`cnnviz.probing.probes.ProbedModel` and calling it once (eager).

    python bench/bench_deep_build.py                       # depth 100, width 256, 5 rounds
    python bench/bench_deep_build.py --depth 100 --width 256 --rounds 5 --activation tanh

Prints each round and the median, and the ratio of the median to the 3 s target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_SECONDS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--init", default="he-normal")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    import numpy as np
    import tensorflow  # noqa: F401 - timed separately: a page's process has it loaded already

    print(f"import tensorflow: {time.perf_counter() - started:.1f} s (once per process, not counted)")
    from cnnviz.config import RunConfig
    from cnnviz.data import load_dataset
    from cnnviz.nets import zoo
    from cnnviz.nets.measure import pre_activation_stats
    from cnnviz.probing.probes import ProbedModel

    config = RunConfig(arch="plain_mlp", init=args.init, depth=args.depth, width=args.width,
                       activation=args.activation)
    images = load_dataset("mnist-sample").images("train", np.arange(args.batch))
    print(f"plain_mlp depth {args.depth} width {args.width} {args.activation} {args.init}, batch {args.batch}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    totals, probe_times = [], []
    for round_index in range(args.rounds):
        start = time.perf_counter()
        model = zoo.build_from_config(config, (28, 28, 1), 10)
        built = time.perf_counter()
        stats = pre_activation_stats(model, images)
        measured = time.perf_counter()
        probed = ProbedModel(model)
        probed(images, training=False)
        probe_time = time.perf_counter() - measured
        total = measured - start
        totals.append(total)
        probe_times.append(probe_time)
        print(f"round {round_index + 1}: build {built - start:.2f} s + forward with per-layer std "
              f"{measured - built:.2f} s = {total:.2f} s ({len(stats)} layers, dense{args.depth} std "
              f"{stats['std'].iloc[-2]:.3g}); ProbedModel wrap + call {probe_time:.2f} s")
        del model, probed
    median = statistics.median(totals)
    print(f"median build + probe: {median:.2f} s (first round {totals[0]:.2f} s, best {min(totals):.2f} s); "
          f"target {TARGET_SECONDS:.0f} s: ratio {median / TARGET_SECONDS:.2f}x "
          f"({'met' if median <= TARGET_SECONDS else 'missed'}); "
          f"ProbedModel wrap + call median {statistics.median(probe_times):.2f} s")


if __name__ == "__main__":
    main()
