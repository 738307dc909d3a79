"""Streamlit internals the dashboard depends on, in one place, each one checked.

Streamlit 1.67 calls ``keras.backend.clear_session`` after *every* script run of
*every* session (``streamlit.runtime.scriptrunner.script_runner._clean_problem_modules``).
In a server where all sessions share compiled cores (``cnnviz.training.pool``) that
clean-up is harmful: it resets Keras's process-wide state under the feet of sessions
that are stepping at that moment, and it empties TensorFlow's kernel cache so the next
compiled step of every session is instantiated again (seconds per Step). cnnviz never
relies on Keras global state (DESIGN.md), so :func:`keep_keras_session` replaces that
function with one that does the rest of Streamlit's clean-up (closing matplotlib's
global figures) without touching Keras.

When Streamlit changes (the function is gone, or no longer the place that clears Keras)
the dashboard still starts, with a warning that says what to look at; the test
``tests/test_compat.py`` fails in that case, since the sessions' speed depends on it.
"""

from __future__ import annotations

import inspect
import sys
import warnings

TESTED_WITH = "1.67"
_HOOK = "_clean_problem_modules"
_replaced = None  # Streamlit's own clean-up, once patched out (for tests)


def _clean_without_keras() -> None:
    """Streamlit's per-run clean-up minus ``keras.backend.clear_session``."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        try:
            pyplot.close("all")
        except Exception:  # noqa: BLE001 - as Streamlit does: a clean-up never stops the app
            pass


def keep_keras_session() -> bool:
    """Stop Streamlit from clearing the Keras session after each script run (see module docs).

    Returns True when the patch is in place (also on a second call), False (with a
    warning, changing nothing) when this Streamlit does not have the hook it replaces.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        _warn("streamlit.runtime.scriptrunner.script_runner cannot be imported")
        return False
    current = getattr(script_runner, _HOOK, None)
    if current is _clean_without_keras:
        return True
    if not callable(current):
        _warn(f"script_runner.{_HOOK} does not exist")
        return False
    try:
        clears_keras = "clear_session" in inspect.getsource(current)
    except (OSError, TypeError):  # no source to read (e.g. a frozen install): trust the name
        clears_keras = True
    if not clears_keras:  # it does something else now: leave it alone, the clear may have moved
        _warn(f"script_runner.{_HOOK} no longer calls keras.backend.clear_session")
        return False
    global _replaced
    _replaced = current
    setattr(script_runner, _HOOK, _clean_without_keras)
    return True


def streamlit_clean_up_hook():
    """The function Streamlit calls after each script run (for tests)."""
    from streamlit.runtime.scriptrunner import script_runner

    return getattr(script_runner, _HOOK, None)


def replaced_clean_up():
    """Streamlit's own clean-up that :func:`keep_keras_session` replaced (None before; for tests)."""
    return _replaced


def _warn(what: str) -> None:
    import streamlit

    warnings.warn(f"cnnviz: {what} (Streamlit {streamlit.__version__}; cnnviz was tested with {TESTED_WITH}). "
                  "Keras's session may be cleared after every script run, which slows every Step; "
                  "see dashboard/compat.py.", RuntimeWarning, stacklevel=3)
