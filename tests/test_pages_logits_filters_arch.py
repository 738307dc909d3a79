"""AppTest of the Logits & softmax, Filters & feature maps and Architecture pages.

Small networks (lenet5_like) keep these quick; the pages' own default is ltfn_convnet.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from streamlit.testing.v1 import AppTest

from cnnviz.config import RunConfig
from cnnviz.nets import zoo
from cnnviz.training import Run
from dashboard import state

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
PAGES = Path(__file__).resolve().parents[1] / "dashboard" / "views"
TIMEOUT = 120


def page(name: str, **session) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT)
    for key, value in session.items():
        at.session_state[key] = value
    return at


def figures(at: AppTest) -> list[dict]:
    """The plotly figures on the page, as the browser receives them."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def full_title(figure: dict) -> str:
    """Title and subtitle as one line: 'conv1: 6 kernels of 5×5 | at initialization (step 0)'."""
    title = figure["layout"]["title"]
    subtitle = title.get("subtitle", {}).get("text", "")
    return f"{title['text']} | {subtitle}" if subtitle else title["text"]


def titles_list(at: AppTest) -> list[str]:
    return [full_title(figure) for figure in figures(at)]


def figure_titled(at: AppTest, words: str) -> dict:
    """The first figure whose title contains ``words``."""
    return next(figure for figure in figures(at) if words in full_title(figure))


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception


@pytest.fixture(scope="module")
def small_run():
    """A session run of lenet5_like, as the Activations page would leave it."""
    return Run(RunConfig(arch="lenet5_like", init="he-normal", batch_size=32, seed=0))


@pytest.fixture(scope="module")
def training_run():
    """A run the Train buttons may advance (compiled once for both pages)."""
    return Run(RunConfig(arch="lenet5_like", init="he-normal", batch_size=32, seed=1))


# -------------------------------------------------------------------- architecture
def test_architecture_page_shows_table_flow_and_calculator():
    at = page("architecture.py").run()
    assert_clean(at)
    titles = titles_list(at)
    assert len(titles) == 1 and "ltfn_convnet" in titles[0] and "28×28×1" in titles[0]
    table = at.dataframe[0].value  # the layer table: every layer of the net, in order, with its parameters
    assert list(table["layer"]) == [row["name"] for row in zoo.layer_table("ltfn_convnet")]
    assert table["parameters"].sum() == 321_738
    assert table.set_index("layer").loc["conv1", "output shape"] == "28×28×64"
    assert any(m.label == "Parameters" and m.value == "321,738" for m in at.metric)
    assert any("= 24" in m.value for m in at.markdown)  # calculator default: 28, K=5, P=0, S=1


def test_architecture_page_switches_to_vgg16_without_building_it():
    at = page("architecture.py").run()
    at.selectbox(key="architecture:arch").set_value("vgg16").run()
    assert_clean(at)
    assert "vgg16" in titles_list(at)[0] and "224×224×3" in titles_list(at)[0]
    assert any(m.label == "Parameters" and m.value == "138,357,544" for m in at.metric)


def test_alexnet_on_mnist_shape_is_explained_not_raised():
    at = page("architecture.py", **{"architecture:arch": "alexnet", "architecture:custom": True,
                                    "architecture:height:alexnet": 28, "architecture:width:alexnet": 28,
                                    "architecture:channels:alexnet": 1}).run()
    assert_clean(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "pool2" in message and "28x28x1" in message and "O = 1 + (W − K + 2P)/S" in message
    assert any("67×67" in info.value for info in at.info)
    assert not at.get("plotly_chart")  # no flow diagram for a network that cannot be built
    arithmetic = at.dataframe[0].value
    assert list(arithmetic["layer"]) == ["conv1", "pool1", "conv2", "pool2"]  # stops at the failing layer


def test_calculator_shows_the_arithmetic_and_flooring():
    at = page("architecture.py").run()
    for name, value in (("calc_w", 224), ("calc_k", 11), ("calc_p", 0), ("calc_s", 4)):
        at.number_input(key=f"architecture:{name}").set_value(value).run()
    assert_clean(at)
    assert any("(224 − 11 + 2·0)/4 = 54.2" in m.value for m in at.markdown)
    assert any("O = 54" in w.value for w in at.warning)
    at.number_input(key="architecture:calc_w").set_value(8).run()
    assert any("does not fit" in e.value for e in at.error)


# --------------------------------------------------------------------------- logits
def test_logits_page_without_a_run_builds_one_at_init():
    at = page("logits.py", **{"logits:arch": "lenet5_like"}).run()
    assert_clean(at)
    titles = titles_list(at)
    assert len(titles) == 5 and all(titles)
    assert sum("at initialization (step 0)" in t for t in titles) == 3  # logits, confusion matrix, gallery
    assert state.RUN not in at.session_state  # the session's run is only replaced when asked
    local = at.session_state[state.INSPECT_RUN]
    assert local.config.arch == "lenet5_like"
    at.button(key="logits:adopt").click().run()  # "Use as the session's run"
    assert_clean(at)
    assert at.session_state[state.RUN] is local
    assert any("this session's run" in info.value for info in at.info)


def test_logits_page_trains_on_request_and_compares_with_init(training_run):
    at = page("logits.py", **{state.RUN: training_run}).run()
    assert_clean(at)
    at.button(key="logits:train").click().run()
    assert_clean(at)
    assert training_run.step_count == 20
    assert any("after 20 training steps" in t for t in titles_list(at))
    names = [trace["name"] for trace in figure_titled(at, "Top probability")["data"]]
    assert names == ["step 0 (init)", "step 20"]  # init and trained, side by side


def test_logits_page_uses_the_session_run_and_the_gallery_follows_the_choice(small_run):
    at = page("logits.py", **{state.RUN: small_run}).run()
    assert_clean(at)
    assert any("this session's run" in info.value for info in at.info)
    assert not at.selectbox  # no local selector when the session already has a run

    def gallery_labels():
        return [a["text"].split(":")[0] for a in figure_titled(at, "Single test images")["layout"]["annotations"]]

    assert gallery_labels()[:2] == ["#0", "#1"]
    at.number_input(key="logits:gallery_start").set_value(24).run()
    assert_clean(at)
    assert gallery_labels()[:2] == ["#24", "#25"]


def test_logits_page_rebuilds_the_local_run_when_the_arch_changes():
    at = page("logits.py", **{"logits:arch": "lenet5_like"}).run()
    before = [c.value for c in at.caption if c.value.startswith("Looking at")]
    at.selectbox(key="logits:arch").set_value("conv2_5x5").run()
    assert_clean(at)
    after = [c.value for c in at.caption if c.value.startswith("Looking at")]
    assert "lenet5_like" in before[0] and "conv2_5x5" in after[0]


# -------------------------------------------------------------------------- filters
def test_filters_page_draws_kernels_and_maps_and_follows_layer_and_image(small_run):
    at = page("filters.py", **{state.RUN: small_run}).run()
    assert_clean(at)
    titles = titles_list(at)
    assert any(t.startswith("conv1: 6 kernels of 5×5") for t in titles)
    assert any(t.startswith("conv2, filter 0: its 5×5 weights | on each of its 6 input maps") for t in titles)
    assert any(t.startswith("conv1: 6 of 6 feature maps | 28×28, pre-activation") for t in titles)
    assert any(t.startswith("Input | test image #0") for t in titles)

    at.selectbox(key="filters:map_layer").set_value("conv2").run()
    assert any(t.startswith("conv2: 16 of 16 feature maps | 10×10, pre-activation") for t in titles_list(at))
    at.radio(key="filters:map_mode").set_value("after the relu").run()
    assert any("after relu" in t for t in titles_list(at))
    at.number_input(key="filters:test_index").set_value(5).run()
    assert any(t.startswith("Input | test image #5") for t in titles_list(at))
    at.number_input(key="filters:deep_filter").set_value(3).run()
    assert any(t.startswith("conv2, filter 3:") for t in titles_list(at))
    assert_clean(at)


def test_filters_page_train_button_changes_the_kernels(training_run):
    at = page("filters.py", **{state.RUN: training_run}).run()
    assert_clean(at)
    before = np.array(figure_titled(at, "conv1: 6 kernels")["data"][0]["z"])
    at.button(key="filters:train").click().run()
    assert_clean(at)
    first = figure_titled(at, "conv1: 6 kernels")
    assert f"after {training_run.step_count} training steps" in full_title(first)
    after = np.array(first["data"][0]["z"])
    assert not np.allclose(before, after)


def test_filters_page_accepts_an_uploaded_digit_and_refuses_other_files(small_run):
    at = page("filters.py", **{state.RUN: small_run}).run()
    if "draw a digit" in at.radio(key="filters:source").options:  # only with streamlit-drawable-canvas installed
        at.radio(key="filters:source").set_value("draw a digit").run()
        assert_clean(at)
        assert any("canvas is empty" in info.value for info in at.info)
    at.radio(key="filters:source").set_value("upload a picture").run()
    assert_clean(at)
    digit = 255 - np.kron(small_run.dataset.x_test[3, :, :, 0], np.ones((3, 3), np.uint8))
    png = tf.io.encode_png(digit[..., None]).numpy()
    at.file_uploader(key="filters:upload").upload("three.png", png, "image/png").run()
    assert_clean(at)
    assert any(t.startswith("Input | your picture three.png") for t in titles_list(at))
    at.file_uploader(key="filters:upload").upload("notes.png", b"this is not a picture", "image/png").run()
    assert_clean(at)
    assert any("not an image" in e.value for e in at.error)


def test_filters_page_explains_a_network_without_conv_layers():
    mlp = Run(RunConfig(arch="softmax_regression", batch_size=32))
    at = page("filters.py", **{state.RUN: mlp}).run()
    assert_clean(at)
    assert any("no convolution layers" in info.value for info in at.info)
    assert not at.get("plotly_chart")


# ------------------------------------------------------- taking a run over (issue 12)
APP = PAGES.parent / "app.py"


def sidebar_settings(at: AppTest) -> dict:
    names = ("arch", "init", "optimizer", "lr", "dataset", "batch_size", "seed", "input_shape")
    return {name: at.session_state[f"activations:{name}"] for name in names}


def train_on_activations(at: AppTest, steps: int) -> None:
    """Press Train on the Activations page and let the live fragment tick until it stops."""
    at.session_state["activations:train_steps"] = steps
    at.button(key="activations:train").click().run()
    for _ in range(8):
        if not at.session_state["cnnviz:training"]:
            break
        at.run()


def test_a_run_taken_over_from_logits_keeps_training_on_the_activations_page():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page("views/logits.py").run()
    at.selectbox(key="logits:arch").set_value("lenet5_like").run()
    at.button(key="logits:train").click().run()
    local = at.session_state[state.INSPECT_RUN]
    assert local.step_count == 20
    at.button(key="logits:adopt").click().run()
    assert_clean(at)
    at.switch_page("views/activations.py").run()
    assert_clean(at)
    assert at.session_state[state.RUN] is local
    # The sidebar shows the adopted run, field by field, so nothing is "changed" and nothing rebuilt.
    assert sidebar_settings(at) == {"arch": "lenet5_like", "init": "he-normal", "optimizer": "adam", "lr": 0.001,
                                    "dataset": "mnist-sample", "batch_size": 50, "seed": 0, "input_shape": ""}
    assert not [w.value for w in at.warning if "Settings changed" in w.value]
    assert next(m.value for m in at.metric if m.label == "Training step") == "20"
    train_on_activations(at, 2)
    assert_clean(at)
    assert at.session_state[state.RUN] is local and local.step_count == 22  # continued, not thrown away
    assert next(m.value for m in at.metric if m.label == "Training step") == "22"


def test_a_run_taken_over_from_filters_is_stepped_not_rebuilt():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page("views/filters.py").run()
    at.selectbox(key="filters:arch").set_value("lenet5_like").run()
    at.number_input(key="filters:seed").set_value(3).run()
    at.button(key="filters:adopt").click().run()
    local = at.session_state[state.RUN]
    at.switch_page("views/activations.py").run()
    assert_clean(at)
    assert at.session_state["activations:seed"] == 3 and at.session_state["activations:arch"] == "lenet5_like"
    at.button(key="activations:step").click().run()
    assert_clean(at)
    assert at.session_state[state.RUN] is local and local.step_count == 1


def test_fields_without_a_sidebar_control_stay_with_the_taken_over_run():
    """A run whose optimizer has a momentum of 0.5 (no sidebar control): the next step keeps it."""
    config = RunConfig(arch="softmax_regression", optimizer="momentum", lr=0.01, momentum=0.5, batch_size=16)
    run = Run(config)
    at = page("activations.py", **{state.RUN: run, "activations:arch": "softmax_regression",
                                   "activations:optimizer": "momentum", "activations:lr": 0.01,
                                   "activations:batch_size": 16,
                                   "activations:extras": {"arch": "softmax_regression", "optimizer": "momentum",
                                                          "fields": {"momentum": 0.5}}}).run()
    assert_clean(at)
    assert not [w.value for w in at.warning if "Settings changed" in w.value]
    assert any("momentum 0.5" in c.value for c in at.sidebar.caption)
    at.button(key="activations:step").click().run()
    assert at.session_state[state.RUN] is run and run.step_count == 1
    at.selectbox(key="activations:optimizer").set_value("sgd").run()  # another optimizer: its own defaults
    changes = " ".join(w.value for w in at.warning if "Settings changed" in w.value)
    assert "optimizer: momentum → sgd" in changes and "momentum: 0.5 → default" in changes
