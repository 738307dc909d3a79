"""Seed reproduction: train ltfn_convnet on the embedded MNIST sample, then test it.

Reproduces the seed tutorials' experiment at classroom scale (8,000 training images
instead of 55,000): He-normal vs N(0, 1) initialization, Adam(lr 1e-3), batch 100.
Prints one markdown table row per run (arch | init | optimizer | steps | time | test
accuracy | test loss | last training loss); record results in BENCHMARKS.md / README.

    python bench/seed_reproduction.py --init he-normal --steps 500
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ltfn_convnet")
    parser.add_argument("--init", default="he-normal")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from cnnviz.config import RunConfig
    from cnnviz.training import Run

    # Probe rarely: this measures training, not the instruments.
    config = RunConfig(arch=args.arch, init=args.init, optimizer=args.optimizer, lr=args.lr,
                       batch_size=args.batch_size, seed=args.seed, probe_every=max(args.steps, 1))
    run = Run(config)
    start, cpu_start = time.perf_counter(), time.process_time()
    run.train(args.steps)
    # Wall time depends on what else the machine runs; process CPU time much less so.
    train_seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    test = run.evaluate("test")
    epochs = run.step_count * args.batch_size / run.dataset.size("train")
    halted = f" (halted: {run.halted.message()})" if run.halted else ""
    print(f"| {args.arch} | {args.init} | {args.optimizer} {args.lr:g} | {run.step_count} ({epochs:.1f} epochs) "
          f"| {train_seconds:.0f} s wall, {cpu_seconds:.0f} s CPU | {test['accuracy']:.1%} | {test['loss']:.4g} "
          f"| {run.last_loss:.4g} |{halted}")


if __name__ == "__main__":
    main()
