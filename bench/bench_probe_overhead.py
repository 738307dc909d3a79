"""Probe overhead: an instrumented training step vs a plain Keras train step.

For each model (same weights, same batch, same optimizer type) we time
  plain   - a compiled step: forward, cross-entropy, gradients, optimizer.apply
  unprobed - cnnviz's compiled step without a probe (apply the pending gradient, forward and
             backward of the next batch, keep its gradient, NaN/Inf checks)
  every    - the same step probing (per-layer histograms + exact summaries, gradient/weight/update
             norms, backward signal, softmax stats), outputs copied to the host
  every10  - one probed step in ten
Times are process CPU seconds. Rounds interleave the variants so machine noise hits all of them alike; we report
the median and spread (min..max) of the per-round ratios.

    python bench/bench_probe_overhead.py [--rounds 7] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tensorflow as tf  # noqa: E402

from cnnviz.config import RunConfig  # noqa: E402
from cnnviz.nets import zoo  # noqa: E402
from cnnviz.nets.optimizers import OptimizerSpec, make_optimizer  # noqa: E402
from cnnviz.training import Run  # noqa: E402


def plain_step_fn(model, optimizer):
    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss
    return step


def time_steps(fn, steps: int) -> float:
    """CPU seconds per step of this process (all its threads): steadier than wall time when
    other jobs share the cores, which they do on the 2-core machines this runs on."""
    start = time.process_time()
    for i in range(steps):
        fn(i)
    return (time.process_time() - start) / steps


def bench(arch: str, rounds: int, steps: int, batch: int) -> dict:
    run = Run(RunConfig(arch=arch, init="he-normal", optimizer="sgd", lr=1e-4, batch_size=batch, probe_every=10))
    images, labels = run.batch(1)
    run.snapshot_at_init()
    plain_model = zoo.build(arch, "he-normal", classes=run.classes)
    plain = plain_step_fn(plain_model, make_optimizer(OptimizerSpec("sgd", 1e-4)))
    tf_images, tf_labels = tf.constant(images), tf.constant(labels)
    with run._core() as core:  # hold the run's shared core for the whole benchmark
        state = run._state

        def cnnviz_step(probe: bool) -> None:
            # The real path of Run.step: the compiled call, its outputs to the host, the new state
            # kept in the core's registers (no copies). Not timed: building the Snapshot objects.
            nonlocal state
            state, _ = core.run(state, images, labels, apply=True, probe=probe, keep_source=False)

        variants = {
            "plain": lambda i: plain(tf_images, tf_labels).numpy(),
            "unprobed": lambda i: cnnviz_step(False),
            "every": lambda i: cnnviz_step(True),
            "every10": lambda i: cnnviz_step(i % 10 == 0),
        }
        for fn in variants.values():  # trace + warm up every variant first
            time_steps(fn, 10)
        per_round = {name: [] for name in variants}
        for _ in range(rounds):
            for name, fn in variants.items():
                per_round[name].append(time_steps(fn, steps))
    ratios = {name: [v / p for v, p in zip(per_round[name], per_round["plain"])]
              for name in ("unprobed", "every", "every10")}
    return {"arch": arch, "plain_ms": 1000 * statistics.median(per_round["plain"]),
            **{f"{name}_ratio": statistics.median(r) for name, r in ratios.items()},
            **{f"{name}_spread": (min(r), max(r)) for name, r in ratios.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--arch", nargs="*", default=["ltfn_convnet", "ltfn_mlp", "lenet5"])
    args = parser.parse_args()
    print(f"probe overhead, batch {args.batch}, {args.rounds} interleaved rounds x {args.steps} steps (median, spread)")
    print(f"{'arch':14s} {'plain step':>11s} {'unprobed step':>26s} {'probe every step':>26s} {'probe every 10th':>26s}")
    for arch in args.arch:
        r = bench(arch, args.rounds, args.steps, args.batch)
        cells = [f"{r[f'{name}_ratio']:8.3f}x ({r[f'{name}_spread'][0]:.3f}..{r[f'{name}_spread'][1]:.3f})"
                 for name in ("unprobed", "every", "every10")]
        print(f"{arch:14s} {r['plain_ms']:9.1f}ms " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
