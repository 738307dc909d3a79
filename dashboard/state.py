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


# --- Logits / Filters pages (inspecting a network without the Activations page) ---
INSPECT_RUN = "cnnviz:inspect_run"  # page-local Run shared by the logits and filters pages when the session has none
LOGITS_EVALUATIONS = "cnnviz:logits_evaluations"  # cnnviz.training.evaluations.Evaluations of the inspected run
CANVAS_VERSION = "cnnviz:canvas_version"  # bumped by "Clear the drawing" on the filters page (a new canvas key)


# --- Activations / Compare initializers pages and the shared sidebar (dashboard/widgets.py) ---
TRAINING = "cnnviz:training"  # True while the Activations page's live fragment keeps stepping the run
TRAIN_TARGET = "cnnviz:train_target"  # the step count the current "Train N steps" press runs up to
TRAIN_FROM = "cnnviz:train_from"  # the step count when that press happened (for the progress bar)
PAGE_ERROR = "cnnviz:page_error"  # a user error raised inside a fragment, shown on the next full run
SAVED_WIDGETS = "cnnviz:saved_widgets"  # widget key -> last value, restored after visits to other pages
RUN_LOCK = "cnnviz:run_lock"  # see run_lock()


def ensure_default(key: str, value: Any) -> None:
    """Give widget ``key`` its starting value unless the session (or a lesson) already set one."""
    if key not in st.session_state:
        st.session_state[key] = value


def keep_widget_values(page: str, names) -> None:
    """Keep ``page``'s widget values while the user is on other pages; call before drawing them.

    Streamlit drops a widget's value at the end of any run that does not draw it (a
    visit to another page), so every run of ``page`` saves the values under a plain
    key, and puts them back when they have been dropped.
    """
    saved = st.session_state.setdefault(SAVED_WIDGETS, {})
    for name in names:
        key = widget(page, name)
        if key in st.session_state:
            saved[key] = st.session_state[key]
        elif key in saved:
            st.session_state[key] = saved[key]


def is_training() -> bool:
    """Whether the live training loop is on (the Activations page's Train was pressed)."""
    return bool(st.session_state.get(TRAINING, False))


def start_training(from_step: int, target_step: int) -> None:
    """Turn the live training loop on, to run from ``from_step`` up to ``target_step``."""
    st.session_state[TRAINING] = True
    st.session_state[TRAIN_FROM] = int(from_step)
    st.session_state[TRAIN_TARGET] = int(target_step)


def stop_training() -> None:
    st.session_state[TRAINING] = False
    st.session_state.pop(TRAIN_TARGET, None)
    st.session_state.pop(TRAIN_FROM, None)


# --- Your model page (a user's .keras file; never replaces the session's main Run) ---
USER_MODEL_RUN = "cnnviz:user_model_run"  # the UserModelRun built from the last accepted upload
USER_MODEL_BUILT_FROM = "cnnviz:user_model_built_from"  # the page's settings that run was built from
USER_MODEL_BASELINE = "cnnviz:user_model_baseline"  # the same upload with the file's own weights (re-init compare)
USER_MODEL_REFUSED = "cnnviz:user_model_refused"  # the last refused attempt, until an upload is accepted


def current_user_model_run():
    """This session's Run over an uploaded model, or None."""
    return st.session_state.get(USER_MODEL_RUN)


def set_user_model_run(run) -> None:
    """Keep ``run`` (a cnnviz.usermodels.run.UserModelRun) for this session; the old one is dropped."""
    st.session_state[USER_MODEL_RUN] = run


def run_lock():
    """This session's lock around anything that steps or reads a training run.

    Streamlit may start a new script run on another thread while the previous one is
    still inside a training step (a Pause or Step pressed mid-tick); the lock keeps
    two steps from ever running at once and lets a page wait for the step in flight.
    """
    import threading

    return st.session_state.setdefault(RUN_LOCK, threading.Lock())


def session_runs(exclude=()) -> list:
    """Every run this session holds on any page (the resource guard counts them against its budget),
    except those in ``exclude`` (the runs a new build replaces)."""
    skip = {id(run) for run in exclude}
    found = [st.session_state.get(key) for key in (RUN, INSPECT_RUN, USER_MODEL_RUN, USER_MODEL_BASELINE)]
    found += list((st.session_state.get(COMPARE_RUNS) or {}).values())
    unique = {id(run): run for run in found if run is not None and hasattr(run, "step_count")}
    return [run for key, run in unique.items() if key not in skip]
# --- Links (dashboard/links.py) and the warm server (dashboard/warm.py) ---
LINK_APPLIED = "cnnviz:link_applied"  # the URL parameters already applied in this session (applied once)
LINK_NOTICE = "cnnviz:link_notice"  # what was wrong with that link, shown while it stays open
CHART_LIBRARY_REQUESTED = "cnnviz:chart_library_requested"  # the blank chart that makes the browser load plotly.js
