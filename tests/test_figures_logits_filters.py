"""Feature maps, kernels, digit preparation, and the logits / filters / architecture figures."""

import math

import numpy as np
import pytest
import tensorflow as tf

from cnnviz.config import RunConfig
from cnnviz.data import load_dataset
from cnnviz.errors import UserError
from cnnviz.figures import architecture as arch_figures
from cnnviz.figures import filters as filter_figures
from cnnviz.figures import logits as logit_figures
from cnnviz.figures.activations import full_title
from cnnviz.nets import zoo
from cnnviz.probing import feature_maps as fm
from cnnviz.training import Run

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def relu_net():
    return zoo.build("lenet5_like", "he-normal", seed=3)


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist-sample")


@pytest.fixture(scope="module")
def digit(mnist):
    return mnist.images("test", np.array([0]))[0]  # (28, 28, 1) in [0, 1]


def numbers_in(fig) -> list:
    """Every numeric value a figure's traces carry (x, y, z), flattened."""
    values = []
    for trace in fig.data:
        for name in ("x", "y", "z"):
            data = getattr(trace, name, None)
            if data is None:
                continue
            flat = np.asarray(data, dtype=object).ravel().tolist()
            values.extend(v for v in flat if not isinstance(v, str))
    return values


def assert_no_nan(fig):
    values = numbers_in(fig)
    assert values, "figure carries no numbers"
    assert all(v is not None and math.isfinite(float(v)) for v in values)


# ---------------------------------------------------------------- feature maps
def test_conv_layers_and_kernels_are_the_models_current_weights(relu_net):
    assert fm.conv_layers(relu_net) == ["conv1", "conv2"]
    first = fm.kernels(relu_net, "conv1")
    assert first.shape == (5, 5, 1, 6)
    np.testing.assert_array_equal(first, relu_net.get_layer("conv1").kernel.numpy())
    assert fm.kernels(relu_net, "conv2").shape == (5, 5, 6, 16)


def test_unknown_layer_is_a_user_error_listing_the_conv_layers(relu_net):
    with pytest.raises(UserError, match="conv1, conv2"):
        fm.kernels(relu_net, "fc1")


def test_feature_map_shapes_follow_the_layer_table(relu_net, digit):
    assert fm.feature_maps(relu_net, "conv1", digit).shape == (28, 28, 6)
    assert fm.feature_maps(relu_net, "conv2", digit).shape == (10, 10, 16)  # 5x5 valid on 14x14


def test_post_relu_maps_are_the_positive_part_of_the_pre_activation(relu_net, digit):
    pre = fm.feature_maps(relu_net, "conv2", digit, pre_activation=True)
    post = fm.feature_maps(relu_net, "conv2", digit, pre_activation=False)
    assert (pre < 0).any() and (pre > 0).any()
    np.testing.assert_allclose(post, np.maximum(pre, 0.0), rtol=1e-6, atol=1e-6)


def test_pre_activation_is_the_convolution_plus_bias(relu_net, digit):
    pre = fm.feature_maps(relu_net, "conv1", digit)
    kernel = fm.kernels(relu_net, "conv1")
    bias = relu_net.get_layer("conv1").bias.numpy()
    row, col, f = 14, 12, 4  # 'same' 5x5: output (r, c) sees input rows r-2 .. r+2
    patch = digit[row - 2:row + 3, col - 2:col + 3, 0]
    assert pre[row, col, f] == pytest.approx(float((patch * kernel[:, :, 0, f]).sum() + bias[f]), abs=1e-5)


def test_sigmoid_layers_show_the_sigmoid_of_the_pre_activation(digit):
    model = zoo.build("lenet5", "glorot-uniform", seed=1)
    assert fm.activation_name(model, "conv1") == "sigmoid"
    pre = fm.feature_maps(model, "conv1", digit)
    post = fm.feature_maps(model, "conv1", digit, pre_activation=False)
    np.testing.assert_allclose(post, 1 / (1 + np.exp(-pre)), rtol=1e-5, atol=1e-6)


def test_kernels_change_when_the_run_trains():
    run = Run(RunConfig(arch="lenet5_like", init="he-normal", batch_size=16, seed=0))
    before = fm.run_kernels(run, "conv1")
    run.train(2)
    after = fm.run_kernels(run, "conv1")
    assert run.step_count == 2
    assert not np.allclose(before, after)


def test_kernel_tiles_by_filter_and_by_input_channel():
    kernel = np.arange(3 * 3 * 4 * 5, dtype=np.float32).reshape(3, 3, 4, 5)
    per_filter = fm.kernel_tiles(kernel)
    assert per_filter.shape == (5, 3, 3)
    np.testing.assert_allclose(per_filter[2], kernel[:, :, :, 2].mean(axis=-1))
    per_channel = fm.kernel_tiles(kernel, out_filter=1)
    assert per_channel.shape == (4, 3, 3)
    np.testing.assert_array_equal(per_channel[3], kernel[:, :, 3, 1])
    with pytest.raises(UserError, match="filters 0 to 4"):
        fm.kernel_tiles(kernel, out_filter=5)


def test_prepare_input_pads_and_adds_channels_like_the_datasets(digit):
    padded = fm.prepare_input(digit, (32, 32, 1))
    assert padded.shape == (1, 32, 32, 1)
    np.testing.assert_allclose(padded[0, 2:30, 2:30], digit, atol=1 / 255)
    assert fm.prepare_input(digit[..., 0], (28, 28, 3)).shape == (1, 28, 28, 3)


# ------------------------------------------------------------ drawn / uploaded digits
def test_an_uploaded_black_on_white_picture_becomes_an_mnist_like_digit(mnist):
    original = mnist.x_test[7, :, :, 0]
    page = 255 - np.kron(original, np.ones((4, 4), np.uint8))  # 112x112, dark ink on white
    png = tf.io.encode_png(page[..., None]).numpy()
    result = fm.digit_from_image_bytes(png)
    assert result.shape == (28, 28) and result.dtype == np.float32
    assert result.max() == pytest.approx(1.0) and result[0].max() < 0.05  # white ink on a black frame
    assert np.corrcoef(result.ravel(), original.ravel() / 255.0)[0, 1] > 0.95


def test_transparent_drawing_with_dark_strokes_reads_as_ink():
    rgba = np.zeros((60, 60, 4), np.uint8)
    rgba[10:50, 28:33] = [0, 0, 0, 255]  # a black "1" on a transparent page
    digit = fm.digit_from_pixels(rgba)
    ink_rows = np.flatnonzero(digit.max(axis=1) > 0.5)
    ink_cols = np.flatnonzero(digit.max(axis=0) > 0.5)
    assert len(ink_rows) == 20  # the stroke's long side fills MNIST's 20-pixel box
    assert 12 <= ink_cols.min() and ink_cols.max() <= 16  # centred, white on black
    assert digit[:, :8].max() == 0.0 and digit[:, 20:].max() == 0.0


def test_files_that_are_not_digit_pictures_are_refused_in_one_sentence():
    with pytest.raises(UserError, match="not an image"):
        fm.digit_from_image_bytes(b"%PDF-1.4 certainly not a picture")
    with pytest.raises(UserError, match="empty"):
        fm.digit_from_image_bytes(b"")
    blank = tf.io.encode_png(np.zeros((40, 40, 1), np.uint8)).numpy()
    with pytest.raises(UserError, match="blank"):
        fm.digit_from_image_bytes(blank)


# ------------------------------------------------------------------ logits figures
def test_softmax_helpers_agree_with_the_definitions():
    probabilities = logit_figures.softmax_probabilities(np.array([[0.0] * 10, [1000.0] + [0.0] * 9]))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    entropy = logit_figures.prediction_entropy(probabilities)
    assert entropy[0] == pytest.approx(math.log(10)) and entropy[1] == pytest.approx(0.0, abs=1e-9)
    counts = logit_figures.confusion_counts(np.array([1, 1, 2]), np.array([1, 0, 2]), 3)
    assert counts.tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_logit_boxes_leave_out_non_finite_rows_and_say_so():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10))
    logits[3, 2] = np.nan
    fig = logit_figures.logit_distribution_figure(logits, DIGITS, "at initialization (step 0)")
    assert "step 0" in full_title(fig) and "1 examples with non-finite logits left out" in full_title(fig)
    assert len(fig.data) == 10 and all(len(box.y) == 49 for box in fig.data)
    assert fig.layout.yaxis.title.text and fig.layout.xaxis.title.text
    assert_no_nan(fig)


def test_a_uniform_softmax_piles_up_at_one_over_classes_and_ln_classes():
    uniform = logit_figures.softmax_probabilities(np.zeros((40, 10)))
    saturated = logit_figures.softmax_probabilities(np.eye(10)[np.arange(40) % 10] * 80.0)
    groups = {"step 0 (init)": uniform, "step 20": saturated}
    top = logit_figures.max_probability_figure(groups, 10)
    assert top.layout.title.text and top.layout.xaxis.title.text and top.layout.yaxis.title.text
    assert [trace.name for trace in top.data] == list(groups)
    assert any("1/10" in a.text for a in top.layout.annotations)
    entropy = logit_figures.entropy_figure(groups, 10)
    assert any("2.303" in a.text for a in entropy.layout.annotations)
    # Every image is counted in a bar inside the axis: uniform in the last bin (ends at ln 10),
    # saturated in the first (starts at 0) — and the top probabilities of 1.0 in the last bar before 1.
    assert list(entropy.data[0].y)[-1] == 40 and list(entropy.data[1].y)[0] == 40
    assert list(top.data[1].y)[-1] == 40 and top.data[1].x[-1] + top.data[1].width / 2 <= 1.0 + 1e-12
    uniform_bars = [(x, y) for x, y in zip(top.data[0].x, top.data[0].y) if y]
    assert len(uniform_bars) == 1 and uniform_bars[0][1] == 40 and abs(uniform_bars[0][0] - 0.125) < 1e-9
    assert_no_nan(top)
    assert_no_nan(entropy)


def test_confusion_matrix_shows_counts_and_accuracy():
    counts = logit_figures.confusion_counts(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    fig = logit_figures.confusion_matrix_figure(counts, ["0", "1"], "after 20 training steps")
    assert "accuracy 75.0%" in full_title(fig) and "after 20 training steps" in full_title(fig)
    assert fig.data[0].text == ((1, 0), (1, 2)) or np.asarray(fig.data[0].text).tolist() == [[1, 0], [1, 2]]
    assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text == "true class"


def test_gallery_draws_every_image_with_its_softmax_and_marks_wrong_guesses(mnist):
    images = mnist.x_test[:5, :, :, 0] / 255.0
    labels = mnist.y_test[:5].astype(int)
    logits = np.eye(10)[labels] * 5.0
    logits[1] = np.eye(10)[(labels[1] + 1) % 10] * 5.0  # one wrong guess
    fig = logit_figures.softmax_gallery_figure(images, logit_figures.softmax_probabilities(logits), labels,
                                               [10, 11, 12, 13, 14], DIGITS, "after 20 training steps")
    assert "after 20 training steps" in full_title(fig)
    assert sum(t.type == "heatmap" for t in fig.data) == 5 and sum(t.type == "bar" for t in fig.data) == 5
    marked = [a for a in fig.layout.annotations if a.text.startswith("#11")]
    assert marked and "✗" in marked[0].text and marked[0].font.color == logit_figures.WRONG_COLOUR
    assert_no_nan(fig)


# ----------------------------------------------------------------- filters figures
def test_kernel_grid_uses_one_symmetric_scale_centred_at_zero():
    tiles = np.random.default_rng(1).normal(size=(70, 3, 3))
    tiles[0, 0, 0] = -4.0
    fig = filter_figures.kernel_grid_figure(tiles, [f"f{k}" for k in range(70)], "conv1 kernels")
    assert fig.layout.title.text == "conv1 kernels"
    assert len(fig.data) == filter_figures.MAX_TILES  # capped
    assert fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax
    assert fig.layout.coloraxis.cmax == pytest.approx(4.0)  # the biggest |weight| sets the range
    assert fig.layout.coloraxis.cmid == 0.0
    assert_no_nan(fig)


def test_kernel_grid_survives_all_zero_and_non_finite_weights():
    zeros = filter_figures.kernel_grid_figure(np.zeros((4, 3, 3)), ["a", "b", "c", "d"], "zeros init")
    assert zeros.layout.coloraxis.cmax == 1.0
    broken = np.ones((2, 3, 3))
    broken[1, 1, 1] = np.inf
    fig = filter_figures.kernel_grid_figure(broken, ["a", "b"], "broken")
    assert "1 non-finite values shown as 0" in full_title(fig)
    assert_no_nan(fig)


def test_feature_map_grid_shows_the_first_maps_on_the_right_scale(relu_net, digit):
    pre = fm.feature_maps(relu_net, "conv2", digit)
    fig = filter_figures.feature_map_grid_figure(pre, "conv2 maps", pre_activation=True, limit=8)
    assert len(fig.data) == 8 and fig.layout.coloraxis.cmid == 0.0
    post = fm.feature_maps(relu_net, "conv2", digit, pre_activation=False)
    fig = filter_figures.feature_map_grid_figure(post, "conv2 after relu", pre_activation=False)
    assert len(fig.data) == 16 and fig.layout.coloraxis.cmin == 0.0
    assert_no_nan(fig)


# ------------------------------------------------------------ architecture figure
def test_architecture_flow_has_a_bar_per_layer_on_log_axes():
    rows = zoo.layer_table("vgg16")
    fig = arch_figures.architecture_flow_figure(rows, (224, 224, 3), "vgg16")
    assert "vgg16" in full_title(fig) and "138M parameters" in full_title(fig)
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    drawn = [name for trace in fig.data if trace.xaxis == "x" for name in trace.y]
    assert drawn.count("input") == 1 and set(drawn) == {"input", *(row["name"] for row in rows)}
    weighted = {name for trace in fig.data if trace.xaxis == "x2" for name in trace.y}
    assert weighted == {row["name"] for row in rows if row["params"] > 0}
    assert_no_nan(fig)


def test_compact_numbers_and_shapes_read_naturally():
    assert arch_figures.compact_number(138_357_544) == "138M"
    assert arch_figures.compact_number(1_500) == "1.5k" and arch_figures.compact_number(0) == "0"
    assert arch_figures.shape_text([28, 28, 64]) == "28×28×64"
