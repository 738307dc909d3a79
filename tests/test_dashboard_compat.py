"""dashboard/compat.py: Streamlit must not clear Keras's session after a script run of the app.

Streamlit 1.67 calls ``keras.backend.clear_session()`` after every script run; in a
server whose sessions share compiled cores that resets Keras under sessions that are
stepping and makes every next Step instantiate its graph again. These tests fail when
a Streamlit upgrade moves that clean-up where the patch no longer reaches.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import keras
import pytest
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from dashboard import compat

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
os.environ.setdefault("CNNVIZ_WARM_UP", "0")  # no background warm-up competing with these tests
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture
def clear_session_calls(monkeypatch):
    """Counts calls of keras.backend.clear_session (without clearing this test process's session)."""
    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: calls.append(1))
    return calls


def test_streamlit_clears_keras_in_the_function_the_patch_replaces(clear_session_calls):
    # If this fails, Streamlit moved its Keras clean-up: compat.keep_keras_session must follow it.
    assert compat.keep_keras_session()
    streamlit_own = compat.replaced_clean_up()
    assert streamlit_own is not None and streamlit_own.__module__ == script_runner.__name__
    streamlit_own()
    assert clear_session_calls == [1]
    source = Path(script_runner.__file__).read_text()
    assert "_log_if_error(_clean_problem_modules)" in source  # ... and it is what a script run calls


def test_no_clear_session_after_script_runs_through_the_app(clear_session_calls, monkeypatch):
    if compat.replaced_clean_up() is not None:  # patched earlier in this process: only app.py may patch it now
        monkeypatch.setattr(script_runner, "_clean_problem_modules", compat.replaced_clean_up())
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    at.switch_page("views/architecture.py").run()
    assert not at.exception
    assert clear_session_calls == []  # two script runs of the app, and Keras's session was left alone
    assert compat.streamlit_clean_up_hook() is compat._clean_without_keras


def test_a_streamlit_without_the_hook_gets_a_warning_and_no_patch(monkeypatch):
    monkeypatch.delattr(script_runner, "_clean_problem_modules")
    with pytest.warns(RuntimeWarning, match="_clean_problem_modules does not exist"):
        assert compat.keep_keras_session() is False
    assert not hasattr(script_runner, "_clean_problem_modules")


def test_a_hook_that_no_longer_clears_keras_is_left_alone(monkeypatch):
    def clean_something_else():
        return None

    monkeypatch.setattr(script_runner, "_clean_problem_modules", clean_something_else)
    with pytest.warns(RuntimeWarning, match="no longer calls keras"):
        assert compat.keep_keras_session() is False
    assert script_runner._clean_problem_modules is clean_something_else


def test_the_replacement_still_closes_matplotlib_figures(monkeypatch):
    closed = []
    fake_pyplot = types.SimpleNamespace(close=lambda which: closed.append(which))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", fake_pyplot)
    compat._clean_without_keras()
    assert closed == ["all"]  # the rest of Streamlit's clean-up still happens
