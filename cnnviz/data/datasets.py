"""Datasets by name. The embedded MNIST sample is the default and needs no network.

A :class:`Dataset` keeps its images as stored (uint8, native size) and adapts each
*batch* to the shape an architecture needs (pad 28→32, resize 28→224, grey→RGB), so
feeding MNIST to AlexNet does not materialise gigabytes of upscaled pixels.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from cnnviz.errors import UserError, check_choice

# A checkout keeps the sample in <repo>/assets; an installed wheel carries it inside the package
# (cnnviz/assets, see pyproject.toml). This file is cnnviz/data/datasets.py.
_PACKAGE = Path(__file__).resolve().parents[1]
_PACKAGED_ASSETS = _PACKAGE / "assets"
ASSETS = _PACKAGED_ASSETS if _PACKAGED_ASSETS.is_dir() else _PACKAGE.parent / "assets"
MNIST_SAMPLE = ASSETS / "mnist_sample.npz"
MNIST_SAMPLE_SHA256 = "af57dddc8e3c7579f7b63bf1fdd6f7d6977e8a741b1931656c184fec95df7b59"

DATASETS: dict[str, str] = {
    "mnist-sample": "10,000 real MNIST digits embedded in the project (8,000 train / 2,000 test); works offline",
    "synthetic": "procedural class-coded patterns of any size and class count (for AlexNet/VGG16 at 224x224x3)",
    "mnist": "full MNIST through keras.datasets (needs its download cache or the internet)",
    "cifar10": "CIFAR-10 through keras.datasets (needs its download cache or the internet)",
}

OFFLINE_HINT = "use --dataset mnist-sample (the embedded 10,000-digit sample, no network needed)"


@dataclass
class Dataset:
    """Images (uint8 N,H,W,C) and integer labels, split into train and test.

    ``target_shape`` is the (H, W, C) the model wants; :meth:`images` adapts to it.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    target_shape: tuple[int, int, int] | None = None
    class_names: list[str] = field(default_factory=list)

    @property
    def native_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape batches come out in."""
        return self.target_shape or self.native_shape

    def adaptation(self) -> str | None:
        """Plain words for what is done to every image, or None if nothing."""
        return describe_adaptation(self.native_shape, self.shape)

    def for_shape(self, target_shape: tuple[int, int, int]) -> Dataset:
        """The same data, delivering batches of ``target_shape``."""
        return Dataset(self.name, self.x_train, self.y_train, self.x_test, self.y_test,
                       self.classes, tuple(target_shape), self.class_names)

    def images(self, split: str, indices: np.ndarray) -> np.ndarray:
        """float32 images in [0, 1] of ``self.shape`` for ``indices`` of ``split``."""
        source = self.x_train if split == "train" else self.x_test
        return adapt_images(source[indices], self.shape)

    def labels(self, split: str, indices: np.ndarray) -> np.ndarray:
        return (self.y_train if split == "train" else self.y_test)[indices].astype(np.int32)

    def size(self, split: str) -> int:
        return len(self.y_train if split == "train" else self.y_test)

    def output_names(self, outputs: int) -> list[str]:
        """A name for each of a network's ``outputs`` scores: the dataset's class names, then
        "unit k" for any extra output a model has beyond the dataset's classes."""
        names = [str(name) for name in self.class_names][:outputs]
        return names + [f"unit {k}" for k in range(len(names), outputs)]


def describe_adaptation(native: tuple[int, int, int], target: tuple[int, int, int]) -> str | None:
    """Say how images of ``native`` shape become ``target`` (e.g. "padded 28x28 to 32x32")."""
    parts = []
    (h, w, c), (th, tw, tc) = native, target
    if (h, w) != (th, tw):
        verb = "zero-padded" if _pads(h, w, th, tw) else "resized"
        parts.append(f"{verb} {h}x{w} to {th}x{tw}")
    if c != tc:
        parts.append(f"{c} → {tc} channels")
    return ", ".join(parts) or None


def _pads(h: int, w: int, th: int, tw: int) -> bool:
    # Padding is right for a small margin (MNIST 28 -> 32 for the modified VGG);
    # anything bigger is scaled so the digit still fills the frame.
    return th >= h and tw >= w and th - h <= 8 and tw - w <= 8


def adapt_images(images: np.ndarray, target: tuple[int, int, int]) -> np.ndarray:
    """uint8 (N,H,W,C) -> float32 (N,*target) in [0, 1]: pad or resize, then fix channels."""
    x = images.astype(np.float32) / 255.0
    th, tw, tc = target
    n, h, w, c = x.shape
    if (h, w) != (th, tw):
        if _pads(h, w, th, tw):
            top, left = (th - h) // 2, (tw - w) // 2
            padded = np.zeros((n, th, tw, c), np.float32)
            padded[:, top:top + h, left:left + w] = x
            x = padded
        else:
            import tensorflow as tf  # only needed when resizing

            x = tf.image.resize(x, (th, tw), method="bilinear").numpy()
    if c != tc:
        if c == 1:
            x = np.repeat(x, tc, axis=-1)
        elif tc == 1:
            x = x.mean(axis=-1, keepdims=True)
        else:
            raise UserError(f"cannot turn {c}-channel images into {tc}-channel input")
    return x


def load_dataset(name: str = "mnist-sample", target_shape: tuple[int, int, int] | None = None,
                 classes: int | None = None) -> Dataset:
    """The dataset ``name``, delivering batches of ``target_shape`` (native if None).

    ``classes`` only matters for ``synthetic`` (how many pattern classes to make).
    Offline, ``mnist``/``cifar10`` raise a UserError that names ``mnist-sample``.
    """
    check_choice("dataset", name, DATASETS)
    if name == "mnist-sample":
        data = _mnist_sample()
    elif name == "synthetic":
        shape = tuple(target_shape) if target_shape else (28, 28, 1)
        data = _synthetic(shape, int(classes or 10))
    else:
        data = _keras_dataset(name)
    return data.for_shape(target_shape) if target_shape else data


@lru_cache(maxsize=1)
def _mnist_sample() -> Dataset:
    if not MNIST_SAMPLE.exists():
        raise UserError(f"the embedded sample {MNIST_SAMPLE} is missing; rebuild it with scripts/build_mnist_sample.py")
    with np.load(MNIST_SAMPLE) as npz:
        arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for key in ("x_train", "x_test"):
        arrays[key] = arrays[key][..., None]  # channels last
        arrays[key].setflags(write=False)
    return Dataset("mnist-sample", classes=10, class_names=[str(d) for d in range(10)], **arrays)


def mnist_sample_sha256() -> str:
    """sha256 of the embedded sample file (checked against the recorded provenance)."""
    return hashlib.sha256(MNIST_SAMPLE.read_bytes()).hexdigest()


@lru_cache(maxsize=8)
def _synthetic(shape: tuple[int, int, int], classes: int) -> Dataset:
    """Class k is an oriented stripe pattern (angle and frequency set by k) plus noise.

    Simple enough to learn in a few steps, varied enough that a net must use its
    filters; generated deterministically, any size and any number of classes.
    """
    h, w, _ = shape  # stored grey; batches get the channels they need from adapt_images
    if h * w > 1024 * 1024:
        raise UserError(f"synthetic images of shape {shape} are too large to generate")
    # ~2,000 training images at MNIST size, fewer at 224x224 so the set stays under ~50 MB.
    n_train = int(min(2000, max(200, 40_000_000 // (h * w))))
    n_test = max(100, n_train // 4)
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / max(h, 1), xx / max(w, 1)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % classes
        rng.shuffle(labels)
        angle = np.pi * labels / classes + rng.normal(0, 0.05, n)
        freq = 3.0 + 2.0 * (labels % 3) + rng.normal(0, 0.2, n)
        phase = rng.uniform(0, 2 * np.pi, n)
        wave = np.sin(2 * np.pi * freq[:, None, None] * (np.cos(angle)[:, None, None] * xx + np.sin(angle)[:, None, None] * yy) + phase[:, None, None])
        images = 0.5 + 0.4 * wave[..., None] + rng.normal(0, 0.1, (n, h, w, 1))
        return np.clip(images * 255, 0, 255).astype(np.uint8), labels.astype(np.uint8 if classes <= 255 else np.int32)

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return Dataset("synthetic", x_train, y_train, x_test, y_test, classes,
                   class_names=[f"pattern {k}" for k in range(classes)])


def _keras_dataset(name: str) -> Dataset:
    import keras

    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    cached = any(cache.glob(f"{name}*")) if cache.exists() else False
    if not cached and os.environ.get("CNNVIZ_OFFLINE"):
        raise UserError(f"dataset {name!r} is not in the Keras cache ({cache}) and CNNVIZ_OFFLINE is set; {OFFLINE_HINT}")
    loader = {"mnist": keras.datasets.mnist, "cifar10": keras.datasets.cifar10}[name]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # network errors come in many types (URLError, OSError, Exception from get_file)
        raise UserError(f"dataset {name!r} could not be downloaded ({type(exc).__name__}); {OFFLINE_HINT}") from None
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    names = [str(d) for d in range(10)] if name == "mnist" else [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    return Dataset(name, x_train, y_train.reshape(-1), x_test, y_test.reshape(-1), 10, class_names=names)
