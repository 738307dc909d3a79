"""The figure cache (cnnviz.figures.cache): built once per view, never a stale figure, bounded."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.config import RunConfig
from cnnviz.figures import cache as figure_cache
from cnnviz.figures import training_curves as curves
from cnnviz.figures.cache import FigureCache, run_view_key
from cnnviz.training import Run

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
os.environ.setdefault("CNNVIZ_WARM_UP", "0")
APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


def test_the_cache_keeps_the_most_recently_used_entries_up_to_its_size():
    cache = FigureCache(size=lambda: 3)
    for key in "abcd":
        cache.get(key, lambda key=key: key.upper())
    assert len(cache) == 3 and cache.stats.evicted == 1
    assert cache.get("b", lambda: "rebuilt") == "B"  # still there (and now the most recent)
    cache.get("e", lambda: "E")  # evicts c, the least recently used
    assert cache.get("c", lambda: "rebuilt") == "rebuilt"
    assert cache.get("b", lambda: "rebuilt") == "B"


def test_a_size_of_zero_switches_caching_off():
    cache = FigureCache(size=lambda: 0)
    assert [cache.get("k", lambda n=n: n) for n in range(3)] == [0, 1, 2] and len(cache) == 0


def test_many_sessions_asking_for_one_missing_figure_build_it_once():
    cache = FigureCache(size=lambda: 10)
    builds, results = [], []
    start = threading.Barrier(8)

    def build():
        builds.append(1)
        time.sleep(0.3)  # slow enough that every other thread asks meanwhile
        return object()

    def session():
        start.wait()
        results.append(cache.get("grid", build))

    threads = [threading.Thread(target=session) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(builds) == 1 and len(results) == 8 and len({id(r) for r in results}) == 1


def test_a_failed_build_is_not_cached_and_the_next_caller_builds_again():
    cache = FigureCache(size=lambda: 10)
    with pytest.raises(ZeroDivisionError):
        cache.get("k", lambda: 1 / 0)
    assert cache.get("k", lambda: "ok") == "ok"


@pytest.fixture(scope="module")
def twins():
    """Two sessions on one run definition (one timeline), and one on another seed."""
    config = RunConfig(arch="ltfn_mlp", batch_size=16, seed=8)
    return Run(config), Run(config), Run(config.replace(seed=9))


def test_sessions_on_one_run_share_views_and_never_see_a_figure_of_another_step(twins):
    behind, ahead, other = twins
    behind.snapshot_at_init()
    ahead.train(3)
    assert run_view_key(behind) != run_view_key(ahead)
    assert run_view_key(other) != run_view_key(behind)  # another seed: another timeline
    # What the cache hands the session that is behind is its own step's history, not the timeline's latest.
    history = figure_cache.run_figure(behind, "history", None, behind.history)
    assert list(history["step"].unique()) == [0]
    figure = figure_cache.run_figure(behind, "loss", None, lambda: curves.loss_curve(history))
    assert list(figure.data[0].x) == [0]
    behind.train(3)  # catches up: now it shares the session ahead's view and figures
    assert run_view_key(behind) == run_view_key(ahead)
    shared = figure_cache.run_figure(ahead, "loss", None, lambda: curves.loss_curve(ahead.history()))
    assert figure_cache.run_figure(behind, "loss", None, lambda: pytest.fail("built twice")) is shared
    assert list(shared.data[0].x) == [0, 1, 2, 3]


def test_a_freed_timeline_takes_its_figures_with_it():
    run = Run(RunConfig(arch="softmax_regression", batch_size=16, seed=21))
    figure_cache.run_figure(run, "history", None, run.history)
    token = run_view_key(run)[0]
    assert sum(1 for key in figure_cache.FIGURES.keys() if key[0] == token) == 1
    del run
    gc.collect()
    assert not any(key[0] == token for key in figure_cache.FIGURES.keys())


# ------------------------------------------------------------------ on the page
@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params.update({"arch": "ltfn_mlp", "batch_size": "16", "seed": "4"})
    at.run()
    assert not at.exception and at.title[0].value == "Activations (live training)"
    return at


def built_during(at: AppTest, action) -> int:
    before = figure_cache.STATS.built
    action()
    at.run()
    assert not at.exception
    return figure_cache.STATS.built - before


def test_a_rerun_that_changes_nothing_builds_no_figure(page):
    assert built_during(page, lambda: None) == 0


def test_a_toggle_builds_only_the_figure_it_changes_and_toggling_back_builds_nothing(page):
    toggle = lambda value: page.toggle(key="activations:log_counts").set_value(value)  # noqa: E731
    assert built_during(page, lambda: toggle(True)) == 1  # the histogram grid in the new look
    grid = [c for c in page.get("plotly_chart") if '"type":"log"' in c.proto.spec.replace(" ", "")]
    assert grid  # ... and it is drawn with log counts
    assert built_during(page, lambda: toggle(False)) == 0  # the linear grid is still in the cache


def test_a_step_builds_the_new_views_figures(page):
    built = built_during(page, lambda: page.button(key="activations:step").click())
    assert built >= 5  # histograms, spread, loss, gradients, heatmap (plus history and findings)
    titles = " ".join(c.proto.spec for c in page.get("plotly_chart"))
    assert "step 1" in titles
