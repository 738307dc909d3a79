"""Lessons and settings in the URL (dashboard/links.py): one link, exactly one lesson and one set of settings."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.config import RunConfig
from cnnviz.lessons import LESSONS
from dashboard import links, widgets

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
os.environ.setdefault("CNNVIZ_WARM_UP", "0")  # no background warm-up competing with these tests
APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
BASE = "http://class.example:8501/"


def config_of(params: dict) -> RunConfig:
    request = links.parse_link(params)
    assert not request.problems, request.problems
    return widgets.config_from_settings(links.activations_settings(request))


def query(link: str) -> dict:
    return dict(parse_qsl(urlsplit(link).query))


# ------------------------------------------------------------------ parsing
def test_every_run_defining_field_can_be_given():
    config = config_of({"arch": "plain_cnn", "init": "glorot-uniform", "optimizer": "rmsprop", "lr": "0.0005",
                        "dataset": "mnist-sample", "batch_size": "32", "seed": "7", "probe_every": "5",
                        "input_shape": "28,28,1", "input_range": "-1-1", "rho": "0.8", "momentum": "0.1",
                        "epsilon": "1e-6", "depth": "4", "width": "8", "activation": "tanh", "norm": "batch",
                        "residual": "true"})
    assert config == RunConfig(arch="plain_cnn", init="glorot-uniform", optimizer="rmsprop", lr=0.0005, batch_size=32,
                               seed=7, probe_every=5, input_shape=(28, 28, 1), input_range="-1-1", rho=0.8,
                               momentum=0.1, epsilon=1e-6, depth=4, width=8, activation="tanh", norm="batch",
                               residual=True)


def test_a_lesson_link_with_an_override_changes_only_that_setting():
    config = config_of({"lesson": "sigmoid-saturates", "seed": "3"})
    lesson = LESSONS["sigmoid-saturates"].settings
    assert (config.arch, config.init, config.optimizer, config.lr, config.seed) == (
        lesson["arch"], lesson["init"], lesson["optimizer"], lesson["lr"], 3)


@pytest.mark.parametrize("config", [
    RunConfig(),
    RunConfig(arch="lenet5", init="normal", optimizer="sgd", lr=0.1, batch_size=64, seed=12, probe_every=3),
    RunConfig(arch="alexnet", input_shape=(64, 64, 1), lr=0.00123456789, optimizer="adam", beta1=0.8, beta2=0.95),
    RunConfig(arch="plain_mlp", depth=30, width=64, activation="selu", init="lecun-normal", optimizer="momentum",
              momentum=0.99, lr=1e-6),
    RunConfig(arch="plain_cnn", depth=3, width=4, norm="layer", residual=True, input_range="0-255"),
])
def test_the_link_to_a_run_opens_exactly_that_run(config):
    link = links.settings_link(config, BASE)
    assert link.startswith(BASE + "activations?")
    assert config_of(query(link)) == config


@pytest.mark.parametrize("params, says", [
    ({"lr": "abc"}, "lr must be a number, got 'abc'"),
    ({"lr": "-1"}, "lr must be above 0"),
    ({"lr": "inf"}, "lr must be a finite number"),
    ({"batch_size": "0"}, "batch_size must be at least 1"),
    ({"batch_size": "1.5"}, "batch_size must be a whole number"),
    ({"batch_size": "999999"}, "larger than the cap"),
    ({"seed": "-3"}, "seed must be at least 0"),
    ({"arch": "resnet999"}, "unknown arch 'resnet999'"),
    ({"init": "magic"}, "unknown init 'magic'"),
    ({"input_shape": "28,28"}, "input shape must be three positive whole numbers"),
    ({"residual": "maybe"}, "residual must be true or false"),
    ({"momentum": "1.5", "optimizer": "sgd"}, "momentum must be in [0, 1)"),
    ({"arch": "ltfn_convnet", "depth": "5"}, "depth only apply to plain_mlp and plain_cnn"),
    ({"lesson": "no-such-lesson"}, "unknown lesson 'no-such-lesson'"),
    ({"colour": "red"}, "unknown setting 'colour'"),
])
def test_each_bad_value_is_named(params, says):
    problems = links.parse_link(params).problems
    assert any(says in problem for problem in problems), problems


def test_streamlits_own_parameters_are_not_ours():
    assert not links.parse_link({"embed": "true", "embed_options": "dark_theme", "utm_source": "mail"}).problems


# ------------------------------------------------------------------ in the app
def open_app(params: dict, **session) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params.update(params)
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def test_a_lesson_link_opens_the_lesson_page_with_every_control_set():
    at = open_app({"lesson": "small-vanishes"})
    assert not at.exception
    assert at.title[0].value == "Activations (live training)"
    run = at.session_state["cnnviz:run"]
    assert run.config == widgets.config_from_settings({**widgets.DEFAULTS, **LESSONS["small-vanishes"].settings})
    assert at.query_params.get("lesson") in ("small-vanishes", ["small-vanishes"])  # the link stays in the address
    said = " ".join(e.value for e in [*at.error, *at.warning])
    assert "uniform" in said  # the lesson's network was built and diagnosed at once


def test_a_settings_link_builds_that_run_once_and_leaves_the_student_alone_after():
    params = {"arch": "lenet5", "init": "normal", "optimizer": "sgd", "lr": "0.1", "batch_size": "16", "seed": "3"}
    at = open_app(params)
    assert not at.exception and at.title[0].value == "Activations (live training)"
    run = at.session_state["cnnviz:run"]
    assert run.config == RunConfig(arch="lenet5", init="normal", optimizer="sgd", lr=0.1, batch_size=16, seed=3)
    at.button(key="activations:step").click().run()
    assert not at.exception
    assert at.session_state["cnnviz:run"] is run and run.step_count == 1  # the link was not applied again
    shared = [code.value for code in at.sidebar.get("code")]
    assert shared and config_of(query(shared[0])) == run.config  # the page offers the link back


def test_a_bad_link_says_what_is_wrong_and_opens_the_defaults():
    at = open_app({"arch": "lenet5", "lr": "fast", "batch_size": "0"})
    assert not at.exception and at.title[0].value == "Activations (live training)"
    message = " ".join(e.value for e in at.error)
    assert "could not be used" in message and "lr must be a number, got 'fast'" in message
    assert "batch_size must be at least 1" in message and "default settings" in message
    run = at.session_state["cnnviz:run"]
    assert run.config == widgets.config_from_settings(widgets.DEFAULTS)  # nothing half-applied: all defaults


def test_the_lessons_page_shows_a_copyable_link_per_lesson():
    at = AppTest.from_file(APP, default_timeout=240).run()
    assert not at.exception
    shown = [code.value for code in at.code]
    for lesson in LESSONS.values():
        matching = [link for link in shown if query(link).get("lesson") == lesson.key]
        assert matching and urlsplit(matching[0]).path.endswith("/" + lesson.page)


def test_two_students_with_one_link_share_one_computed_run():
    params = {"lesson": "sigmoid-saturates", "batch_size": "16"}
    first, second = open_app(params), open_app(params)
    a, b = first.session_state["cnnviz:run"], second.session_state["cnnviz:run"]
    assert a is not b and a.config == b.config
    assert a.timeline is b.timeline  # step 0 computed once for both
    first.button(key="activations:step").click().run()
    assert a.step_count == 1 and b.step_count == 0  # one student's Step moves nobody else
