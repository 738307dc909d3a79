"""LSUV (Mishkin & Matas 2016): orthonormal start, then unit pre-activation variance layer by layer."""

import keras
import numpy as np
import pytest

from cnnviz.config import RunConfig
from cnnviz.errors import UserError
from cnnviz.nets import zoo
from cnnviz.nets.lsuv import apply_lsuv
from cnnviz.nets.measure import measurement_images, pre_activation_stats


@pytest.fixture(scope="module")
def digits():
    return measurement_images(RunConfig(arch="plain_mlp"), (28, 28, 1), 10)


def kernels(model):
    return {layer.name: layer.kernel.numpy().copy() for layer in model.layers if hasattr(layer, "kernel")}


def test_lsuv_starts_orthonormal():
    model = zoo.build("plain_mlp", "orthogonal", depth=2, width=64)  # the lsuv initializer's first stage
    w = model.get_layer("dense1").kernel.numpy().astype(np.float64)  # 784 x 64: orthonormal columns
    np.testing.assert_allclose(w.T @ w, np.eye(64), atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "selu"])
def test_every_layer_gets_unit_variance_on_its_batch_and_near_it_on_another(digits, activation):
    model = zoo.build("plain_mlp", "orthogonal", depth=20, width=128, activation=activation)
    before = kernels(model)
    steps = apply_lsuv(model, digits[:128])
    assert [step.layer for step in steps] == [*[f"dense{i}" for i in range(1, 21)], "logits"]
    own = pre_activation_stats(model, digits[:128])
    np.testing.assert_allclose(own["std"], 1.0, atol=0.05)  # within the paper's |Var - 1| < 0.1
    other = pre_activation_stats(model, digits[128:])
    assert other["std"].between(0.85, 1.15).all(), other
    after = kernels(model)
    for step in steps:  # only a rescaling: each kernel keeps its direction
        ratio = after[step.layer] / before[step.layer]
        np.testing.assert_allclose(ratio, step.scale, rtol=1e-4)


def test_build_from_config_applies_lsuv_reproducibly(digits):
    config = RunConfig(arch="plain_mlp", init="lsuv", depth=6, width=64, activation="tanh", seed=3)
    a = zoo.build_from_config(config, (28, 28, 1), 10)
    b = zoo.build_from_config(config, (28, 28, 1), 10)
    c = zoo.build_from_config(config.replace(seed=4), (28, 28, 1), 10)
    assert np.array_equal(a.get_layer("dense4").kernel.numpy(), b.get_layer("dense4").kernel.numpy())
    assert not np.array_equal(a.get_layer("dense4").kernel.numpy(), c.get_layer("dense4").kernel.numpy())
    assert pre_activation_stats(a, digits)["std"].between(0.85, 1.15).all()


def test_lsuv_on_a_fixed_conv_net_uses_the_callers_images(digits):
    model = zoo.build("ltfn_convnet", "lsuv", images=digits[:64])
    stats = pre_activation_stats(model, digits[:64])
    np.testing.assert_allclose(stats["std"], 1.0, atol=0.05)


def test_a_layer_nothing_reaches_is_left_alone(digits):
    model = zoo.build("plain_mlp", "orthogonal", depth=3, width=16)
    model.get_layer("dense2").kernel.assign(np.zeros((16, 16), np.float32))
    steps = {step.layer: step for step in apply_lsuv(model, digits[:32])}
    assert steps["dense2"].iterations == 0 and "left unscaled" in steps["dense2"].note
    assert all(np.isfinite(layer.numpy()).all() for layer in model.weights)


def test_bad_image_batches_are_user_errors():
    model = zoo.build("plain_mlp", "orthogonal", depth=2, width=8)
    with pytest.raises(UserError, match="at least 2 images"):
        apply_lsuv(model, np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(UserError, match="data-dependent"):
        zoo.build("ltfn_mlp", "lsuv")


def test_lsuv_is_listed_with_an_orthogonal_first_stage():
    from cnnviz.nets.initializers import INITIALIZERS, is_data_dependent, make_initializer

    assert is_data_dependent("lsuv") and not is_data_dependent("he-normal")
    assert isinstance(make_initializer("lsuv", 0), keras.initializers.Orthogonal)
    assert "Mishkin" in INITIALIZERS["lsuv"].description
