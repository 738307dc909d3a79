"""A warm server: the lessons' networks are ready before the first student asks.

A first visitor used to pay for two things: TensorFlow/Keras importing, and building,
probing and tracing the lesson's network (seconds of CPU each). :func:`start_warm_up`
does that work once per process, on a background thread, in this order:

1. the imports every page needs (pages wait for them, :func:`wait_for_imports`, rather
   than import the same packages at the same moment from another thread);
2. step 0 of the Activations page's default run, computed and kept (the first chart
   anybody sees);
3. every lesson's compiled core, traced and run once (:func:`cnnviz.training.warmup.warm_cores`),
   so a lesson's first Step is an ordinary step;
4. step 0 of every other lesson's run, kept.

Steps 2-4 happen only while no page is drawing (:func:`page_running`): tracing holds the
GIL for seconds, and a first visitor's page, then its browser fetching plotly.js from
this same process, must not queue behind it.

Runs are shared by definition (:mod:`cnnviz.training.timeline`): a student who opens a
lesson finds its step 0 computed and starts from it without building anything. Only
step 0 is kept (a few MB per lesson); the compiled cores are process-wide anyway.

It starts with the server under ``streamlit run dashboard/server.py`` (a lifespan hook),
or on the first page view under ``streamlit run dashboard/app.py``; ``CNNVIZ_WARM_UP=0``
switches it off. Pages say how far it got (:func:`show_progress`); a Step that needs a
core being traced at that moment waits for that trace rather than tracing the same
network a second time (:mod:`cnnviz.training.pool`).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import streamlit as st

from cnnviz.config import RunConfig
from cnnviz.errors import UserError
from cnnviz.lessons import LESSONS

# Nothing here imports TensorFlow at import time: the server's lifespan hook imports this
# module on the event loop, and TensorFlow loads on the warm-up thread instead.


@dataclass
class WarmUpProgress:
    """How far the warm-up got (read from any thread)."""

    total: int = 1
    done: int = 0
    current: str | None = "starting"
    errors: list[str] = field(default_factory=list)
    imported: threading.Event = field(default_factory=threading.Event)  # TensorFlow and the dashboard loaded
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0


_lock = threading.Lock()
_progress: WarmUpProgress | None = None
# Script runs in progress: the warm-up gives way to them (a page draws at full speed while
# tracing, which holds the GIL for seconds, waits between networks).
_pages = threading.Condition()
_pages_running = 0
_last_page_end = 0.0
QUIET_S = 3.0  # the pages count as quiet this long after the last script run ended (browsers are drawing)
QUIET_WAIT_S = 10.0  # the longest the warm-up waits for the pages to go quiet before each network
# (timeline, step-0 state) of every lesson run: what keeps their step 0 computed for the next student.
_kept: list[tuple] = []


def lesson_configs() -> list[RunConfig]:
    """The runs the lessons (and the Activations page's defaults) start, default first, no repeats."""
    from dashboard import widgets

    configs = [widgets.config_from_settings(widgets.DEFAULTS)]
    for lesson in LESSONS.values():
        try:
            if lesson.page == "activations":
                configs.append(widgets.config_from_settings({**widgets.DEFAULTS, **lesson.settings}))
            elif lesson.page == "compare":
                settings = {key: value for key, value in lesson.settings.items() if key != "inits"}
                configs += [widgets.config_from_settings({**widgets.DEFAULTS, **settings}, init=init)
                            for init in lesson.settings.get("inits", [])]
        except UserError:  # a lesson with settings this server cannot use is simply not warmed
            continue
    return list(dict.fromkeys(configs))


def start_warm_up(configs: list[RunConfig] | None = None) -> WarmUpProgress | None:
    """Start the warm-up thread (once per process); its live progress.

    ``CNNVIZ_WARM_UP=0`` switches it off (None is returned): e.g. a test process.
    """
    global _progress
    if os.environ.get("CNNVIZ_WARM_UP", "1").strip() == "0":
        return None
    with _lock:
        if _progress is None:
            _progress = WarmUpProgress()
            threading.Thread(target=warm_up, args=(configs, _progress), name="cnnviz-server-warm-up",
                             daemon=True).start()
        return _progress


def progress() -> WarmUpProgress | None:
    """The warm-up's progress, or None if it has not been started in this process."""
    return _progress


@contextmanager
def page_running():
    """Around a script run (dashboard/app.py): the warm-up waits for it to end before its next network."""
    global _pages_running, _last_page_end
    with _pages:
        _pages_running += 1
    try:
        yield
    finally:
        with _pages:
            _pages_running -= 1
            _last_page_end = time.monotonic()
            _pages.notify_all()


def _wait_for_quiet() -> None:
    """Until no script run is in progress or ended in the last QUIET_S (at most QUIET_WAIT_S)."""
    deadline = time.monotonic() + QUIET_WAIT_S
    with _pages:
        while time.monotonic() < deadline:
            if _pages_running == 0:
                calm = time.monotonic() - _last_page_end
                if calm >= QUIET_S:
                    return
                _pages.wait(timeout=min(QUIET_S - calm, deadline - time.monotonic()))
            else:
                _pages.wait(timeout=max(0.0, deadline - time.monotonic()))


def warm_up(configs: list[RunConfig] | None = None, progress: WarmUpProgress | None = None) -> WarmUpProgress:
    """The warm-up itself, in the calling thread (see module docs); ``configs`` default to the lessons'."""
    progress = progress or WarmUpProgress()
    try:
        # Imports first: every page needs them, and a page that arrives meanwhile waits for the
        # same imports anyway (Python imports a module once), so starting them early is all gain.
        progress.current, progress.total = "loading TensorFlow", 10  # the total is known once the dashboard loads
        # What the pages import, so that no page imports it at the same time as this thread.
        import cnnviz.diagnosis  # noqa: F401
        import cnnviz.report  # noqa: F401
        import cnnviz.diagnosis.theory  # noqa: F401
        import dashboard.links  # noqa: F401
        from cnnviz.figures import activations as _figures  # noqa: F401 - plotly
        from cnnviz.training import Run
        from cnnviz.training import warmup

        configs = configs if configs is not None else lesson_configs()
        configs = list(dict.fromkeys(configs or [RunConfig()]))
        progress.total = 2 * len(configs)  # step 0 of each run, then each run's core
        progress.imported.set()
        # Then the work, each piece when no page is drawing (a first visitor's page, and then its
        # browser fetching plotly.js from this process, must not share the CPU with it): the first
        # chart anybody sees first (the Activations page's defaults come first in lesson_configs).
        _keep_step_zero(configs[:1], progress, Run)
        _wait_for_quiet()
        _load_plotting()
        traced = warmup.WarmUpProgress()

        def traced_one(inner) -> None:
            progress.done = 1 + inner.done
            progress.current = "compiling the lessons' networks"
            _wait_for_quiet()

        _wait_for_quiet()
        progress.current = "compiling the lessons' networks"
        warmup.warm_cores(configs, traced, on_step=traced_one)
        progress.errors += traced.errors
        _keep_step_zero(configs[1:], progress, Run)
    except Exception as error:  # noqa: BLE001 - a failed warm-up must never take the server down
        progress.errors.append(f"warm-up stopped: {error}")
    finally:
        progress.current = None
        progress.done = progress.total
        progress.imported.set()
        progress.finished.set()
    return progress


def _load_plotting() -> None:
    """Draw each kind of figure once and throw it away: plotly loads its validators on first use (~1 s)."""
    from cnnviz.figures import activations as layer_figures
    from cnnviz.figures import training_curves as curve_figures
    from cnnviz.probing.history import snapshots_to_frame

    if not _kept or 0 not in _kept[0][0].snapshots:
        return
    snapshot = _kept[0][0].snapshots[0]
    history = snapshots_to_frame([snapshot])
    layer_figures.histogram_grid(snapshot)
    layer_figures.std_per_layer(snapshot, {layer.name: 1.0 for layer in snapshot.layers})
    curve_figures.loss_curve(history, chance_loss=2.3)
    curve_figures.gradient_and_update_chart(history)
    curve_figures.histogram_heatmap(history, snapshot.layers[0].name)


def _keep_step_zero(configs: list[RunConfig], progress: WarmUpProgress, run_class) -> None:
    for config in configs:
        _wait_for_quiet()
        progress.current = f"step 0 of {config.arch} with {config.init} weights"
        try:
            run = run_class(config)
            run.snapshot_at_init()
            _kept.append((run.timeline, run.timeline.states.get(0)))
        except Exception as error:  # noqa: BLE001 - one lesson that cannot be built must not stop the others
            progress.errors.append(f"{config.arch} with {config.init}: {error}")
        progress.done += 1


def wait_for_imports(timeout_s: float = 300.0) -> None:
    """Let the warm-up finish importing TensorFlow and the dashboard before this script imports them.

    Two threads importing the same big package tree at once can hand one of them a
    partially initialised module (Python breaks the import-lock cycle that way), which
    showed up as a rare exception on a cold server's first page. The page would wait for
    these imports anyway; it says so meanwhile.
    """
    current = _progress
    if current is None or current.imported.is_set():
        return
    with st.spinner("Loading TensorFlow (the first visit after the server started)…"):
        current.imported.wait(timeout_s)


def prefetch_chart_library() -> None:
    """On a session's first script run, a blank 10-pixel chart in the sidebar.

    Streamlit's frontend loads plotly.js (megabytes) only when a page first shows a plotly
    chart; a new visitor's first chart then waits for that download after the server has
    finished. Showing a blank one at once, before the page's own work, starts the download
    while the server builds the real charts (about a second earlier on a loaded 2-core
    machine, bench/bench_time_to_first_chart.py). It is gone on the next rerun. Call it
    after :func:`wait_for_imports` (plotly imports pandas).
    """
    from dashboard import state

    if state.get(state.CHART_LIBRARY_REQUESTED):
        return
    state.put(state.CHART_LIBRARY_REQUESTED, True)
    blank = {"data": [{"type": "scatter", "x": [], "y": []}],
             "layout": {"title": {"text": ""}, "height": 10, "width": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}}}
    st.sidebar.plotly_chart(blank, config={"staticPlot": True}, key="cnnviz:chart_library")


def show_progress() -> None:
    """While the warm-up runs: a progress bar in the sidebar that follows it, then nothing."""
    current = _progress
    if current is None or current.finished.is_set():
        return

    @st.fragment(run_every=1.0)
    def bar() -> None:
        if current.finished.is_set():
            st.rerun()  # a full rerun drops this fragment and its timer
        text = current.current or "starting"
        st.progress(current.fraction, text=f"Preparing the lessons' networks ({current.done} of {current.total}): "
                                           f"{text}. Pages work meanwhile; a first Step may wait for its network.")

    with st.sidebar:
        bar()
