"""Lessons and settings in the URL: a teacher projects one link, every student opens exactly that.

``/activations?lesson=he-rescues`` opens a lesson (its page, every control set);
``/activations?arch=lenet5&init=normal&optimizer=sgd&lr=0.1&batch_size=100&seed=3`` opens
the Activations page with exactly those settings; both mix (``?lesson=he-rescues&seed=3``).
Every run-defining field of :class:`~cnnviz.config.RunConfig` can be given, by its name:
the network (``arch``, ``input_shape`` as ``28,28,1``, and for ``plain_mlp``/``plain_cnn``
``depth``, ``width``, ``activation``, ``norm``, ``residual``), the data (``dataset``,
``batch_size``, ``seed``, ``input_range``), the optimizer (``optimizer``, ``lr``,
``momentum``, ``beta1``, ``beta2``, ``rho``, ``epsilon``) and ``probe_every``.

A link is applied once per browser session (a rerun or a visit to another page does not
reset the student's run again). A link with a bad value shows one message naming every
problem and opens the page with its default settings instead, so nobody is left with a
half-applied mix. Only this module and ``home.py`` apply lessons to session state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import streamlit as st

from cnnviz.config import INPUT_RANGES, RunConfig
from cnnviz.data import DATASETS
from cnnviz.errors import UserError
from cnnviz.lessons import LESSONS, Lesson
from cnnviz.nets.activations import ACTIVATIONS
from cnnviz.nets.initializers import INITIALIZERS
from cnnviz.nets.optimizers import OPTIMIZERS
from cnnviz.nets.params import NORMS, is_plain
from cnnviz.nets.zoo import ARCHITECTURES
from dashboard import state, widgets

# Where each page lives, relative to dashboard/app.py (what st.switch_page wants), by url path.
PAGE_FILES = {"activations": "views/activations.py", "compare": "views/compare_inits.py",
              "playground": "views/optimizer_playground.py", "logits": "views/logits.py",
              "filters": "views/filters.py", "architecture": "views/architecture.py", "": "views/home.py"}
# Every run-defining field a link may set on the Activations page, with its default there.
RUN_FIELDS = {**widgets.DEFAULTS, **{name: None for name in widgets.EXTRA_RUN_FIELDS}, "input_range": "0-1",
              "residual": False}
# Controls a Compare lesson does not mention go back to their defaults.
COMPARE_DEFAULTS = {"arch": widgets.DEFAULTS["arch"], "dataset": widgets.DEFAULTS["dataset"],
                    "batch_size": widgets.DEFAULTS["batch_size"], "seed": widgets.DEFAULTS["seed"],
                    "input_shape": "", "optimizer": widgets.DEFAULTS["optimizer"], "lr": widgets.DEFAULTS["lr"]}
# Parameters that are not ours: Streamlit's own and campaign tags are ignored.
IGNORED_PREFIXES = ("embed", "utm_")


@dataclass
class LinkRequest:
    """What a link asks for: a lesson (or None), run settings, and the problems found."""

    lesson: Lesson | None = None
    settings: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    names_a_run: bool = False  # it gives run settings (even unreadable ones): it is meant for the Activations page


# ------------------------------------------------------------------ parsing
def _choice(options):
    def parse(name: str, text: str):
        if text not in options:
            raise UserError(f"unknown {name.replace('_', ' ')} {text!r} (choose one of: {', '.join(options)})")
        return text
    return parse


def _number(kind, low=None, strictly=False):
    def parse(name: str, text: str):
        try:
            value = kind(text)
        except ValueError:
            raise UserError(f"{name} must be a {'whole ' if kind is int else ''}number, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise UserError(f"{name} must be a finite number, got {text!r}")
        if low is not None and (value <= low if strictly else value < low):
            raise UserError(f"{name} must be {'above' if strictly else 'at least'} {low:g}, got {text!r}")
        return value
    return parse


def _shape(name: str, text: str) -> str:
    parts = text.split(",")
    if len(parts) != 3 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise UserError(f"{name.replace('_', ' ')} must be three positive whole numbers like 28,28,1, got {text!r}")
    return ",".join(part.strip() for part in parts)


def _flag(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise UserError(f"{name} must be true or false, got {text!r}")


PARSERS = {
    "arch": _choice(ARCHITECTURES), "init": _choice(INITIALIZERS), "optimizer": _choice(OPTIMIZERS),
    "dataset": _choice(DATASETS), "input_range": _choice(INPUT_RANGES), "activation": _choice(ACTIVATIONS),
    "norm": _choice(NORMS), "lr": _number(float, 0.0, strictly=True), "batch_size": _number(int, 1),
    "seed": _number(int, 0), "probe_every": _number(int, 1), "input_shape": _shape,
    "momentum": _number(float, 0.0), "beta1": _number(float, 0.0), "beta2": _number(float, 0.0),
    "rho": _number(float, 0.0), "epsilon": _number(float, 0.0, strictly=True), "depth": _number(int, 1),
    "width": _number(int, 1), "residual": _flag,
}


def parse_link(params: Mapping[str, str]) -> LinkRequest:
    """What the query parameters ``params`` ask for, every problem named (nothing applied)."""
    request = LinkRequest()
    for name, text in params.items():
        if name.startswith(IGNORED_PREFIXES):
            continue
        text = str(text).strip()
        if name == "lesson":
            request.lesson = LESSONS.get(text)
            if request.lesson is None:
                request.problems.append(f"unknown lesson {text!r} (the lessons are: {', '.join(LESSONS)})")
        elif name in PARSERS:
            request.names_a_run = True
            try:
                request.settings[name] = PARSERS[name](name, text)
            except UserError as error:
                request.problems.append(str(error))
        else:
            request.problems.append(f"unknown setting {name!r}")
    if request.settings and request.lesson is not None and request.lesson.page != "activations":
        request.problems.append(f"lesson {request.lesson.key!r} has no network settings to change")
    if not request.problems and (request.settings or _trains(request.lesson)):
        settings = activations_settings(request)
        plain_given = [name for name in widgets.PLAIN_NET_FIELDS if name in request.settings]
        if plain_given and not is_plain(settings["arch"]):
            request.problems.append(f"{', '.join(plain_given)} only apply to plain_mlp and plain_cnn, "
                                    f"not to {settings['arch']}")
        try:  # the fields must also make sense together (batch size, optimizer settings, ...)
            widgets.config_from_settings(settings)
        except UserError as error:
            request.problems.append(str(error))
    return request


def _trains(lesson: Lesson | None) -> bool:
    return lesson is not None and lesson.page == "activations"


def activations_settings(request: LinkRequest) -> dict:
    """Every control of the Activations page: defaults, then the lesson's, then the link's own values."""
    return {**RUN_FIELDS, **(request.lesson.settings if request.lesson else {}), **request.settings}


# ------------------------------------------------------------------ applying
def apply_lesson(lesson: Lesson) -> str:
    """Set every control of ``lesson``'s page and drop the runs it replaces; returns its url path."""
    if lesson.page == "activations":
        _open_activations({**RUN_FIELDS, **lesson.settings})
    elif lesson.page == "compare":
        state.apply_settings(lesson.page, {**COMPARE_DEFAULTS, **lesson.settings})
        state.pop(state.COMPARE_RUNS)
    else:
        state.apply_settings(lesson.page, lesson.settings)
        # Forget which preset the playground applied last, so re-opening the same lesson
        # after editing its controls restores the lesson's settings.
        state.pop(state.widget(lesson.page, "applied_preset"))
    return lesson.page


def _open_activations(settings: dict) -> None:
    state.apply_settings("activations", settings)
    state.stop_training()
    state.clear_run()  # the page builds the link's network as soon as it opens


def apply_link(page: str) -> None:
    """Apply the URL's lesson/settings once per session (see module docs); call before the page runs.

    ``page`` is the url path of the page being opened. May switch to the lesson's page.
    """
    params = {name: value for name, value in st.query_params.to_dict().items()}
    if not params:
        return
    signature = tuple(sorted(params.items()))
    if state.get(state.LINK_APPLIED) == signature:
        _show_notice()
        return
    request = parse_link(params)
    state.put(state.LINK_APPLIED, signature)
    target = page
    if request.problems:
        state.put(state.LINK_NOTICE, "This link's settings could not be used: " + "; ".join(request.problems) +
                  ". The page shows its default settings instead.")
        if page == "activations" or request.names_a_run or _trains(request.lesson):
            _open_activations(dict(RUN_FIELDS))
            target = "activations"
    else:
        state.pop(state.LINK_NOTICE)
        if request.lesson is not None and not request.settings:
            target = apply_lesson(request.lesson)
        elif request.settings or _trains(request.lesson):
            _open_activations(activations_settings(request))
            target = "activations"
    if target != page and target in PAGE_FILES:
        st.switch_page(PAGE_FILES[target], query_params=params)  # the link stays in the address bar
    _show_notice()


def _show_notice() -> None:
    notice = state.get(state.LINK_NOTICE)
    if notice:
        widgets.show_user_error(notice)


# ------------------------------------------------------------------ making links
def app_base_url() -> str:
    """The app's address as the browser sees it (scheme, host, port, base path), without a page."""
    url = st.context.url or "http://localhost:8501/"
    parts = urlsplit(url)
    path = parts.path
    for page in PAGE_FILES:  # strip a page's url path: /base/activations -> /base/
        if page and path.rstrip("/").endswith("/" + page):
            path = path.rstrip("/")[: -len(page)]
    return f"{parts.scheme}://{parts.netloc}{path if path.endswith('/') else path + '/'}"


def lesson_link(lesson: Lesson, base: str | None = None) -> str:
    """The link that opens ``lesson`` for whoever follows it."""
    return f"{base or app_base_url()}{lesson.page}?{urlencode({'lesson': lesson.key})}"


def settings_link(config: RunConfig, base: str | None = None) -> str:
    """The link that opens the Activations page with exactly ``config``'s run."""
    values = {name: getattr(config, name) for name in RUN_FIELDS if name != "input_shape"}
    values["input_shape"] = ",".join(str(v) for v in config.input_shape) if config.input_shape else None
    shown = {name: _text(value) for name, value in values.items()
             if value is not None and value != "" and not (name == "residual" and value is False)
             and not (name == "input_range" and value == "0-1")}
    return f"{base or app_base_url()}activations?{urlencode(shown)}"


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # exact: 0.001 stays 0.001, 0.00123456789 is not rounded
    return str(value)


def share_current_run() -> None:
    """In the sidebar: the link to this session's run, for a teacher to project."""
    run = state.current_run()
    if run is None:
        return
    with st.sidebar.expander("Link to this run", icon=":material/link:"):
        st.caption("Everyone who opens this link gets this network with these settings, at step 0.")
        st.code(settings_link(run.config), language=None, wrap_lines=True)
