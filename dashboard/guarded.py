"""Every page builds and trains through the server's resource guard (:mod:`cnnviz.training.resources`).

One student must not be able to take the server down for the room: a run is estimated
before anything is built and refused, with an alternative that fits, above the session's
budget; heavy builds and steps take turns, and a waiting student sees where they stand in
the queue. A page keeps one cancel token: changing its settings or leaving it cancels work
that is still waiting (Streamlit also stops a script whose session closed, which raises out
of the waiting callback and leaves the queue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from cnnviz.errors import UserError
from cnnviz.training.resources import Cancelled, CancelToken, OverBudget, QueueStatus, configure_server, server_guard
from dashboard import state

TOKENS = "cnnviz:cancel_tokens"  # page -> CancelToken of the work the page asked for last
CONFIGURED = {"done": False}  # process-wide: the budget is read from secrets once


def configure_once() -> None:
    """Read the budget from the environment and ``.streamlit/secrets.toml`` (once per process)."""
    if CONFIGURED["done"]:
        return
    try:
        secrets = dict(st.secrets)
    except Exception:  # noqa: BLE001 - no secrets file is the usual case: environment and defaults apply
        secrets = {}
    configure_server(secrets)
    CONFIGURED["done"] = True


def cancel_token(page: str, request=None) -> CancelToken:
    """The page's live token. A request for something else than the page's last one (its
    settings changed while a build still waited or ran) cancels the old one first."""
    tokens = state.get(TOKENS) or {}
    token, last_request = tokens.get(page, (None, None))
    if token is not None and request is not None and last_request is not None and request != last_request:
        token.cancel("the settings changed")
    if token is None or token.cancelled:
        token = CancelToken()
    tokens[page] = (token, request if request is not None else last_request)
    state.put(TOKENS, tokens)
    return token


def cancel(page: str, reason: str = "the settings changed") -> None:
    """Cancel whatever the page's earlier request still waits for (settings changed, page left)."""
    token, _ = (state.get(TOKENS) or {}).get(page, (None, None))
    if token is not None:
        token.cancel(reason)


def _queue_note(box) -> Callable[[QueueStatus], None]:
    def show(status: QueueStatus) -> None:
        box.info(f"The server is busy with large networks: {status.text()}. Your request is queued "
                 "(other pages keep working).", icon=":material/hourglass_top:")
    return show


def _refusal(error: OverBudget) -> None:
    from dashboard.widgets import show_user_error

    show_user_error(error)


def build(page: str, configs: Sequence, make_run: Callable, replacing: Sequence = (),
          session_runs: Sequence = (), show_refusal: bool = True) -> list | None:
    """``make_run(config)`` for each config through the guard; None after saying why not.

    ``show_refusal=False`` lets a refusal (:class:`OverBudget`, a UserError) propagate to a
    page that shows refusals its own way."""
    if not configs:  # everything the page wants exists already
        return []
    configure_once()
    box = st.empty()
    try:
        token = cancel_token(page, request=tuple(repr(c) for c in configs))
        return server_guard().build(list(configs), make_run, cancel=token, on_wait=_queue_note(box),
                                    replacing=replacing, session_runs=session_runs)
    except OverBudget as error:
        if not show_refusal:
            raise
        _refusal(error)
    except Cancelled:
        pass
    finally:
        box.empty()
    return None


def train(page: str, run, steps: int, callback=None, probe_last: bool = False):
    """``run.train(steps)`` through the guard (heavy runs take turns step by step).

    A refusal or a UserError of the run itself propagates; a cancellation just stops.
    """
    configure_once()
    box = st.empty()
    try:
        return server_guard().train(run, steps, cancel=cancel_token(page), on_wait=_queue_note(box),
                                    callback=callback, probe_last=probe_last)
    except Cancelled:
        return None
    finally:
        box.empty()


def assess_text(configs: Sequence) -> str | None:
    """A sentence when ``configs`` would not fit (to show next to the controls before pressing)."""
    configure_once()
    try:
        verdict = server_guard().assess(list(configs))
    except UserError:
        return None
    return None if verdict.fits else verdict.message
