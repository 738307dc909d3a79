"""End to end in a real browser: the dashboard server, Chromium, every page.

Starts ``streamlit run dashboard/app.py`` on a free port (one server for the file) and
drives Debian's Chromium through Playwright: the Activations page trains live (Step,
Train, Pause, the downloads), and every page is laid out at a desktop's 1600×1000 and at
a projector's 1280×720 with the browser at 150 % (what the Lessons page recommends),
checked for text a room could not read (tests/layout_checks.py). Screenshots land in
``artifacts/`` (git ignores it) for a person to look at. Skipped only when no Chromium
is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dashboard_server import ARTIFACTS, launched_chromium, needs_chromium, served_dashboard
from layout_checks import layout_problems

FIRST_CHART_MS = 240_000  # the page builds and probes the network before its first chart
STEP_MS = 180_000  # the first Step also traces the compiled training step

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server():
    """The dashboard served on a free port; always stopped afterwards."""
    with served_dashboard("e2e_server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def page(browser):
    # A large desktop window, as a teacher prepares the lesson.
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    yield context.new_page()
    context.close()


def metric(page, label: str) -> str:
    """The value shown by the st.metric whose label is ``label``."""
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def histogram_title(page) -> str:
    return page.locator(".js-plotly-plot .gtitle").filter(has_text="histograms per layer").first.text_content()


def wait_for_step(page, at_least: int, timeout_ms: int) -> int:
    page.wait_for_function(
        """(n) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m => {
              const value = m.querySelector('[data-testid="stMetricValue"]');
              return m.innerText.includes('Training step') && parseInt(value.innerText.replace(/,/g, '')) >= n; })""",
        arg=at_least, timeout=timeout_ms)
    return int(metric(page, "Training step").replace(",", ""))


def wait_until_idle(page, timeout_ms: int) -> None:
    """Until no script run is in flight (a tick that was mid-step when Pause came finishes first)."""
    page.wait_for_function(
        "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'",
        timeout=timeout_ms)


def settled_step(page) -> int:
    """The step count once it stops moving: a step already running when Pause came still lands."""
    seen = None
    for _ in range(20):
        wait_until_idle(page, STEP_MS)
        now = int(metric(page, "Training step").replace(",", ""))
        if now == seen:
            return now
        seen = now
        page.wait_for_timeout(3000)
    pytest.fail(f"training did not stop after Pause (still moving at step {seen})")


def wait_for_histogram_title(page, text: str, timeout_ms: int) -> None:
    page.wait_for_function(
        """(text) => [...document.querySelectorAll('.js-plotly-plot .gtitle')]
              .some(t => t.textContent.includes(text))""", arg=text, timeout=timeout_ms)


def test_activations_page_trains_live_in_a_real_browser(page, server):
    # In through the front door, as a teacher would: the Lessons page, then the navigation.
    page.goto(server)
    page.get_by_text("Lessons", exact=True).first.wait_for(timeout=FIRST_CHART_MS)
    page.get_by_role("button", name=re.compile("Open this lesson")).first.wait_for(timeout=FIRST_CHART_MS)
    page.screenshot(path=str(ARTIFACTS / "e2e_home.png"), full_page=True)
    page.get_by_role("link", name=re.compile("Activations")).first.click()
    page.wait_for_selector(".js-plotly-plot .gtitle", timeout=FIRST_CHART_MS)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=FIRST_CHART_MS)
    assert page.locator(".js-plotly-plot").count() >= 5
    assert "Pre-activation histograms per layer — step 0" in histogram_title(page)
    assert metric(page, "Training step") == "0"
    page.screenshot(path=str(ARTIFACTS / "e2e_activations_step0.png"), full_page=True)

    page.get_by_role("button", name=re.compile(r"\bStep$")).click()
    assert wait_for_step(page, 1, STEP_MS) == 1
    wait_for_histogram_title(page, "histograms per layer — step 1", STEP_MS)
    loss_after_one = metric(page, "Loss")

    page.get_by_role("button", name=re.compile(r"Train \d+")).click()
    reached = wait_for_step(page, 4, STEP_MS)  # several live ticks: the fragment redraws while training
    page.screenshot(path=str(ARTIFACTS / "e2e_activations_training.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Pause")).click()
    # Paused: the progress bar of the live loop is gone and the step count stays put.
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stProgress\"]').length === 0",
                           timeout=STEP_MS)
    final = settled_step(page)
    assert final >= reached >= 4
    wait_for_histogram_title(page, f"histograms per layer — step {final}", STEP_MS)  # the charts caught up
    assert histogram_title(page).endswith(f"step {final}")
    assert metric(page, "Loss") != loss_after_one  # a different batch, different weights: a different loss
    # The take-home buttons hand over real files: the HTML report and the history CSV.
    with page.expect_download(timeout=STEP_MS) as report:
        page.get_by_role("button", name=re.compile("HTML report")).click()
    report_html = Path(report.value.path()).read_text(encoding="utf-8")
    assert "<html" in report_html.lower() and "ltfn_convnet" in report_html
    with page.expect_download(timeout=STEP_MS) as history:
        page.get_by_role("button", name=re.compile(r"Full history \(CSV\)")).click()
    history_csv = Path(history.value.path()).read_text(encoding="utf-8").splitlines()
    assert history_csv[0].startswith("step,layer") and len(history_csv) > 5 * final  # 5 layers per probed step
    page.wait_for_timeout(1500)  # let the last redraw settle before the pictures
    page.screenshot(path=str(ARTIFACTS / "e2e_activations_paused.png"))
    # Streamlit scrolls inside its own container, so a tall window is how to photograph the whole page.
    page.set_viewport_size({"width": 1600, "height": 4200})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "e2e_activations_whole_page.png"))

    # Another initializer in the sidebar, a visit to another page, and back: the run and the
    # pending change are both still there (nothing is rebuilt until Reset).
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Initializer").first.click()
    page.get_by_role("option", name="normal", exact=True).click()
    page.get_by_text("Settings changed").first.wait_for(timeout=STEP_MS)
    page.get_by_role("link", name=re.compile("Lessons")).first.click()
    page.get_by_role("button", name=re.compile("Open this lesson")).first.wait_for(timeout=STEP_MS)
    page.get_by_role("link", name=re.compile("Activations")).first.click()
    page.get_by_text("Settings changed").first.wait_for(timeout=STEP_MS)
    assert "he-normal → normal" in page.get_by_text("Settings changed").first.inner_text()
    assert int(metric(page, "Training step").replace(",", "")) == final


# ------------------------------------------------------------------ layout at two sizes (issue 12)
SIZES = {
    "desktop": {"viewport": {"width": 1600, "height": 1000}},
    # 1280×720 pixels at 150 % zoom: the page is laid out in 853×480 CSS pixels, drawn 1.5x.
    "projector": {"viewport": {"width": 853, "height": 480}, "device_scale_factor": 1.5},
}
TALL = 5200  # CSS pixels: Streamlit scrolls inside its own container, so a tall window shows a whole page


def settle(page, charts: int, timeout_ms: int = FIRST_CHART_MS) -> None:
    """Until the script run is over and at least ``charts`` plotly charts are drawn."""
    page.wait_for_timeout(800)
    wait_until_idle(page, timeout_ms)
    page.wait_for_function("(n) => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
                           arg=charts, timeout=timeout_ms)
    page.wait_for_timeout(1200)  # plotly's resize to the final column widths


def look(page, name: str) -> list[str]:
    """Layout problems of the whole page, and its screenshot in artifacts/layout_<name>.png."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": TALL})
    page.wait_for_timeout(1500)
    problems = layout_problems(page)
    page.screenshot(path=str(ARTIFACTS / f"layout_{name}.png"))
    page.set_viewport_size(size)
    return problems


def step_once(page) -> None:
    page.get_by_role("button", name=re.compile(r"\bStep$")).click()
    wait_for_step(page, 1, STEP_MS)


def inspect_a_model(model_file: Path):
    def upload(page) -> None:
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(model_file))
        page.get_by_text(model_file.name).first.wait_for(timeout=STEP_MS)
        page.get_by_role("button", name=re.compile("Inspect this model")).click()
        page.get_by_text("probed layers").first.wait_for(timeout=STEP_MS)
    return upload


def many_layer_gradients_html() -> str:
    """The gradient chart of a 17-layer network (what VGG16 gave), as a page of its own."""
    import plotly.io as pio

    from cnnviz.config import RunConfig
    from cnnviz.figures.training_curves import gradient_and_update_chart
    from cnnviz.training import Run

    run = Run(RunConfig(arch="plain_mlp", depth=16, width=16, batch_size=16))
    run.train(2)
    return pio.to_html(gradient_and_update_chart(run.history()), include_plotlyjs=True, full_html=True)


def test_every_page_reads_on_a_projector_and_on_a_desktop(browser, server, tmp_path):
    from scripts import make_test_models

    model_file = make_test_models.save(make_test_models.fused_model(), tmp_path / "fused.keras")
    pages = [("", "lessons", 0, None), ("activations", "activations", 5, step_once),
             ("compare", "compare", 3, None), ("logits", "logits", 5, None), ("filters", "filters", 4, None),
             ("your-model", "your_model", 0, inspect_a_model(model_file)), ("architecture", "architecture", 1, None)]
    gradients = many_layer_gradients_html()
    problems: dict[str, list[str]] = {}
    for size, options in SIZES.items():
        context = browser.new_context(**options)
        page = context.new_page()
        try:
            for path, name, charts, prepare in pages:
                page.goto(f"{server}/{path}")
                settle(page, charts)
                if prepare is not None:
                    prepare(page)
                    settle(page, max(charts, 1))
                problems[f"{size} {name}"] = look(page, f"{size}_{name}")
            page.set_content(gradients)  # VGG16's 16 layers: a colour bar, not a legend that scrolls
            page.wait_for_selector(".js-plotly-plot .main-svg")
            problems[f"{size} gradients of 17 layers"] = look(page, f"{size}_gradients_17_layers")
        finally:
            context.close()
    found = {where: lines for where, lines in problems.items() if lines}
    assert not found, "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in found.items())
