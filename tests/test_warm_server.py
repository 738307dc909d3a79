"""A warm server: cores traced ahead of time, once, and step 0 of the lessons kept for the next student.

Each test uses its own histogram bin count, which is part of a core's signature, so the
process-wide pool holds cores no other test touches.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from cnnviz.config import RunConfig
from cnnviz.data import load_dataset
from cnnviz.training import Run
from cnnviz.training.core import CompiledCore
from cnnviz.training.pool import POOL
from cnnviz.training.warmup import warm_in_background


def test_a_session_asking_for_a_core_being_warmed_waits_for_it_instead_of_tracing_another(monkeypatch):
    config = RunConfig(arch="ltfn_mlp", batch_size=16, seed=3, bins=23)
    tracing, release = threading.Event(), threading.Event()
    original = CompiledCore.warm

    def slow_warm(core):  # hold the trace open until the student has asked for the core
        tracing.set()
        assert release.wait(60)
        original(core)

    monkeypatch.setattr(CompiledCore, "warm", slow_warm)
    traces_before = POOL.traces_started
    progress = warm_in_background([config])
    assert tracing.wait(120)
    student = {}

    def first_student():
        run = Run(config)  # needs the core the warm-up is tracing
        run.step()
        student["run"] = run

    thread = threading.Thread(target=first_student)
    thread.start()
    time.sleep(1.0)
    assert "run" not in student  # waiting for the warm-up's core, not building its own
    release.set()
    thread.join(120)
    assert progress.finished.wait(120) and not progress.errors
    run = student["run"]
    assert run.step_count == 1 and np.isfinite(run.last_loss)
    assert POOL.count(run.core_key) == 1
    assert POOL.traces_started == traces_before + 1  # one core traced for this shape, by the warm-up


def test_warming_a_core_keeps_the_state_it_held_and_the_next_step_needs_no_trace():
    config = RunConfig(arch="softmax_regression", batch_size=16, seed=5, bins=41)
    digits = load_dataset("mnist-sample")  # a dataset given explicitly: a private timeline, computed again
    held = Run(config, dataset=digits)
    held.step()  # its state now lives only in the core's registers
    core_key = held.core_key
    assert POOL.warm(core_key, held._build_core)
    with held._core() as core:
        traced = core.traced
        assert traced == core.functions  # every compiled function traced (and run once)
    held.train(2)
    with held._core() as core:
        assert core.traced == traced  # stepping on a warm core traces nothing new
    reference = Run(config, dataset=digits)
    reference.train(3)
    assert held.losses == reference.losses  # the warm-up's throwaway run left no trace in the held state
    assert not POOL.warm(core_key, held._build_core)  # nothing left to warm


def test_the_lesson_configs_start_with_the_activations_default_and_cover_every_training_lesson():
    from cnnviz.lessons import LESSONS
    from dashboard import warm

    configs = warm.lesson_configs()
    assert configs[0] == RunConfig()  # what /activations builds when opened directly
    assert len(configs) == len(set(configs))
    archs = {(c.arch, c.init, c.optimizer, c.lr) for c in configs}
    for lesson in LESSONS.values():
        if lesson.page == "activations":
            s = lesson.settings
            assert (s["arch"], s["init"], s["optimizer"], s["lr"]) in archs
        elif lesson.page == "compare":
            assert {c.init for c in configs if c.arch == lesson.settings["arch"]} >= set(lesson.settings["inits"])


def test_after_the_warm_up_a_student_gets_step_0_without_computing_it_and_steps_without_tracing():
    from dashboard import warm

    configs = [RunConfig(arch="softmax_regression", batch_size=16, seed=s, bins=29) for s in (1, 2)]
    traces_before = POOL.traces_started
    progress = warm.warm_up(configs)
    assert progress.finished.is_set() and not progress.errors and progress.fraction == 1.0
    assert POOL.traces_started == traces_before + 1  # two lessons of one shape: one core
    for config in configs:
        student = Run(config)
        assert student.timeline.steps_computed == 1  # the warm-up's step-0 probe, nothing new
        snapshot = student.snapshot_at_init()
        assert student.timeline.steps_computed == 1 and snapshot.step == 0
        student.step()
    assert POOL.traces_started == traces_before + 1


def test_the_pages_show_the_warm_up_while_it_runs(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard import warm

    unfinished = warm.WarmUpProgress(total=8, done=3, current="compiling the lessons' networks")
    unfinished.imported.set()  # past its imports: pages no longer wait for it
    monkeypatch.setattr(warm, "_progress", unfinished)
    monkeypatch.setattr(warm, "start_warm_up", lambda configs=None: unfinished)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=120).run()
    assert not at.exception
    bars = [bar for bar in at.sidebar.get("progress")]
    assert bars and "3 of 8" in bars[0].proto.text and "compiling" in bars[0].proto.text
    assert at.title[0].value.startswith("cnnviz")  # the page itself drew meanwhile
    unfinished.finished.set()
    at.run()
    assert not at.sidebar.get("progress")  # gone once the warm-up is done


def test_a_page_waits_for_the_warm_ups_imports_before_importing_anything_itself(monkeypatch):
    # Two threads importing one package tree at once can hand one of them a partially initialised
    # module: the first page of a cold server must let the warm-up finish its imports first.
    from streamlit.testing.v1 import AppTest

    from dashboard import warm

    importing = warm.WarmUpProgress(total=8, current="loading TensorFlow")
    monkeypatch.setattr(warm, "_progress", importing)
    monkeypatch.setattr(warm, "start_warm_up", lambda configs=None: importing)
    seen = []
    original = warm.prefetch_chart_library
    monkeypatch.setattr(warm, "prefetch_chart_library", lambda: seen.append(importing.imported.is_set()) or original())
    timer = threading.Timer(1.0, importing.imported.set)
    timer.start()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=120).run()
    timer.join()
    assert not at.exception and at.title[0].value.startswith("cnnviz")
    assert seen == [True]  # the page went on only once the warm-up's imports were done
