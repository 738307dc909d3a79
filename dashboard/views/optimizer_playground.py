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

import streamlit as st  # noqa: E402
from streamlit.errors import StreamlitPageNotFoundError  # noqa: E402

from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import basins as basin_figures  # noqa: E402
from cnnviz.figures import surfaces as surface_figures  # noqa: E402
from cnnviz.figures import surface_curves as curve_figures  # noqa: E402
from cnnviz.nets.optimizers import OptimizerSpec  # noqa: E402
from cnnviz.playground import entries as playground_entries  # noqa: E402
from cnnviz.playground.basins import MAX_WORK, basin_map  # noqa: E402
from cnnviz.playground.entries import ENTRIES, optimizer_of  # noqa: E402
from cnnviz.playground.presets import PRESETS  # noqa: E402
from cnnviz.playground.surfaces import SURFACES  # noqa: E402
from cnnviz.playground.trajectories import DEFAULT_TOLERANCE, MAX_STEPS, compare, trajectories_frame  # noqa: E402
from dashboard import components, state, widgets  # noqa: E402

PAGE = "playground"
CUSTOM = "custom"
PLOT_CONFIG = {"displaylogo": False}
CLICK_GRID = 41  # invisible points per side that make the map clickable
# The Activations page, as st.switch_page wants it (an absolute path works from any page).
ACTIVATIONS_PAGE = str(Path(__file__).resolve().parent / "activations.py")
BASIN_GRIDS = (16, 24, 32, 40, 48, 64)
DEFAULT_BASIN_GRID = 32


def key(name: str) -> str:
    return state.widget(PAGE, name)


def entry_key(entry: str, parameter: str) -> str:
    return key(f"{parameter}:{entry}")


def set_defaults() -> None:
    """Fill every control once; the preset (a lesson may have chosen it) decides the rest."""
    state.keep_widget_values(PAGE, ["preset", "surface", "start_x", "start_y", "steps", "entries", "click_start",
                                    "send", "show_3d", "show_basins", "basin_entry", "basin_grid", "basin_steps",
                                    *playground_entries.setting_names()])
    state.ensure_default(key("preset"), "tutorial")
    state.ensure_default(key("click_start"), True)
    for entry in ENTRIES:
        name = optimizer_of(entry)
        state.ensure_default(entry_key(entry, "lr"), components.default_learning_rate(name))
        for parameter, default in components.hyperparameter_defaults(name).items():
            state.ensure_default(entry_key(entry, parameter), default)
    preset = state.get(key("preset"))
    if state.get(key("applied_preset")) != preset:  # newly chosen here or by a lesson
        if preset in PRESETS:  # copied into the widgets before they are drawn in this run
            state.apply_settings(PAGE, playground_entries.preset_settings(PRESETS[preset]))
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
    values = {p: state.get(entry_key(entry, p)) for p in components.hyperparameter_defaults(optimizer_of(entry))}
    return playground_entries.spec_from_settings(entry, state.get(entry_key(entry, "lr")), values)


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
            for parameter in components.hyperparameter_defaults(optimizer_of(entry)):
                st.number_input(parameter, key=entry_key(entry, parameter), format="%g",
                                step=1e-8 if parameter == "epsilon" else 0.01)


def current_preset_lesson(surface, start, steps, specs) -> str | None:
    """The chosen preset's lesson, unless the controls have since been changed away from it."""
    preset = PRESETS.get(state.get(key("preset")))
    return preset.lesson if preset and playground_entries.preset_matches(preset, surface, start, steps, specs) else None


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
        st.caption(surface_figures.contour_caption(bool(surface.minima), bool(state.get(key("click_start")))))
    with animation:
        st.plotly_chart(surface_figures.animated_contour_figure(surface, result.trajectories), config=PLOT_CONFIG)
        st.caption(surface_figures.ANIMATION_CAPTION)
    with losses:
        st.plotly_chart(surface_figures.loss_figure(result.trajectories, title=f"Loss per step on {surface.name}"),
                        config=PLOT_CONFIG)
        st.caption(curve_figures.LOSS_PER_STEP_CAPTION)
    with landscape:
        if st.toggle("Draw the 3D landscape", key=key("show_3d")):
            st.plotly_chart(surface_figures.surface_3d_figure(surface, result.trajectories), config=PLOT_CONFIG)
            st.caption(surface_figures.SURFACE_3D_CAPTION)
        else:
            st.caption("Off by default: the 3D view is heavier to draw than the contour map.")

    st.subheader("How they did")
    st.dataframe(surface_figures.comparison_display_table(result.table), hide_index=True,
                 column_config={"optimizer": st.column_config.TextColumn(width="large")})
    st.caption(curve_figures.comparison_caption(DEFAULT_TOLERANCE))
    components.csv_button(PAGE, "Download the paths", lambda: trajectories_frame(result.trajectories),
                          f"trajectories_{surface.name}.csv", "csv_paths")


def send_to_training(entries, result) -> None:
    st.subheader("Try it on the CNN")
    trajectory_of = dict(zip(entries, result.trajectories))
    if state.get(key("send")) not in trajectory_of:
        state.put(key("send"), entries[0])  # the optimizer it pointed at was removed
    chosen = st.selectbox("Optimizer to train with", entries, key=key("send"),
                          format_func=lambda e: trajectory_of[e].label)
    if st.button("Train the CNN with these settings", type="primary"):
        state.put(state.PLAYGROUND_HANDOFF, playground_entries.handoff(trajectory_of[chosen].spec))
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
    st.caption(basin_figures.BASIN_MAP_CAPTION)
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
    st.caption(basin_figures.basin_outcome_caption(basins))
    components.csv_button(PAGE, "Download the basin map", basins.frame, f"basins_{surface.name}_{spec.name}.csv",
                          "csv_basins")


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
