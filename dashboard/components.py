"""What several pages draw the same way: the findings panel, the CSV download button, the names
of a network's outputs and the optimizers' default settings.

One place for each, so a change in how findings look (or how a CSV is offered) reaches every
page. The numbers and words come from the library (cnnviz); this module only draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd
import streamlit as st

from cnnviz.nets.optimizers import DEFAULT_LEARNING_RATES, HYPERPARAMETER_DEFAULTS
from dashboard import state
from dashboard.widgets import SEVERITY_ICONS

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
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


# ------------------------------------------------------------------ downloads
def csv_button(page: str, label: str, make_frame: Callable[[], pd.DataFrame], file_name: str, key: str,
               index: bool = False) -> None:
    """A download button "``label`` (CSV)" whose table is made only when it is clicked.

    ``make_frame`` returns the DataFrame (tables come from cnnviz, e.g. ``cnnviz.figures.*``);
    clicking does not rerun the page.
    """
    st.download_button(f"{label} (CSV)", data=lambda: make_frame().to_csv(index=index), file_name=file_name,
                       mime="text/csv", key=state.widget(page, key), on_click="ignore", icon=":material/download:")


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
