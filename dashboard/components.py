"""What several pages draw the same way, drawn in one place.

* the findings panel (:func:`show_findings`), and refusals as one red sentence (:func:`refusals_shown`);
* a chart with its "what to look for" caption and the download of its numbers (:func:`chart`): the
  captions and tables come from the figure's own module in ``cnnviz.figures``;
* the one CSV download button (:func:`csv_button`) and the HTML report button;
* the histogram view switches and the layer picker;
* the names of a network's outputs (:func:`class_names`) and the optimizers' default settings,
  read from the library (``cnnviz.data``, ``cnnviz.nets.optimizers``).

The numbers and words come from cnnviz; this module only draws them. Run settings in the
sidebar stay in :mod:`dashboard.widgets`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pandas as pd
import streamlit as st

from cnnviz.errors import UserError
from cnnviz.nets.optimizers import DEFAULT_LEARNING_RATES, HYPERPARAMETER_DEFAULTS
from dashboard import state
from dashboard.widgets import SEVERITY_ICONS, show_user_error

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
PLOT_CONFIG = {"displaylogo": False}
_SHOW = {"error": st.error, "warning": st.warning}


# ------------------------------------------------------------------ findings
def finding_text(finding, step: bool = True, compact: bool = False) -> str:
    """A finding in one markdown paragraph: where (and at which step), what, and what to try.

    ``compact`` (for narrow columns): "layer: message", without the step or the suggestion.
    """
    if compact:
        return f"{finding.layer}: {finding.message}" if finding.layer else finding.message
    where = f"**{finding.layer or 'network'}**" + (f" (step {finding.step})" if step else "")
    return f"{where}: {finding.message}" + (f"  \n→ *{finding.suggestion}*" if finding.suggestion else "")


def show_findings(findings: Iterable, none_found: str, step: bool = True, compact: bool = False) -> None:
    """The findings panel: worst first (then earliest), one coloured box each; ``none_found`` in
    green when there are none."""
    findings = sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.step))
    if not findings:
        st.success(none_found, icon=":material/check_circle:")
    for finding in findings:
        show = _SHOW.get(finding.severity, st.info)
        show(finding_text(finding, step, compact), icon=SEVERITY_ICONS.get(finding.severity, SEVERITY_ICONS["info"]))


# ------------------------------------------------------------------ refusals
def _out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    import tensorflow as tf  # only asked once something failed: pages that never fail never need it here

    return isinstance(error, tf.errors.ResourceExhaustedError)


def refusal(error: Exception, out_of_memory: str) -> str:
    """What to tell the user about ``error``: a UserError's own sentence, or ``out_of_memory`` when the
    server ran out of memory. Anything else is a bug, not a refusal: it is raised again."""
    if isinstance(error, UserError):
        return str(error)
    if _out_of_memory(error):
        return out_of_memory
    raise error


@contextmanager
def refusals_shown(out_of_memory: str) -> Iterator[None]:
    """Run the block; a UserError, or running out of memory (``out_of_memory`` says what to try),
    ends it as one red sentence on the page instead of a traceback."""
    try:
        yield
    except UserError as error:
        show_user_error(error)
    except Exception as error:  # noqa: BLE001 - only memory errors are ours to explain; the rest go on
        if not _out_of_memory(error):
            raise
        show_user_error(out_of_memory)


# ------------------------------------------------------------------ histogram display
def histogram_toggles(page: str, shared_x: str | None = "Shared x axis", shared_help: str = "", prefix: str = ""
                      ) -> tuple[bool, bool, bool]:
    """The histogram view switches in a row: (post-activation, shared x, log counts).

    ``shared_x`` None leaves that switch out (returns False for it). Keys: ``page:{prefix}post_activation``,
    ``page:{prefix}shared_x``, ``page:{prefix}log_counts``.
    """
    columns = iter(st.columns(3 if shared_x else 2))
    post = next(columns).toggle("Post-activation view", key=state.widget(page, f"{prefix}post_activation"),
                                help="What the next layer receives: ReLU moves all mass ≤ 0 to 0; "
                                     "sigmoid squashes to (0, 1).")
    shared = False
    if shared_x:
        shared = next(columns).toggle(shared_x, key=state.widget(page, f"{prefix}shared_x"),
                                      help=shared_help or "One value scale for all layers: growth with depth "
                                                          "becomes visible.")
    log_counts = next(columns).toggle("Log-scaled counts", key=state.widget(page, f"{prefix}log_counts"),
                                      help="Shows thin tails next to a tall spike.")
    return post, shared, log_counts


def layer_picker(page: str, label: str, names: list[str], key: str = "heatmap_layer") -> str:
    """A select box of layer ``names``; a choice the current network lacks (a new run may have other
    layer names) falls back to the last hidden layer."""
    widget = state.widget(page, key)
    if state.get(widget) not in names:
        state.put(widget, names[-2] if len(names) > 1 else names[0])
    return st.selectbox(label, names, key=widget)


# ------------------------------------------------------------------ downloads
def csv_button(page: str, label: str, make_frame: Callable[[], pd.DataFrame], file_name: str, key: str,
               index: bool = False) -> None:
    """A download button "``label`` (CSV)" whose table is made only when it is clicked.

    ``make_frame`` returns the DataFrame (tables come from cnnviz, e.g. ``cnnviz.figures.*``);
    clicking does not rerun the page.
    """
    st.download_button(f"{label} (CSV)", data=lambda: make_frame().to_csv(index=index), file_name=file_name,
                       mime="text/csv", key=state.widget(page, key), on_click="ignore", icon=":material/download:")


def report_button(page: str, make_html: Callable[[], str], file_name: str, lock=None) -> None:
    """"HTML report of this run": the self-contained report (cnnviz.report), made only when clicked.

    The click is answered on another thread, with no session to look anything up in: ``lock`` (the
    session's run lock, if given) is held while the report reads the run, so it waits for a running step.
    """
    def make() -> str:
        if lock is None:
            return make_html()
        with lock:
            return make_html()

    st.download_button("HTML report of this run", data=make, file_name=file_name, mime="text/html",
                       key=state.widget(page, "report"), on_click="ignore", icon=":material/download:")


def chart(page: str, figure, key: str, caption: str | None = None, csv: tuple | None = None) -> None:
    """A figure with its "what to look for" ``caption`` under it (from the figure's module in
    cnnviz.figures) and, if ``csv`` is (label, make_frame, file_name, key), the download of its numbers."""
    st.plotly_chart(figure, key=state.widget(page, key), config=PLOT_CONFIG)
    if caption:
        st.caption(caption)
    if csv:
        csv_button(page, *csv)


# ------------------------------------------------------------------ names and defaults
def class_names(run) -> list[str]:
    """A name for each of ``run``'s outputs: the dataset's class names ("0".."9" for digits), then "unit k"."""
    return run.dataset.output_names(run.classes)


def default_learning_rate(optimizer: str) -> float:
    """The learning rate a control proposes for ``optimizer`` (cnnviz.nets.optimizers)."""
    return DEFAULT_LEARNING_RATES[optimizer]


def hyperparameter_defaults(optimizer: str) -> dict[str, float]:
    """``optimizer``'s hyperparameters besides the learning rate, with the values a fresh Keras optimizer uses."""
    return dict(HYPERPARAMETER_DEFAULTS[optimizer])
