"""Controls shared by the pages: the run settings in the sidebar and how user errors look.

Every control's key is ``state.widget(page, name)``, with the same names the lessons
use in their ``settings`` (``arch``, ``init``, ``optimizer``, ``lr``, ``dataset``,
``batch_size``, ``seed``, ``probe_every``, ``input_shape``), so a lesson or the
playground hand-off presets a page simply by writing those keys before it draws.
"""

from __future__ import annotations

import streamlit as st

from cnnviz.cli.output import parse_tuple
from cnnviz.config import MAX_BATCH_SIZE, RunConfig
from cnnviz.data import DATASETS
from cnnviz.errors import UserError
from cnnviz.initializers import INITIALIZERS
from cnnviz.nets.params import is_plain
from cnnviz.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS
from cnnviz.zoo import ARCHITECTURES, layer_table
from dashboard import state

RUN_SETTINGS = ("arch", "init", "optimizer", "lr", "dataset", "batch_size", "seed", "probe_every", "input_shape")
_DEFAULT = RunConfig()
DEFAULTS = {"arch": _DEFAULT.arch, "init": _DEFAULT.init, "optimizer": _DEFAULT.optimizer, "lr": _DEFAULT.lr,
            "dataset": _DEFAULT.dataset, "batch_size": _DEFAULT.batch_size, "seed": _DEFAULT.seed,
            "probe_every": _DEFAULT.probe_every, "input_shape": ""}
# Streamlit's built-in Material icons: they render on any classroom PC, emoji fonts may not.
SEVERITY_ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}
# Run fields without a sidebar control: a link (dashboard/links.py) or a lesson may still set
# them, under the same session keys a control would use (None: the architecture's or optimizer's default).
PLAIN_NET_FIELDS = ("depth", "width", "activation", "norm", "residual")
EXTRA_RUN_FIELDS = ("input_range", "momentum", "beta1", "beta2", "rho", "epsilon", "depth", "width", "activation",
                    "norm", "residual")
# Fields whose change means a different network or different data: a new run is needed.
RUN_DEFINING_FIELDS = ("arch", "init", "optimizer", "lr", "dataset", "batch_size", "seed", "input_shape",
                       *EXTRA_RUN_FIELDS)


def show_user_error(error: UserError | str) -> None:
    """Show a user's mistake as one red sentence (never a traceback)."""
    message = str(error).strip()
    st.error(message[:1].upper() + message[1:], icon=SEVERITY_ICONS["error"])


def take_playground_handoff(page: str) -> str | None:
    """Preset ``page``'s optimizer and learning rate from the playground, once.

    Returns a sentence saying what was set (for an ``st.info``), or None if nothing was sent.
    The hand-off is a dict with ``optimizer`` and ``lr`` (``learning_rate`` is accepted too).
    """
    handoff = state.take_playground_handoff()
    if not handoff:
        return None
    settings = {}
    if handoff.get("optimizer") in OPTIMIZERS:
        settings["optimizer"] = handoff["optimizer"]
    lr = handoff.get("lr", handoff.get("learning_rate"))
    if lr is not None:
        settings["lr"] = float(lr)
    if not settings:
        return None
    state.apply_settings(page, settings)
    described = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in settings.items())
    return f"Settings from the optimizer playground: {described}. Press Reset or Train to use them."


def _reset_learning_rate(page: str) -> None:
    """Picking another optimizer proposes its usual learning rate (Adam's 0.001 would crawl with SGD)."""
    optimizer = state.get(state.widget(page, "optimizer"))
    state.put(state.widget(page, "lr"), DEFAULT_LEARNING_RATES.get(optimizer, _DEFAULT.lr))


def _arch_caption(arch: str, input_shape: str) -> str:
    info = ARCHITECTURES[arch]
    try:
        shape = parse_tuple(input_shape, int, 3, "input shape") if input_shape.strip() else None
        params = sum(row["params"] for row in layer_table(arch, shape))
    except UserError as error:
        return f"{info.description}. ⚠️ {error}"
    shown = "×".join(str(v) for v in (shape or info.input_shape))
    return f"{info.description}; {params:,} parameters; input {shown}."


def run_settings(page: str, names=RUN_SETTINGS, container=None, heading: str = "Network and training") -> dict:
    """Draw the run controls named in ``names`` (in the sidebar by default); return their values.

    Values are raw widget values; turn them into a validated :class:`RunConfig` with
    :func:`config_from_settings`.
    """
    box = container if container is not None else st.sidebar
    state.keep_widget_values(page, names)
    for name in names:
        state.ensure_default(state.widget(page, name), DEFAULTS[name])
    key = lambda name: state.widget(page, name)  # noqa: E731
    values = {}
    with box:
        if heading:
            st.header(heading)
        if "arch" in names:
            values["arch"] = st.selectbox("Architecture", list(ARCHITECTURES), key=key("arch"),
                                          help="The network to build (all are real Keras models).")
            st.caption(_arch_caption(values["arch"], str(state.get(key("input_shape"), "") or "")))
        if "init" in names:
            values["init"] = st.selectbox("Initializer", list(INITIALIZERS), key=key("init"),
                                          help="How the weights are drawn before training.")
            st.caption(INITIALIZERS[values["init"]].description)
        if "optimizer" in names:
            values["optimizer"] = st.selectbox("Optimizer", list(OPTIMIZERS), key=key("optimizer"),
                                               on_change=_reset_learning_rate, args=(page,),
                                               help="Changing it proposes that optimizer's usual learning rate.")
        if "lr" in names:
            values["lr"] = st.number_input("Learning rate", key=key("lr"), format="%g", step=0.001,
                                           help="Try 1e6 with SGD to watch a run blow up.")
        if "dataset" in names:
            values["dataset"] = st.selectbox("Dataset", list(DATASETS), key=key("dataset"),
                                             help="mnist-sample is embedded and needs no network.")
        if "batch_size" in names:
            values["batch_size"] = st.number_input("Batch size", min_value=1, max_value=MAX_BATCH_SIZE, step=1,
                                                   key=key("batch_size"))
        if "seed" in names:
            values["seed"] = st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=key("seed"),
                                             help="Same seed, same weights and same batches.")
        if "probe_every" in names:
            values["probe_every"] = st.number_input(
                "Probe every K steps", min_value=1, max_value=1000, step=1, key=key("probe_every"),
                help="Histograms, gradients and the loss are recorded every K-th step; 1 records every step.")
        if "input_shape" in names:
            values["input_shape"] = st.text_input(
                "Input shape H,W,C", key=key("input_shape"), placeholder="blank: the architecture's own",
                help="Images are padded or resized to this shape. Too small a shape for the network is refused.")
    for name in EXTRA_RUN_FIELDS:  # set by a link or a lesson, not drawn
        if name not in names and state.get(key(name)) is not None:
            values[name] = state.get(key(name))
    return values


def config_from_settings(values: dict, **overrides) -> RunConfig:
    """A validated RunConfig from :func:`run_settings` values (UserError explains a bad one)."""
    merged = {**DEFAULTS, **values, **overrides}
    shape_text = str(merged.pop("input_shape") or "").strip()
    shape = parse_tuple(shape_text, int, 3, "input shape") if shape_text else None
    extra = {name: merged[name] for name in EXTRA_RUN_FIELDS if merged.get(name) is not None
             and (is_plain(merged["arch"]) or name not in PLAIN_NET_FIELDS)}  # they describe a plain net only
    return RunConfig(arch=merged["arch"], init=merged["init"], optimizer=merged["optimizer"],
                     lr=float(merged["lr"]), dataset=merged["dataset"], batch_size=int(merged["batch_size"]),
                     seed=int(merged["seed"]), probe_every=int(merged["probe_every"]), input_shape=shape, **extra)


def settings_changes(current: RunConfig, wanted: RunConfig) -> list[str]:
    """'init: he-normal → normal'-style lines for every run-defining field that differs."""
    changes = []
    for name in RUN_DEFINING_FIELDS:
        old, new = getattr(current, name), getattr(wanted, name)
        if old != new:
            show = lambda v: "default" if v is None else f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
            changes.append(f"{name}: {show(old)} → {show(new)}")
    return changes
