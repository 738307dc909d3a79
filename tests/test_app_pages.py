"""AppTest of the Lessons, Activations and Compare initializers pages.

Real runs of the 4-layer convnet on the embedded MNIST sample, with small batches
(set through the same session keys the sidebar widgets use) so the file stays quick.
The Activations tests share one page session and run in order, like a teacher would:
open, Step, Train, toggle, change the initializer, Reset, make mistakes.
"""

from __future__ import annotations

import math
import os

import pytest
from apptest_pages import charts, page
from streamlit.testing.v1 import AppTest

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
BATCH = 16


def chart(at: AppTest, starts_with: str) -> dict:
    matches = [fig for title, fig in charts(at).items() if title.startswith(starts_with)]
    assert matches, f"no chart titled {starts_with!r}; have {list(charts(at))}"
    return matches[0]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def messages(elements) -> list[str]:
    return [element.value for element in elements]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception


# -------------------------------------------------------------------- lessons
def test_lesson_sets_every_control_and_opens_its_page():
    at = page("app.py").run()
    assert_clean(at)
    assert at.title[0].value.startswith("cnnviz")
    lesson_buttons = [b for b in at.button if b.key and b.key.startswith("lesson:")]
    from cnnviz.lessons import LESSONS

    assert len(lesson_buttons) == len(LESSONS)
    at.button(key="lesson:small-vanishes").click().run()
    assert_clean(at)
    assert at.title[0].value == "Activations (live training)"
    assert at.session_state["activations:init"] == "normal-0.01"
    assert at.session_state["activations:arch"] == "ltfn_convnet"
    # The lesson's network was built right away: its findings say the signal vanished.
    said = " ".join(messages(at.error) + messages(at.warning))
    assert "uniform" in said and "smaller" in said
    assert "Pre-activation histograms per layer — step 0" in charts(at)


# -------------------------------------------------------------------- activations
@pytest.fixture(scope="module")
def activations():
    """One Activations page session (ltfn_convnet, He, Adam, batch 16), shared in order."""
    at = page("views/activations.py", **{"activations:batch_size": BATCH}).run()
    assert_clean(at)
    return at


def test_activations_opens_with_every_chart_at_step_0(activations):
    at = activations
    titles = list(charts(at))
    for expected in ("Pre-activation histograms per layer — step 0", "Pre-activation spread per layer",
                     "Training loss and accuracy", "conv4: histogram at every probed step",
                     "Gradients and update sizes per layer"):
        assert any(title.startswith(expected) for title in titles), (expected, titles)
    assert metric(at, "Training step") == "0"
    # every chart says what to look for
    said = " ".join(caption.value for caption in at.caption)
    for advice in ("widths that grow or shrink", "the variance rule", "dashed chance line", "vanishing gradients",
                   "learning rate is too big", "A widening band is growing activations"):
        assert advice in said, advice
    std = chart(at, "Pre-activation spread per layer")
    assert std["layout"]["yaxis"]["type"] == "log"
    assert any(trace["name"].startswith("theory") for trace in std["data"])  # the variance rule overlaid


def test_step_advances_the_run_and_redraws(activations):
    at = activations
    before = chart(at, "Gradients and update sizes per layer")
    at.button(key="activations:step").click().run()
    assert_clean(at)
    assert metric(at, "Training step") == "1"
    assert "Pre-activation histograms per layer — step 1" in charts(at)
    after = chart(at, "Gradients and update sizes per layer")
    def update_points(figure):
        return sum(len(trace.get("y") or []) for trace in figure["data"] if trace.get("xaxis") == "x2")

    # At step 0 the gradient is measured (the one step 1 applies) but no update exists yet.
    assert before["data"] and update_points(before) == 0
    # After step 1: one update/weight ratio per probed layer (conv1..conv4, logits), at step 1.
    assert update_points(after) == 5


def test_the_page_says_which_network_and_which_batch_it_shows(activations):
    at = activations  # after one Step
    run = at.session_state["cnnviz:run"]
    said = " ".join(m.value for m in at.markdown).replace("**", "")
    assert ("Step 1: the network after 1 update, measured on training batch 2 (16 images, batch 2 of epoch 1), "
            "the batch step 2 learns from") in said
    assert "training mode" not in said  # ltfn_convnet has no dropout or BatchNorm: the mode changes nothing
    # The loss shown is that network's loss on that batch, and is labelled so.
    assert metric(at, "Loss on batch 2") == f"{run.latest.loss:.4g}"
    assert run.latest.step == 1 and run.latest.batch == 2


@pytest.mark.parametrize("config, words", [
    ({"arch": "conv3_dropout"}, "in training mode (dropout on)"),
    ({"arch": "plain_mlp", "depth": 2, "width": 16, "norm": "batch"},
     "in training mode (BatchNorm on batch statistics)"),
])
def test_networks_that_train_differently_say_which_mode_was_measured(config, words):
    from cnnviz.config import RunConfig
    from cnnviz.training import Run

    run = Run(RunConfig(batch_size=BATCH, **config))
    at = page("views/activations.py", **{"cnnviz:run": run, "activations:arch": config["arch"],
                                         "activations:batch_size": BATCH}).run()
    assert_clean(at)
    said = " ".join(m.value for m in at.markdown).replace("**", "")
    assert "Step 0: the network at initialization (no updates yet), measured on training batch 1" in said
    assert words in said


@pytest.mark.parametrize("view, dataset", [("views/activations.py", "mnist"), ("views/compare_inits.py", "cifar10")])
def test_a_dataset_that_is_not_on_the_server_is_explained_in_the_pages_words(view, dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    prefix = "activations" if "activations" in view else "compare"
    at = page(view, **{f"{prefix}:dataset": dataset, f"{prefix}:batch_size": BATCH}).run()
    assert_clean(at)
    said = " ".join(messages(at.error))
    assert f"'{dataset}' is not stored on this server" in said
    assert 'pick "mnist-sample" in the Dataset box' in said
    assert "--dataset" not in said and "CNNVIZ_OFFLINE" not in said  # no command-line words on a web page


def test_train_keeps_stepping_on_each_tick(activations):
    at = activations
    at.session_state["activations:train_steps"] = 3
    at.button(key="activations:train").click().run()
    assert_clean(at)
    # How many steps fit in the first tick depends on the machine's speed: keep ticking
    # (each script run is one tick of the live fragment) until it stops by itself.
    for _ in range(6):
        if not at.session_state["cnnviz:training"]:
            break
        at.run()
    assert_clean(at)
    assert at.session_state["cnnviz:training"] is False  # stopped by itself at the target
    assert metric(at, "Training step") == "4"
    loss = chart(at, "Training loss and accuracy")
    assert len(loss["data"][0]["x"]) == 5  # steps 0..4 probed


def test_display_toggles_do_not_reset_the_run(activations):
    at = activations
    run = at.session_state["cnnviz:run"]
    at.toggle(key="activations:post_activation").set_value(True).run()
    at.toggle(key="activations:log_counts").set_value(True).run()
    assert_clean(at)
    assert at.session_state["cnnviz:run"] is run and run.step_count == 4
    grid = chart(at, "Post-activation")
    assert grid["layout"]["yaxis"]["type"] == "log"
    at.toggle(key="activations:post_activation").set_value(False).run()
    at.toggle(key="activations:log_counts").set_value(False).run()


def test_changing_the_initializer_waits_for_reset_then_changes_findings(activations):
    at = activations
    run = at.session_state["cnnviz:run"]
    healthy_std = chart(at, "Pre-activation spread per layer")["data"][0]["y"]
    at.selectbox(key="activations:init").set_value("normal-0.01").run()
    assert_clean(at)
    assert at.session_state["cnnviz:run"] is run  # nothing discarded yet …
    assert any("Settings changed" in w and "normal-0.01" in w for w in messages(at.warning))
    at.button(key="activations:reset").click().run()  # … until Reset
    assert_clean(at)
    new_run = at.session_state["cnnviz:run"]
    assert new_run is not run and new_run.config.init == "normal-0.01" and new_run.step_count == 0
    said = " ".join(messages(at.error) + messages(at.warning))
    assert "vanish" in said or "smaller" in said
    assert "uniform" in said
    tiny_std = chart(at, "Pre-activation spread per layer")["data"][0]["y"]
    assert tiny_std[-1] < healthy_std[-1] / 100


def test_bad_settings_show_an_error_and_keep_the_run(activations):
    at = activations
    run = at.session_state["cnnviz:run"]
    at.number_input(key="activations:lr").set_value(-1.0).run()
    assert_clean(at)
    assert any("Learning rate must be a positive" in e for e in messages(at.error))
    at.number_input(key="activations:lr").set_value(0.001).run()
    at.selectbox(key="activations:arch").set_value("alexnet").run()
    at.text_input(key="activations:input_shape").input("28,28,1").run()
    at.button(key="activations:reset").click().run()
    assert_clean(at)
    assert any("28" in e and ("small" in e or "O = " in e) for e in messages(at.error))
    assert at.session_state["cnnviz:run"] is run  # the old run is still on screen
    assert charts(at)
    at.selectbox(key="activations:arch").set_value("ltfn_convnet").run()
    at.text_input(key="activations:input_shape").input("").run()


def test_a_learning_rate_of_a_million_halts_with_a_message(activations):
    at = activations
    at.selectbox(key="activations:init").set_value("he-normal").run()
    at.selectbox(key="activations:optimizer").set_value("sgd").run()
    at.number_input(key="activations:lr").set_value(1e6).run()
    at.session_state["activations:train_steps"] = 5
    at.button(key="activations:train").click().run()
    for _ in range(6):
        if not at.session_state["cnnviz:training"]:
            break
        at.run()
    assert_clean(at)
    run = at.session_state["cnnviz:run"]
    assert run.config.lr == 1e6 and run.halted is not None
    assert any("Training stopped" in e and "step" in e for e in messages(at.error))
    assert charts(at)  # the charts of the halted run still draw (nothing non-finite in them)


# -------------------------------------------------------------------- compare
def test_compare_page_shows_four_initializers_side_by_side():
    at = page("views/compare_inits.py", **{"compare:batch_size": BATCH}).run()
    assert_clean(at)
    std = chart(at, "Pre-activation spread per layer")
    assert std["layout"]["title"]["subtitle"]["text"] == "one line per initializer"
    lines = {trace["name"]: trace["y"] for trace in std["data"]}
    assert set(lines) == {"normal", "normal-0.01", "glorot-uniform", "he-normal"}
    assert lines["normal"][-1] > 1e4 * lines["he-normal"][-1]  # exploding by the logits
    assert lines["normal-0.01"][-1] < 1e-3 * lines["he-normal"][-1]  # vanishing
    grid = chart(at, "Pre-activation histograms per initializer")
    assert len(grid["data"]) == 4 * 5  # 4 initializers × 5 layers
    assert "matches" not in grid["layout"]["xaxis2"]  # each panel on its own x range …
    at.toggle(key="compare:shared_x").set_value(True).run()  # … or one range per layer, across initializers
    shared = chart(at, "Pre-activation histograms per initializer")
    assert [shared["layout"][f"xaxis{k}"]["matches"] for k in (2, 3, 4)] == ["x", "x", "x"]
    assert any("Same x range across initializers" in c.value or "shares one x range" in c.value for c in at.caption)
    at.toggle(key="compare:shared_x").set_value(False).run()
    table = at.dataframe[0].value.set_index("initializer")
    assert table.loc["normal-0.01", "loss"] == pytest.approx(math.log(10), abs=1e-3)
    assert table.loc["normal", "max softmax prob (mean)"] > 0.99

    # Train two of them a few steps with the same optimizer: their loss curves share a chart.
    at.multiselect(key="compare:inits").set_value(["normal", "he-normal"]).run()
    assert any("Settings changed" in w for w in messages(at.warning))
    at.session_state["compare:steps"] = 2
    at.button(key="compare:train").click().run()
    assert_clean(at)
    loss = chart(at, "Training loss per run")
    assert [trace["name"] for trace in loss["data"]] == ["normal", "he-normal"]
    assert all(len(trace["x"]) == 3 for trace in loss["data"])  # steps 0, 1, 2

    at.multiselect(key="compare:inits").set_value(["he-normal"]).run()
    assert_clean(at)
    assert any("at least two" in e for e in messages(at.error))
    assert chart(at, "Training loss per run")  # the previous comparison stays


def test_every_playground_hyperparameter_reaches_the_network_it_trains():
    handoff = {"optimizer": "momentum", "lr": 0.01, "momentum": 0.99, "beta1": None, "beta2": None, "rho": None,
               "epsilon": None}
    at = page("views/activations.py", **{"playground_to_training": handoff, "activations:batch_size": BATCH}).run()
    assert_clean(at)
    run = at.session_state["cnnviz:run"]
    assert (run.config.optimizer, run.config.lr, run.config.momentum) == ("momentum", 0.01, 0.99)
    assert run.config.optimizer_spec().momentum == 0.99  # the Keras optimizer is built with it
    notes = " ".join(messages(at.info))
    assert "momentum = 0.99" in notes and "not yet used" not in notes
    at.button(key="activations:step").click().run()  # and the next step keeps it: nothing is rebuilt
    assert at.session_state["cnnviz:run"] is run and run.step_count == 1
