"""Compare initializers: one network, one batch, two to four ways of drawing the weights.

Every initializer gets its own real Run with the same architecture, seed and data
order, so the first batch is identical and only the weights differ. Optionally all
runs train the same number of steps with the same optimizer and their loss curves
share one chart.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import math  # noqa: E402

import streamlit as st  # noqa: E402

from cnnviz.diagnosis import diagnose_run  # noqa: E402
from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import activations as layer_figures  # noqa: E402
from cnnviz.figures import depth as depth_figures  # noqa: E402
from cnnviz.figures import training_curves as curve_figures  # noqa: E402
from cnnviz.nets.depth_view import depth_profile_of_runs  # noqa: E402
from cnnviz.nets.initializers import INITIALIZERS  # noqa: E402
from cnnviz.training import Run  # noqa: E402
from dashboard import guarded, state, widgets  # noqa: E402
from dashboard.components import chart, csv_button, histogram_toggles, refusals_shown  # noqa: E402
from dashboard.components import show_findings as show_findings_panel  # noqa: E402

PAGE = "compare"
DEFAULT_INITS = ["normal", "normal-0.01", "glorot-uniform", "he-normal"]
NETWORK_SETTINGS = ("arch", "dataset", "batch_size", "seed", "input_shape")
TRAINING_SETTINGS = ("optimizer", "lr")
MAX_COMPARE_STEPS = 500


def build_runs(configs: dict, previous: dict[str, Run]) -> dict[str, Run] | None:
    """One Run per initializer, probed at step 0; None (after an st.error) if any cannot be built.

    Untrained runs of ``previous`` with the same settings are reused (building and
    compiling a network is the slow part; adding or removing one initializer should
    not rebuild the others).
    """
    runs, complete = {}, None
    progress = st.progress(0.0, text="Building the networks…")
    try:
        with refusals_shown("there is not enough memory for this comparison; try a smaller batch size"):
            wanted = {}
            for init, config in configs.items():
                old = previous.get(init)
                if old is not None and old.config == config and old.step_count == 0 and old.halted is None:
                    runs[init] = old
                else:
                    wanted[init] = config

            def make(config):
                progress.progress(len(runs) / len(configs), text=f"Building {config.arch} with {config.init} weights…")
                run = Run(config)
                run.snapshot_at_init()
                runs[config.init] = run
                return run

            replaced = [run for init, run in previous.items() if runs.get(init) is not run]
            # All of the comparison's new networks are admitted together: they count against one session.
            built = guarded.build(PAGE, list(wanted.values()), make, replacing=replaced,
                                  session_runs=state.session_runs(exclude=list(previous.values())) + list(runs.values()))
            if built is not None:
                complete = {init: runs[init] for init in configs}
    finally:
        progress.empty()
    return complete


def train_all(runs: dict[str, Run], steps: int) -> None:
    """Train every run ``steps`` more steps (a halted run just stops), with one progress bar."""
    progress = st.progress(0.0, text="Training…")
    total = steps * len(runs)
    for index, (init, run) in enumerate(runs.items()):
        def report(run_, _snapshot, index=index, init=init, start=run.step_count):
            done = index * steps + (run_.step_count - start)
            progress.progress(min(done / total, 1.0), text=f"Training {init}: step {run_.step_count}")
        try:
            with state.run_lock():  # a rerun may start on another thread while this one still trains
                guarded.train(PAGE, run, steps, callback=report, probe_last=True)
        except UserError as error:
            widgets.show_user_error(f"{init}: {error}")
    progress.empty()


def show_findings(runs: dict[str, Run]) -> None:
    """Each initializer's findings in its own column: what went wrong, in words."""
    with st.container(key="cards-compare-findings"):  # two per row on a projector (dashboard/style.py)
        columns = st.columns(len(runs))
    for column, (init, run) in zip(columns, runs.items()):
        with column:
            st.markdown(f"**{init}**")
            show_findings_panel(diagnose_run(run), "no problems found", compact=True)


# ------------------------------------------------------------------ page
st.title("Compare initializers")
st.markdown("The same network sees the same batch of digits; only the way its weights were drawn differs. "
            "Watch how far each initializer lets the signal grow or shrink from layer to layer.")

state.keep_widget_values(PAGE, ("inits", "steps", "post_activation", "log_counts", "shared_x", "moment"))
network = widgets.run_settings(PAGE, NETWORK_SETTINGS, heading="Network and batch")
state.ensure_default(state.widget(PAGE, "inits"), DEFAULT_INITS)
with st.sidebar:
    inits = st.multiselect("Initializers (2 to 4)", list(INITIALIZERS), key=state.widget(PAGE, "inits"),
                           max_selections=4, help="Each one gets its own copy of the network.")
training = widgets.run_settings(PAGE, TRAINING_SETTINGS, heading="Training (optional)")

wanted, settings_error = None, None
try:
    if len(inits) < 2:
        raise UserError("pick at least two initializers to compare")
    wanted = {init: widgets.config_from_settings({**network, **training}, init=init) for init in inits}
except UserError as error:
    settings_error = error

stored = state.get(state.COMPARE_RUNS)
state.ensure_default(state.widget(PAGE, "steps"), 20)
steps_col, compare_col, train_col = st.columns([1.4, 1.4, 1.4], vertical_alignment="bottom")
steps = steps_col.number_input("Steps to train each", min_value=1, max_value=MAX_COMPARE_STEPS, step=5,
                               key=state.widget(PAGE, "steps"))
rebuild = compare_col.button("Compare at initialization", icon=":material/restart_alt:",
                             key=state.widget(PAGE, "rebuild"), width="stretch",
                             help="Build every network again from the sidebar settings.")
train = train_col.button(f"Train all {steps} steps", icon=":material/play_arrow:", type="primary",
                         key=state.widget(PAGE, "train"),
                         width="stretch", help="Same optimizer, learning rate and batches for every initializer.")

if settings_error is not None:
    widgets.show_user_error(settings_error)
else:
    outdated = stored is None or stored["configs"] != wanted
    if stored is None or rebuild or (train and outdated):
        runs = build_runs(wanted, stored["runs"] if stored is not None else {})
        if runs is not None:
            stored = {"configs": wanted, "runs": runs}
            state.put(state.COMPARE_RUNS, stored)
    elif outdated:
        st.warning("Settings changed: press **Compare at initialization** (or Train all) to apply them. "
                   "The charts still show the previous comparison.", icon=":material/edit:")
    if train and stored is not None and stored["configs"] == wanted:
        train_all(stored["runs"], int(steps))

if stored is None:
    st.info("Nothing to compare yet: fix the settings in the sidebar.")
    st.stop()

runs: dict[str, Run] = stored["runs"]
trained = any(run.step_count for run in runs.values())
for init, run in runs.items():
    if run.halted is not None:
        st.error(f"{init}: training stopped at {run.halted.message()}.", icon=widgets.SEVERITY_ICONS["error"])

MOMENTS = ["now (latest probed step)", "at initialization"]
moment = MOMENTS[1]
if trained:
    state.ensure_default(state.widget(PAGE, "moment"), MOMENTS[0])
    moment = st.radio("Show the networks", MOMENTS, horizontal=True, key=state.widget(PAGE, "moment"))
with state.run_lock():  # wait for training still running on an interrupted earlier run of this page
    snapshots = {init: (run.snapshot_at_init() if moment == "at initialization" else run.latest)
                 for init, run in runs.items()}
first = next(iter(runs.values()))
st.caption(f"{first.config.arch} on {first.config.batch_size} {first.dataset.name} images, seed {first.config.seed}"
           + (f"; inputs {first.dataset.adaptation()}" if first.dataset.adaptation() else "") + ".")

st.subheader("Findings per initializer")
show_findings(runs)

st.subheader("Spread per layer")
chart(PAGE, layer_figures.compare_std_chart(snapshots), "chart_std", layer_figures.compare_std_caption(),
      ("Std data", lambda: layer_figures.pre_activation_stats_table(snapshots), "compare_std.csv", "csv_std"))

st.subheader("Depth view")
depth_profile = depth_profile_of_runs(runs)
chart(PAGE, depth_figures.depth_view_figure(depth_profile), "chart_depth", depth_figures.DEPTH_VIEW_CAPTION,
      ("Depth view data", lambda: depth_profile, "compare_depth.csv", "csv_depth"))

st.subheader("Loss and softmax")
table = layer_figures.init_comparison_table(snapshots)
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "loss": st.column_config.NumberColumn(format="%.4g"),
    "accuracy": st.column_config.NumberColumn(format="percent"),
    "logit std": st.column_config.NumberColumn(format="%.3g"),
    "max softmax prob (mean)": st.column_config.NumberColumn(format="%.3f"),
    "softmax entropy (mean)": st.column_config.NumberColumn(format="%.3f"),
    "uniform entropy": st.column_config.NumberColumn(format="%.3f"),
    "first layer std": st.column_config.NumberColumn(format="%.3g"),
    "last hidden layer std": st.column_config.NumberColumn(format="%.3g"),
    "growth last/first": st.column_config.NumberColumn(format="%.3g"),
})
st.caption(layer_figures.init_comparison_table_caption(first.classes))
csv_button(PAGE, "Table", lambda: table, "compare_table.csv", "csv_table")

if trained:
    histories = [(init, run.history()) for init, run in runs.items()]
    chart(PAGE, curve_figures.loss_curve(histories, chance_loss=math.log(first.classes)), "chart_loss",
          curve_figures.COMPARE_LOSS_CAPTION,
          ("Loss data", lambda: curve_figures.histories_table(histories), "compare_loss.csv", "csv_loss"))

st.subheader("Histograms, layer by layer")
post, shared_x, log_counts = histogram_toggles(
    PAGE, "Same x range across initializers", "Each layer (row) gets one x range for all initializers: a layer "
    "10,000x wider under one initializer then looks 10,000x wider.")
chart(PAGE, layer_figures.comparison_histogram_grid(snapshots, post_activation=post, log_counts=log_counts,
                                                    shared_x=shared_x),
      "chart_histograms", layer_figures.init_comparison_grid_caption(shared_x),
      ("Histogram data", lambda: layer_figures.labelled_histogram_table(snapshots, post), "compare_histograms.csv",
       "csv_hist"))
