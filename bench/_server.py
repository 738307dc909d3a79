"""Shared helper for the browser benchmarks: the real dashboard in a subprocess.

``DashboardServer`` starts ``python -m streamlit run dashboard/app.py`` headless on a
free loopback port, waits for ``/_stcore/health``, measures the resident memory of the
server and its children from ``/proc`` (now, and the peak seen by a sampler thread),
counts Python tracebacks in its log (a log with tracebacks is kept and its path printed,
a clean one deleted), and always kills it on the way out, even when the benchmark fails
half-way.

``launch_chromium`` starts Debian's Chromium through Playwright with the flags the
benchmarks share (no sandbox in containers, no GPU, no background traffic, loopback
only).

    with DashboardServer() as server, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        page.goto(server.url("activations"))
        print(server.rss_mib(), server.peak_rss_mib())
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server"]
# The benchmarks only ever talk to the local server: never through a proxy.
_LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _status_kib(pid: int, field: str) -> int:
    """One ``kB`` field (VmRSS, VmHWM) of /proc/<pid>/status; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children, grandchildren, ...), from /proc."""
    parent_of = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # the command name may contain spaces: the ppid is the 2nd field after the last ')'
                parent_of[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parent_of.items() if parent in frontier]
        tree.extend(frontier)
    return tree


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MiB."""
    return sum(_status_kib(p, "VmRSS") for p in descendants(pid)) / 1024


def tree_cpu_seconds(pid: int, include_self: bool = True) -> float:
    """User + system CPU seconds used so far by ``pid``'s live process tree (from /proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in descendants(pid):
        if member == pid and not include_self:
            continue
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total / ticks


def launch_chromium(playwright, headless: bool = True):
    """Debian's Chromium driven by Playwright's sync API, with the shared benchmark flags."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=headless, args=CHROMIUM_ARGS)


class DashboardServer:
    """The dashboard served by a real ``streamlit run`` subprocess (see module docs).

    ``started`` and ``healthy`` are ``time.perf_counter()`` stamps of the launch and of
    the first successful health check, so callers can time a cold start.
    """

    def __init__(self, app: str = "dashboard/app.py", port: int | None = None, extra_args=(),
                 start_timeout_s: float = 90.0, sample_every_s: float = 0.25, extra_env: dict | None = None):
        self.app = app
        self.extra_env = dict(extra_env or {})
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.start_timeout_s = start_timeout_s
        self.sample_every_s = sample_every_s
        self.process: subprocess.Popen | None = None
        self.started = self.healthy = None
        self._log = tempfile.NamedTemporaryFile(prefix="cnnviz-bench-server-", suffix=".log", delete=False)
        self._peak_mib = 0.0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def command(self) -> list[str]:
        return [sys.executable, "-m", "streamlit", "run", self.app, "--server.headless", "true",
                "--server.port", str(self.port), "--server.address", LOOPBACK,
                "--browser.gatherUsageStats", "false", *self.extra_args]

    def start(self) -> DashboardServer:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CNNVIZ_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
               **self.extra_env}
        self.started = time.perf_counter()
        # A session of its own: stop() can signal the whole group this call created, and nothing else.
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample_peak, name="rss-sampler", daemon=True)
        self._sampler.start()
        self.wait_healthy()
        return self

    def wait_healthy(self) -> float:
        """Poll ``/_stcore/health`` until it answers "ok" (bounded); returns seconds since launch."""
        deadline = self.started + self.start_timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with _LOOPBACK_OPENER.open(self.url("_stcore/health"), timeout=1.0) as reply:
                    if reply.status == 200:
                        self.healthy = time.perf_counter()
                        return self.healthy - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"streamlit did not answer on port {self.port} within {self.start_timeout_s:.0f} s:\n"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and its sampler; safe to call twice."""
        self._sampling.clear()
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)  # the group start() created for this server
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._sampler is not None:
            self._sampler.join(timeout=2)
        if self._log.closed:  # stopped before
            return
        self._log.flush()
        if self.process is not None:
            if self.traceback_count():  # keep the evidence, and say where it is
                print(f"server log with tracebacks kept: {self._log.name}", file=sys.stderr)
            else:
                self._log.close()
                Path(self._log.name).unlink()

    def __enter__(self) -> DashboardServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------- observing
    def url(self, path: str = "") -> str:
        return f"http://{LOOPBACK}:{self.port}/{path.lstrip('/')}"

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the server and its children have used so far."""
        return tree_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def rss_mib(self) -> float:
        """Resident memory of the server and its children now, in MiB."""
        return tree_rss_mib(self.process.pid) if self.process is not None else 0.0

    def peak_rss_mib(self) -> float:
        """The largest of: the sampled tree RSS, and the kernel's own high-water mark (VmHWM) of the server."""
        kernel_peak = _status_kib(self.process.pid, "VmHWM") / 1024 if self.process is not None else 0.0
        return max(self._peak_mib, kernel_peak, self.rss_mib())

    def reset_peak(self) -> None:
        """Forget the sampled peak (VmHWM cannot be reset; compare sampled peaks after this)."""
        self._peak_mib = self.rss_mib()

    def sampled_peak_mib(self) -> float:
        return max(self._peak_mib, self.rss_mib())

    def _sample_peak(self) -> None:
        while self._sampling.is_set() and self.process is not None and self.process.poll() is None:
            self._peak_mib = max(self._peak_mib, tree_rss_mib(self.process.pid))
            time.sleep(self.sample_every_s)

    def log_text(self) -> str:
        """The server's output so far ("" once stop() has removed a clean log)."""
        if not Path(self._log.name).exists():
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def traceback_count(self) -> int:
        """How many Python tracebacks the server has written to its log."""
        return self.log_text().count("Traceback (most recent call last)")

    @property
    def log_path(self) -> str:
        return self._log.name


# ------------------------------------------------------------------ the page in the browser
# Selectors of Streamlit 1.67's DOM that the benchmarks rely on.
MAIN_CHART = '[data-testid="stMain"] .js-plotly-plot'
EXCEPTION = '[data-testid="stException"]'
ERROR_ALERT = '[data-testid="stAlertContentError"]'
# stApp carries the script runner's state: "initial", "running", "notRunning", ...
APP_IDLE_JS = "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
STEP_METRIC_JS = """() => {
  for (const metric of document.querySelectorAll('[data-testid="stMain"] [data-testid="stMetric"]')) {
    const label = metric.querySelector('[data-testid="stMetricLabel"]');
    if (label && label.innerText.trim().startsWith('Training step')) {
      const value = metric.querySelector('[data-testid="stMetricValue"]');
      return value ? parseInt(value.innerText.replace(/[^0-9]/g, ''), 10) : null;
    }
  }
  return null;
}"""


def step_count(page) -> int | None:
    """The Activations page's "Training step" metric, or None if it is not drawn."""
    return page.evaluate(STEP_METRIC_JS)


def wait_for_step(page, expected: int, timeout_s: float) -> None:
    """Wait until the page shows step ``expected`` and its script run has finished."""
    page.wait_for_function(f"() => ({STEP_METRIC_JS})() === {int(expected)} && {APP_IDLE_JS}",
                           timeout=timeout_s * 1000, polling=50)


def wait_idle(page, timeout_s: float) -> None:
    """Wait until the page's script run has finished (Streamlit's own run state)."""
    page.wait_for_function(f"() => {APP_IDLE_JS}", timeout=timeout_s * 1000, polling=50)


def page_button(page, label: str):
    """The main-area button whose text ends with ``label`` ("Step", "Reset", ...)."""
    import re

    return page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile(rf"{re.escape(label)}$"))


def exception_count(page) -> int:
    """Uncaught exceptions the page is showing (Streamlit's exception boxes)."""
    return page.locator(EXCEPTION).count()
