"""The model zoo: exact parameter counts, explicit activations, too-small inputs."""

import keras
import pytest

from cnnviz.errors import UserError
from cnnviz.nets import layers, zoo


@pytest.mark.parametrize("arch, shape, classes, expected", [
    ("ltfn_convnet", None, None, 321_738),
    ("ltfn_vgg", None, None, 16_067_786),
    ("lenet5", None, None, 61_706),
    ("vgg16", (224, 224, 3), 1000, 138_357_544),
    ("ltfn_mlp", None, None, 784 * 500 + 500 + 500 * 500 + 500 + 500 * 10 + 10),
    ("softmax_regression", None, None, 7_850),
])
def test_layer_table_parameter_counts_are_exact(arch, shape, classes, expected):
    assert sum(row["params"] for row in zoo.layer_table(arch, shape, classes)) == expected


@pytest.mark.parametrize("arch", ["ltfn_convnet", "ltfn_vgg", "lenet5", "conv3_dropout", "conv2_5x5", "lenet5_like"])
def test_built_keras_model_agrees_with_the_table(arch):
    model = zoo.build(arch, "he-normal")
    assert model.count_params() == sum(row["params"] for row in zoo.layer_table(arch))
    assert model.output_shape == (None, 10)


def test_conv_and_dense_layers_expose_pre_activations():
    model = zoo.build("lenet5", "glorot-uniform")
    weighted = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
    assert all(l.activation.__name__ == "linear" for l in weighted)
    names = [l.name for l in model.layers]
    assert "conv1_sigmoid" in names and "fc2_sigmoid" in names
    assert names[-1] == "logits"  # logits stay observable: softmax lives in the loss


def test_biases_start_at_zero_and_init_is_seeded():
    a = zoo.build("ltfn_mlp", "he-normal", seed=3)
    b = zoo.build("ltfn_mlp", "he-normal", seed=3)
    c = zoo.build("ltfn_mlp", "he-normal", seed=4)
    assert all((a.get_layer(n).bias.numpy() == 0).all() for n in ("fc1", "fc2", "logits"))
    assert (a.get_layer("fc1").kernel.numpy() == b.get_layer("fc1").kernel.numpy()).all()
    assert not (a.get_layer("fc1").kernel.numpy() == c.get_layer("fc1").kernel.numpy()).all()


def test_alexnet_on_mnist_names_the_layer_and_the_arithmetic():
    with pytest.raises(UserError) as info:
        zoo.build("alexnet", input_shape=(28, 28, 1))
    message = str(info.value)
    assert "pool2" in message and "O = 1 + (W − K + 2P)/S" in message
    assert "1 + (2 − 3 + 2·0)/2 = 0.5" in message
    assert "at least 67x67" in message


def test_size_arithmetic_matches_keras_output_shapes():
    model = zoo.build("alexnet", input_shape=(227, 227, 3), classes=17)
    table = {row["name"]: row["output_shape"] for row in zoo.layer_table("alexnet", (227, 227, 3), 17)}
    for name in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool3"):
        assert list(model.get_layer(name).output.shape[1:]) == table[name], name
    assert table["conv1"] == [55, 55, 96]  # the paper's famous 55x55


def test_minimum_input_size():
    assert layers.minimum_input_size(zoo.get_arch("vgg16").specs()) == 32
    assert layers.minimum_input_size(zoo.get_arch("ltfn_convnet").specs()) == 4  # two 2x2 pools


def test_unknown_architecture_lists_the_choices():
    with pytest.raises(UserError, match="ltfn_convnet"):
        zoo.build("resnet9000")
