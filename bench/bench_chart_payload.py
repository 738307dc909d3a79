"""Chart payload: the bytes the server really sends a browser for each page's charts.

One real server (``bench/_server.py``), headless Chromium, and Playwright's websocket
hooks: every frame the browser receives is recorded and decoded as the Streamlit
``ForwardMsg`` it is, so each window below is split into plotly chart specs (the
figure JSON) and everything else. Windows, all on ltfn_convnet (the pages' default):

  activations: open     - opening /activations (builds the run, step-0 charts)
  activations: Step     - one Step press, repeated (median; the charts of step k)
  activations: Train    - live training, per redraw tick and per second
  activations: Step@N   - one Step after N training steps (histories have grown)
  <page>: open          - a fresh session opening each other page

"deflate" estimates the bytes with websocket compression on (permessage-deflate
keeps its dictionary across frames; zlib with the same settings, level 6). The
static files of the first visit (Streamlit's JavaScript, plotly.js) are reported
separately: the browser caches them after the first load.

    python bench/bench_chart_payload.py                       # target <= 300 KB per page
    python bench/bench_chart_payload.py --steps 3 --train-steps 50 --pages logits,filters,compare
    python bench/bench_chart_payload.py --growth-only --growth 1,100,400   # redraw size vs history length
    python bench/bench_chart_payload.py --playground [--baseline 6f2ae68] [--rounds 3]   # the playground, before/after

The growth table sizes one Activations redraw after 1..400 probed steps by building
the page's five figures in-process (``plotly.io.to_json``, what ``st.plotly_chart``
sends): the curves and the heatmap grow with the history, the histograms do not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import (  # noqa: E402
    MAIN_CHART,
    ROOT,
    DashboardServer,
    exception_count,
    launch_chromium,
    page_button,
    wait_for_step,
    wait_idle,
)

TARGET_KB = 300
PAGE_TIMEOUT_S = 180
SETTLE_S = 0.5  # frames still in flight after the run reports it finished
OTHER_PAGES = {"logits": "Logits & softmax", "filters": "Filters & feature maps", "compare": "Compare initializers",
               "architecture": "Architecture", "playground": "Optimizer playground"}


@dataclass
class Window:
    """Frames received between two marks, decoded and summed."""

    label: str
    frames: list = field(default_factory=list)
    seconds: float = 0.0

    def totals(self) -> dict:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw deflate, shared dictionary: as the browser's
        total = deflated = chart_bytes = template_bytes = charts = refs = 0
        per_chart: dict[str, int] = {}
        chart_counts: dict[str, int] = {}
        for frame in self.frames:
            data = frame if isinstance(frame, bytes) else frame.encode()
            total += len(data)
            deflated += len(compressor.compress(data)) + len(compressor.flush(zlib.Z_SYNC_FLUSH))
            message = ForwardMsg.FromString(data)
            if message.WhichOneof("type") == "ref_hash":
                refs += 1  # the browser already holds this message: only its hash is sent
                continue
            if message.WhichOneof("type") != "delta" or message.delta.WhichOneof("type") != "new_element":
                continue
            element = message.delta.new_element
            if element.WhichOneof("type") != "plotly_chart":
                continue
            spec = element.plotly_chart.spec
            charts += 1
            chart_bytes += len(spec.encode())
            figure = json.loads(spec)
            template_bytes += len(json.dumps(figure.get("layout", {}).get("template", {}), separators=(",", ":")))
            name = chart_title(figure)
            per_chart[name] = per_chart.get(name, 0) + len(spec.encode())
            chart_counts[name] = chart_counts.get(name, 0) + 1
        return {"label": self.label, "frames": len(self.frames), "total": total, "deflated": deflated,
                "charts": charts, "chart_bytes": chart_bytes, "template_bytes": template_bytes, "refs": refs,
                "per_chart": per_chart, "chart_counts": chart_counts, "seconds": self.seconds}


def chart_title(figure: dict) -> str:
    """A figure's title text without markup (what identifies it in the tables)."""
    title = figure.get("layout", {}).get("title", {})
    text = title.get("text", "") if isinstance(title, dict) else str(title)
    text = text.split("<br>")[0].strip() or "(untitled)"
    for step_marker in (" — step ", " at step "):
        text = text.split(step_marker)[0]
    return text


class FrameRecorder:
    """Collects the frames every websocket of ``page`` receives."""

    def __init__(self, page):
        self.frames: list = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: self.frames.append(payload)))

    def window(self, label: str, action) -> Window:
        """Run ``action()`` (which waits until the page is done) and return the frames it caused."""
        first = len(self.frames)
        start = time.perf_counter()
        action()
        time.sleep(SETTLE_S)
        return Window(label, self.frames[first:], time.perf_counter() - start)


def wait_for_charts(page, timeout_s: float = PAGE_TIMEOUT_S) -> None:
    page.wait_for_selector(MAIN_CHART, state="visible", timeout=timeout_s * 1000)
    wait_idle(page, timeout_s)


def static_bytes(requests) -> int:
    """Body bytes of the HTTP responses a first visit downloaded (JS, CSS, fonts, ...)."""
    total = 0
    for request in requests:
        try:
            total += max(request.sizes()["responseBodySize"], 0)
        except Exception:  # a request that never completed has no sizes  # noqa: BLE001
            continue
    return total


def activations_windows(browser, server, steps: int, train_steps: int) -> tuple[list[Window], int]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    requests = []
    page.on("requestfinished", lambda request: requests.append(request))
    recorder = FrameRecorder(page)
    windows = [recorder.window("activations: open", lambda: (page.goto(server.url("activations")),
                                                             wait_for_charts(page)))]
    first_visit_static = static_bytes(requests)
    for k in range(1, steps + 1):
        windows.append(recorder.window(f"activations: Step (#{k})", lambda k=k: (
            page_button(page, "Step").click(), wait_for_step(page, k, PAGE_TIMEOUT_S))))
    if train_steps:
        page.locator('[data-testid="stMain"]').get_by_label("Steps per Train").fill(str(train_steps))
        page.keyboard.press("Enter")
        wait_idle(page, 60)
        target = steps + train_steps
        train_window = recorder.window(f"activations: Train {train_steps} (live)", lambda: (
            page_button(page, f"Train {train_steps}").click(), wait_for_step(page, target, 600)))
        windows.append(train_window)
        windows.append(recorder.window(f"activations: Step@{target}", lambda: (
            page_button(page, "Step").click(), wait_for_step(page, target + 1, PAGE_TIMEOUT_S))))
    errors = exception_count(page)
    context.close()
    return windows, first_visit_static if not errors else -errors


def other_page_window(browser, server, path: str) -> Window:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        recorder = FrameRecorder(page)
        return recorder.window(f"{path}: open", lambda: (page.goto(server.url(path)), wait_for_charts(page)))
    finally:
        context.close()


def activations_page_figures(run) -> dict:
    """The five figures the Activations page draws for ``run``, built with the page's own arguments.

    Mirrors ``live_view`` in dashboard/views/activations.py (default toggles; heatmap of
    the last hidden layer): keep the two in step when the page changes.
    """
    import math

    from cnnviz.diagnosis import theory
    from cnnviz.figures import activations as layer_figures
    from cnnviz.figures import training_curves as curve_figures

    snapshot, initial, history = run.latest, run.snapshot_at_init(), run.history()
    entries = [("step 0", initial)] + ([(f"step {snapshot.step}", snapshot)] if snapshot is not initial else [])
    table = theory.theory_vs_measured_table_for_run(run)
    names = [p.name for p in run.probed.points]
    return {
        "histograms": layer_figures.histogram_grid(snapshot),
        "std per layer": layer_figures.std_per_layer(entries, dict(zip(table["layer"], table["predicted"])),
                                                     predicted_label="theory (step 0)"),
        "loss": curve_figures.loss_curve(history, chance_loss=math.log(run.classes)),
        "gradients": curve_figures.gradient_and_update_chart(history),
        "heatmap": curve_figures.histogram_heatmap(history, names[-2] if len(names) > 1 else names[0]),
    }


def history_growth(repo_root: Path, lengths: list[int], arch: str, batch_size: int) -> list[dict]:
    """Chart JSON of one Activations redraw after each number of probed steps (no browser).

    Uses what ``st.plotly_chart`` sends, ``plotly.io.to_json(figure, validate=False)``.
    The batch size does not change the payload (histograms arrive binned); a small one
    keeps the training quick.
    """
    import plotly.io as pio

    sys.path.insert(0, str(repo_root))  # the tree the served app came from (a copy with a fix, say)
    from cnnviz.config import RunConfig
    from cnnviz.training import Run

    run = Run(RunConfig(arch=arch, batch_size=batch_size, probe_every=1))
    run.snapshot_at_init()
    rows = []
    for target in sorted(lengths):
        while run.step_count < target and run.halted is None:
            run.step()
        sizes = {name: len(pio.to_json(figure, validate=False).encode())
                 for name, figure in activations_page_figures(run).items()}
        rows.append({"steps": run.step_count, **sizes, "total": sum(sizes.values())})
    return rows


def print_growth(rows: list[dict], arch: str) -> None:
    names = [k for k in rows[0] if k not in ("steps", "total")]
    print(f"\nActivations page chart JSON after N probed steps ({arch}, probe every step), KB:")
    print("| N | " + " | ".join(names) + " | total |")
    print("| --- |" + " --- |" * (len(names) + 1))
    for r in rows:
        print(f"| {r['steps']} | " + " | ".join(kb(r[n]) for n in names) + f" | {kb(r['total'])} |")
    if len(rows) >= 2 and rows[-1]["steps"] > rows[0]["steps"]:
        slope = (rows[-1]["total"] - rows[0]["total"]) / (rows[-1]["steps"] - rows[0]["steps"])
        crossing = rows[0]["steps"] + (TARGET_KB * 1000 - rows[0]["total"]) / slope if slope > 0 else float("inf")
        print(f"Growth {slope / 1000:.2f} KB per probed step: one redraw passes {TARGET_KB} KB after about "
              f"{crossing:.0f} probed steps.")


def kb(value: float) -> str:
    return f"{value / 1000:.1f}"


def print_tables(rows: list[dict], step_rows: list[dict]) -> None:
    print("\n| window | frames | total KB | chart JSON KB (charts) | of which templates KB | deflate KB | "
          "cached refs |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['label']} | {r['frames']} | {kb(r['total'])} | {kb(r['chart_bytes'])} ({r['charts']}) | "
              f"{kb(r['template_bytes'])} | {kb(r['deflated'])} | {r['refs']} |")
    print("\nLargest charts per window (KB): " + "; ".join(
        f"{r['label']}: " + ", ".join(f"{name} {kb(size)}" for name, size in
                                      sorted(r["per_chart"].items(), key=lambda item: -item[1])[:2])
        for r in rows if r["per_chart"] and "(live)" not in r["label"] and "Step (#" not in r["label"]))
    if step_rows:
        totals = [r["total"] for r in step_rows]
        print(f"\nOne Step on /activations: median {kb(statistics.median(totals))} KB "
              f"({kb(min(totals))}..{kb(max(totals))}) over {len(totals)} presses")
        print("\n| chart (one Step) | KB |\n| --- | --- |")
        for name, size in sorted(step_rows[0]["per_chart"].items(), key=lambda item: -item[1]):
            print(f"| {name} | {kb(size)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="Step presses to measure")
    parser.add_argument("--train-steps", type=int, default=50, help="live training steps (0: skip)")
    parser.add_argument("--pages", default=",".join(OTHER_PAGES), help="other pages to open, comma separated")
    parser.add_argument("--app", default="dashboard/app.py", help="the Streamlit entry script")
    parser.add_argument("--growth", default="1,50,100,200,400",
                        help="probed-step counts at which to size one Activations redraw without a browser ('' skips)")
    parser.add_argument("--growth-only", action="store_true", help="only the history-growth table")
    parser.add_argument("--playground", action="store_true",
                        help="only the optimizer playground, before (--baseline) and after (bench/_playground_payload.py)")
    parser.add_argument("--baseline", default="6f2ae68", help="git ref of the 'before' playground (with --playground)")
    parser.add_argument("--rounds", type=int, default=3, help="browser rounds per tree (with --playground; 0: none)")
    args = parser.parse_args()
    if args.playground:
        import _playground_payload as playground

        playground.print_in_process(playground.in_process(args.baseline), args.baseline)
        if args.rounds:
            playground.in_browser(args.baseline, args.rounds)
        return
    growth = sorted({int(v) for v in args.growth.split(",") if v})
    repo_root = (ROOT / args.app).resolve().parents[1]
    if args.growth_only:
        print_growth(history_growth(repo_root, growth, "ltfn_convnet", batch_size=8), "ltfn_convnet")
        return

    from playwright.sync_api import sync_playwright

    with DashboardServer(app=args.app) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            windows, first_static = activations_windows(browser, server, args.steps, args.train_steps)
            for path in [p for p in args.pages.split(",") if p]:
                try:
                    windows.append(other_page_window(browser, server, path))
                except Exception as error:  # a page still being written: report it, measure the rest  # noqa: BLE001
                    print(f"  /{path}: not measured ({type(error).__name__}: {str(error).splitlines()[0]})")
        finally:
            browser.close()
        tracebacks = server.traceback_count()
    rows = [w.totals() for w in windows]
    step_rows = [r for r in rows if r["label"].startswith("activations: Step (#")]
    print_tables(rows, step_rows)
    for r in rows:
        if "(live)" in r["label"] and r["seconds"] > 0:
            redraws = max(r["chart_counts"].values(), default=0)  # the most-sent chart is sent once per redraw
            print(f"\nLive training: {kb(r['total'] / r['seconds'])} KB/s per session over {r['seconds']:.0f} s "
                  f"({kb(r['deflated'] / r['seconds'])} KB/s deflated), {redraws} redraws, "
                  f"{kb(r['total'] / max(redraws, 1))} KB per redraw")
    if first_static >= 0:
        print(f"First visit also downloads {first_static / 1e6:.2f} MB of static files (JS, CSS, fonts), then cached.")
    else:
        print(f"The Activations page showed {-first_static} exception(s).")
    print(f"Server tracebacks: {tracebacks}")
    worst = max((r["total"] for r in rows if "(live)" not in r["label"]), default=0)
    verdict = "meets" if worst <= TARGET_KB * 1000 else f"misses by {worst / (TARGET_KB * 1000) - 1:.0%}"
    print(f"Largest single page render: {kb(worst)} KB; target <= {TARGET_KB} KB: {verdict}")
    if growth:  # after the server has stopped: this process imports TensorFlow only now
        print_growth(history_growth(repo_root, growth, "ltfn_convnet", batch_size=8), "ltfn_convnet")


if __name__ == "__main__":
    main()
