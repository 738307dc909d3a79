"""plain_mlp / plain_cnn: tables, exact parameter counts, the built Keras graph, seeding, configs and the CLI."""

import json

import keras
import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.config import RunConfig
from cnnviz.errors import UserError
from cnnviz.nets import zoo
from cnnviz.nets.forward import forward
from cnnviz.nets.measure import pre_activation_stats
from cnnviz.nets.params import PlainNet


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


@pytest.mark.parametrize("net, expected", [
    (PlainNet("plain_mlp", 30, 256), dense_params(784, 256) + 29 * dense_params(256, 256) + dense_params(256, 10)),
    (PlainNet("plain_mlp", 3, 16, norm="batch"), dense_params(784, 16) + 2 * dense_params(16, 16)
     + dense_params(16, 10) + 3 * 4 * 16),  # batch norm: γ, β, moving mean, moving variance per unit
    (PlainNet("plain_mlp", 3, 16, norm="layer", residual=True), dense_params(784, 16) + 2 * dense_params(16, 16)
     + dense_params(16, 10) + 3 * 2 * 16),
    (PlainNet("plain_cnn", 4, 8), (9 * 1 * 8 + 8) + 3 * (9 * 8 * 8 + 8) + dense_params(8, 10)),
])
def test_parameter_counts_are_exact_in_the_table_and_the_model(net, expected):
    rows = zoo.layer_table(net)
    assert sum(row["params"] for row in rows) == expected
    assert zoo.build(net, "he-normal").count_params() == expected


def test_layer_names_order_and_the_zoo_convention():
    model = zoo.build("plain_mlp", "he-normal", depth=3, width=16, norm="batch", activation="tanh")
    names = [layer.name for layer in model.layers]
    assert names == ["image", "flatten",
                     "dense1", "dense1_batchnorm", "dense1_tanh",
                     "dense2", "dense2_batchnorm", "dense2_tanh",
                     "dense3", "dense3_batchnorm", "dense3_tanh", "logits"]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert all(layer.activation.__name__ == "linear" for layer in dense)  # pre-activations stay observable
    assert model.output_shape == (None, 10)


def test_residual_skip_adds_the_block_input_after_the_activation():
    model = zoo.build("plain_mlp", "he-normal", depth=3, width=16, residual=True)
    assert "dense1_skip" not in [layer.name for layer in model.layers]  # layer 1 changes the width: no skip
    skip = model.get_layer("dense2_skip")
    assert skip.input[0] is model.get_layer("dense1_relu").output
    assert skip.input[1] is model.get_layer("dense2_relu").output
    # The same network computed by hand in numpy: h2 = h1 + relu(h1 W2), h3 = h2 + relu(h2 W3).
    images = np.random.default_rng(0).random((5, 28, 28, 1)).astype(np.float32)
    weights = {name: model.get_layer(name).kernel.numpy().astype(np.float64) for name in ("dense1", "dense2", "dense3",
                                                                                           "logits")}
    h = np.maximum(images.reshape(5, -1) @ weights["dense1"], 0)
    for name in ("dense2", "dense3"):
        h = h + np.maximum(h @ weights[name], 0)
    np.testing.assert_allclose(model(images).numpy(), h @ weights["logits"], rtol=1e-4, atol=1e-5)


def test_plain_cnn_keeps_the_spatial_size_and_pools_globally():
    model = zoo.build("plain_cnn", "he-normal", input_shape=(32, 32, 3), depth=4, width=8, residual=True)
    for i in range(1, 5):
        assert tuple(model.get_layer(f"conv{i}").output.shape[1:]) == (32, 32, 8)
    assert tuple(model.get_layer("gap").output.shape[1:]) == (8,)
    assert model.get_layer("logits").kernel.shape == (8, 10)
    rows = {row["name"]: row for row in zoo.layer_table("plain_cnn", (32, 32, 3), depth=4, width=8, residual=True)}
    assert rows["conv1"]["fan_in"] == 27 and rows["conv2"]["fan_in"] == 72
    assert rows["conv4_skip"]["type"] == "add" and rows["gap"]["output_shape"] == [8]


def test_build_from_config_is_seeded_per_layer_and_reproducible():
    config = RunConfig(arch="plain_mlp", init="he-normal", depth=4, width=32, seed=7)
    a = zoo.build_from_config(config, (28, 28, 1), 10)
    b = zoo.build_from_config(config, (28, 28, 1), 10)
    c = zoo.build_from_config(config.replace(seed=8), (28, 28, 1), 10)
    kernel = lambda model, name: model.get_layer(name).kernel.numpy()  # noqa: E731
    assert np.array_equal(kernel(a, "dense3"), kernel(b, "dense3"))
    assert not np.array_equal(kernel(a, "dense3"), kernel(c, "dense3"))
    assert not np.array_equal(kernel(a, "dense2"), kernel(a, "dense3"))  # every layer its own seed
    assert all((a.get_layer(f"dense{i}").bias.numpy() == 0).all() for i in range(1, 5))


def test_forward_walker_matches_the_keras_model():
    model = zoo.build("plain_cnn", "he-normal", depth=3, width=4, norm="layer", residual=True, activation="gelu")
    images = np.random.default_rng(1).random((3, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(forward(model, images)), model(images).numpy(), rtol=1e-5, atol=1e-6)
    stats = pre_activation_stats(model, images)
    assert list(stats["layer"]) == ["conv1", "conv2", "conv3", "logits"]
    conv2 = keras.Model(model.inputs[0], model.get_layer("conv2").output)(images).numpy().astype(np.float64)
    assert stats.set_index("layer").loc["conv2", "std"] == pytest.approx(conv2.std(), rel=1e-5)


def test_config_fills_plain_defaults_and_round_trips():
    config = RunConfig(arch="plain_cnn", depth=12)
    assert (config.depth, config.width, config.activation, config.norm, config.residual) == (12, 32, "relu", "none", False)
    assert RunConfig.from_dict(config.to_dict()) == config
    assert RunConfig.from_dict({"arch": "ltfn_convnet", "init": "normal"}).net is None  # older checkpoints
    switched = RunConfig(arch="plain_mlp", depth=30, width=512).replace(arch="ltfn_convnet")
    assert switched.depth is None and switched.width is None  # the old net's fields do not follow


@pytest.mark.parametrize("fields, fragment", [
    ({"arch": "plain_mlp", "depth": 0}, "depth must be a whole number from 1 to 100"),
    ({"arch": "plain_mlp", "depth": 1000}, "depth must be a whole number from 1 to 100"),
    ({"arch": "plain_cnn", "width": 0}, "width must be a whole number from 1 to 4096"),
    ({"arch": "plain_mlp", "activation": "swish"}, "unknown activation 'swish'"),
    ({"arch": "plain_mlp", "norm": "group"}, "unknown normalization 'group'"),
    ({"arch": "ltfn_convnet", "depth": 30}, "depth applies only to plain_mlp and plain_cnn"),
])
def test_bad_plain_net_configs_are_user_errors(fields, fragment):
    with pytest.raises(UserError, match=fragment):
        RunConfig(**fields)


def test_lsuv_without_images_is_refused_by_the_plain_builder():
    with pytest.raises(UserError, match="data-dependent"):
        zoo.build("plain_mlp", "lsuv", depth=2)


# ------------------------------------------------------------------ CLI
def run_json(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def refused(capsys, *argv) -> str:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cnnviz: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_list_names_the_plain_nets_and_new_initializers(capsys):
    names = run_json(capsys, "list", "--json")
    assert {"plain_mlp", "plain_cnn"} <= set(names["architectures"])
    assert {"lsuv", "activation-gain"} <= set(names["initializers"])


def test_summary_of_a_30_layer_mlp(capsys):
    payload = run_json(capsys, "summary", "plain_mlp", "--depth", 30, "--width", 256, "--activation", "relu", "--json")
    assert [layer["name"] for layer in payload["layers"]] == ["flatten", *[f"dense{i}" for i in range(1, 31)], "logits"]
    assert payload["total_params"] == dense_params(784, 256) + 29 * dense_params(256, 256) + dense_params(256, 10)
    assert payload["net"] == {"depth": 30, "width": 256, "activation": "relu", "norm": "none", "residual": False}


def test_inspect_reports_one_entry_per_probed_layer_in_order(capsys):
    payload = run_json(capsys, "inspect", "--arch", "plain_mlp", "--depth", 3, "--width", 32, "--activation", "tanh",
                       "--init", "lecun-normal", "--batch-size", 20, "--json")
    assert [layer["name"] for layer in payload["layers"]] == ["dense1", "dense2", "dense3", "logits"]
    assert payload["config"]["depth"] == 3 and payload["config"]["activation"] == "tanh"
    assert [layer["activation"] for layer in payload["layers"]] == ["tanh", "tanh", "tanh", "linear"]


@pytest.mark.parametrize("argv, fragment", [
    (["summary", "plain_mlp", "--depth", 0], "depth must be a whole number from 1 to 100"),
    (["summary", "plain_mlp", "--depth", 1000], "got 1000"),
    (["summary", "plain_cnn", "--width", 0], "width must be a whole number"),
    (["inspect", "--arch", "plain_mlp", "--activation", "swish"], "unknown activation 'swish'"),
    (["train", "--arch", "ltfn_convnet", "--depth", 30], "--depth applies only to plain_mlp and plain_cnn"),
    (["summary", "lenet5", "--width", 8, "--residual"], "--width, --residual apply only to plain_mlp and plain_cnn"),
    (["report", "--arch", "plain_mlp", "--norm", "group", "--out", "x.html"], "unknown normalization 'group'"),
])
def test_bad_plain_net_flags_exit_2_with_one_line(capsys, argv, fragment):
    assert fragment in refused(capsys, *argv)
