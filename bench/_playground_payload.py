"""The optimizer playground's chart payload, before and after, for ``bench_chart_payload.py --playground``.

In-process: for every page state (each preset as the page opens it, and the basin map
switched on) the charts the page draws, built with the page's own arguments and sized as
``st.plotly_chart`` sends them (``plotly.io.to_json(figure, validate=False)``). "before" uses
the figure code at ``--baseline`` (loaded from git) and the old page's click layer; "after"
the current code. In the browser: one real server per tree (the baseline extracted with
``git archive``), headless Chromium, the websocket bytes of opening ``/playground`` and of
switching the basin map on, alternated between the trees.
"""

from __future__ import annotations

import importlib.util
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
TARGET_KB = 300
BASIN_GRID = 32  # the page's default
CLICK_GRID = 41


def load_old_figures(ref: str):
    """``cnnviz/figures/surfaces.py`` as it was at ``ref``, as a module of this process."""
    source = subprocess.run(["git", "show", f"{ref}:cnnviz/figures/surfaces.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_surface_figures.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_surface_figures", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_surface_figures"] = module
    spec.loader.exec_module(module)
    return module


def old_click_layer(fig) -> None:
    """The old page's invisible click grid: 41 x 41 float64 points (copied from the page at the baseline)."""
    import numpy as np
    import plotly.graph_objects as go

    (x_lo, x_hi), (y_lo, y_hi) = fig.layout.xaxis.range, fig.layout.yaxis.range
    grid_x, grid_y = np.meshgrid(np.linspace(x_lo, x_hi, CLICK_GRID), np.linspace(y_lo, y_hi, CLICK_GRID))
    fig.add_trace(go.Scatter(x=grid_x.ravel().round(3), y=grid_y.ravel().round(3), mode="markers", showlegend=False,
                             marker={"size": 10, "opacity": 0}, hoverinfo="none", name="click to start here"))


def page_charts(result, old=None) -> dict:
    """The charts the page draws for a comparison (3D off, as the page starts): name -> figure."""
    from cnnviz.figures import surfaces as new

    figures = old or new
    contour = figures.contour_figure(result.surface, result.trajectories)
    if old:
        old_click_layer(contour)
    else:
        new.add_click_layer(contour, CLICK_GRID)
    return {"paths map": contour,
            "animation": figures.animated_contour_figure(result.surface, result.trajectories),
            "loss": figures.loss_figure(result.trajectories, title=f"Loss per step on {result.surface.name}")}


def in_process(ref: str) -> list[dict]:
    import plotly.io as pio

    from cnnviz.figures.basins import basin_figure
    from cnnviz.playground.basins import basin_map
    from cnnviz.playground.presets import PRESETS, run_preset

    old = load_old_figures(ref)
    rows = []
    for name, preset in PRESETS.items():
        result = run_preset(name)
        sizes = {}
        for label, figures in (("before", old), ("after", None)):
            charts = page_charts(result, figures)
            sizes[label] = {chart: len(pio.to_json(fig, validate=False).encode()) for chart, fig in charts.items()}
        basins = basin_map(result.surface, result.trajectories[0].spec, BASIN_GRID, preset.steps)
        basin_bytes = len(pio.to_json(basin_figure(basins), validate=False).encode())
        rows.append({"state": name, "paths": len(preset.specs), "steps": preset.steps, **sizes,
                     "basins": basin_bytes})
    return rows


def print_in_process(rows: list[dict], ref: str) -> None:
    kb = lambda value: f"{value / 1000:.1f}"  # noqa: E731
    print(f"\nPlayground chart JSON per page state, KB (in-process; before = {ref}):")
    print("| page state | before: map + click / animation / loss = total | after: map + click / animation / loss "
          "= total | before/after | after + basin map (grid 32) |")
    print("| --- | --- | --- | --- | --- |")
    worst = 0
    for r in rows:
        b, a = r["before"], r["after"]
        total_b, total_a = sum(b.values()), sum(a.values())
        worst = max(worst, total_a + r["basins"])
        print(f"| {r['state']} ({r['paths']} paths x {r['steps']} steps) | {kb(b['paths map'])} / {kb(b['animation'])}"
              f" / {kb(b['loss'])} = **{kb(total_b)}** | {kb(a['paths map'])} / {kb(a['animation'])} / "
              f"{kb(a['loss'])} = **{kb(total_a)}** | {total_b / total_a:.1f}x | {kb(total_a + r['basins'])} |")
    verdict = "meets" if worst <= TARGET_KB * 1000 else "misses"
    print(f"Largest page state after (basin map on): {kb(worst)} KB; target <= {TARGET_KB} KB: {verdict}")


def extract_tree(ref: str) -> Path:
    """The repository at ``ref`` in a temporary folder (git archive: the checkout itself is untouched)."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="cnnviz-baseline-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def in_browser(ref: str, rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    from bench_chart_payload import FrameRecorder, wait_for_charts
    from _server import DashboardServer, launch_chromium, wait_idle

    trees = {"before": str(extract_tree(ref) / "dashboard" / "app.py"), "after": "dashboard/app.py"}
    results: dict[str, list] = {"before": [], "after": [], "after, basin map on": []}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        servers = {label: DashboardServer(app=app).start() for label, app in trees.items()}
        try:
            for round_ in range(rounds):
                for label in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    recorder = FrameRecorder(page)
                    server = servers[label]
                    results[label].append(recorder.window("open", lambda: (
                        page.goto(server.url("playground")), wait_for_charts(page))).totals())
                    if label == "after":
                        toggle = page.get_by_text("Draw the basin map")
                        results["after, basin map on"].append(recorder.window("basins", lambda: (
                            toggle.click(), time.sleep(1.0), wait_idle(page, 180))).totals())
                    context.close()
            tracebacks = {label: server.traceback_count() for label, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
            browser.close()
    print(f"\nPlayground in the browser (real websocket bytes, median of {rounds}; before = {ref}):")
    print("| window | total KB | chart JSON KB (charts) | deflate KB |\n| --- | --- | --- | --- |")
    medians = {}
    for label, windows in results.items():
        if not windows:
            continue
        total = statistics.median(w["total"] for w in windows)
        medians[label] = total
        charts = statistics.median(w["chart_bytes"] for w in windows)
        deflated = statistics.median(w["deflated"] for w in windows)
        print(f"| playground: {label} | {total / 1000:.1f} | {charts / 1000:.1f} ({windows[0]['charts']}) | "
              f"{deflated / 1000:.1f} |")
    if medians.get("after"):
        print(f"Opening the playground: before/after = {medians['before'] / medians['after']:.1f}x; "
              f"server tracebacks {tracebacks}")
