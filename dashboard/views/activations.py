"""Activations (live training): every layer's pre-activations while the network trains.

Widgets in, figures out. The run lives in session state (``dashboard.state``); the
charts sit in a fragment that, while training is on, takes a few steps per tick and
redraws itself without rerunning the page.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import math  # noqa: E402
from functools import partial  # noqa: E402

import streamlit as st  # noqa: E402

from cnnviz.diagnosis import theory  # noqa: E402
from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import activations as layer_figures  # noqa: E402
from cnnviz.figures import backward as backward_figures  # noqa: E402
from cnnviz.figures import cache as figure_cache  # noqa: E402
from cnnviz.figures import training_curves as curve_figures  # noqa: E402
from cnnviz.nets.backward import backward_theory_for  # noqa: E402
from cnnviz.report import build_report  # noqa: E402
from cnnviz.training.run import Run, run_at_init  # noqa: E402
from cnnviz.training.describe import snapshot_metrics, what_is_shown  # noqa: E402
from cnnviz.training.ticks import steps_for_one_tick  # noqa: E402
from dashboard import components, guarded, state, widgets  # noqa: E402

PAGE = "activations"
TICK_SECONDS = 1.0  # the live charts redraw about once a second while training
TICK_BUDGET_SECONDS = 0.7  # training time per tick; the rest is left for drawing
MAX_TRAIN_STEPS = 5000
DISPLAY_TOGGLES = ("post_activation", "shared_x", "log_counts", "heatmap_layer")


def replace_run(config) -> Run | None:
    """A new Run for ``config``, probed at initialization and built through the server's resource guard.
    Only on success does it replace the session's run; None after showing why it could not be built."""
    old = state.current_run()
    with components.refusals_shown(f"there is not enough memory for {config.arch} with batches of "
                                   f"{config.batch_size}; try a smaller batch size or input shape"), \
            st.spinner(f"Building {config.arch} with {config.init} weights and looking inside it at step 0…"):
        runs = guarded.build(PAGE, [config], run_at_init, replacing=[old] if old is not None else [],
                             session_runs=state.session_runs(exclude=[old] if old is not None else []))
        if runs:
            state.stop_training()
            state.set_run(runs[0])
            return runs[0]
    return None


def step_once(run: Run) -> None:
    with components.refusals_shown("there is not enough memory for one more step"), \
            st.spinner("One training step (the first one also compiles it)…"), state.run_lock():
        guarded.train(PAGE, run, 1)


def show_progress(step_count: int) -> None:
    target = int(state.get(state.TRAIN_TARGET, step_count))
    first = int(state.get(state.TRAIN_FROM, 0))
    st.progress(min(1.0, max(0.0, (step_count - first) / max(target - first, 1))),
                text=f"Training… step {step_count} of {target} (press Pause to stop)")


def advance(run: Run) -> None:
    """One tick of live training: steps until the time budget or the target is used up.

    Runs *after* the charts are drawn, so they stay fresh (not greyed out as stale)
    while the steps compute; the next tick shows the result. Pause may arrive on
    another thread while a step runs, so the training flag is checked between steps.
    """
    def take_step() -> None:
        with state.run_lock():
            guarded.train(PAGE, run, 1)

    try:
        run_done = steps_for_one_tick(run, int(state.get(state.TRAIN_TARGET, run.step_count)), TICK_BUDGET_SECONDS,
                                      take_step, keep_going=state.is_training)
    except UserError as error:
        state.put(state.PAGE_ERROR, str(error))
        run_done = True
    if run_done and state.is_training():
        state.stop_training()
        st.rerun()  # a full rerun drops the fragment's timer and draws the final state


# Figures, history and findings are pure functions of what the run's timeline has recorded up to
# its step: cnnviz.figures.cache builds each once per (timeline, snapshots seen, options) for the
# whole server, so a toggle rebuilds only what it changes and a room on one lesson shares them.
cached_figure = figure_cache.run_figure
csv_button = partial(components.csv_button, PAGE)
chart = partial(components.chart, PAGE)


def predicted_std_at_init(run: Run) -> dict[str, float]:
    """Layer -> the std the variance rule predicts at step 0 from each layer's input (cnnviz.diagnosis.theory)."""
    table = theory.theory_vs_measured_table_for_run(run)
    return dict(zip(table["layer"], table["predicted"]))


def show_metrics(run: Run, snapshot, step_count: int) -> None:
    for column, metric in zip(st.columns(4), snapshot_metrics(run, snapshot, step_count)):
        column.metric(metric.label, metric.value, help=metric.help)
    st.markdown(what_is_shown(run, snapshot, step_count))


def histogram_section(run: Run, snapshot) -> None:
    st.subheader("Pre-activation histograms, layer by layer")
    post, shared, log_counts = components.histogram_toggles(PAGE)
    figure = cached_figure(run, "histogram_grid", (post, shared, log_counts), lambda: layer_figures.histogram_grid(
        snapshot, post_activation=post, shared_x=shared, log_counts=log_counts))
    chart(figure, "chart_histograms", layer_figures.HISTOGRAM_GRID_CAPTION,
          ("Histogram data", lambda: layer_figures.histogram_table(snapshot, post), "histograms.csv", "csv_hist"))


def spread_and_loss_section(run: Run, snapshot, history) -> None:
    with st.container(key="wide-activations-spread-loss"):  # side by side when there is room (dashboard/style.py)
        spread_col, loss_col = st.columns(2)
    with spread_col:
        entries = layer_figures.first_and_latest(run.snapshot_at_init(), snapshot)
        predicted = predicted_std_at_init(run)
        figure = cached_figure(run, "std_per_layer", None, lambda: layer_figures.std_per_layer(
            entries, predicted, predicted_label="theory (step 0)"))
        chart(figure, "chart_std", layer_figures.std_per_layer_caption("step 0"),
              ("Std data", lambda: layer_figures.pre_activation_stats_table(entries, predicted), "std_per_layer.csv", "csv_std"))
    with loss_col:
        loss = cached_figure(run, "loss_curve", None,
                             lambda: curve_figures.loss_curve(history, chance_loss=math.log(run.classes)))
        chart(loss, "chart_loss", curve_figures.PROBED_LOSS_CAPTION,
              ("Loss data", lambda: curve_figures.loss_table(history), "loss.csv", "csv_loss"))


def backward_section(run: Run, snapshot, history) -> None:
    """The backward signal: std of ∂loss/∂z per layer at step 0 and now (theory dashed), and over the steps."""
    st.subheader("Backward signal: the gradient reaching each layer")
    initial = run.snapshot_at_init()
    entries = layer_figures.first_and_latest(initial, snapshot)
    predicted, why_not = backward_theory_for(run.config, initial, run.classes)
    chart(backward_figures.backward_signal_figure(entries, history, predicted, why_not), "chart_backward",
          backward_figures.backward_signal_caption(why_not),
          ("Backward signal data", lambda: backward_figures.backward_table(history), "backward_signal.csv",
           "csv_backward"))


def over_time_section(run: Run, history) -> None:
    # Full width: two log panels and a legend need the room to stay legible on a projector.
    st.subheader("Over the training steps")
    chart(cached_figure(run, "gradients", None, lambda: curve_figures.gradient_and_update_chart(history)),
          "chart_gradients", curve_figures.GRADIENT_CAPTION,
          ("Gradient data", lambda: curve_figures.gradient_table(history), "gradients.csv", "csv_gradients"))
    layer = components.layer_picker(PAGE, "Layer for the heatmap", [p.name for p in run.probed.points])
    chart(cached_figure(run, "heatmap", layer, lambda: curve_figures.histogram_heatmap(history, layer)),
          "chart_heatmap", curve_figures.HEATMAP_CAPTION,
          ("Heatmap data", lambda: curve_figures.heatmap_table(history, layer), f"heatmap_{layer}.csv", "csv_heatmap"))


def live_view() -> None:
    """Everything that changes while training: progress, numbers, findings and charts."""
    run = state.current_run()
    if run is None:
        st.info("No run yet: fix the settings in the sidebar, then press **Reset** to build the network.")
        return
    lock = state.run_lock()
    with lock:  # one consistent view, after any step still running on another thread
        step_count, snapshot = run.step_count, run.latest
        history, findings = figure_cache.run_history(run), figure_cache.run_findings(run)
        if snapshot is None:  # a run nobody has looked inside yet (e.g. taken over from another page)
            snapshot = run.snapshot_at_init()
    training = state.is_training()
    if training:
        show_progress(step_count)
    show_metrics(run, snapshot, step_count)
    st.subheader("Findings")
    components.show_findings(findings, f"No problems found at step {step_count}: activations, gradients and softmax "
                                       "look healthy.")
    histogram_section(run, snapshot)
    spread_and_loss_section(run, snapshot, history)
    backward_section(run, snapshot, history)
    over_time_section(run, history)
    st.subheader("Take it home")
    report_col, history_col = st.columns(2)
    with report_col:
        components.report_button(PAGE, lambda: build_report(run), "cnnviz-report.html", lock)
    with history_col:
        csv_button("Full history", lambda: history, "history.csv", "csv_history")
    if training:
        advance(run)


# ------------------------------------------------------------------ page
st.title("Activations (live training)")
st.markdown("Pick a network and an initializer in the sidebar, then **Train**: every chart below is measured "
            "inside the real Keras model, layer by layer, while it learns MNIST digits.")

if state.current_run() is None:  # a fresh session or a lesson: the controls alone define the run
    state.pop(state.widget(PAGE, "extras"))
widgets.show_playground_handoff(PAGE)
state.keep_widget_values(PAGE, DISPLAY_TOGGLES + ("train_steps",))
settings = widgets.run_settings(PAGE)
wanted, settings_error = widgets.config_or_error(settings, widgets.page_extras(PAGE))

state.ensure_default(state.widget(PAGE, "train_steps"), 50)
steps_col, train_col, step_col, pause_col, reset_col = st.columns([1.4, 1, 1, 1, 1], vertical_alignment="bottom")
n_steps = steps_col.number_input("Steps per Train", min_value=1, max_value=MAX_TRAIN_STEPS, step=10,
                                 key=state.widget(PAGE, "train_steps"))
train = train_col.button(f"Train {n_steps}", icon=":material/play_arrow:", type="primary",
                         key=state.widget(PAGE, "train"), width="stretch")
step = step_col.button("Step", icon=":material/skip_next:", key=state.widget(PAGE, "step"), width="stretch")
pause = pause_col.button("Pause", icon=":material/pause:", key=state.widget(PAGE, "pause"), width="stretch",
                         help="Stop the live training after the current tick; Train continues from here.")
reset = reset_col.button("Reset", icon=":material/restart_alt:", key=state.widget(PAGE, "reset"), width="stretch",
                         help="Build a new network from the sidebar settings, at initialization.")

run = state.current_run()
if pause:
    state.stop_training()
if run is not None and wanted is not None and run.config.probe_every != wanted.probe_every:
    run.config = run.config.replace(probe_every=wanted.probe_every)  # the probe interval applies to a live run
changes = widgets.settings_changes(run.config, wanted) if run is not None and wanted is not None else []

if settings_error is not None:
    widgets.show_user_error(settings_error)
elif run is None or reset or ((train or step) and changes):
    run = replace_run(wanted) or run
    changes = widgets.settings_changes(run.config, wanted) if run is not None else []
if run is not None and run.halted is None and settings_error is None and not changes:
    if step:
        state.stop_training()
        step_once(run)
    elif train:
        state.start_training(run.step_count, run.step_count + int(n_steps))

if changes:
    st.warning(f"Settings changed ({'; '.join(changes)}): press **Reset** (or Train/Step) to apply them. "
               "The charts still show the current run.", icon=":material/edit:")
page_error = state.pop(state.PAGE_ERROR)
if page_error:
    widgets.show_user_error(page_error)
if run is not None and run.halted is not None:
    st.error(f"Training stopped: {run.halted.message()}. Press **Reset** to start again, "
             "perhaps with a smaller learning rate.", icon=widgets.SEVERITY_ICONS["error"])

st.fragment(live_view, run_every=TICK_SECONDS if state.is_training() else None)()
