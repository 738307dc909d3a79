"""Time to first chart: a cold `streamlit run` until the first histogram shows in a browser.

Each repeat starts a fresh server process (``bench/_server.py``), points an already
running headless Chromium at the Activations page and stamps, from the server's
launch: the health check answering, the page title drawn (the page's imports are
done), and the first plotly chart visible in the main area (the page draws the
step-0 histograms of its default run; if it did not, the script presses Step). The
yardstick is ``python -c "import tensorflow"`` timed in the same run; they alternate
(the order rotates every repeat) so machine noise hits both alike. The ratio
first-chart / import-tensorflow is reported per repeat, as median and min..max.
Several entry scripts (``--app a.py,b.py``, e.g. a copy of the tree with a proposed
fix) are compared in the same run, each against the same import yardstick. By default
the warm classroom entry ``dashboard/server.py`` (the warm-up starts with the server) and
the plain ``dashboard/app.py`` (it starts on the first page view) are both measured.

    python bench/bench_time_to_first_chart.py                # 3 repeats, target <= 1.5x (issue 13)
    python bench/bench_time_to_first_chart.py --analyse      # where the start-up time goes

``--analyse`` adds two views of the first script run without a browser: ``python -X
importtime`` over the page's own imports (which packages cost the most), and a
cProfile of the page's first run under Streamlit's AppTest (which calls cost the most).
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import MAIN_CHART, ROOT, DashboardServer, exception_count, launch_chromium, page_button  # noqa: E402

TARGET_RATIO = 1.5
QUIET_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CNNVIZ_OFFLINE": "1"}
POLL_S = 0.05
FIRST_CHART_TIMEOUT_S = 240
IDLE_BEFORE_STEP_S = 5.0  # the page's script must sit finished this long, chart-less, before Step is pressed
PROGRESS_JS = """() => ({
  title: !!document.querySelector('[data-testid="stMain"] h1'),
  chart: [...document.querySelectorAll('MAIN_CHART')].some(e => e.getBoundingClientRect().height > 0),
  idle: document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState === 'notRunning',
})""".replace("MAIN_CHART", MAIN_CHART)


def time_import_tensorflow() -> float:
    """Seconds for a fresh interpreter to ``import tensorflow`` and exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], env=QUIET_ENV, check=True, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_first_chart(browser, url_path: str, app: str) -> dict:
    """Seconds from launching a fresh server to: health, page title, first chart (one cold start)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    stamps: dict[str, float] = {}
    try:
        with DashboardServer(app=app) as server:
            since_launch = lambda: time.perf_counter() - server.started  # noqa: E731
            stamps["health"] = server.healthy - server.started
            page.goto(server.url(url_path), wait_until="domcontentloaded", timeout=60_000)
            stamps["html"] = since_launch()
            pressed_step, idle_since = False, None
            while since_launch() < FIRST_CHART_TIMEOUT_S:
                seen = page.evaluate(PROGRESS_JS)
                if seen["title"] and "title" not in stamps:
                    stamps["title"] = since_launch()
                if seen["chart"]:
                    stamps["first_chart"] = since_launch()
                    break
                idle_since = (idle_since or since_launch()) if seen["idle"] and "title" in stamps else None
                if idle_since is not None and since_launch() - idle_since > IDLE_BEFORE_STEP_S and not pressed_step \
                        and exception_count(page) == 0:
                    page_button(page, "Step").click()  # a page version that draws nothing before a step
                    pressed_step = True
                time.sleep(POLL_S)
            stamps["pressed_step"] = pressed_step
            stamps["exceptions"] = exception_count(page)
            stamps["server_rss_mib"] = server.rss_mib()
    finally:
        context.close()
    if "first_chart" not in stamps:
        raise TimeoutError(f"no chart within {FIRST_CHART_TIMEOUT_S} s of launch (exceptions shown: "
                           f"{stamps.get('exceptions')})")
    return stamps


def measure(repeats: int, url_path: str, apps: list[str]) -> list[dict]:
    """Per repeat: ``import tensorflow`` and one cold start of each app, in an order that rotates."""
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for repeat in range(repeats):
                # rotate the order every repeat: nobody always runs on a cooler (or busier) machine
                tasks = [None] + apps  # None: the import-tensorflow yardstick
                shift = repeat % len(tasks)
                results = {}
                for task in tasks[shift:] + tasks[:shift]:
                    results[task] = (time_import_tensorflow() if task is None
                                     else time_first_chart(browser, url_path, task))
                import_s = results[None]
                for app in apps:
                    stamps = results[app]
                    rows.append({"app": app, "repeat": repeat + 1, "import_tf_s": import_s, **stamps,
                                 "ratio": stamps["first_chart"] / import_s})
                    print(f"  repeat {repeat + 1} {app}: import tensorflow {import_s:.2f} s, health "
                          f"{stamps['health']:.2f} s, title {stamps.get('title', float('nan')):.2f} s, first chart "
                          f"{stamps['first_chart']:.2f} s -> {rows[-1]['ratio']:.2f}x", flush=True)
        finally:
            browser.close()
    return rows


def print_summary(rows: list[dict], apps: list[str]) -> None:
    def cell(app: str, key: str) -> str:
        values = [r[key] for r in rows if r["app"] == app and key in r]
        return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})" if values else "n/a"

    repeats = len(rows) // len(apps)
    print(f"\n| s from launch, median (min..max) of {repeats} | " + " | ".join(f"`{a}`" for a in apps) + " |")
    print("| --- |" + " --- |" * len(apps))
    for label, key in [("`python -c \"import tensorflow\"`", "import_tf_s"), ("health check answers", "health"),
                       ("page HTML loaded in Chromium", "html"), ("page title drawn (imports done)", "title"),
                       ("first histogram visible", "first_chart"), ("ratio first chart / import tensorflow", "ratio")]:
        print(f"| {label} | " + " | ".join(cell(app, key) for app in apps) + " |")
    for app in apps:
        mine = [r for r in rows if r["app"] == app]
        ratio = statistics.median(r["ratio"] for r in mine)
        verdict = "meets" if ratio <= TARGET_RATIO else f"misses by {ratio / TARGET_RATIO - 1:.0%}"
        print(f"{app}: {ratio:.2f}x, target <= {TARGET_RATIO}x {verdict}; server RSS after first chart "
              f"{statistics.median(r['server_rss_mib'] for r in mine):.0f} MiB; exceptions shown "
              f"{sum(r['exceptions'] for r in mine)}; Step pressed: {any(r['pressed_step'] for r in mine)}")


# ------------------------------------------------------------------ analysis (no browser)
def page_imports(path: Path) -> list[str]:
    """The modules ``path`` imports at top level, in order (read from its syntax tree)."""
    modules = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return list(dict.fromkeys(modules))


def import_costs(modules: list[str], repo_root: Path, top: int) -> list[tuple[float, str]]:
    """(cumulative seconds, package) of the most expensive top-level imports, via -X importtime."""
    code = f"import sys; sys.path.insert(0, {str(repo_root)!r})\n" + "\n".join(f"import {m}" for m in modules)
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=QUIET_ENV, cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    costs = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name[1:].startswith(" ") and int(cumulative) >= 10_000:  # top level (one space), >= 10 ms
            costs.append((int(cumulative) / 1e6, name.strip()))
    return sorted(costs, reverse=True)[:top]


def profile_first_run(page_file: Path, top: int) -> tuple[float, list[tuple[float, str]]]:
    """Wall seconds of the page's first AppTest run and its costliest calls (cumulative s, where)."""
    from streamlit.testing.v1 import AppTest, local_script_runner

    profiler = cProfile.Profile()
    original = local_script_runner.LocalScriptRunner._run_script_thread

    def profiled(self):  # the script runs on its own thread, which cProfile would not see
        profiler.runcall(original, self)

    local_script_runner.LocalScriptRunner._run_script_thread = profiled
    try:
        start = time.perf_counter()
        app = AppTest.from_file(str(page_file), default_timeout=240).run()
        wall = time.perf_counter() - start
    finally:
        local_script_runner.LocalScriptRunner._run_script_thread = original
    if app.exception:
        print(f"  (the page raised: {app.exception[0].message})")
    stats = pstats.Stats(profiler)
    ours = []
    for (filename, line, function), (_, _, _, cumulative, _) in stats.stats.items():
        interesting = any(part in filename for part in ("/cnnviz/", "/dashboard/")) or function in (
            "plotly_chart", "_find_and_load", "to_json", "to_plotly_json", "make_subplots")
        if interesting and cumulative > 0.05:
            where = filename.split("/work/main/")[-1].split("site-packages/")[-1]
            ours.append((cumulative, f"{where}:{line} {function}"))
    return wall, sorted(ours, reverse=True)[:top]


STEP0_PROBE_CODE = """
import sys, time
sys.path.insert(0, {root!r})
from cnnviz.config import RunConfig
from cnnviz.training import Run
from cnnviz.training.pool import POOL
run = Run(RunConfig(arch={arch!r}))
if {warm!r}:
    POOL.warm(run.core_key, run._build_core)  # what the server's warm-up does before anybody asks
start = time.perf_counter()
snapshot = run.snapshot_at_init()
print(time.perf_counter() - start, snapshot.logits.max)
"""


def step0_probe_costs(repo_root: Path, arch: str, repeats: int = 2) -> dict[str, list[float]]:
    """Seconds of a new Run's step-0 probe in a fresh process: on a cold core (run eagerly) vs a warmed one.

    Each measurement is a new interpreter; the two alternate. Also checks both give the
    same logits maximum.
    """
    times: dict[str, list[float]] = {"warm": [], "cold": []}
    maxima = set()
    for repeat in range(repeats):
        for warm in ((False, True) if repeat % 2 == 0 else (True, False)):
            code = STEP0_PROBE_CODE.format(root=str(repo_root), arch=arch, warm=warm)
            result = subprocess.run([sys.executable, "-c", code], env=QUIET_ENV, capture_output=True, text=True,
                                    timeout=300, check=True)
            seconds, logits_max = result.stdout.split()[-2:]
            times["warm" if warm else "cold"].append(float(seconds))
            maxima.add(round(float(logits_max), 4))
    times["same_numbers"] = [len(maxima) == 1]
    return times


def analyse(page_file: Path, top: int) -> None:
    modules = page_imports(page_file)
    print(f"\nImports of {page_file.name} ({', '.join(modules)}), most expensive first "
          "(cumulative, -X importtime, fresh interpreter):")
    print("| package | s |\n| --- | --- |")
    for seconds, name in import_costs(modules, page_file.parents[2], top):
        print(f"| {name} | {seconds:.2f} |")
    wall, calls = profile_first_run(page_file, top)
    print(f"\nFirst run of the page under AppTest: {wall:.2f} s wall (streamlit already imported). "
          "Costliest calls (cumulative s, cProfile of the script thread):")
    print("| call | s |\n| --- | --- |")
    for seconds, where in calls:
        print(f"| `{where}` | {seconds:.2f} |")
    costs = step0_probe_costs(page_file.parents[2], "ltfn_convnet")
    print("\nStep-0 probe of a new ltfn_convnet Run in a fresh process (s, median (min..max)): "
          f"warm core {statistics.median(costs['warm']):.2f} ({min(costs['warm']):.2f}..{max(costs['warm']):.2f}), "
          f"cold core {statistics.median(costs['cold']):.2f} ({min(costs['cold']):.2f}..{max(costs['cold']):.2f}); "
          f"same numbers: {costs['same_numbers'][0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--path", default="activations", help="url path of the page to open")
    parser.add_argument("--analyse", action="store_true", help="also profile imports and the first script run")
    parser.add_argument("--analyse-only", action="store_true", help="only the analysis, no browser")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--app", default="dashboard/server.py,dashboard/app.py",
                        help="the Streamlit entry script; several, comma separated, are compared in the same run")
    args = parser.parse_args()

    apps = [a for a in args.app.split(",") if a]

    def page_file(app: str) -> Path:  # the page module behind the url path (views/ now, pages/ before)
        folder = (ROOT / app).parent
        return next((folder / sub / f"{args.path}.py" for sub in ("views", "pages")
                     if (folder / sub / f"{args.path}.py").exists()), folder / "views" / f"{args.path}.py")

    if not args.analyse_only:
        print(f"Time to first chart on /{args.path}: {args.repeats} cold starts vs `import tensorflow`")
        print_summary(measure(args.repeats, args.path, apps), apps)
    if (args.analyse or args.analyse_only) and len(apps) == 1:
        analyse(page_file(apps[0]), args.top)
    elif args.analyse or args.analyse_only:  # one process per app: each must import its own cnnviz
        for app in apps:
            print(f"\n## analysis of {app}", flush=True)
            subprocess.run([sys.executable, __file__, "--analyse-only", "--app", app, "--path", args.path,
                            "--top", str(args.top)], check=True, timeout=900)


if __name__ == "__main__":
    main()
