"""Classroom load: many students on one server, through the real app in a real browser.

For each class size N a fresh server (``bench/_server.py``) is warmed up by one
teacher session, then N Playwright browser contexts (one Chromium, one context per
student) each open the Lessons page, press "Open this lesson" for a small network
(default: LeNet-5, batch 100) and press Step a few times, all at once. Measured:

  open s      - from loading the Lessons page to the lesson's step-0 charts (per session)
  step s      - from a Step click to that page showing the new step with its run finished;
                every session clicks, then all are waited for (median, and its ratio to N=1)
  MiB/session - (server RSS at the end - RSS after the teacher's warm-up) / N
  peak MiB    - the largest server RSS seen (sampled every 0.25 s, and the kernel's VmHWM)
  errors      - exception boxes in the pages + tracebacks in the server log
  CPU s       - CPU seconds the server used after the warm-up, and the browsers (all
                contexts' Chromium processes, which in a real room run on the students'
                laptops but here share the server's cores)

Then 100 Resets in one session: RSS after 10 warm-up resets vs after the last; target
growth <= 5%. Every phase runs against a deadline; a level that runs out of time
reports what it finished.

    python bench/bench_classroom.py                                 # N = 1, 10, 30; 100 resets
    python bench/bench_classroom.py --sessions 1,5 --steps 2 --resets 0 --level-timeout 300
    python bench/bench_classroom.py --app dashboard/app.py,/tmp/copy/dashboard/app.py   # compare two trees
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import (  # noqa: E402
    MAIN_CHART,
    DashboardServer,
    exception_count,
    launch_chromium,
    page_button,
    step_count,
    tree_cpu_seconds,
)

TARGET_RESET_GROWTH_PERCENT = 5.0
POLL_S = 0.25
# Stamps (browser clock, ms) the end of the next script run: stApp's run state goes to
# "running" and back to "notRunning"; with ``expected`` the Training-step metric must match too.
ARM_WATCH_JS = """(expected) => {
  window.__cnnvizDone = null;
  let sawRunning = false;
  const stepShown = () => {
    for (const m of document.querySelectorAll('[data-testid="stMain"] [data-testid="stMetric"]')) {
      const label = m.querySelector('[data-testid="stMetricLabel"]');
      if (label && label.innerText.trim().startsWith('Training step')) {
        const value = m.querySelector('[data-testid="stMetricValue"]');
        return value ? parseInt(value.innerText.replace(/[^0-9]/g, ''), 10) : null;
      }
    }
    return null;
  };
  const check = () => {
    const state = document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState;
    if (state === 'running') sawRunning = true;
    const stepOk = expected === null || stepShown() === expected;
    if (window.__cnnvizDone === null && sawRunning && state === 'notRunning' && stepOk) {
      window.__cnnvizDone = Date.now();
    }
  };
  if (window.__cnnvizWatch) window.__cnnvizWatch.disconnect();
  window.__cnnvizWatch = new MutationObserver(check);
  window.__cnnvizWatch.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


class OutOfTime(Exception):
    """A level's deadline passed; what finished so far is still reported (``partial``: per-session seconds)."""

    def __init__(self, partial: list[float] | None = None):
        super().__init__("out of time")
        self.partial = partial or []


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise OutOfTime()
    return left


def wait_all(pages: list, predicate_js: str, deadline: float) -> dict[int, float]:
    """Poll every page until ``predicate_js`` is true on it; {index: wall time seen}. Raises OutOfTime."""
    done: dict[int, float] = {}
    while len(done) < len(pages):
        remaining(deadline)
        for index, page in enumerate(pages):
            if index not in done and page.evaluate(predicate_js):
                done[index] = time.time()
        time.sleep(POLL_S)
    return done


CHARTS_READY_JS = (f"() => document.querySelectorAll('{MAIN_CHART}').length > 0 && document.querySelector("
                   "'[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'")
HOME_READY_JS = "() => !!document.querySelector('.st-key-lesson-%s button')"


def open_lesson_everywhere(pages: list, server, lesson: str, deadline: float) -> list[float]:
    """Every page loads the Lessons page and opens ``lesson``; seconds from load to its charts."""
    started = {}
    for index, page in enumerate(pages):
        started[index] = time.time()
        page.goto(server.url(""), wait_until="commit", timeout=remaining(deadline) * 1000)
    ready = HOME_READY_JS % lesson
    clicked = set()
    while len(clicked) < len(pages):  # click each page's lesson button as soon as it is drawn
        remaining(deadline)
        for index, page in enumerate(pages):
            if index not in clicked and page.evaluate(ready):
                page.locator(f".st-key-lesson-{lesson} button").click(timeout=remaining(deadline) * 1000)
                clicked.add(index)
        time.sleep(POLL_S)
    shown = wait_all(pages, CHARTS_READY_JS, deadline)
    return [shown[i] - started[i] for i in range(len(pages))]


def step_round(pages: list, expected: int, deadline: float) -> list[float]:
    """Every page presses Step at (nearly) the same time; seconds from each click to its new step drawn."""
    clicked_at = {}
    for page in pages:
        page.evaluate(ARM_WATCH_JS, expected)
    for index, page in enumerate(pages):
        clicked_at[index] = time.time()
        page_button(page, "Step").click(timeout=remaining(deadline) * 1000)
    finished: dict[int, float] = {}
    while len(finished) < len(pages):
        if time.monotonic() > deadline:
            raise OutOfTime(list(finished.values()))
        for index, page in enumerate(pages):
            if index not in finished:
                stamp = page.evaluate("() => window.__cnnvizDone")
                if stamp is not None:
                    finished[index] = stamp / 1000 - clicked_at[index]
        time.sleep(POLL_S)
    return [finished[i] for i in range(len(pages))]


def browsers_cpu_seconds(server) -> float:
    """CPU seconds of everything this script started except the server: Chromium and Playwright's driver."""
    return tree_cpu_seconds(os.getpid(), include_self=False) - server.cpu_seconds()


def run_level(browser, app: str, sessions: int, steps: int, lesson: str, timeout_s: float, first_step_timeout_s: float,
              server_env: dict | None = None) -> dict:
    """One class of ``sessions`` students against a fresh server (see module docs)."""
    result = {"sessions": sessions, "completed": "no", "open_s": [], "first_step_s": [], "step_s": []}
    phase = "open_s"
    deadline = time.monotonic() + timeout_s
    contexts = []
    server_cpu = client_cpu = started = None
    with DashboardServer(app=app, extra_env=server_env) as server:
        try:
            teacher = browser.new_context(viewport={"width": 1400, "height": 1000})
            contexts.append(teacher)
            teacher_page = teacher.new_page()
            open_lesson_everywhere([teacher_page], server, lesson, deadline)
            result["baseline_mib"] = server.rss_mib()
            server.reset_peak()
            # CPU from here on: the server's, and the browsers' (Chromium and Playwright's driver are our children)
            server_cpu, client_cpu, started = server.cpu_seconds(), browsers_cpu_seconds(server), time.monotonic()
            pages = []
            for _ in range(sessions):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                contexts.append(context)
                pages.append(context.new_page())
            result["open_s"] = open_lesson_everywhere(pages, server, lesson, deadline)
            result["completed"] = "opened"
            # the first Step also compiles the training step: reported apart from the steady ones
            phase = "first_step_s"
            result["first_step_s"] = step_round(pages, 1, min(deadline, time.monotonic() + first_step_timeout_s))
            result["completed"] = "1 step"
            phase = "step_s"
            for expected in range(2, steps + 1):
                result["step_s"] += step_round(pages, expected, deadline)
                result["completed"] = f"{expected} steps"
            result["completed"] = "all"
        except OutOfTime as out:
            if out.partial:  # the round that ran out of time: keep the sessions that did finish it
                result[phase] += out.partial
                result["completed"] += f", then {len(out.partial)} of {sessions} sessions' next Step"
        finally:
            if server_cpu is not None:
                result["server_cpu_s"] = server.cpu_seconds() - server_cpu
                result["client_cpu_s"] = browsers_cpu_seconds(server) - client_cpu
                result["wall_s"] = time.monotonic() - started
            result["end_mib"] = server.rss_mib()
            result["peak_mib"] = server.sampled_peak_mib()
            result["exceptions"] = sum(exception_count(c.pages[0]) for c in contexts if c.pages)
            result["tracebacks"] = server.traceback_count()
            result["steps_shown"] = [step_count(c.pages[0]) for c in contexts[1:] if c.pages]
            for context in contexts:
                context.close()
    result["per_session_mib"] = (result["end_mib"] - result.get("baseline_mib", result["end_mib"])) / sessions
    return result


def resets(browser, app: str, count: int, warmup: int, lesson: str, timeout_s: float,
           server_env: dict | None = None) -> dict:
    """``count`` presses of Reset in one session; server RSS after ``warmup`` of them and after the last."""
    result = {"done": 0, "rss": []}
    deadline = time.monotonic() + timeout_s
    with DashboardServer(app=app, extra_env=server_env) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        try:
            open_lesson_everywhere([page], server, lesson, deadline)
            result["start_mib"] = server.rss_mib()
            for done in range(1, count + 1):
                page.evaluate(ARM_WATCH_JS, 0)
                page_button(page, "Reset").click(timeout=remaining(deadline) * 1000)
                page.wait_for_function("() => window.__cnnvizDone !== null", timeout=remaining(deadline) * 1000,
                                       polling=100)
                result["done"] = done
                result["rss"].append(server.rss_mib())
                if done == warmup:
                    result["warm_mib"] = server.rss_mib()
        except Exception as error:  # OutOfTime, or Playwright's own timeout: report what was done  # noqa: BLE001
            result["stopped"] = type(error).__name__
        finally:
            result["end_mib"] = server.rss_mib()
            result["peak_mib"] = server.sampled_peak_mib()
            result["exceptions"] = exception_count(page)
            result["tracebacks"] = server.traceback_count()
            context.close()
    return result


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def print_levels(levels: list[dict]) -> None:
    """One row per (app, N); "Step vs N=1" divides by the same app's single-session Step."""
    single = {r["app"]: statistics.median(r["step_s"]) for r in levels if r["sessions"] == 1 and r["step_s"]}
    several_apps = len({r["app"] for r in levels}) > 1
    print("\n| " + ("app | " if several_apps else "") + "N | completed | open s | first Step s (compiles) | Step s | "
          "Step vs N=1 | baseline MiB | end MiB | MiB/session | peak MiB | exceptions | tracebacks | "
          "CPU s server / browsers (wall s) |")
    print("| --- " * (13 + several_apps) + "|")
    for r in levels:
        base = single.get(r["app"])
        ratio = f"{statistics.median(r['step_s']) / base:.1f}x" if base and r["step_s"] else "n/a"
        print("| " + (f"`{r['app']}` | " if several_apps else "") +
              f"{r['sessions']} | {r['completed']} | {spread(r['open_s'])} | {spread(r['first_step_s'])} | "
              f"{spread(r['step_s'])} | {ratio} | {r.get('baseline_mib', float('nan')):.0f} | {r['end_mib']:.0f} | "
              f"{r['per_session_mib']:.1f} | {r['peak_mib']:.0f} | {r['exceptions']} | {r['tracebacks']} | "
              f"{r.get('server_cpu_s', float('nan')):.0f} / {r.get('client_cpu_s', float('nan')):.0f} "
              f"({r.get('wall_s', float('nan')):.0f}) |")


def print_resets(r: dict, warmup: int) -> None:
    print(f"\nResets in one session: {r['done']} done{' (stopped: ' + r['stopped'] + ')' if 'stopped' in r else ''}")
    if "warm_mib" in r and r["done"] > warmup:
        growth = 100 * (r["end_mib"] - r["warm_mib"]) / r["warm_mib"]
        per_reset = (r["end_mib"] - r["warm_mib"]) / (r["done"] - warmup)
        verdict = "meets" if growth <= TARGET_RESET_GROWTH_PERCENT else "misses"
        print(f"RSS at lesson open {r['start_mib']:.0f} MiB, after {warmup} resets {r['warm_mib']:.0f} MiB, after "
              f"{r['done']} {r['end_mib']:.0f} MiB: growth {growth:+.1f}% ({per_reset:+.2f} MiB/reset); "
              f"peak {r['peak_mib']:.0f} MiB; target <= {TARGET_RESET_GROWTH_PERCENT:.0f}%: {verdict}")
        marks = sorted({1, warmup, 25, 50, 75, 100, len(r["rss"])} & set(range(1, len(r["rss"]) + 1)))
        print("RSS after reset " + ", ".join(f"{i}: {r['rss'][i - 1]:.0f}" for i in marks) + " MiB")
    print(f"exceptions shown: {r['exceptions']}, server tracebacks: {r['tracebacks']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,10,30", help="class sizes, comma separated")
    parser.add_argument("--steps", type=int, default=3, help="Step presses per session")
    parser.add_argument("--lesson", default="sigmoid-saturates", help="the lesson every student opens")
    parser.add_argument("--level-timeout", type=float, default=480, help="seconds per class size at most")
    parser.add_argument("--first-step-timeout", type=float, default=300)
    parser.add_argument("--resets", type=int, default=100)
    parser.add_argument("--reset-warmup", type=int, default=10)
    parser.add_argument("--reset-timeout", type=float, default=480)
    parser.add_argument("--app", default="dashboard/app.py",
                        help="the Streamlit entry script; several, comma separated, alternate level by level")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server (e.g. MALLOC_ARENA_MAX=2); repeatable")
    args = parser.parse_args()
    server_env = dict(item.split("=", 1) for item in args.server_env)

    from playwright.sync_api import sync_playwright

    apps = [a for a in args.app.split(",") if a]
    levels, reset_results = [], {}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for level, n in enumerate(int(v) for v in args.sessions.split(",") if v):
                for app in apps[level % len(apps):] + apps[:level % len(apps)]:  # the order rotates per level
                    print(f"N = {n} sessions on {app} (lesson {args.lesson}, {args.steps} Steps each, "
                          f"at most {args.level_timeout:.0f} s)...", flush=True)
                    levels.append({"app": app, **run_level(browser, app, n, args.steps, args.lesson,
                                                           args.level_timeout, args.first_step_timeout, server_env)})
                    print_levels(levels[-1:])
            for app in apps if args.resets else []:
                print(f"{args.resets} resets in one session on {app} (at most {args.reset_timeout:.0f} s)...",
                      flush=True)
                reset_results[app] = resets(browser, app, args.resets, args.reset_warmup, args.lesson,
                                            args.reset_timeout, server_env)
        finally:
            browser.close()
    print(f"\nClassroom load, lesson {args.lesson}:")
    print_levels(levels)
    for app, reset_result in reset_results.items():
        print(f"\n{app}:", end="")
        print_resets(reset_result, args.reset_warmup)


if __name__ == "__main__":
    main()
