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
import time  # noqa: E402

import streamlit as st  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnviz.diagnosis import theory  # noqa: E402
from cnnviz.diagnosis import diagnose_run  # noqa: E402
from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import activations as layer_figures  # noqa: E402
from cnnviz.figures import backward as backward_figures  # noqa: E402
from cnnviz.figures import cache as figure_cache  # noqa: E402
from cnnviz.figures import training_curves as curve_figures  # noqa: E402
from cnnviz.nets.backward import backward_theory_for  # noqa: E402
from cnnviz.report import build_report  # noqa: E402
from cnnviz.training import Run  # noqa: E402
from dashboard import guarded, state, widgets  # noqa: E402

PAGE = "activations"
TICK_SECONDS = 1.0  # the live charts redraw about once a second while training
TICK_BUDGET_SECONDS = 0.7  # training time per tick; the rest is left for drawing
MAX_TRAIN_STEPS = 5000
DISPLAY_TOGGLES = ("post_activation", "shared_x", "log_counts", "heatmap_layer")
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
PLOT_CONFIG = {"displaylogo": False}


def make_run(config) -> Run:
    """A Run probed at initialization (what a page shows first)."""
    run = Run(config)
    run.snapshot_at_init()
    return run


# ------------------------------------------------------------------ cached views
# Figures, history and findings are pure functions of what the run's timeline has
# recorded up to its step: they are built once per (timeline, snapshots seen, options)
# for the whole server (cnnviz.figures.cache), so a toggle or another widget rebuilds
# only what it changes, and a room on one lesson shares every figure.
def cached_figure(run: Run, name: str, options, build):
    """Figure ``name`` of ``run``'s current view with display ``options``, built only when new."""
    return figure_cache.run_figure(run, name, options, build)


def run_history(run: Run):
    """``run.history()`` (shared, read-only)."""
    return figure_cache.run_figure(run, "history", None, run.history)


def run_findings(run: Run) -> list:
    """``diagnose_run(run)`` (shared, read-only); a halt changes them."""
    return figure_cache.run_figure(run, "findings", run.halted, lambda: diagnose_run(run))


def build_run(config) -> Run | None:
    """A new Run probed at initialization, built through the server's resource guard;
    None after showing why it could not be built (too big for the budget: with what fits)."""
    old = state.current_run()
    try:
        with st.spinner(f"Building {config.arch} with {config.init} weights and looking inside it at step 0…"):
            runs = guarded.build(PAGE, [config], make_run, replacing=[old] if old is not None else [],
                                 session_runs=state.session_runs(exclude=[old] if old is not None else []))
        return runs[0] if runs else None
    except UserError as error:
        widgets.show_user_error(error)
    except (tf.errors.ResourceExhaustedError, MemoryError):
        widgets.show_user_error(f"there is not enough memory for {config.arch} with batches of {config.batch_size}; "
                                "try a smaller batch size or input shape")
    return None


def replace_run(config) -> Run | None:
    """Build a run for ``config``; only on success does it replace the session's run."""
    run = build_run(config)
    if run is not None:
        state.stop_training()
        state.set_run(run)
    return run


def step_once(run: Run) -> None:
    try:
        with st.spinner("One training step (the first one also compiles it)…"), state.run_lock():
            guarded.train(PAGE, run, 1)
    except UserError as error:
        widgets.show_user_error(error)


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
    target = int(state.get(state.TRAIN_TARGET, run.step_count))
    started = time.monotonic()
    try:
        while run.step_count < target and run.halted is None and state.is_training():
            with state.run_lock():
                guarded.train(PAGE, run, 1)
            if time.monotonic() - started > TICK_BUDGET_SECONDS:
                break
    except UserError as error:
        state.put(state.PAGE_ERROR, str(error))
        run_done = True
    else:
        run_done = run.step_count >= target or run.halted is not None
    if run_done and state.is_training():
        state.stop_training()
        st.rerun()  # a full rerun drops the fragment's timer and draws the final state


def report_html(run: Run, lock) -> str:
    """The HTML report, made when the button is clicked (on its own thread: wait for a running step).

    ``lock`` is passed in because that thread has no session to look it up in.
    """
    with lock:
        return build_report(run)


def csv_button(label: str, make_frame, file_name: str, key: str) -> None:
    """A download button whose CSV is made only when clicked."""
    st.download_button(f"{label} (CSV)", data=lambda: make_frame().to_csv(index=False), file_name=file_name,
                       mime="text/csv", key=state.widget(PAGE, key), on_click="ignore", icon=":material/download:")


def predicted_std_at_init(run: Run) -> dict[str, float]:
    """Layer -> the std the variance rule predicts at step 0 from each layer's input (cnnviz.diagnosis.theory)."""
    table = theory.theory_vs_measured_table_for_run(run)
    return dict(zip(table["layer"], table["predicted"]))


def show_findings(findings: list, step_count: int) -> None:
    findings = sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.step))
    if not findings:
        st.success(f"No problems found at step {step_count}: activations, gradients and softmax look healthy.",
                   icon=":material/check_circle:")
        return
    for finding in findings:
        where = f"**{finding.layer}**" if finding.layer else "**network**"
        text = f"{where} (step {finding.step}): {finding.message}"
        if finding.suggestion:
            text += f"  \n→ *{finding.suggestion}*"
        show = {"error": st.error, "warning": st.warning}.get(finding.severity, st.info)
        show(text, icon=widgets.SEVERITY_ICONS.get(finding.severity, widgets.SEVERITY_ICONS["info"]))


def training_mode_words(run: Run) -> str:
    """', in training mode (dropout on, ...)' when the network has layers that behave differently
    in training; '' when it does not (then the mode changes nothing)."""
    kinds = {type(layer).__name__ for layer in run.model.layers}  # structure only, no weights read
    parts = (["dropout on"] if any("Dropout" in kind for kind in kinds) else []) + (
        ["BatchNorm on batch statistics"] if any("BatchNormalization" in kind for kind in kinds) else [])
    return f", in training mode ({', '.join(parts)})" if parts else ""


def what_is_shown(run: Run, snapshot, step_count: int) -> str:
    """One sentence: which network the charts show and on which batch it was measured."""
    k = snapshot.step
    network = "the network at initialization (no updates yet)" if k == 0 else \
        f"the network after {k} update{'s' if k != 1 else ''}"
    behind = f" (the last probed step; the run is at step {step_count})" if k != step_count else ""
    return (f"**Step {k}**{behind}: {network}, measured on {run.describe_batch(snapshot)}"
            f"{training_mode_words(run)}.")


def show_metrics(run: Run, snapshot, step_count: int) -> None:
    batch = snapshot.batch or snapshot.step + 1
    step_col, loss_col, acc_col, prob_col = st.columns(4)
    step_col.metric("Training step", f"{step_count:,}", help="Updates applied to the weights so far.")
    loss = f"{snapshot.loss:.4g}" if math.isfinite(snapshot.loss) else "non-finite"
    loss_col.metric(f"Loss on batch {batch}", loss,
                    help=f"Cross-entropy of the step-{snapshot.step} network on training batch {batch}, "
                         f"the batch its next update learns from{training_mode_words(run)}.")
    acc_col.metric(f"Accuracy on batch {batch}", f"{snapshot.accuracy:.0%}",
                   help=f"Share of the {run.config.batch_size} images of batch {batch} the network gets right.")
    prob = snapshot.softmax.get("max_prob_mean", math.nan)
    prob_col.metric("Mean top softmax probability", f"{prob:.2f}" if math.isfinite(prob) else "non-finite",
                    help=f"1.00 = certain about everything; 1/{run.classes} = {1 / run.classes:.2f} = "
                         "guessing uniformly")
    st.markdown(what_is_shown(run, snapshot, step_count))


def histogram_section(run: Run, snapshot) -> None:
    st.subheader("Pre-activation histograms, layer by layer")
    post_col, shared_col, log_col = st.columns(3)
    post = post_col.toggle("Post-activation view", key=state.widget(PAGE, "post_activation"),
                           help="What the next layer receives: ReLU moves all mass ≤ 0 to 0; "
                                "sigmoid squashes to (0, 1).")
    shared = shared_col.toggle("Shared x axis", key=state.widget(PAGE, "shared_x"),
                               help="One value scale for all layers: growth with depth becomes visible.")
    log_counts = log_col.toggle("Log-scaled counts", key=state.widget(PAGE, "log_counts"),
                                help="Shows thin tails next to a tall spike.")
    figure = cached_figure(run, "histogram_grid", (post, shared, log_counts), lambda: layer_figures.histogram_grid(
        snapshot, post_activation=post, shared_x=shared, log_counts=log_counts))
    st.plotly_chart(figure, key=state.widget(PAGE, "chart_histograms"), config=PLOT_CONFIG)
    st.caption("Each panel is one layer (input side first). Look for widths that grow or shrink from panel to panel, "
               "and for a spike at 0: units a ReLU switches off.")
    csv_button("Histogram data", lambda: layer_figures.histogram_table(snapshot, post), "histograms.csv", "csv_hist")


def spread_and_loss_section(run: Run, snapshot, history) -> None:
    with st.container(key="wide-activations-spread-loss"):  # side by side when there is room (dashboard/style.py)
        spread_col, loss_col = st.columns(2)
    with spread_col:
        initial = run.snapshot_at_init()
        entries = [("step 0", initial)] + ([(f"step {snapshot.step}", snapshot)] if snapshot is not initial else [])
        predicted = predicted_std_at_init(run)
        figure = cached_figure(run, "std_per_layer", None, lambda: layer_figures.std_per_layer(
            entries, predicted, predicted_label="theory (step 0)"))
        st.plotly_chart(figure, key=state.widget(PAGE, "chart_std"), config=PLOT_CONFIG)
        st.caption("Std of each layer's pre-activation (log scale) at step 0 and now; dashed: the variance rule "
                   "Var = fan-in·Var[w]·E[x²] at step 0. A line that climbs or falls a decade per layer is trouble.")
        csv_button("Std data", lambda: layer_figures.pre_activation_stats_table(entries, predicted), "std_per_layer.csv", "csv_std")
    with loss_col:
        loss = cached_figure(run, "loss_curve", None,
                             lambda: curve_figures.loss_curve(history, chance_loss=math.log(run.classes)))
        st.plotly_chart(loss, key=state.widget(PAGE, "chart_loss"), config=PLOT_CONFIG)
        st.caption("At each probed step k: the loss and accuracy of the step-k network on training batch k+1 "
                   "(log scale). Stuck on the dashed chance line = nothing learned; far above it = over-confident, "
                   "exploding logits.")
        csv_button("Loss data", lambda: curve_figures.loss_table(history), "loss.csv", "csv_loss")


def backward_section(run: Run, snapshot, history) -> None:
    """The backward signal: std of ∂loss/∂z per layer at step 0 and now (theory dashed), and over the steps."""
    st.subheader("Backward signal: the gradient reaching each layer")
    initial = run.snapshot_at_init()
    entries = [("step 0", initial)] + ([(f"step {snapshot.step}", snapshot)] if snapshot is not initial else [])
    predicted, why_not = backward_theory_for(run.config, initial, run.classes)
    figure = backward_figures.backward_signal_figure(entries, history, predicted, why_not)
    st.plotly_chart(figure, key=state.widget(PAGE, "chart_backward"), config=PLOT_CONFIG)
    st.caption("Std of ∂loss/∂(pre-activation) per layer (log scale), measured on the same batch as everything "
               "else. Dashed: the variance rule run backwards from the logits, n·Var[w]·E[f′(z)²] per layer "
               "(Glorot & Bengio 2010, Fig. 7). Falling toward the input side = vanishing gradients: the first "
               "layers learn last." + (f" No theory line here: {why_not}." if why_not else ""))
    csv_button("Backward signal data", lambda: backward_figures.backward_table(history), "backward_signal.csv",
               "csv_backward")


def over_time_section(run: Run, history) -> None:
    # Full width: two log panels and a legend need the room to stay legible on a projector.
    st.subheader("Over the training steps")
    gradients = cached_figure(run, "gradients", None, lambda: curve_figures.gradient_and_update_chart(history))
    st.plotly_chart(gradients, key=state.widget(PAGE, "chart_gradients"), config=PLOT_CONFIG)
    st.caption("Gradient norm and update/weight ratio per layer (log scale). Updates far above the green "
               "1e-3 band mean the learning rate is too big for that layer; far below, it barely moves.")
    csv_button("Gradient data", lambda: curve_figures.gradient_table(history), "gradients.csv", "csv_gradients")
    names = [p.name for p in run.probed.points]
    key = state.widget(PAGE, "heatmap_layer")
    if state.get(key) not in names:  # a new run may have other layer names
        state.put(key, names[-2] if len(names) > 1 else names[0])
    layer = st.selectbox("Layer for the heatmap", names, key=key)
    heatmap = cached_figure(run, "heatmap", layer, lambda: curve_figures.histogram_heatmap(history, layer))
    st.plotly_chart(heatmap, key=state.widget(PAGE, "chart_heatmap"), config=PLOT_CONFIG)
    st.caption("One column per probed step: the band's height is the spread of this layer's values. "
               "A widening band is growing activations; a band collapsing to 0 is a layer going quiet.")
    csv_button("Heatmap data", lambda: curve_figures.heatmap_table(history, layer), f"heatmap_{layer}.csv",
               "csv_heatmap")


def live_view() -> None:
    """Everything that changes while training: progress, numbers, findings and charts."""
    run = state.current_run()
    if run is None:
        st.info("No run yet: fix the settings in the sidebar, then press **Reset** to build the network.")
        return
    lock = state.run_lock()
    with lock:  # one consistent view, after any step still running on another thread
        step_count, snapshot, history, findings = run.step_count, run.latest, run_history(run), run_findings(run)
        if snapshot is None:  # a run nobody has looked inside yet (e.g. taken over from another page)
            snapshot = run.snapshot_at_init()
    training = state.is_training()
    if training:
        show_progress(step_count)
    show_metrics(run, snapshot, step_count)
    st.subheader("Findings")
    show_findings(findings, step_count)
    histogram_section(run, snapshot)
    spread_and_loss_section(run, snapshot, history)
    backward_section(run, snapshot, history)
    over_time_section(run, history)
    st.subheader("Take it home")
    report_col, history_col = st.columns(2)
    with report_col:
        st.download_button("HTML report of this run", data=lambda: report_html(run, lock),
                           file_name="cnnviz-report.html", mime="text/html", key=state.widget(PAGE, "report"),
                           on_click="ignore", icon=":material/download:")
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
handoff_note = widgets.take_playground_handoff(PAGE)
if handoff_note:
    st.info(handoff_note, icon=":material/landscape:")
state.keep_widget_values(PAGE, DISPLAY_TOGGLES + ("train_steps",))
settings = widgets.run_settings(PAGE)
try:
    wanted = widgets.config_from_settings(settings, widgets.page_extras(PAGE))
    settings_error = None
except UserError as error:
    wanted, settings_error = None, error

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
