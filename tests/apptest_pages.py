"""Opening dashboard pages in Streamlit's AppTest, and reading their charts back, for the page tests."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"


def page(path: str, timeout: float = 120, **session) -> AppTest:
    """The page ``dashboard/<path>`` with ``session`` already in its session state (not yet run)."""
    at = AppTest.from_file(str(DASHBOARD / path), default_timeout=timeout)
    for key, value in session.items():
        at.session_state[key] = value
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by title (first line of the title)."""
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {fig["layout"]["title"]["text"].split("<br>")[0]: fig for fig in figures}
