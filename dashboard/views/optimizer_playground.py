"""Optimizer playground: real Keras optimizers racing on 2D toy loss surfaces.

Widgets in, figures out: the paths come from ``cnnviz.trajectories`` (identical requests
are answered from its cache), the pictures from ``cnnviz.figures.surfaces``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import math  # noqa: E402

import streamlit as st  # noqa: E402

from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import surfaces as surface_figures  # noqa: E402
from cnnviz.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS, OptimizerSpec  # noqa: E402
from cnnviz.surfaces import SURFACES  # noqa: E402
from cnnviz.trajectories import DEFAULT_TOLERANCE, MAX_STEPS, compare, trajectories_frame  # noqa: E402
from cnnviz.trajectory_presets import PRESETS  # noqa: E402
from dashboard import state, widgets  # noqa: E402

PAGE = "playground"
CUSTOM = "custom"
COPIES = 3  # "momentum", "momentum #2", "momentum #3": race one optimizer under several settings
# The hyperparameters each optimizer exposes, with Keras's defaults (a value equal to the
# default is not passed on, so legends only mention what was changed).
HYPERPARAMETERS = {
    "sgd": {"momentum": 0.0},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "nadam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "rmsprop": {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7},
    "adagrad": {"epsilon": 1e-7},
    "adadelta": {"rho": 0.95, "epsilon": 1e-7},
}
ENTRIES = [name if copy == 1 else f"{name} #{copy}" for copy in range(1, COPIES + 1) for name in OPTIMIZERS]
PLOT_CONFIG = {"displaylogo": False}
CLICK_GRID = 41  # invisible points per side that make the map clickable


def key(name: str) -> str:
    return state.widget(PAGE, name)


def entry_key(entry: str, parameter: str) -> str:
    return key(f"{parameter}:{entry}")


def optimizer_of(entry: str) -> str:
    return entry.split(" #")[0]


def all_keys() -> list[str]:
    names = ["preset", "surface", "start_x", "start_y", "steps", "entries", "click_start", "send", "show_3d"]
    names += [f"{p}:{e}" for e in ENTRIES for p in ("lr", *HYPERPARAMETERS[optimizer_of(e)])]
    return names


def apply_preset(name: str) -> None:
    """Copy a preset into the widgets (before they are drawn in this run)."""
    preset = PRESETS[name]
    settings = {"surface": preset.surface, "start_x": preset.start[0], "start_y": preset.start[1], "steps": preset.steps}
    entries, seen = [], {}
    for spec in preset.specs:
        seen[spec.name] = seen.get(spec.name, 0) + 1
        entry = spec.name if seen[spec.name] == 1 else f"{spec.name} #{seen[spec.name]}"
        entries.append(entry)
        settings[f"lr:{entry}"] = spec.learning_rate
        for parameter, default in HYPERPARAMETERS[spec.name].items():
            value = getattr(spec, parameter)
            settings[f"{parameter}:{entry}"] = default if value is None else value
    settings["entries"] = entries
    state.apply_settings(PAGE, settings)


def set_defaults() -> None:
    """Fill every control once; the preset (a lesson may have chosen it) decides the rest."""
    state.keep_widget_values(PAGE, all_keys())
    state.ensure_default(key("preset"), "tutorial")
    state.ensure_default(key("click_start"), True)
    for entry in ENTRIES:
        name = optimizer_of(entry)
        state.ensure_default(entry_key(entry, "lr"), DEFAULT_LEARNING_RATES[name])
        for parameter, default in HYPERPARAMETERS[name].items():
            state.ensure_default(entry_key(entry, parameter), default)
    preset = state.get(key("preset"))
    if state.get(key("applied_preset")) != preset:  # newly chosen here or by a lesson
        if preset in PRESETS:
            apply_preset(preset)
        state.put(key("applied_preset"), preset)


def take_clicked_start() -> None:
    """A click on the map (a point selection on the last drawn chart) becomes the new start."""
    selection = state.get(key("map"))
    points = selection.get("selection", {}).get("points", []) if selection else []
    if not points:
        return
    clicked = (round(float(points[0]["x"]), 3), round(float(points[0]["y"]), 3))
    if clicked != state.get(key("last_click")):
        state.put(key("last_click"), clicked)
        state.put(key("start_x"), clicked[0])
        state.put(key("start_y"), clicked[1])


def spec_from_widgets(entry: str) -> OptimizerSpec:
    name = optimizer_of(entry)
    given = {}
    for parameter, default in HYPERPARAMETERS[name].items():
        value = state.get(entry_key(entry, parameter))
        if value is not None and not math.isclose(value, default, rel_tol=0, abs_tol=1e-12):
            given[parameter] = float(value)
    return OptimizerSpec(name, lr=float(state.get(entry_key(entry, "lr"))), **given)


def sidebar_controls() -> None:
    sidebar = st.sidebar
    sidebar.header("Playground")
    sidebar.selectbox("Preset lesson", [CUSTOM, *PRESETS], key=key("preset"),
                      format_func=lambda n: "— your own settings —" if n == CUSTOM else PRESETS[n].title)
    sidebar.selectbox("Surface", list(SURFACES), key=key("surface"),
                      format_func=lambda n: f"{n}: {SURFACES[n].formula}")
    left, right = sidebar.columns(2)
    left.number_input("start x", key=key("start_x"), step=0.1, format="%g")
    right.number_input("start y", key=key("start_y"), step=0.1, format="%g")
    sidebar.toggle("Click the map to set the start", key=key("click_start"))
    sidebar.number_input("steps", key=key("steps"), min_value=1, max_value=MAX_STEPS, step=10)
    sidebar.multiselect("Optimizers", ENTRIES, key=key("entries"),
                        help="Pick 'momentum #2' (etc.) to race one optimizer under different settings.")
    for entry in state.get(key("entries")) or []:
        with sidebar.expander(f"{entry} settings"):
            st.number_input("learning rate", key=entry_key(entry, "lr"), format="%g", step=0.001)
            for parameter in HYPERPARAMETERS[optimizer_of(entry)]:
                st.number_input(parameter, key=entry_key(entry, parameter), format="%g",
                                step=1e-8 if parameter == "epsilon" else 0.01)


def click_layer(fig) -> None:
    """Invisible points all over the map, so a click anywhere is a point selection."""
    import numpy as np
    import plotly.graph_objects as go

    (x_lo, x_hi), (y_lo, y_hi) = fig.layout.xaxis.range, fig.layout.yaxis.range
    grid_x, grid_y = np.meshgrid(np.linspace(x_lo, x_hi, CLICK_GRID), np.linspace(y_lo, y_hi, CLICK_GRID))
    fig.add_trace(go.Scatter(x=grid_x.ravel().round(3), y=grid_y.ravel().round(3), mode="markers", showlegend=False,
                             marker={"size": 10, "opacity": 0}, hoverinfo="none", name="click to start here"))


def settings_of(spec: OptimizerSpec) -> tuple:
    """A spec with every default filled in, so equal settings compare equal."""
    defaults = HYPERPARAMETERS[spec.name]
    return (spec.name, spec.learning_rate, *[defaults[p] if getattr(spec, p) is None else getattr(spec, p)
                                             for p in defaults])


def current_preset_lesson(surface, start, steps, specs) -> str | None:
    """The chosen preset's lesson, unless the controls have since been changed away from it."""
    preset = PRESETS.get(state.get(key("preset")))
    if preset and (preset.surface, tuple(preset.start), preset.steps) == (surface, start, steps) \
            and [settings_of(s) for s in preset.specs] == [settings_of(s) for s in specs]:
        return preset.lesson
    return None


def show_results(result, lesson: str | None) -> None:
    surface = result.surface
    st.info(lesson or f"**{surface.name}**: {surface.lesson}", icon=":material/school:")
    if any(t.diverged for t in result.trajectories):
        bad = ", ".join(f"{t.label} at step {t.diverged_at}" for t in result.trajectories if t.diverged)
        st.warning(f"Diverged (the path stops at its last finite point, marked X): {bad}.")

    paths, animation, losses, landscape = st.tabs(["Paths", "Animation", "Loss per step", "3D view"])
    with paths:
        fig = surface_figures.contour_figure(surface, result.trajectories)
        if state.get(key("click_start")):
            click_layer(fig)
            st.plotly_chart(fig, key=key("map"), on_select="rerun", selection_mode="points", config=PLOT_CONFIG)
        else:
            st.plotly_chart(fig, config=PLOT_CONFIG)
        st.caption("Each line is one optimizer from the white start"
                   + ("; the gold star is the global minimum. " if surface.minima else " (this surface has no minimum). ")
                   + "Look for zig-zags across a valley, loops past the minimum, and paths that stall."
                   + (" Click anywhere on the map to start from there." if state.get(key("click_start")) else ""))
    with animation:
        st.plotly_chart(surface_figures.animated_contour_figure(surface, result.trajectories), config=PLOT_CONFIG)
        st.caption("Press play: watch the speed. Fast early then creeping means a plateau; "
                   "circling means too much momentum.")
    with losses:
        st.plotly_chart(surface_figures.loss_figure(result.trajectories, title=f"Loss per step on {surface.name}"),
                        config=PLOT_CONFIG)
        st.caption("Lower is better. On a log axis a straight falling line is steady progress; "
                   "a flat stretch is a plateau; spikes are overshoots.")
    with landscape:
        if st.toggle("Draw the 3D landscape", key=key("show_3d")):
            st.plotly_chart(surface_figures.surface_3d_figure(surface, result.trajectories), config=PLOT_CONFIG)
            st.caption("The same surface as terrain (drag to rotate): the paths run downhill on it.")
        else:
            st.caption("Off by default: the 3D view is heavier to draw than the contour map.")

    st.subheader("How they did")
    st.dataframe(surface_figures.comparison_display_table(result.table), hide_index=True)
    st.caption("Distance is to the nearest global minimum; 'first step near a minimum' is the first step "
               f"within {DEFAULT_TOLERANCE:g} of one.")
    csv = trajectories_frame(result.trajectories).to_csv(index=False).encode()
    st.download_button("Download the paths (CSV)", csv, file_name=f"trajectories_{surface.name}.csv", mime="text/csv")


def send_to_training(entries, specs) -> None:
    st.subheader("Try it on the CNN")
    spec_of = dict(zip(entries, specs))
    if state.get(key("send")) not in spec_of:
        state.put(key("send"), entries[0])  # the optimizer it pointed at was removed
    chosen = st.selectbox("Optimizer to train with", entries, key=key("send"),
                          format_func=lambda e: f"{e} (lr {spec_of[e].learning_rate:g})")
    if st.button("Train the CNN with these settings", type="primary"):
        spec = spec_of[chosen]
        state.put(state.PLAYGROUND_HANDOFF, {"optimizer": spec.name, "lr": spec.learning_rate})
        st.success(f"Saved {spec.name} with lr {spec.learning_rate:g}. Open **Activations (live training)** "
                   "in the sidebar: it will start from these settings.")


st.title("Optimizer playground")
st.caption("The real Keras optimizers on two-weight toy surfaces: the whole path of every step, not just the loss.")
set_defaults()
take_clicked_start()
sidebar_controls()

entries = state.get(key("entries")) or []
if not entries:
    st.warning("Pick at least one optimizer in the sidebar.")
    st.stop()
try:
    specs = [spec_from_widgets(entry) for entry in entries]
    surface_name = state.get(key("surface"))
    start = (float(state.get(key("start_x"))), float(state.get(key("start_y"))))
    steps = int(state.get(key("steps")))
    with st.spinner("Running the optimizers…"):
        result = compare(surface_name, specs, start, steps)
except UserError as error:
    widgets.show_user_error(error)
    st.stop()
show_results(result, current_preset_lesson(surface_name, start, steps, specs))
send_to_training(entries, specs)
