"""Glorot & Bengio 2010 on our digits: do tanh layers saturate during training, layer 1 first?

Trains ``plain_mlp`` (5 hidden layers of 1000 tanh units) with their "standard" init
U[−1/√n, 1/√n] (``standard-uniform``) by SGD on the embedded MNIST sample, probing every
``--every`` steps, and prints each layer's share of pre-activations with |z| > 2 (where
tanh's slope is under 7% of its maximum) at those steps, then the largest share each
layer ever reached.

    python scripts/glorot_bengio_saturation.py                          # lr 0.1, batch 10, 2,000 steps
    python scripts/glorot_bengio_saturation.py --batch 100 --steps 300
    python scripts/glorot_bengio_saturation.py --lr 1 --batch 100 --steps 50 --every 10
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", default="standard-uniform")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=250)
    args = parser.parse_args()

    from cnnviz.config import RunConfig
    from cnnviz.diagnosis.activations import saturated_share
    from cnnviz.training import Run

    run = Run(RunConfig(arch="plain_mlp", depth=5, width=1000, activation="tanh", init=args.init, optimizer="sgd",
                        lr=args.lr, batch_size=args.batch, probe_every=args.every))
    run.snapshot_at_init()
    run.train(args.steps)
    names = [l.name for l in run.snapshots[0].layers[:-1]]
    print(f"5 x 1000 tanh, {args.init}, SGD lr {args.lr:g}, batch {args.batch}: share of |z| > 2 per layer")
    print("| step | loss | " + " | ".join(names) + " |")
    print("|" + " --- |" * (len(names) + 2))
    highest = dict.fromkeys(names, 0.0)
    for snapshot in run.snapshots:
        shares = [saturated_share(snapshot.layer(n), 2.0) or 0.0 for n in names]
        highest = {n: max(highest[n], s) for n, s in zip(names, shares)}
        print(f"| {snapshot.step} | {snapshot.loss:.3g} | " + " | ".join(f"{s:.0%}" for s in shares) + " |")
    print("highest: " + ", ".join(f"{n} {v:.0%}" for n, v in highest.items()))


if __name__ == "__main__":
    main()
