"""The optimizer playground in a real browser, at a projector's 1280 x 720 with 150% zoom.

Starts ``streamlit run dashboard/app.py`` on a free port and opens /playground in Debian's
Chromium (a 853 x 480 CSS-pixel viewport drawn at 1.5 device pixels per CSS pixel is what
150% zoom on a 1280 x 720 screen gives; the viewport is taller here so whole charts can be
measured, which changes no width). Checks that pressing play keeps the map under the
paths, and that in every chart no title, legend, control or label covers another or is
cut off. Screenshots land in ``artifacts/`` for a person to look at. Skipped only when no
Chromium is installed.
"""

from __future__ import annotations

import time

import pytest
from dashboard_server import ARTIFACTS, launched_chromium, needs_chromium, served_dashboard

CHART = '[data-testid="stMain"] .js-plotly-plot'
IDLE = "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
PAGE_MS = 240_000

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server():
    """The dashboard served on a free port; always stopped afterwards."""
    with served_dashboard("playground_server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with launched_chromium() as browser:
        context = browser.new_context(viewport={"width": 853, "height": 1400}, device_scale_factor=1.5)
        page = context.new_page()
        page.goto(f"{server}/playground")
        page.wait_for_selector(CHART, state="visible", timeout=PAGE_MS)
        page.wait_for_function(f"() => {IDLE}", timeout=PAGE_MS)
        time.sleep(1.0)
        yield page


def visible_chart(page):
    charts = page.locator(CHART)
    for index in range(charts.count()):
        if charts.nth(index).is_visible():
            return charts.nth(index)
    raise AssertionError("no visible chart")


def boxes(chart, selector: str) -> list[dict]:
    return [box for box in (element.bounding_box() for element in chart.locator(selector).all()) if box]


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def inside(box: dict, outer: dict) -> bool:
    return (box["x"] >= outer["x"] - 1 and box["y"] >= outer["y"] - 1
            and box["x"] + box["width"] <= outer["x"] + outer["width"] + 1
            and box["y"] + box["height"] <= outer["y"] + outer["height"] + 1)


def assert_readable(chart, name: str) -> None:
    """Title, axis titles, legend, buttons, slider and annotations: none covers another, none is cut off."""
    frame = chart.locator(".main-svg").first.bounding_box()
    parts = {"title": boxes(chart, ".g-gtitle"), "x title": boxes(chart, ".g-xtitle"),
             "y title": boxes(chart, ".g-ytitle"), "legend": boxes(chart, ".legend"),
             "buttons": boxes(chart, ".updatemenu-container"), "slider": boxes(chart, ".slider-container"),
             "labels": boxes(chart, ".annotation")}
    flat = [(kind, box) for kind, found in parts.items() for box in found]
    assert parts["title"] and parts["x title"], f"{name}: no title or x-axis title drawn"
    for kind, box in flat:
        assert inside(box, frame), f"{name}: the {kind} is cut off ({box} outside {frame})"
    for i, (kind_a, a) in enumerate(flat):
        for kind_b, b in flat[i + 1:]:
            assert not overlap(a, b), f"{name}: the {kind_a} overlaps the {kind_b}"


def test_paths_map_and_loss_curves_are_readable_on_a_projector(page):
    page.get_by_role("tab", name="Paths").click()
    time.sleep(0.5)
    chart = visible_chart(page)
    chart.scroll_into_view_if_needed()
    assert_readable(chart, "paths map")
    chart.screenshot(path=str(ARTIFACTS / "playground_projector_paths.png"))
    page.get_by_role("tab", name="Loss per step").click()
    time.sleep(1.0)
    chart = visible_chart(page)
    assert_readable(chart, "loss per step")


def test_play_keeps_the_map_under_the_paths(page):
    page.get_by_role("tab", name="Animation").click()
    time.sleep(1.0)
    chart = visible_chart(page)
    chart.scroll_into_view_if_needed()
    assert_readable(chart, "animation")
    background = chart.locator("svg image")
    assert background.count() == 1
    step_label = chart.locator(".slider-group > text.slider-label")  # the "step N" read-out
    before = step_label.text_content()
    chart.get_by_text("▶ play").click()
    missing = 0
    for _ in range(25):  # 2.5 s of playing, sampled every 0.1 s
        time.sleep(0.1)
        missing += background.count() != 1
    assert missing == 0, f"the map was gone in {missing} of 25 samples while playing"
    assert step_label.text_content() != before  # it really played
    chart.screenshot(path=str(ARTIFACTS / "playground_projector_animation.png"))
    assert_readable(chart, "animation while playing")


def test_basin_map_is_readable_on_a_projector(page):
    page.get_by_text("Draw the basin map").click()
    time.sleep(1.0)
    page.wait_for_function(f"() => {IDLE}", timeout=PAGE_MS)
    time.sleep(1.0)
    chart = page.locator(CHART).last
    chart.scroll_into_view_if_needed()
    time.sleep(0.5)
    assert chart.locator(".heatmaplayer image, .hm image").count() >= 1 or chart.locator(".heatmaplayer").count()
    assert_readable(chart, "basin map")
    chart.screenshot(path=str(ARTIFACTS / "playground_projector_basins.png"))
