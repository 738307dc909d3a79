"""A person's own images as a :class:`~cnnviz.data.Dataset` (``inspect --images DIR``, uploads).

Labels come from the layout, the way ``keras.utils.image_dataset_from_directory``
reads it: ``DIR/<class>/*.png`` gives one class per sub-folder (folders named
``0``, ``1``, ... keep those numbers as class indices, so they line up with the
model's outputs; other names are numbered in sorted order). A flat folder, or
uploaded files, may carry the label as a leading number in the file name
(``7_mine.png``); otherwise the images are unlabelled: activation statistics do not
need labels, but loss and accuracy are then measured against class 0 and mean
nothing (the returned notes say so).

Every image is checked before it is decoded (a real PNG/JPEG/GIF/BMP header, at
most :data:`MAX_IMAGE_PIXELS`), then resized to the model's input when its aspect
ratio is close to the model's, and converted to the model's channel count.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnviz.data.datasets import Dataset
from cnnviz.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
MAX_IMAGES = 2000
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 25_000_000  # decompression-bomb guard: no photo we need is bigger
MAX_ASPECT_RATIO_CHANGE = 1.5  # stretch tolerated when resizing to the model's input
LABEL_PREFIX = re.compile(r"^(\d+)(?:[_\-. ]|$)")


@dataclass
class ImageSet:
    """Images turned into a Dataset, plus whether they carry labels and what was done."""

    dataset: Dataset
    labelled: bool
    notes: list[str] = field(default_factory=list)

    def fit_batch_size(self, requested: int) -> int:
        """``requested``, or the number of images if there are fewer (noted in :attr:`notes`)."""
        available = self.dataset.size("train")
        if requested <= available:
            return requested
        self.notes.append(f"batch size lowered from {requested} to {available}, the number of images")
        return available


def image_size(name: str, data: bytes) -> tuple[int, int]:
    """(height, width) read from the file header; UserError if it is not a supported image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
    elif data.startswith(b"GIF8") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
    elif data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        height = abs(height)  # negative height = rows stored top-down
    elif data.startswith(b"\xff\xd8\xff"):
        import tensorflow as tf

        try:
            height, width = (int(v) for v in tf.io.extract_jpeg_shape(data)[:2].numpy())
        except Exception:  # tf raises InvalidArgumentError on a damaged header
            raise UserError(f"{name} is a damaged JPEG file") from None
    else:
        raise UserError(f"{name} is not an image cnnviz can read (PNG, JPEG, GIF or BMP)")
    return int(height), int(width)


def decode_image(name: str, data: bytes, target_shape: tuple[int, int, int]) -> np.ndarray:
    """One image file's bytes as uint8 of ``target_shape`` (resized, channels adapted).

    Raises UserError for non-images, oversized images, and aspect ratios too far from
    the model's input to resize without distorting the picture.
    """
    import tensorflow as tf

    if len(data) > MAX_IMAGE_BYTES:
        raise UserError(f"{name} is {len(data) / 2**20:.1f} MB; images are limited to {MAX_IMAGE_BYTES // 2**20} MB")
    height, width = image_size(name, data)
    th, tw, tc = target_shape
    if height < 1 or width < 1 or height * width > MAX_IMAGE_PIXELS:
        raise UserError(f"{name} is {height}x{width} pixels; images must be between 1 and {MAX_IMAGE_PIXELS:,} pixels")
    stretch = (width / height) / (tw / th)
    if max(stretch, 1 / stretch) > MAX_ASPECT_RATIO_CHANGE:
        raise UserError(f"{name} is {height}x{width} pixels but the model takes {th}x{tw} images; resizing would "
                        "distort it, so crop it to roughly the model's shape first")
    try:
        image = tf.io.decode_image(data, expand_animations=False).numpy()
    except Exception:  # InvalidArgumentError: header fine, pixel data broken
        raise UserError(f"{name} could not be decoded (a damaged or truncated image file)") from None
    channels = image.shape[-1]
    if channels in (2, 4):  # grey+alpha / RGBA: the alpha channel is not part of the picture
        image = image[..., :channels - 1]
    if image.shape[:2] != (th, tw):
        image = tf.image.resize(image, (th, tw), method="bilinear", antialias=True).numpy()
    image = image.astype(np.float32)
    if image.shape[-1] != tc:
        image = np.repeat(image, tc, axis=-1) if image.shape[-1] == 1 else (
            image.mean(axis=-1, keepdims=True) if tc == 1 else None)
        if image is None:
            raise UserError(f"{name} has 3 colour channels but the model takes {tc}-channel inputs")
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def images_to_dataset(files: list[tuple[str, bytes]], target_shape: tuple[int, int, int],
                      labels: list[int | None] | None = None, class_names: list[str] | None = None,
                      name: str = "your images") -> ImageSet:
    """Build an ImageSet from (file name, bytes) pairs, e.g. from an upload widget.

    ``labels`` (one per file, None = unknown) default to a leading number in each
    file name. Train and test splits are the same images (there are only a few).
    """
    if not files:
        raise UserError("no images were given; add PNG, JPEG, GIF or BMP files")
    if len(files) > MAX_IMAGES:
        raise UserError(f"{len(files)} images is more than the limit of {MAX_IMAGES}")
    if labels is None:
        labels = [_label_from_name(file_name) for file_name, _ in files]
    images = np.stack([decode_image(file_name, data, tuple(target_shape)) for file_name, data in files])
    labelled = all(label is not None for label in labels)
    notes = []
    if not labelled:
        notes.append("the images carry no labels (use one sub-folder per class, or names like 7_photo.png), so loss "
                     "and accuracy are measured against class 0 and mean nothing; the activation statistics are real")
    y = np.asarray([label if labelled else 0 for label in labels], np.int32)
    classes = int(y.max()) + 1 if labelled else 1
    names = class_names or [str(k) for k in range(classes)]
    classes = max(classes, len(names))
    images.setflags(write=False)
    dataset = Dataset(name, images, y, images, y, max(classes, 1), tuple(target_shape), names)
    return ImageSet(dataset, labelled, notes)


def load_image_folder(path: str | Path, target_shape: tuple[int, int, int]) -> ImageSet:
    """Read ``path`` (flat, or one sub-folder per class) into an ImageSet of ``target_shape``.

    Hidden files are ignored; any other file that is not an image is a UserError
    naming it, so nothing is silently left out.
    """
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"--images {path} is not a folder of images")
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subfolders:
        numbered = all(p.name.isdigit() for p in subfolders)
        index = {p.name: (int(p.name) if numbered else k) for k, p in enumerate(subfolders)}
        entries = [(f, index[p.name]) for p in subfolders for f in _files_in(p)]
        names = [str(k) for k in range(max(index.values()) + 1)] if numbered else [p.name for p in subfolders]
    else:
        entries, names = [(f, None) for f in _files_in(root)], None
    if len(entries) > MAX_IMAGES:
        raise UserError(f"{root} holds {len(entries)} images, more than the limit of {MAX_IMAGES}")
    files = [(str(f.relative_to(root)), f.read_bytes()) for f, _ in entries]
    labels = [label for _, label in entries] if subfolders else None
    image_set = images_to_dataset(files, target_shape, labels, names, name=f"images in {root.name}")
    if subfolders and not numbered:
        image_set.notes.append("class sub-folders are numbered in sorted order (" +
                               ", ".join(f"{k}={n}" for k, n in enumerate(names)) + "); check that this matches "
                               "the order of the model's outputs")
    return image_set


def _files_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))


def _label_from_name(file_name: str) -> int | None:
    match = LABEL_PREFIX.match(Path(file_name).name)
    return int(match.group(1)) if match else None
