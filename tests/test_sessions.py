"""Sessions under load: isolation between simultaneous sessions, and memory hygiene on reset.

Streamlit runs each browser session's script in its own thread of one process, so
20 threads, each owning a Run, stand for 20 students training at the same moment.
Small nets, batch 32, 3 steps: the point is interference, not training.
"""

import gc
import itertools
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

from cnnviz.config import RunConfig
from cnnviz.training import Run
from cnnviz.training.pool import POOL
from scripts import make_test_models as models

STEPS = 3
SESSIONS = 20
# Ten different settings, each used by two sessions at once (same config must not mean shared state). They
# share four network/optimizer shapes, so the single-session reference also runs on reused compiled cores.
CONFIGS = [
    RunConfig(arch="softmax_regression", init="glorot-uniform", optimizer="sgd", lr=0.1, batch_size=32, seed=1),
    RunConfig(arch="softmax_regression", init="zeros", optimizer="sgd", lr=0.5, batch_size=32, seed=2),
    RunConfig(arch="softmax_regression", init="normal", optimizer="sgd", lr=0.05, batch_size=32, seed=3),
    RunConfig(arch="softmax_regression", init="he-normal", optimizer="adam", lr=0.01, batch_size=32, seed=4),
    RunConfig(arch="softmax_regression", init="lecun-normal", optimizer="adam", lr=0.001, batch_size=32, seed=5),
    RunConfig(arch="ltfn_mlp", init="he-normal", optimizer="adam", lr=0.001, batch_size=32, seed=6),
    RunConfig(arch="ltfn_mlp", init="normal", optimizer="adam", lr=0.01, batch_size=32, seed=7),
    RunConfig(arch="ltfn_mlp", init="glorot-normal", optimizer="adam", lr=0.003, batch_size=32, seed=8),
    RunConfig(arch="lenet5", init="glorot-uniform", optimizer="adam", lr=0.001, batch_size=32, seed=9),
    RunConfig(arch="lenet5", init="he-normal", optimizer="adam", lr=0.01, batch_size=32, seed=10),
]
LAYERS = {"softmax_regression": ["logits"], "ltfn_mlp": ["fc1", "fc2", "logits"],
          "lenet5": ["conv1", "conv2", "fc1", "fc2", "logits"]}


def train_session(config: RunConfig) -> dict:
    """What one session sees: its losses, its layers, its run's identity."""
    run = Run(config)
    losses = []
    run.train(STEPS, callback=lambda r, snapshot: losses.append(r.last_loss))
    return {"config": run.config, "losses": losses, "layers": [l.name for l in run.latest.layers],
            "model": run.model, "run": run}


@pytest.fixture(scope="module")
def single_session_results():
    """Each config trained alone, one after the other (the reference)."""
    return [train_session(config)["losses"] for config in CONFIGS]


def test_twenty_simultaneous_sessions_match_single_sessions(single_session_results):
    barrier = threading.Barrier(SESSIONS)
    results, failures = [None] * SESSIONS, []

    def session(index: int) -> None:
        try:
            barrier.wait()  # everyone builds, traces and trains at the same moment
            results[index] = train_session(CONFIGS[index % len(CONFIGS)])
        except Exception as exc:  # surfaced below with the session number
            failures.append((index, repr(exc)))

    threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not failures, failures

    runs = [r["run"] for r in results]
    # every session has a run of its own (compared with `is` while all are alive, not by reusable ids)...
    shared = [(i, j) for i, j in itertools.combinations(range(SESSIONS), 2) if runs[i] is runs[j]]
    assert shared == []
    # ... while the compiled machinery is shared by shape: 4 network/optimizer shapes here.
    from cnnviz.training.pool import cores_per_signature

    signatures = {run.core_key for run in runs}
    assert len(signatures) == 4
    assert sum(POOL.count(key) for key in signatures) <= 4 * cores_per_signature()
    for index, result in enumerate(results):
        config = CONFIGS[index % len(CONFIGS)]
        assert result["config"] == config  # each session kept its own settings
        assert result["layers"] == LAYERS[config.arch]
        assert len(result["losses"]) == STEPS and all(np.isfinite(result["losses"]))
        np.testing.assert_allclose(result["losses"], single_session_results[index % len(CONFIGS)], rtol=0, atol=1e-5,
                                   err_msg=f"session {index} ({config.arch}, {config.optimizer})")


def test_reset_reuses_the_compiled_core_and_reproduces_the_run():
    config = RunConfig(arch="softmax_regression", init="he-normal", optimizer="adagrad", lr=0.02, batch_size=32,
                       seed=11)
    first = train_session(config)
    first_run = weakref.ref(first.pop("run"))
    gc.collect()
    assert first_run() is None  # a reset really lets go of the old run
    cores_before = POOL.count()
    traces_before = POOL.traces_started

    again = train_session(config)  # the same settings again: the same numbers, no new trace
    assert again["model"] is first["model"]  # it runs on the same compiled core
    assert POOL.count() == cores_before and POOL.traces_started == traces_before
    np.testing.assert_allclose(again["losses"], first["losses"], rtol=0, atol=1e-6)

    other = train_session(config.replace(lr=0.2, seed=12))  # a new learning rate and seed take effect
    assert not np.allclose(other["losses"], first["losses"], atol=1e-4)


def test_reinspecting_an_uploaded_model_reuses_its_core_and_reproduces_the_numbers(tmp_path):
    from cnnviz.usermodels.run import prepare_user_run

    path = models.save(models.fused_model(), tmp_path / "mine.keras")
    config = RunConfig(arch="file", init="from-file", optimizer="sgd", lr=0.05, batch_size=16, seed=4)

    def inspect() -> tuple[list[float], int]:
        run = prepare_user_run(path, config)  # loads the file again, as a new upload would
        losses = []
        run.train(2, callback=lambda r, snapshot: losses.append(r.last_loss))
        return losses, run.model

    first_losses, first_model = inspect()
    gc.collect()
    again_losses, again_model = inspect()
    assert again_model is first_model  # the same compiled core, loaded with the new upload's weights
    np.testing.assert_allclose(again_losses, first_losses, rtol=0, atol=1e-6)


def test_two_browser_sessions_do_not_see_each_others_uploads(tmp_path):
    from streamlit.testing.v1 import AppTest

    page = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "your_model.py")
    data = models.save(models.logits_model(), tmp_path / "mine.keras").read_bytes()
    alice, bob = AppTest.from_file(page, default_timeout=120), AppTest.from_file(page, default_timeout=120)
    alice.run()
    bob.run()
    alice.file_uploader(key="your_model:model_file").set_value(("mine.keras", data, "application/octet-stream"))
    alice.button(key="your_model:inspect").click()
    alice.run()
    bob.run()
    assert not alice.exception and not bob.exception
    assert "cnnviz:user_model_run" in alice.session_state
    assert "cnnviz:user_model_run" not in bob.session_state


# ------------------------------------------------------------------ faults in a room on one lesson
# Real app sessions (dashboard/app.py under AppTest) on one lesson through one link, so they
# share the lesson's computed run. A hook holds a training step inside the compiled core
# while the fault happens; only then is the step let go.
APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
LESSON_LINK = {"lesson": "sigmoid-saturates", "batch_size": "16"}


class HeldStep:
    """While armed, the next training step (an update) stops inside the core until released."""

    def __init__(self, monkeypatch):
        from cnnviz.training.core import CompiledCore

        self.armed, self.inside, self.release = threading.Event(), threading.Event(), threading.Event()
        original = CompiledCore.run

        def run(core, state, images, labels, apply, probe, keep_source=True):
            if apply and self.armed.is_set():
                self.armed.clear()
                self.inside.set()
                assert self.release.wait(120)
            return original(core, state, images, labels, apply, probe, keep_source)

        monkeypatch.setattr(CompiledCore, "run", run)


def open_lesson_session(**params):
    import os

    from streamlit.testing.v1 import AppTest

    os.environ.setdefault("CNNVIZ_WARM_UP", "0")
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params.update({**LESSON_LINK, **params})
    at.run()
    assert not at.exception and at.title[0].value == "Activations (live training)"
    return at


def press_step_in_background(at, errors: list, timeout: float = 240):
    """Press Step on ``at`` on another thread (a browser that sent the click); the thread."""
    def press():
        try:
            at.button(key="activations:step").click().run(timeout=timeout)
        except Exception as error:  # a session whose browser went away: nobody reads its page
            errors.append(error)

    thread = threading.Thread(target=press)
    thread.start()
    return thread


def reference_losses(steps: int, seed: str) -> list[float]:
    """The lesson's run computed on its own (a dataset given explicitly: a private timeline)."""
    from cnnviz.data import load_dataset
    from dashboard import links, widgets

    request = links.parse_link({**LESSON_LINK, "seed": seed})
    config = widgets.config_from_settings(links.activations_settings(request))
    run = Run(config, dataset=load_dataset(config.dataset))
    run.train(steps)
    return run.losses


def test_a_session_closing_mid_step_changes_nobody_elses_run(monkeypatch):
    held = HeldStep(monkeypatch)
    # Each test its own seed: its own timeline, whatever earlier tests computed.
    leaving, staying = open_lesson_session(seed="101"), open_lesson_session(seed="101")
    leaving_run, staying_run = leaving.session_state["cnnviz:run"], staying.session_state["cnnviz:run"]
    assert leaving_run.timeline is staying_run.timeline  # one lesson, one computed run
    held.armed.set()
    errors = []
    thread = press_step_in_background(leaving, errors, timeout=2)  # its browser stops waiting after 2 s
    assert held.inside.wait(120)
    thread.join(30)  # ... and the session is gone while its step is still inside the core
    del leaving, leaving_run
    gc.collect()
    held.release.set()
    staying.button(key="activations:step").click().run()
    staying.button(key="activations:step").click().run()
    assert not staying.exception
    assert staying_run.step_count == 2
    assert staying_run.losses == pytest.approx(reference_losses(2, "101"), abs=1e-6)  # exactly the lesson's numbers


def test_two_tabs_of_one_student_are_two_runs_that_share_what_was_computed():
    first_tab, second_tab = open_lesson_session(seed="102"), open_lesson_session(seed="102")
    first, second = first_tab.session_state["cnnviz:run"], second_tab.session_state["cnnviz:run"]
    first_tab.button(key="activations:step").click().run()
    first_tab.button(key="activations:step").click().run()
    assert (first.step_count, second.step_count) == (2, 0)  # the second tab still shows step 0
    assert "Pre-activation histograms per layer — step 0" in " ".join(
        c.proto.spec for c in second_tab.get("plotly_chart"))
    computed = second.timeline.steps_computed
    second_tab.button(key="activations:step").click().run()
    assert second.step_count == 1 and second.timeline.steps_computed == computed  # found, not computed again
    assert second.losses == first.losses[:1]
    first_tab.selectbox(key="activations:init").set_value("he-normal").run()
    first_tab.button(key="activations:reset").click().run()
    assert first_tab.session_state["cnnviz:run"].config.init == "he-normal"
    assert second_tab.session_state["cnnviz:run"] is second and second.config.init == "normal"
    assert not first_tab.exception and not second_tab.exception


def test_changing_settings_while_a_shared_run_steps_changes_only_that_students_run(monkeypatch):
    held = HeldStep(monkeypatch)
    stepping, changing = open_lesson_session(seed="103"), open_lesson_session(seed="103")
    stepping_run = stepping.session_state["cnnviz:run"]
    held.armed.set()
    errors = []
    thread = press_step_in_background(stepping, errors)
    assert held.inside.wait(120)  # the shared run is inside its step ...
    # ... and the other student's page still draws (it never waits for someone else's step: the
    # held step never ends on its own, so a page that waited would time out here)
    changing.selectbox(key="activations:init").set_value("glorot-uniform").run(timeout=60)
    changing.button(key="activations:reset").click().run()  # ... while another student rebuilds with a change
    assert not changing.exception
    changed_run = changing.session_state["cnnviz:run"]
    assert changed_run.config.init == "glorot-uniform" and changed_run.step_count == 0
    assert changed_run.timeline is not stepping_run.timeline
    held.release.set()
    thread.join(240)
    assert not errors and not stepping.exception
    assert stepping_run.step_count == 1 and stepping_run.config.init == "normal"
    assert stepping_run.losses == pytest.approx(reference_losses(1, "103"), abs=1e-6)
    changing.button(key="activations:step").click().run()
    assert not changing.exception and changed_run.step_count == 1
    assert changed_run.losses[0] != pytest.approx(stepping_run.losses[0], abs=1e-6)


def test_reading_a_shared_run_never_waits_for_another_sessions_step(monkeypatch):
    held = HeldStep(monkeypatch)
    config = RunConfig(arch="softmax_regression", batch_size=16, seed=104)
    stepping, watching = Run(config), Run(config)
    watching.snapshot_at_init()
    held.armed.set()
    step = threading.Thread(target=stepping.step)
    step.start()
    assert held.inside.wait(120)
    read = {}
    reader = threading.Thread(target=lambda: read.update(latest=watching.latest, losses=watching.losses,
                                                        history=watching.history()))
    reader.start()
    reader.join(30)
    finished = not reader.is_alive()
    held.release.set()
    step.join(120)
    reader.join(120)
    assert finished  # the records were read while the other session's step was still inside the core
    assert read["latest"].step == 0 and read["losses"] == [] and list(read["history"]["step"].unique()) == [0]
    assert stepping.step_count == 1
    watching.step()
    assert watching.losses == stepping.losses  # and the step, once done, is found, not computed again
