"""The only module that touches ``st.session_state`` keys.

One Run per browser session lives here. Pages read and write session state only
through these functions, so the keys are named once and two tabs never share a run.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

RUN = "cnnviz:run"
RUN_NOTICE = "cnnviz:run_notice"
PENDING = "cnnviz:pending_settings"
PLAYGROUND_HANDOFF = "playground_to_training"  # written by the optimizer playground page
COMPARE_RUNS = "cnnviz:compare_runs"


def current_run():
    """This session's training Run, or None."""
    return st.session_state.get(RUN)


def set_run(run) -> None:
    """Make ``run`` this session's Run (the old one is dropped)."""
    st.session_state[RUN] = run


def clear_run() -> None:
    st.session_state.pop(RUN, None)


def get(key: str, default: Any = None) -> Any:
    """A session value by one of the module's key names."""
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def pop(key: str, default: Any = None) -> Any:
    return st.session_state.pop(key, default)


def widget(page: str, name: str) -> str:
    """The widget key for control ``name`` on ``page`` (stable across reruns)."""
    return f"{page}:{name}"


def apply_settings(page: str, settings: dict) -> None:
    """Preset the widgets of ``page`` (used by lessons and the playground hand-off).

    Must run before the widgets are created in this script run.
    """
    for name, value in settings.items():
        st.session_state[widget(page, name)] = value


def take_playground_handoff() -> dict | None:
    """Optimizer settings sent from the playground ("train the CNN with these"), once."""
    return st.session_state.pop(PLAYGROUND_HANDOFF, None)
