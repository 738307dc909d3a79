"""Optimizer playground: real Keras optimizers racing on 2D toy loss surfaces, and their basins.

Widgets in, figures out: the paths come from ``cnnviz.playground.trajectories`` (identical
requests are answered from its cache), basin maps from ``cnnviz.playground.basins``, the
pictures from ``cnnviz.figures.surfaces`` and ``cnnviz.figures.basins``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import math  # noqa: E402

import streamlit as st  # noqa: E402
from streamlit.errors import StreamlitPageNotFoundError  # noqa: E402

from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import basins as basin_figures  # noqa: E402
from cnnviz.figures import surfaces as surface_figures  # noqa: E402
from cnnviz.nets.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS, OptimizerSpec  # noqa: E402
from cnnviz.playground.basins import MAX_WORK, basin_map  # noqa: E402
from cnnviz.playground.engine import resolved_hyperparameters  # noqa: E402
from cnnviz.playground.presets import PRESETS  # noqa: E402
from cnnviz.playground.surfaces import SURFACES  # noqa: E402
from cnnviz.playground.trajectories import DEFAULT_TOLERANCE, MAX_STEPS, compare, trajectories_frame  # noqa: E402
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
# The Activations page, as st.switch_page wants it (an absolute path works from any page).
ACTIVATIONS_PAGE = str(Path(__file__).resolve().parent / "activations.py")
HANDOFF_FIELDS = ("momentum", "beta1", "beta2", "rho", "epsilon")
BASIN_GRIDS = (16, 24, 32, 40, 48, 64)
DEFAULT_BASIN_GRID = 32


def key(name: str) -> str:
    return state.widget(PAGE, name)


def entry_key(entry: str, parameter: str) -> str:
    return key(f"{parameter}:{entry}")


def optimizer_of(entry: str) -> str:
    return entry.split(" #")[0]


def all_keys() -> list[str]:
    names = ["preset", "surface", "start_x", "start_y", "steps", "entries", "click_start", "send", "show_3d",
             "show_basins", "basin_entry", "basin_grid", "basin_steps"]
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


def keep_start_on_the_map() -> None:
    """After the surface changes: a start outside the new surface's window moves to its usual start.

    (A start left at (8, -8) would lie off the saddle's map: an empty picture, or a path
    that diverges at once from a point nobody can see.)
    """
    surface = SURFACES[state.get(key("surface"))]
    x, y = state.get(key("start_x")), state.get(key("start_y"))
    (x_lo, x_hi), (y_lo, y_hi) = surface.x_range, surface.y_range
    if x is None or y is None or not (x_lo <= x <= x_hi and y_lo <= y <= y_hi):
        state.put(key("start_x"), surface.default_start[0])
        state.put(key("start_y"), surface.default_start[1])
        old = "" if x is None or y is None else f" ({x:g}, {y:g})"
        state.put(key("start_moved"), f"The start{old} lies outside the {surface.name} map, so it moved to "
                  f"{surface.name}'s usual start ({surface.default_start[0]:g}, {surface.default_start[1]:g}).")


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
    # Names only: a formula would be cut off in a sidebar at projector zoom (the chart title shows it).
    sidebar.selectbox("Surface", list(SURFACES), key=key("surface"), on_change=keep_start_on_the_map,
                      help="The map's title shows the formula.")
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
            surface_figures.add_click_layer(fig, CLICK_GRID)
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
                   "circling means too much momentum. The slider jumps to any step.")
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
    st.dataframe(surface_figures.comparison_display_table(result.table), hide_index=True,
                 column_config={"optimizer": st.column_config.TextColumn(width="large")})
    st.caption("Distance is to the nearest global minimum; 'first step near a minimum' is the first step "
               f"within {DEFAULT_TOLERANCE:g} of one.")
    csv = trajectories_frame(result.trajectories).to_csv(index=False).encode()
    st.download_button("Download the paths (CSV)", csv, file_name=f"trajectories_{surface.name}.csv", mime="text/csv")


def handoff(spec: OptimizerSpec) -> dict:
    """What "Train the CNN with these settings" sends: the optimizer, its lr and every hyperparameter.

    Hyperparameters the optimizer uses carry their value (defaults filled in, so momentum
    0.9 arrives as 0.9); the ones it does not use are None.
    """
    used = resolved_hyperparameters(spec)
    return {"optimizer": spec.name, "lr": spec.learning_rate} | {field: used.get(field) for field in HANDOFF_FIELDS}


def send_to_training(entries, result) -> None:
    st.subheader("Try it on the CNN")
    trajectory_of = dict(zip(entries, result.trajectories))
    if state.get(key("send")) not in trajectory_of:
        state.put(key("send"), entries[0])  # the optimizer it pointed at was removed
    chosen = st.selectbox("Optimizer to train with", entries, key=key("send"),
                          format_func=lambda e: trajectory_of[e].label)
    if st.button("Train the CNN with these settings", type="primary"):
        state.put(state.PLAYGROUND_HANDOFF, handoff(trajectory_of[chosen].spec))
        try:
            st.switch_page(ACTIVATIONS_PAGE)
        except StreamlitPageNotFoundError:  # this page run on its own, without the app's navigation
            st.success(f"Saved {trajectory_of[chosen].label}. Open **Activations (live training)**: "
                       "it will start from these settings.")


@st.cache_data(max_entries=8, show_spinner=False)
def cached_basin_map(surface: str, spec: OptimizerSpec, grid: int, steps: int):
    """Basin maps are deterministic: reruns and other sessions asking the same get the stored one."""
    return basin_map(surface, spec, grid, steps)


def basin_section(surface, entries, result) -> None:
    st.subheader("Basins of attraction")
    st.caption("Every start of a grid at once: each square is one start, coloured by where the optimizer ends "
               "from there (which minimum, diverged, or not at a minimum yet). Within a minimum's colour, paler "
               "means more steps to get there. Hover a square for the exact outcome.")
    if not st.toggle("Draw the basin map", key=key("show_basins")):
        return
    trajectory_of = dict(zip(entries, result.trajectories))
    if state.get(key("basin_entry")) not in trajectory_of:
        state.put(key("basin_entry"), entries[0])
    state.ensure_default(key("basin_grid"), DEFAULT_BASIN_GRID)
    state.ensure_default(key("basin_steps"), int(state.get(key("steps"))))
    left, middle, right = st.columns(3)
    entry = left.selectbox("Optimizer", entries, key=key("basin_entry"), format_func=lambda e: trajectory_of[e].label)
    grid = middle.select_slider("Starts per side", BASIN_GRIDS, key=key("basin_grid"))
    steps = right.number_input("Steps", min_value=1, max_value=MAX_STEPS, step=50, key=key("basin_steps"),
                               help=f"grid x grid x steps may be at most {MAX_WORK:,}")
    spec = trajectory_of[entry].spec
    try:
        with st.spinner(f"Running {grid * grid:,} starts at once…"):
            basins = cached_basin_map(surface.name, spec, int(grid), int(steps))
    except UserError as error:
        widgets.show_user_error(error)
        return
    st.plotly_chart(basin_figures.basin_figure(basins), config=PLOT_CONFIG)
    counts = basins.counts()
    converged = basins.steps_to_converge[basins.minimum >= 0]
    reached = (f"{counts['minimum']:,} reach a minimum (median {int(sorted(converged)[len(converged) // 2])} steps, "
               f"at most {int(converged.max())})" if len(converged) else "none reach a minimum")
    st.caption(f"Of {grid * grid:,} starts, {reached}; {counts['diverged']:,} diverge; "
               f"{counts['not at a minimum']:,} are not at a minimum after {steps} steps. A start reaches a "
               f"minimum when its last point is within {basins.tolerance:g} of it; its steps count to the moment "
               "it came that close for good.")
    csv = basins.frame().to_csv(index=False).encode()
    st.download_button("Download the basin map (CSV)", csv, file_name=f"basins_{surface.name}_{spec.name}.csv",
                       mime="text/csv")


st.title("Optimizer playground")
st.caption("The real Keras optimizers on two-weight toy surfaces: the whole path of every step, not just the loss.")
set_defaults()
take_clicked_start()
sidebar_controls()
moved = state.pop(key("start_moved"))
if moved:
    st.info(moved, icon=":material/my_location:")

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
basin_section(result.surface, entries, result)
send_to_training(entries, result)
