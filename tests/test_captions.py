"""Each figure's "what to look for" caption lives beside its figure function (cnnviz.figures) and
is the same text on the dashboard page and in the HTML report."""

from __future__ import annotations

import html
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cnnviz.config import RunConfig
from cnnviz.figures.activations import std_per_layer_caption
from cnnviz.figures.training_curves import GRADIENT_CAPTION
from cnnviz.report import build_report
from cnnviz.training.run import run_at_init

ACTIVATIONS = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "activations.py"


def test_the_report_and_the_activations_page_caption_the_spread_chart_alike():
    run = run_at_init(RunConfig(arch="ltfn_convnet", init="he-normal", batch_size=16, seed=0))
    spread = std_per_layer_caption("step 0")
    assert "variance rule" in spread and "step 0" in spread

    report = build_report(run)
    captions = [html.unescape(c) for c in report.split('<p class="caption">')[1:]]
    captions = [c.split("</p>", 1)[0] for c in captions]
    assert spread in captions and GRADIENT_CAPTION in captions

    at = AppTest.from_file(str(ACTIVATIONS), default_timeout=120)
    at.session_state["cnnviz:run"] = run
    at.session_state["activations:batch_size"] = 16
    at.run()
    assert not at.exception, at.exception
    shown = [caption.value for caption in at.caption]
    assert spread in shown and GRADIENT_CAPTION in shown
    # The same chart on the page: the spread per layer with the variance rule at step 0.
    assert any("Pre-activation spread per layer" in chart.proto.spec for chart in at.get("plotly_chart"))
