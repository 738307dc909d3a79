"""He et al. 2015 on our data: does a 30-layer plain ReLU net stall with Xavier init and train with He?

Trains ``plain_mlp`` (depth 30, width 256, ReLU, no normalization, no skips) on the embedded
MNIST sample through the real training core (:class:`cnnviz.training.Run`: batch 100, seed 0,
the same batches for every run), once per initializer and optimizer, and prints the training
loss at a few steps plus the accuracy on the 2,000 held-out digits at the end. The paper
(He et al. 2015, Fig. 3) trains a 30-layer conv net on ImageNet with SGD + momentum; the
question here is with which optimizer and learning rate the stall shows on our digits.

    python scripts/he2015_training.py                        # the grid recorded in README.md
    python scripts/he2015_training.py --steps 300 --seeds 0,1,2 --grid "momentum:0.01"
    python scripts/he2015_training.py --steps 300 --grid adam:0.001 --inits glorot-uniform --epsilon 1e-12

A run "stalls" when its training loss (mean of the last 20 steps) is still within 2% of
ln 10 = 2.3026, the loss of a uniform guess.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_GRID = "sgd:0.01,sgd:0.1,momentum:0.01,momentum:0.001,adam:0.001"
REPORT_STEPS = (50, 100, 200, 300, 500)
STALL_TOLERANCE = 0.02


def train_one(init: str, optimizer: str, lr: float, steps: int, seed: int, depth: int, width: int,
              epsilon: float | None = None) -> dict:
    from cnnviz.config import RunConfig
    from cnnviz.training import Run

    run = Run(RunConfig(arch="plain_mlp", depth=depth, width=width, activation="relu", init=init,
                        optimizer=optimizer, lr=lr, batch_size=100, seed=seed, probe_every=max(steps, 1),
                        epsilon=epsilon))
    started = time.perf_counter()
    run.train(steps)
    losses = run.losses
    test = run.evaluate("test")
    tail = losses[-20:]
    final = sum(tail) / len(tail) if tail else math.nan
    return {"init": init, "optimizer": optimizer, "lr": lr, "seed": seed, "steps": run.step_count,
            "halted": run.halted.message() if run.halted else "",
            "loss_at": {s: losses[s - 1] for s in REPORT_STEPS if s <= len(losses)}, "final": final,
            "stalled": abs(final - math.log(10)) <= STALL_TOLERANCE * math.log(10),
            "test_accuracy": test["accuracy"], "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--grid", default=DEFAULT_GRID, help="optimizer:lr pairs, comma-separated")
    parser.add_argument("--inits", default="glorot-uniform,he-normal")
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--epsilon", type=float, default=None, help="Adam/RMSProp epsilon (default Keras's 1e-7)")
    args = parser.parse_args()
    grid = [(item.split(":")[0], float(item.split(":")[1])) for item in args.grid.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    shown = [s for s in REPORT_STEPS if s <= args.steps]
    print(f"plain_mlp depth {args.depth} width {args.width} relu, batch 100, {args.steps} steps")
    print("| optimizer | lr | init | seed | " + " | ".join(f"loss @{s}" for s in shown)
          + " | loss (last 20) | stalled | test acc | s |")
    print("|" + " --- |" * (len(shown) + 8))
    for optimizer, lr in grid:
        for seed in seeds:
            for init in args.inits.split(","):
                r = train_one(init, optimizer, lr, args.steps, seed, args.depth, args.width, args.epsilon)
                cells = " | ".join(f"{r['loss_at'][s]:.3f}" if s in r["loss_at"] else "-" for s in shown)
                note = f" (halted: {r['halted']})" if r["halted"] else ""
                print(f"| {optimizer} | {lr:g} | {init} | {seed} | {cells} | {r['final']:.3f} | "
                      f"{'yes' if r['stalled'] else 'no'}{note} | {r['test_accuracy']:.1%} | {r['seconds']:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
