"""Classroom load: many students on one real server, the server's CPU measured apart from the students'.

For each class size N and each scenario a fresh server is started (``bench/_server.py``;
by default ``dashboard/server.py``, the warm classroom entry) and, once its warm-up is
done, a teacher session opens the lesson (the baseline memory). Then N students open
the lesson's link at once and press Step ``--steps`` times, all together each time:

  same   - every student opens ``/activations?lesson=L`` (one run definition: a room on one lesson)
  seeds  - student i opens ``/activations?lesson=L&seed=i`` (N runs of one network shape)

Students are, by default, protocol clients (``bench/_protocol.py``): real Streamlit
sessions over the app's websocket that draw nothing, so the server's CPU is measured
alone, as in a room whose students bring their own laptops. ``--clients browser`` uses
one headless Chromium context per student instead (the page really drawn, on the same
cores as the server: browser CPU is reported apart).

  open s        - from loading the link to the page's script run finished (step 0 drawn)
  first Step s  - from the press to the page's script run finished, all students at once
  Step s        - the same for the later presses (steady state)
  vs warm N=1   - median Step wait / the median steady Step of one student on the same lesson
  CPU s         - server CPU during the first round, and per steady round; the students' CPU
  MiB/session   - (server RSS after the students opened - RSS after the teacher) / N
  traces        - compiled cores traced in the server process (``/_cnnviz/stats``; needs server.py)
  errors        - exception boxes on the students' pages + tracebacks in the server log

Then ``--resets`` Resets in one session: RSS after ``--reset-warmup`` of them and after the last.

    python bench/bench_classroom.py                                      # N = 1, 10, 30; same and seeds; 100 resets
    python bench/bench_classroom.py --sessions 1,10 --resets 0           # what a loaded 2-core machine manages
    python bench/bench_classroom.py --clients browser --sessions 1,5 --scenarios same --resets 0
    python bench/bench_classroom.py --app dashboard/app.py               # the plain entry (warms on first visit)
    python bench/bench_classroom.py --app /work/main/dashboard/app.py --via-lessons-page --scenarios same \
        --server-env STREAMLIT_RUNNER_POST_SCRIPT_GC=true                # another tree, with its own settings

Targets (issue 13): ten students pressing Step together wait a median <= 3x a warm single
session's Step on one lesson, <= 5x with ten different seeds; thirty students all finish
three Steps; traces after 30 sessions of one lesson = the number of distinct core shapes;
memory per session and over 100 resets as before or better.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import ProtocolSession  # noqa: E402
from _server import _LOOPBACK_OPENER, DashboardServer, tree_cpu_seconds  # noqa: E402

TARGET_SAME_RATIO = 3.0
TARGET_SEEDS_RATIO = 5.0
TARGET_RESET_GROWTH_PERCENT = 5.0
STEP = "activations:step"


def server_stats(server) -> dict | None:
    """``/_cnnviz/stats`` of the server (None for an entry without it)."""
    try:
        with _LOOPBACK_OPENER.open(server.url("_cnnviz/stats"), timeout=5) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def wait_warm(server, timeout_s: float) -> float | None:
    """Seconds until the server's warm-up finished (None: the server does not say)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        stats = server_stats(server)
        if stats is None:
            return None
        if stats.get("warm_up") and stats["warm_up"]["finished"]:
            return time.monotonic() - started
        time.sleep(1.0)
    return None


def client_cpu_seconds(server) -> float:
    """CPU seconds of this process and its children except the server (the students)."""
    return tree_cpu_seconds(os.getpid()) - server.cpu_seconds()


def link(lesson: str, scenario: str, index: int) -> str:
    return f"lesson={lesson}" + (f"&seed={index + 1}" if scenario == "seeds" else "")


# ------------------------------------------------------------------ protocol students
async def open_lesson(session: ProtocolSession, lesson: str, query: str, via_lessons_page: bool,
                      timeout_s: float) -> float:
    """Open the lesson by its link, or (a tree without lesson links) with its button on the Lessons page."""
    if not via_lessons_page:
        return await session.open("activations", query, timeout_s)
    return await session.open("", "", timeout_s) + await session.press(f"lesson:{lesson}", timeout_s)


async def protocol_level(server, sessions: int, steps: int, lesson: str, scenario: str, timeout_s: float,
                         via_lessons_page: bool = False) -> dict:
    result = {"open_s": [], "first_step_s": [], "step_s": [], "completed": "no", "cpu_rounds": []}
    teacher = await ProtocolSession(server.port).__aenter__()
    students = []
    try:
        await open_lesson(teacher, lesson, f"lesson={lesson}", via_lessons_page, timeout_s)
        result["baseline_mib"] = server.rss_mib()
        server.reset_peak()
        students = [await ProtocolSession(server.port).__aenter__() for _ in range(sessions)]
        cpu0, client0 = server.cpu_seconds(), client_cpu_seconds(server)
        result["open_s"] = list(await asyncio.gather(*(
            open_lesson(s, lesson, link(lesson, scenario, i), via_lessons_page, timeout_s)
            for i, s in enumerate(students))))
        result["open_mib"] = server.rss_mib()
        result["cpu_open_s"] = server.cpu_seconds() - cpu0
        result["completed"] = "opened"
        for round_index in range(steps):
            cpu0 = server.cpu_seconds()
            waits = await asyncio.gather(*(s.press(STEP, timeout_s) for s in students))
            result["cpu_rounds"].append(server.cpu_seconds() - cpu0)
            result["first_step_s" if round_index == 0 else "step_s"] += list(waits)
            result["completed"] = f"{round_index + 1} Steps"
        result["completed"] = "all"
        result["client_cpu_s"] = client_cpu_seconds(server) - client0
    except Exception as error:  # noqa: BLE001 - a level that fails reports what it finished
        result["completed"] += f" (stopped: {type(error).__name__}: {error})"
    finally:
        result["steps_shown"] = sorted({s.metric("Training step") for s in students})
        result["exceptions"] = sum(len(s.exceptions) for s in [teacher, *students])
        result["kib_per_step_press"] = (statistics.median(s.received_bytes / max(s.runs, 1) for s in students) / 1024
                                        if students else float("nan"))
        for session in [teacher, *students]:
            await session.close()
    return result


async def protocol_resets(server, count: int, warmup: int, lesson: str, timeout_s: float) -> dict:
    result = {"done": 0, "rss": []}
    async with ProtocolSession(server.port) as session:
        await session.open("activations", f"lesson={lesson}", timeout_s)
        result["start_mib"] = server.rss_mib()
        try:
            for done in range(1, count + 1):
                await session.press("activations:reset", timeout_s)
                result["done"] = done
                result["rss"].append(server.rss_mib())
                if done == warmup:
                    result["warm_mib"] = server.rss_mib()
        except Exception as error:  # noqa: BLE001
            result["stopped"] = f"{type(error).__name__}: {error}"
        result["exceptions"] = len(session.exceptions)
    return result


# ------------------------------------------------------------------ browser students
def browser_level(browser, server, sessions: int, steps: int, lesson: str, scenario: str, timeout_s: float) -> dict:
    from _server import EXCEPTION, step_count, wait_for_step

    result = {"open_s": [], "first_step_s": [], "step_s": [], "completed": "no", "cpu_rounds": []}
    contexts = []

    def page_for(query: str):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.goto(server.url(f"activations?{query}"), wait_until="commit", timeout=timeout_s * 1000)
        return page

    try:
        teacher = page_for(f"lesson={lesson}")
        wait_for_step(teacher, 0, timeout_s)
        result["baseline_mib"] = server.rss_mib()
        server.reset_peak()
        cpu0, client0 = server.cpu_seconds(), client_cpu_seconds(server)
        started = time.time()
        pages = [page_for(link(lesson, scenario, i)) for i in range(sessions)]
        for page in pages:
            wait_for_step(page, 0, timeout_s)
        result["open_s"] = [time.time() - started] * sessions
        result["open_mib"] = server.rss_mib()
        result["cpu_open_s"] = server.cpu_seconds() - cpu0
        result["completed"] = "opened"
        for round_index in range(steps):
            cpu0 = server.cpu_seconds()
            clicked = {}
            for index, page in enumerate(pages):
                clicked[index] = time.time()
                page.locator('[data-testid="stMain"]').get_by_role("button", name="Step").click()
            waits = []
            for index, page in enumerate(pages):
                wait_for_step(page, round_index + 1, timeout_s)
                waits.append(time.time() - clicked[index])
            result["cpu_rounds"].append(server.cpu_seconds() - cpu0)
            result["first_step_s" if round_index == 0 else "step_s"] += waits
            result["completed"] = f"{round_index + 1} Steps"
        result["completed"] = "all"
        result["client_cpu_s"] = client_cpu_seconds(server) - client0
    except Exception as error:  # noqa: BLE001
        result["completed"] += f" (stopped: {type(error).__name__})"
    finally:
        result["steps_shown"] = sorted({step_count(c.pages[0]) for c in contexts[1:] if c.pages}, key=str)
        result["exceptions"] = sum(c.pages[0].locator(EXCEPTION).count() for c in contexts if c.pages)
        result["kib_per_step_press"] = float("nan")
        for context in contexts:
            context.close()
    return result


# ------------------------------------------------------------------ levels
def run_level(args, sessions: int, scenario: str, browser=None) -> dict:
    with DashboardServer(app=args.app, extra_env=dict(item.split("=", 1) for item in args.server_env),
                         start_timeout_s=120) as server:
        warm_s = wait_warm(server, args.warm_timeout)
        if browser is None:
            result = asyncio.run(protocol_level(server, sessions, args.steps, args.lesson, scenario,
                                                args.level_timeout, args.via_lessons_page))
        else:
            result = browser_level(browser, server, sessions, args.steps, args.lesson, scenario, args.level_timeout)
        stats = server_stats(server) or {}
        result.update(sessions=sessions, scenario=scenario, warm_s=warm_s, traces=stats.get("traces_started"),
                      core_signatures=stats.get("core_signatures"), end_mib=server.rss_mib(),
                      peak_mib=server.sampled_peak_mib(), tracebacks=server.traceback_count())
    opened = result.get("open_mib", result.get("baseline_mib", float("nan")))
    result["per_session_mib"] = (opened - result.get("baseline_mib", float("nan"))) / sessions
    return result


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def print_levels(levels: list[dict]) -> None:
    """One row per (scenario, N); "vs warm N=1" divides by the steady Step of one student on one lesson."""
    single = [r for r in levels if r["sessions"] == 1 and r["scenario"] == "same" and r["step_s"]]
    base = statistics.median(single[0]["step_s"]) if single else None
    print("\n| scenario | N | completed | open s | first Step s | vs warm N=1 | Step s | vs warm N=1 | "
          "server CPU s: open / first round / steady round | students' CPU s | MiB/session | peak MiB | traces "
          "(shapes) | errors |")
    print("| --- " * 14 + "|")
    for r in levels:
        def ratio(values):
            return f"{statistics.median(values) / base:.1f}x" if base and values else "n/a"

        rounds = r["cpu_rounds"]
        steady = f"{statistics.median(rounds[1:]):.1f}" if len(rounds) > 1 else "n/a"
        first = f"{rounds[0]:.1f}" if rounds else "n/a"
        shapes = len(r["core_signatures"]) if r.get("core_signatures") else "?"
        print(f"| {r['scenario']} | {r['sessions']} | {r['completed']} | {spread(r['open_s'])} | "
              f"{spread(r['first_step_s'])} | {ratio(r['first_step_s'])} | {spread(r['step_s'])} | "
              f"{ratio(r['step_s'])} "
              f"| {r.get('cpu_open_s', float('nan')):.1f} / {first} / {steady} | "
              f"{r.get('client_cpu_s', float('nan')):.1f} | {r['per_session_mib']:.1f} | {r['peak_mib']:.0f} | "
              f"{r['traces']} ({shapes}) | {r['exceptions']} + {r['tracebacks']} |")


def print_verdicts(levels: list[dict]) -> None:
    single = [r for r in levels if r["sessions"] == 1 and r["scenario"] == "same" and r["step_s"]]
    if not single:
        return
    base = statistics.median(single[0]["step_s"])
    print(f"\nwarm single session's Step (same lesson, N=1, steady): {base:.2f} s")
    for r in levels:
        if r["sessions"] == 10 and r["step_s"]:
            target = TARGET_SAME_RATIO if r["scenario"] == "same" else TARGET_SEEDS_RATIO
            for label, values in (("first Step", r["first_step_s"]), ("steady Step", r["step_s"])):
                ratio = statistics.median(values) / base
                print(f"N=10 {r['scenario']}, {label}: median wait {ratio:.1f}x (target <= {target:.0f}x: "
                      f"{'meets' if ratio <= target else 'misses'})")
        if r["sessions"] == 30:
            print(f"N=30 {r['scenario']}: completed {r['completed']}; steps shown {r['steps_shown']}; traces "
                  f"{r['traces']} for {len(r['core_signatures'] or [])} core shapes")


def print_resets(r: dict, warmup: int) -> None:
    print(f"\nResets in one session: {r['done']} done{' (stopped: ' + r['stopped'] + ')' if 'stopped' in r else ''}")
    if "warm_mib" in r and r["done"] > warmup:
        growth = 100 * (r["rss"][-1] - r["warm_mib"]) / r["warm_mib"]
        verdict = "meets" if growth <= TARGET_RESET_GROWTH_PERCENT else "misses"
        print(f"RSS at lesson open {r['start_mib']:.0f} MiB, after {warmup} resets {r['warm_mib']:.0f} MiB, after "
              f"{r['done']} {r['rss'][-1]:.0f} MiB: growth {growth:+.1f}%; target <= "
              f"{TARGET_RESET_GROWTH_PERCENT:.0f}%: {verdict}")
        marks = sorted({1, warmup, 25, 50, 75, 100, len(r["rss"])} & set(range(1, len(r["rss"]) + 1)))
        print("RSS after reset " + ", ".join(f"{i}: {r['rss'][i - 1]:.0f}" for i in marks) + " MiB")
    print(f"exceptions shown: {r['exceptions']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,10,30", help="class sizes, comma separated")
    parser.add_argument("--scenarios", default="same,seeds", help="same (one lesson) and/or seeds (one seed each)")
    parser.add_argument("--steps", type=int, default=3, help="Step presses per student")
    parser.add_argument("--lesson", default="sigmoid-saturates", help="the lesson every student opens")
    parser.add_argument("--clients", choices=("protocol", "browser"), default="protocol")
    parser.add_argument("--app", default="dashboard/server.py", help="the entry `streamlit run` starts")
    parser.add_argument("--level-timeout", type=float, default=600, help="seconds one script run may take at most")
    parser.add_argument("--warm-timeout", type=float, default=300)
    parser.add_argument("--via-lessons-page", action="store_true",
                        help="open the lesson with its button on the Lessons page (trees without lesson links; "
                             "the seeds scenario needs links)")
    parser.add_argument("--resets", type=int, default=100)
    parser.add_argument("--reset-warmup", type=int, default=10)
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server (e.g. MALLOC_ARENA_MAX=2); repeatable")
    args = parser.parse_args()

    levels = []
    browser = playwright = None
    if args.clients == "browser":
        from _server import launch_chromium
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = launch_chromium(playwright)
    try:
        for n in (int(v) for v in args.sessions.split(",") if v):
            for scenario in (s for s in args.scenarios.split(",") if s):
                if n == 1 and scenario == "seeds":
                    continue  # one student is one run either way
                print(f"N = {n}, {scenario} (lesson {args.lesson}, {args.steps} Steps each, {args.clients} clients, "
                      f"{args.app})...", flush=True)
                levels.append(run_level(args, n, scenario, browser))
                print_levels(levels[-1:])
        resets = None
        if args.resets:
            print(f"{args.resets} resets in one session...", flush=True)
            with DashboardServer(app=args.app, start_timeout_s=120) as server:
                wait_warm(server, args.warm_timeout)
                resets = asyncio.run(protocol_resets(server, args.resets, args.reset_warmup, args.lesson,
                                                     args.level_timeout))
    finally:
        if browser is not None:
            browser.close()
            playwright.stop()
    print(f"\nClassroom load, lesson {args.lesson}, {args.clients} clients, {args.app}, "
          f"load average before: {os.getloadavg()[0]:.1f}:")
    print_levels(levels)
    print_verdicts(levels)
    if resets is not None:
        print_resets(resets, args.reset_warmup)


if __name__ == "__main__":
    main()
