"""Every lesson shows what its text claims, measured on the real runs its page builds.

Each lesson in cnnviz.lessons carries its claims (cnnviz.lessons.claims): the numbers its
summary states, the findings the page lists as the lesson opens and after one press of
Train, and every finding's suggestion, followed. A new lesson is covered automatically,
and the structural tests below refuse one without claims for the moments it talks about.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnviz.lessons import LESSONS
from cnnviz.lessons.claims import contradictions, follow, verify
from cnnviz.lessons.evidence import PAGE_DEFAULTS, Evidence, lesson_configs, run_for, suggested_learning_rate
from cnnviz.nets.params import FIELDS as PLAIN_FIELDS
from cnnviz.nets.params import is_plain

# Outcomes that fail because a diagnosis rule (cnnviz/diagnosis/, not the lessons) gives advice
# that does not fit the case. Each must fail exactly as described: once the rule is fixed the
# outcome holds and the test asks for the entry to go. (lesson, text of the failing line): why.
KNOWN_ISSUES: dict[tuple[str, str], str] = {
    # (lesson key, text of a failing outcome) -> why the tool still says it. Empty: every lesson holds.
}


def _known(key: str, line: str) -> bool:
    return any(k == key and text in line for k, text in KNOWN_ISSUES)


@pytest.mark.parametrize("key", list(LESSONS))
def test_lesson_shows_what_its_text_claims(key):
    lesson = LESSONS[key]
    evidence = Evidence(lesson.page, lesson.settings)
    claims = lesson.claims(lesson.steps)
    outcomes = verify(claims, evidence)
    lines = [str(o) for o in outcomes]
    failed = [line for o, line in zip(outcomes, lines) if not o.holds and not _known(key, line)]
    assert not failed, "\n".join(["the lesson's text no longer matches the tool:", *failed])
    fixed = [text for k, text in KNOWN_ISSUES if k == key
             and not any(text in line for o, line in zip(outcomes, lines) if not o.holds)]
    assert not fixed, f"known issues of {key} no longer occur — remove them from KNOWN_ISSUES: {fixed}"
    # Every finding listed at a moment the lesson talks about has its suggestion followed by a claim
    # (one that says what the suggestion says, or one of the known issues above).
    known_failing = {id(o.claim) for o, line in zip(outcomes, lines) if not o.holds and _known(key, line)}
    follows = [c for c in claims if c.kind == "follow"]
    for claim in (c for c in claims if c.kind == "findings"):
        for finding in evidence.at(claim.step, claim.label).findings:
            covered = any(f.step == claim.step and f.label == claim.label and f.finding == finding.kind
                          and (next(iter(f.expects)).lower() in finding.suggestion.lower() or id(f) in known_failing)
                          for f in follows)
            assert covered, f"{key}: no claim follows {finding.kind}'s suggestion {finding.suggestion!r} " \
                            f"({claim.label} at step {claim.step})"


@pytest.mark.parametrize("key", list(LESSONS))
def test_every_lesson_declares_claims_for_the_moments_it_talks_about(key):
    lesson = LESSONS[key]
    claims = lesson.claims(lesson.steps)
    assert claims, f"{key} has no claims"
    if lesson.page not in ("activations", "compare"):
        return
    labels = list(lesson_configs(lesson.page, lesson.settings))
    moments = {(c.step, c.label) for c in claims}
    assert {c.label for c in claims} <= set(labels)
    for step in (0, lesson.steps):  # as the lesson opens, and after one press of the train button
        for label in labels:
            assert (step, label) in moments, f"{key}: nothing is claimed about {label} at step {step}"
    listed = {(c.step, c.label) for c in claims if c.kind == "findings"}
    for step in (0, lesson.steps):  # what the page lists there is part of what the lesson shows
        for label in labels:
            assert (step, label) in listed, f"{key}: no findings claim for {label} at step {step}"
    assert all(c.step <= lesson.steps for c in claims), f"{key}: a claim looks beyond one press of Train"
    button = "Train all" if lesson.page == "compare" else "Train"
    assert f"{button} {lesson.steps}" in lesson.summary, f"{key}: the text should say '{button} {lesson.steps}'"


@pytest.mark.parametrize("key", [k for k, lesson in LESSONS.items() if lesson.page in ("activations", "compare")])
def test_lesson_settings_build_what_the_page_builds(key):
    """The page (dashboard.widgets) turns the lesson's settings into the same RunConfigs as the evidence."""
    from dashboard import widgets

    lesson = LESSONS[key]
    assert {name: widgets.DEFAULTS[name] for name in PAGE_DEFAULTS} == PAGE_DEFAULTS
    settings = {**widgets.DEFAULTS, **lesson.settings}
    for label, config in lesson_configs(lesson.page, lesson.settings).items():
        extra = {"init": label} if lesson.page == "compare" else {}
        assert widgets.config_from_settings(settings, **extra) == config
    assert config.probe_every == 1  # the evidence probes every step, as the pages do by default
    if is_plain(lesson.settings["arch"]):  # every plain control is set: nothing leaks in from the page's last state
        assert set(PLAIN_FIELDS) <= set(lesson.settings)


def test_suggested_learning_rates_are_read_from_the_words():
    assert suggested_learning_rate("lower the learning rate to about 0.0005, or clip gradients") == 5e-4
    assert suggested_learning_rate("lower the learning rate about 1,000x, to roughly 1e+03") == 1e3
    assert suggested_learning_rate("lower the learning rate (1e+08 now; sgd usually works near 0.01)") == 0.01
    assert suggested_learning_rate("use he-normal") is None


def test_dead_relus_of_a_zero_initialized_net_are_blamed_on_the_weights_not_the_learning_rate():
    """Issue 11.9: the dead-ReLU finding of a zeros init used to suggest lowering the learning rate."""
    evidence = Evidence("activations", {"init": "zeros", "train_steps": 3})
    at = evidence.at(3)
    dead = at.finding("dead_relu")
    assert dead is not None and "zero" in dead.suggestion and "learning rate" not in dead.suggestion
    outcome = follow("dead_relu", 3, "he-normal", init="he-normal").check(evidence)
    assert outcome[0], outcome[1]
    assert not contradictions(at)


def test_findings_after_a_huge_learning_rate_read_consistently():
    evidence = Evidence("activations", {"init": "he-normal", "optimizer": "sgd", "lr": 1e6, "train_steps": 5})
    at = evidence.at(5)
    rates = sorted(r for r in (suggested_learning_rate(f.suggestion) for f in at.findings
                               if f.suggestion.startswith("lower")) if r is not None)
    assert not contradictions(at)
    assert rates and rates[-1] / rates[0] < 100, f"suggested learning rates disagree: {rates}"


def test_how_sure_chart_counts_every_image_of_a_saturated_softmax():
    """Issue 11.9: the top-probability histogram was empty for N(0,1) — every top probability is exactly 1."""
    from cnnviz.figures.logits import finite_rows, max_probability_figure, softmax_probabilities

    lesson = LESSONS["normal-explodes"]
    run = run_for(lesson_configs(lesson.page, lesson.settings)["run"])
    result = run.evaluate("test", limit=200)
    probabilities = softmax_probabilities(result["logits"][finite_rows(result["logits"])])
    assert (probabilities.max(axis=1) == 1.0).mean() > 0.9  # the saturated case the caption describes
    figure = max_probability_figure({"step 0 (init)": probabilities}, 10)
    bars = figure.data[0]
    assert sum(bars.y) == len(probabilities)
    low, high = figure.layout.xaxis.range
    right_edges = np.asarray(bars.x) + bars.width / 2
    assert all(low <= x - bars.width / 2 and edge <= high for x, edge in zip(bars.x, right_edges))
    assert bars.y[-1] >= 0.9 * len(probabilities)  # piled up in the last bar, inside the axis


def test_lesson_texts_name_numbers_that_their_claims_check():
    """A digit-bearing phrase like '~10,000x' in a summary should appear among the claims' words."""
    for key, lesson in LESSONS.items():
        says = " ".join(c.says for c in lesson.claims(lesson.steps))
        for number in re.findall(r"~[\d.,]+x|\d+%", lesson.summary):
            assert number in says, f"{key}: '{number}' in the text is not checked by a claim"


def test_saturation_message_states_the_true_slope():
    from cnnviz.diagnosis.activations import SATURATION_Z
    from cnnviz.nets.backward import SLOPES

    for activation, limit in SATURATION_Z.items():
        share = float(SLOPES[activation](np.array([limit]))[0]) / float(SLOPES[activation](np.array([0.0]))[0])
        assert 0.07 < share < 0.072  # 7.07% for both
    lesson = LESSONS["sigmoid-saturates"]
    message = Evidence(lesson.page, lesson.settings).at(0).finding("sigmoid_saturation").message
    assert "under 7%" in message, message


def test_scale_suggestion_quotes_the_scale_of_the_initializer_it_names():
    lesson = LESSONS["tanh-500"]
    finding = Evidence(lesson.page, lesson.settings).at(lesson.steps, "normal").finding("exploding_activations")
    assert "glorot-normal" in finding.suggestion
    fan_in = fan_out = 500
    glorot_std = (2 / (fan_in + fan_out)) ** 0.5
    assert f"{glorot_std:.3g}" in finding.suggestion, finding.suggestion
