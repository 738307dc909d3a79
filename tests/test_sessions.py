"""Sessions under load: isolation between simultaneous sessions, and memory hygiene on reset.

Streamlit runs each browser session's script in its own thread of one process, so
20 threads, each owning a Run, stand for 20 students training at the same moment.
Small nets, batch 32, 3 steps: the point is interference, not training.
"""

import gc
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

    runs = [r["run"] for r in results]  # all alive, so their ids are distinct objects
    assert len({id(run) for run in runs}) == SESSIONS  # every session has a run of its own...
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
    from cnnviz.user_models import prepare_user_run

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
