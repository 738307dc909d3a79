"""Controls shared by the pages: the run settings in the sidebar and how user errors look.

Every control's key is ``state.widget(page, name)``, with the same names the lessons
use in their ``settings`` (``arch``, ``init``, ``optimizer``, ``lr``, ``dataset``,
``batch_size``, ``seed``, ``probe_every``, ``input_shape``, and for ``plain_mlp`` /
``plain_cnn`` also ``depth``, ``width``, ``activation``, ``norm``, ``residual``), so a
lesson or the playground hand-off presets a page simply by writing those keys before it
draws. The plain-net controls appear under the architecture only when it is a plain net.
"""

from __future__ import annotations

import re

import streamlit as st

from cnnviz.config import INPUT_RANGES, MAX_BATCH_SIZE, RunConfig, parse_tuple
from cnnviz.data import DATASETS, OFFLINE_HINT
from cnnviz.errors import UserError
from cnnviz.nets.activations import ACTIVATIONS
from cnnviz.nets.initializers import INITIALIZERS
from cnnviz.nets.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS
from cnnviz.nets.params import DEFAULTS as PLAIN_DEFAULTS
from cnnviz.nets.params import MAX_DEPTH, MAX_WIDTH, MIN_DEPTH, MIN_WIDTH, NORMS, PlainNet, is_plain
from cnnviz.nets.zoo import ARCHITECTURES, layer_table
from cnnviz.playground.entries import HANDOFF_FIELDS
from dashboard import state

PLAYGROUND_HYPERPARAMETERS = HANDOFF_FIELDS  # sent with the playground hand-off
RUN_SETTINGS = ("arch", "init", "optimizer", "lr", "dataset", "batch_size", "seed", "probe_every", "input_shape")
# Drawn (and read) with "arch" when it is plain_mlp / plain_cnn; ignored for the fixed nets.
PLAIN_SETTINGS = ("depth", "width", "activation", "norm", "residual")
_DEFAULT = RunConfig()
DEFAULTS = {"arch": _DEFAULT.arch, "init": _DEFAULT.init, "optimizer": _DEFAULT.optimizer, "lr": _DEFAULT.lr,
            "dataset": _DEFAULT.dataset, "batch_size": _DEFAULT.batch_size, "seed": _DEFAULT.seed,
            "probe_every": _DEFAULT.probe_every, "input_shape": "", **PLAIN_DEFAULTS["plain_mlp"]}
# Streamlit's built-in Material icons: they render on any classroom PC, emoji fonts may not.
SEVERITY_ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}
# Run fields without a sidebar control: a link (dashboard/links.py) or a lesson may still set
# them, under the same session keys a control would use (None: the architecture's or optimizer's default).
PLAIN_NET_FIELDS = ("depth", "width", "activation", "norm", "residual")
EXTRA_RUN_FIELDS = ("input_range", "momentum", "beta1", "beta2", "rho", "epsilon", "depth", "width", "activation",
                    "norm", "residual")
# Fields whose change means a different network or different data: a new run is needed.
RUN_DEFINING_FIELDS = ("arch", "init", "optimizer", "lr", "dataset", "batch_size", "seed", "input_shape",
                       *PLAIN_SETTINGS)
# RunConfig fields the sidebar has no control for. A run adopted from another page (or sent
# by the playground) may set them; the page keeps them next to the sidebar's values
# ("extras") so the next Train or Reset builds that same run, not one with these at defaults.
OPTIMIZER_FIELDS = ("momentum", "beta1", "beta2", "rho", "epsilon")
EXTRA_FIELDS = ("classes", "input_range", *OPTIMIZER_FIELDS)
# What a link (dashboard/links.py) may set beyond the basic controls: as session keys of the page,
# read back by run_settings (plain-net fields have sidebar controls, the others do not).
PLAIN_NET_FIELDS = PLAIN_SETTINGS
LINK_ONLY_FIELDS = ("input_range", *OPTIMIZER_FIELDS)
EXTRA_RUN_FIELDS = (*LINK_ONLY_FIELDS, *PLAIN_NET_FIELDS)
# The library's hint names a command-line flag; a page names its own control instead.
PAGE_OFFLINE_HINT = 'pick "mnist-sample" in the Dataset box (10,000 real MNIST digits that come with cnnviz)'
_NOT_CACHED = re.compile(r"dataset '([\w-]+)' is not in the Keras cache \(.*\) and CNNVIZ_OFFLINE is set")
_NOT_DOWNLOADED = re.compile(r"dataset '([\w-]+)' could not be downloaded \((\w+)\)")


def in_page_words(message: str) -> str:
    """A library message with command-line advice replaced by what to do on the page."""
    message = _NOT_CACHED.sub(r"dataset '\1' is not stored on this server, which works offline", message)
    message = _NOT_DOWNLOADED.sub(r"dataset '\1' could not be downloaded (\2: no internet here?)", message)
    return message.replace(OFFLINE_HINT, PAGE_OFFLINE_HINT)


def show_user_error(error: UserError | str) -> None:
    """Show a user's mistake as one red sentence (never a traceback)."""
    message = in_page_words(str(error).strip())
    first_word = message.split(" ", 1)[0]
    if first_word.isalpha() and first_word.islower():  # "vgg16", "lambda.keras" are names: keep them as written
        message = message[:1].upper() + message[1:]
    st.error(message, icon=SEVERITY_ICONS["error"])


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
    # The playground also sends momentum, beta1, beta2, rho and epsilon (None where the optimizer
    # has no such setting). The sidebar has no controls for them: they are kept as the page's
    # extras, tied to this optimizer, so the next Reset or Train builds exactly this optimizer.
    extra = {k: float(v) for k, v in handoff.items() if k in PLAYGROUND_HYPERPARAMETERS and v is not None}
    kept = page_extras(page)
    fields = {k: v for k, v in kept.get("fields", {}).items() if k not in OPTIMIZER_FIELDS} | extra
    optimizer = settings.get("optimizer", state.get(state.widget(page, "optimizer")))
    state.put(state.widget(page, "extras"), {"arch": kept.get("arch", state.get(state.widget(page, "arch"))),
                                             "optimizer": optimizer, "fields": fields})
    described = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                          for k, v in {**settings, **extra}.items())
    return f"Settings from the optimizer playground: {described}. Press Reset or Train to use them."


def show_playground_handoff(page: str) -> None:
    """:func:`take_playground_handoff`, saying on the page what was set (nothing when nothing was sent)."""
    note = take_playground_handoff(page)
    if note:
        st.info(note, icon=":material/landscape:")


def _reset_learning_rate(page: str) -> None:
    """Picking another optimizer proposes its usual learning rate (Adam's 0.001 would crawl with SGD)."""
    optimizer = state.get(state.widget(page, "optimizer"))
    state.put(state.widget(page, "lr"), DEFAULT_LEARNING_RATES.get(optimizer, _DEFAULT.lr))


def parse_input_shape(text: str) -> tuple[int, int, int] | None:
    """'28,28,1' -> (28, 28, 1); blank -> None (the architecture's own shape)."""
    text = str(text or "").strip()
    return parse_tuple(text, int, 3, "input shape (height, width, channels)") if text else None


def _reset_plain_net(page: str) -> None:
    """Picking plain_mlp or plain_cnn proposes its own defaults (256 units is no sensible channel count)."""
    arch = state.get(state.widget(page, "arch"))
    if is_plain(arch):
        for name, value in PLAIN_DEFAULTS[arch].items():
            state.put(state.widget(page, name), value)


def _arch_caption(arch: str, input_shape: str, net: PlainNet | None = None) -> str:
    info = ARCHITECTURES[arch]
    # The zoo's description may list command-line flags (--depth ...): not words for a page.
    description = re.sub(r"\s*\((?:--[\w-]+\s*)+\)", "", info.description)
    try:
        shape = parse_input_shape(input_shape)
        params = sum(row["params"] for row in layer_table(arch, shape, net=net))
    except UserError as error:
        return f"{description}. ⚠️ {error}"
    shown = "×".join(str(v) for v in (shape or info.input_shape))
    described = net.describe() if net is not None else description
    return f"{described}; {params:,} parameters; input {shown}."


def plain_net_settings(page: str, arch: str) -> dict:
    """Depth, width, activation, normalization and skips of a plain net (call inside the sidebar)."""
    key = lambda name: state.widget(page, name)  # noqa: E731
    unit = "units" if arch == "plain_mlp" else "channels"
    return {
        "depth": st.number_input("Depth (hidden layers)", min_value=MIN_DEPTH, max_value=MAX_DEPTH, step=1,
                                 key=key("depth"), help="Hidden conv/dense layers before the logits."),
        "width": st.number_input(f"Width ({unit} per layer)", min_value=MIN_WIDTH, max_value=MAX_WIDTH, step=1,
                                 key=key("width")),
        "activation": st.selectbox("Activation", list(ACTIVATIONS), key=key("activation"),
                                   help="The nonlinearity after every hidden layer."),
        "norm": st.selectbox("Normalization", list(NORMS), key=key("norm"),
                             help="Batch or layer norm between each layer and its activation."),
        "residual": st.toggle("Residual skips", key=key("residual"),
                              help="Layers 2..depth become h + act(norm(layer(h)))."),
    }


def run_settings(page: str, names=RUN_SETTINGS, container=None, heading: str = "Network and training") -> dict:
    """Draw the run controls named in ``names`` (in the sidebar by default); return their values.

    Values are raw widget values; turn them into a validated :class:`RunConfig` with
    :func:`config_from_settings`.
    """
    box = container if container is not None else st.sidebar
    kept = tuple(names) + (PLAIN_SETTINGS if "arch" in names else ())
    state.keep_widget_values(page, kept)
    for name in kept:
        state.ensure_default(state.widget(page, name), DEFAULTS[name])
    key = lambda name: state.widget(page, name)  # noqa: E731
    values = {}
    with box:
        if heading:
            st.header(heading)
        if "arch" in names:
            values["arch"] = st.selectbox("Architecture", list(ARCHITECTURES), key=key("arch"),
                                          on_change=_reset_plain_net, args=(page,),
                                          help="The network to build (all are real Keras models).")
            net = None
            if is_plain(values["arch"]):
                values.update(plain_net_settings(page, values["arch"]))
                try:
                    net = PlainNet(values["arch"], int(values["depth"]), int(values["width"]), values["activation"],
                                   values["norm"], bool(values["residual"]))
                except UserError:
                    net = None  # config_from_settings reports it
            st.caption(_arch_caption(values["arch"], str(state.get(key("input_shape"), "") or ""), net))
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
    for name in LINK_ONLY_FIELDS:  # set by a link or a lesson, not drawn
        if name not in names and state.get(key(name)) is not None:
            values[name] = state.get(key(name))
    show_extras(page, values)
    return values


def page_extras(page: str) -> dict:
    """The extra run fields ``page`` keeps (see EXTRA_FIELDS), with the arch/optimizer they came with."""
    return state.get(state.widget(page, "extras")) or {}


def keep_extras(page: str, config: RunConfig) -> None:
    """Remember ``config``'s fields that the sidebar cannot show, for ``page``'s next run."""
    defaults = RunConfig(arch=config.arch)  # a plain net's own defaults are not "extra"
    fields = {name: getattr(config, name) for name in EXTRA_FIELDS if getattr(config, name) != getattr(defaults, name)}
    if fields:
        state.put(state.widget(page, "extras"), {"arch": config.arch, "optimizer": config.optimizer, "fields": fields})
    else:
        state.pop(state.widget(page, "extras"))


def applicable_extras(extras: dict, arch: str, optimizer: str | None) -> dict:
    """The kept fields that still make sense: a network's shape only for the same architecture,
    optimizer hyperparameters only for the same optimizer (None: do not filter by optimizer)."""
    fields = {k: v for k, v in extras.get("fields", {}).items() if k in EXTRA_FIELDS}
    if extras.get("arch") != arch:
        fields.pop("classes", None)
    if optimizer is not None and extras.get("optimizer") != optimizer:
        fields = {k: v for k, v in fields.items() if k not in OPTIMIZER_FIELDS}
    return fields


def show_extras(page: str, values: dict) -> None:
    """Say in the sidebar which kept fields the next run uses, with a way to drop them."""
    extras = page_extras(page)
    if not extras or "arch" not in values:
        return
    fields = applicable_extras(extras, values["arch"], values.get("optimizer"))
    if not fields:
        return
    described = ", ".join(f"{name.replace('_', ' ')} {_show(value)}" for name, value in fields.items())
    with st.sidebar:
        st.caption(f"Also kept from the run this page took over (no control here): {described}.")
        if st.button("Use the defaults instead", key=state.widget(page, "drop_extras")):
            state.pop(state.widget(page, "extras"))
            st.rerun()


def settings_of(config: RunConfig) -> dict:
    """The sidebar values that show ``config`` (the inverse of :func:`config_from_settings`)."""
    return {"arch": config.arch, "init": config.init, "optimizer": config.optimizer, "lr": float(config.lr),
            "dataset": config.dataset, "batch_size": int(config.batch_size), "seed": int(config.seed),
            "probe_every": int(config.probe_every),
            "input_shape": ",".join(str(v) for v in config.input_shape) if config.input_shape else "",
            **({"depth": config.depth, "width": config.width, "activation": config.activation, "norm": config.norm,
                "residual": bool(config.residual)} if config.net is not None else {})}


def adopt_run_settings(page: str, config: RunConfig) -> None:
    """Set ``page``'s controls to ``config`` (every run-defining field), so its next Train
    continues a run of this config instead of replacing it. Call before the page draws."""
    settings = settings_of(config)
    state.apply_settings(page, settings)
    saved = state.get(state.SAVED_WIDGETS)
    if saved is not None:  # what keep_widget_values would restore after a visit elsewhere
        saved.update({state.widget(page, name): value for name, value in settings.items()})
    keep_extras(page, config)


def config_from_settings(values: dict, extras: dict | None = None, **overrides) -> RunConfig:
    """A validated RunConfig from :func:`run_settings` values (UserError explains a bad one).

    ``extras`` is :func:`page_extras`' value: fields without a control that still apply.
    """
    merged = {**DEFAULTS, **values, **overrides}
    shape = parse_input_shape(merged.pop("input_shape"))
    plain = {}
    if is_plain(merged["arch"]):  # the plain-net controls count only for plain nets
        plain = {"depth": int(merged["depth"]), "width": int(merged["width"]), "activation": merged["activation"],
                 "norm": merged["norm"], "residual": bool(merged["residual"])}
    linked = {name: merged[name] for name in LINK_ONLY_FIELDS if merged.get(name) is not None}
    config = RunConfig(arch=merged["arch"], init=merged["init"], optimizer=merged["optimizer"],
                       lr=float(merged["lr"]), dataset=merged["dataset"], batch_size=int(merged["batch_size"]),
                       seed=int(merged["seed"]), probe_every=int(merged["probe_every"]), input_shape=shape,
                       **plain, **linked)
    fields = applicable_extras(extras or {}, config.arch, config.optimizer)
    return config.replace(**fields) if fields else config


def config_or_error(values: dict, extras: dict | None = None, **overrides) -> tuple[RunConfig | None, UserError | None]:
    """:func:`config_from_settings`, with a bad setting returned as the error instead of raised."""
    try:
        return config_from_settings(values, extras, **overrides), None
    except UserError as error:
        return None, error


def _show(value) -> str:
    return "default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def settings_changes(current: RunConfig, wanted: RunConfig) -> list[str]:
    """'init: he-normal → normal'-style lines for every run-defining field that differs."""
    changes = []
    for name in (*RUN_DEFINING_FIELDS, *EXTRA_FIELDS):
        old, new = getattr(current, name), getattr(wanted, name)
        if old != new:
            changes.append(f"{name.replace('_', ' ')}: {_show(old)} → {_show(new)}")
    return changes
