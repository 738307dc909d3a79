"""The HTML report: one offline file with config, findings, histograms, theory and loss; never NaN."""

import copy
import json
import math
import re

import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.config import RunConfig
from cnnviz.report import build_report, report_figures
from cnnviz.training import Run

PLOT_CALL = re.compile(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{', re.S)


@pytest.fixture(scope="module")
def normal_run():
    run = Run(RunConfig(arch="ltfn_convnet", init="normal", optimizer="adam", batch_size=16, seed=0))
    run.train(3)
    return run


@pytest.fixture(scope="module")
def report(normal_run):
    return build_report(normal_run)


def figure_data(html):
    return [json.loads(data) for data, _ in PLOT_CALL.findall(html)]


def nonfinite_numbers(value, where="figure") -> list[str]:
    """Where in a figure dict a NaN/±inf sits (plotly's HTML would silently write it as null)."""
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in nonfinite_numbers(item, f"{where}.{key}")]
    if isinstance(value, (list, tuple)):
        return [hit for index, item in enumerate(value) for hit in nonfinite_numbers(item, f"{where}[{index}]")]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return [f"{where}[{i}]" for i in np.flatnonzero(~np.isfinite(value.ravel()))]
        return nonfinite_numbers(value.tolist(), where) if value.dtype.kind == "O" else []
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return [where]
    return []


def figures_nonfinite(figures) -> dict[str, list[str]]:
    found = {heading: nonfinite_numbers(figure.to_dict()["data"]) for heading, figure, _ in figures}
    return {heading: hits for heading, hits in found.items() if hits}


def test_report_is_one_offline_html_file(report):
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
    assert report.count("plotly.js v") == 1  # the library inlined exactly once
    assert not re.search(r'<script[^>]+src=|<link[^>]+href="http', report)  # nothing fetched from the network


def test_report_shows_config_findings_and_every_section(report):
    for text in ("ltfn_convnet", "normal", "adam", "batch size", "exploding_activations", "saturated_softmax",
                 "Histograms: first and last probed step", "measured vs predicted", "Loss",
                 "Gradients and update sizes", "predicted std"):
        assert text in report, text


def test_report_figures_hold_first_and_last_step_histograms_and_the_loss_curve(report, normal_run):
    figures = figure_data(report)
    assert len(figures) == 4
    histogram_names = {trace["name"] for trace in figures[0]}
    assert {"step 0 · conv1", f"step {normal_run.latest.step} · conv4"} <= histogram_names
    std_traces = {trace["name"] for trace in figures[1]}
    assert any("variance rule" in name for name in std_traces)
    loss = next(trace for trace in figures[2] if trace["name"] == "loss")
    assert loss["y"] == pytest.approx(normal_run.losses)


def test_report_never_hands_nan_to_plotly(normal_run):
    figures = report_figures(normal_run)
    assert [heading for heading, _, _ in figures] == [
        "Histograms: first and last probed step", "Spread per layer: measured vs predicted", "Loss",
        "Gradients and update sizes"]
    assert figures_nonfinite(figures) == {}
    # The check itself can fail: one NaN put into a copy of a real figure is found.
    heading, figure, caption = figures[2]
    spoiled = copy.deepcopy(figure)
    spoiled.data[0].update(y=[math.nan, *list(spoiled.data[0].y)[1:]])
    assert list(figures_nonfinite([(heading, spoiled, caption)])) == ["Loss"]


def test_halted_run_report_says_where_it_stopped_without_nan():
    run = Run(RunConfig(arch="ltfn_mlp", init="he-normal", optimizer="sgd", lr=1e6, batch_size=8, seed=0))
    run.train(6)
    assert run.halted is not None
    html = build_report(run)
    assert "non_finite" in html and f"step {run.halted.step}" in html
    figures = report_figures(run)
    assert figures, "the steps before the halt are still drawn"
    assert figures_nonfinite(figures) == {}


def test_report_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "run.html"
    # Tiny weights: the signal vanishes layer by layer and the softmax is uniform.
    code = main(["report", "--arch", "ltfn_mlp", "--init", "normal-0.01", "--steps", "0", "--batch-size", "8",
                 "--test-images", "200", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0 and str(out) in stdout
    html = out.read_text(encoding="utf-8")
    assert "test accuracy (200 images)" in html and "uniform_softmax" in html and "vanishing_activations" in html


def test_zero_initialised_softmax_regression_is_not_blamed(tmp_path, capsys):
    """Zeros are a fine start for a convex softmax regression: a uniform softmax at step 0 is no finding."""
    out = tmp_path / "run.html"
    code = main(["report", "--arch", "softmax_regression", "--init", "zeros", "--steps", "0", "--batch-size", "8",
                 "--test-images", "200", "--out", str(out)])
    capsys.readouterr()
    assert code == 0 and "uniform_softmax" not in out.read_text(encoding="utf-8")


def test_report_command_refuses_a_non_html_name(tmp_path, capsys):
    code = main(["report", "--steps", "0", "--out", str(tmp_path / "run.pdf")])
    _, err = capsys.readouterr()
    assert code == 2 and ".html" in err and err.count("\n") == 1
