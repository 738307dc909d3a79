"""Runs: what ActivationMonitor recorded inside someone's own ``model.fit``, live.

A run folder is picked from the server's runs root (``CNNVIZ_RUNS_ROOT``, default
``./runs``) or uploaded as a zip. The folder is read back as the same Snapshot
objects a Run holds, so the charts are the Activations page's own figures. While
``fit`` keeps writing in another process, the charts sit in a fragment that reads
the new lines every couple of seconds (only the new bytes are parsed).
"""

import math
import os
import tempfile
from pathlib import Path

import streamlit as st

from cnnviz.diagnosis.theory import theory_vs_measured_table
from cnnviz.errors import UserError
from cnnviz.figures import activations as layer_figures
from cnnviz.figures import training_curves as curve_figures
from cnnviz.keras.run_archive import MAX_ZIP_BYTES, extract_run_zip
from cnnviz.keras.run_folder import find_run_folders, read_run_folder
from cnnviz.probing.history import plottable
from cnnviz.report import build_run_folder_report
from dashboard import state
from dashboard.components import chart, layer_picker, report_button, show_findings

PAGE = "runs"
ROOT_ENV = "CNNVIZ_RUNS_ROOT"
LIVE_SECONDS = 2.0  # how often a followed folder is read again
EXAMPLE = '''from cnnviz.keras import ActivationMonitor

monitor = ActivationMonitor("runs/exp1", data=(x_train[:64], y_train[:64]), every=10)
model.fit(x_train, y_train, epochs=5, callbacks=[monitor])'''


def runs_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "runs")).expanduser()


def open_folder(path: Path):
    """The session's reader for ``path`` (kept, so a refresh parses only the new lines)."""
    key = state.widget(PAGE, "reader")
    reader = state.get(key)
    if reader is None or reader.path != path:
        reader = read_run_folder(path)
        state.put(key, reader)
    return reader


def pick_from_server() -> Path | None:
    root = runs_root()
    folders = find_run_folders(root)
    if not folders:
        st.info(f"No run folders under **{root.resolve()}** yet. Train with the monitor writing below it "
                f"(or start the app with {ROOT_ENV}=/path/to/runs):", icon=":material/info:")
        st.code(EXAMPLE, language="python")
        return None
    labels = {str(folder.relative_to(root)) if folder != root else folder.name: folder for folder in folders}
    choice = st.selectbox(f"Run folder under {root}", list(labels), key=state.widget(PAGE, "folder"),
                          help="Newest first. Any folder holding a run.json that ActivationMonitor wrote.")
    return labels[choice]


def pick_from_upload() -> Path | None:
    upload = st.file_uploader(f"Zipped run folder (at most {MAX_ZIP_BYTES // 2**20} MB)", type=["zip"],
                              key=state.widget(PAGE, "zip"))
    if upload is None:
        return None
    key = state.widget(PAGE, "unzipped")
    kept = state.get(key)
    if kept is None or kept[0] != upload.file_id:
        folder = tempfile.TemporaryDirectory(prefix="cnnviz-run-")  # removed with the session's state
        folders = extract_run_zip(upload.getvalue(), folder.name)
        kept = (upload.file_id, folder, folders)
        state.put(key, kept)
    folders = kept[2]
    if len(folders) == 1:
        return folders[0]
    names = {str(f.relative_to(kept[1].name)): f for f in folders}
    return names[st.selectbox("Run folder in the zip", list(names), key=state.widget(PAGE, "zip_folder"))]


def show_status(run) -> None:
    latest = run.records[-1] if run.records else {}
    age = run.last_write_age()
    if run.finished:
        status = "fit finished"
    else:  # a killed process leaves no end mark either: say what is known
        status = "no end mark yet: fit is running, or was stopped" + (
            f" (last line {age:.0f} s ago)" if age is not None else "")
    epoch = latest.get("epoch")
    st.caption(f"{run.meta.get('model', {}).get('name', 'model')} · {len(run.snapshots)} probed steps · latest step "
               f"{run.step_count}" + (f" (epoch {epoch + 1})" if isinstance(epoch, int) else "") + f" · {status}")
    if run.bad_lines:
        st.caption(f"{run.bad_lines} unreadable line(s) skipped (a write cut short by a crash)")


def show_metrics(run, snapshot) -> None:
    step_col, probes_col, loss_col, acc_col = st.columns(4)
    step_col.metric("Latest probed step", f"{snapshot.step:,}")
    probes_col.metric("Probed steps", f"{len(run.snapshots):,}")
    loss_col.metric("Loss on the probe batch", f"{snapshot.loss:.4g}" if math.isfinite(snapshot.loss) else "non-finite")
    if run.is_classifier:
        acc_col.metric("Probe batch accuracy", f"{snapshot.accuracy:.0%}" if math.isfinite(snapshot.accuracy) else "—")
    else:
        acc_col.metric("Softmax and accuracy", "do not apply",
                       help=snapshot.softmax.get("note", "the output is not one score per class"))


def show_charts(run, snapshot, history) -> None:
    st.subheader("Pre-activation histograms, layer by layer")
    chart(PAGE, layer_figures.histogram_grid(snapshot, log_counts=True), "histograms",
          "The latest probe of the fixed probe batch. " + layer_figures.HISTOGRAM_GRID_CAPTION)
    finite = [s for s in run.snapshots if s.finite]
    spread_col, loss_col = st.columns(2)
    with spread_col:
        if finite:
            first = finite[0]
            entries = layer_figures.first_and_latest(first, snapshot if snapshot.finite else first)
            table = theory_vs_measured_table(first, run.meta.get("between") or {})
            figure = layer_figures.std_per_layer(entries, dict(zip(table["layer"], table["predicted"])),
                                                 predicted_label=f"variance rule (step {first.step})")
            chart(PAGE, figure, "std", layer_figures.std_per_layer_caption(f"step {first.step}"))
    with loss_col:
        if run.is_classifier:
            chart(PAGE, curve_figures.loss_curve(history, chance_loss=math.log(run.classes)), "loss",
                  curve_figures.PROBE_BATCH_LOSS_CAPTION)
        else:
            st.info(run.meta.get("model", {}).get("note", "The output is not one score per class."),
                    icon=":material/info:")
    st.subheader("Over the training steps")
    chart(PAGE, curve_figures.gradient_and_update_chart(history), "gradients",
          "Measured on the probe batch; ‖Δw‖/‖w‖ is the update of the step before each probe. "
          + curve_figures.GRADIENT_CAPTION)
    names = run.layer_names
    if names:
        layer = layer_picker(PAGE, "Layer for the histogram over steps", names)
        chart(PAGE, curve_figures.histogram_heatmap(history, layer), "heatmap", curve_figures.HEATMAP_CAPTION)


def live_view(path: Path) -> None:
    """Everything read from the folder; re-run every LIVE_SECONDS while following."""
    try:
        run = open_folder(path)
        run.refresh()
    except UserError as error:
        st.error(str(error), icon=":material/error:")
        return
    show_status(run)
    snapshot = run.latest
    if snapshot is None:
        st.info("The run has started but holds no probed step yet.", icon=":material/hourglass_empty:")
        return
    history = run.history()
    show_metrics(run, snapshot)
    st.subheader("Findings")
    show_findings(run.findings(), f"No problems found at step {run.step_count}: activations, gradients and update "
                                  "sizes look healthy.")
    show_charts(run, snapshot, plottable(history))
    report_button(PAGE, lambda: build_run_folder_report(run), f"cnnviz-{path.name}.html")
    if run.finished and state.get(state.widget(PAGE, "following")):
        state.put(state.widget(PAGE, "following"), False)
        st.rerun()  # a full rerun drops the fragment's timer


# ------------------------------------------------------------------ page
st.title("Runs (your own training)")
st.markdown("Follow what `ActivationMonitor` records inside your own `model.fit`: the same histograms, spreads, "
            "gradients and findings as the Activations page, from a run folder — live while it is written.")
source = st.radio("Run folder from", ["this server", "a zip upload"], horizontal=True, key=state.widget(PAGE, "source"))
try:
    folder = pick_from_server() if source == "this server" else pick_from_upload()
except UserError as error:
    st.error(str(error), icon=":material/error:")
    folder = None
if folder is not None:
    follow = st.toggle("Follow live", value=True, key=state.widget(PAGE, "follow"),
                       help=f"Read new probes every {LIVE_SECONDS:g} s while fit is writing.")
    try:
        reader = open_folder(folder)
        reader.refresh()
        finished = reader.finished
    except UserError:
        finished = True
    following = follow and not finished
    state.put(state.widget(PAGE, "following"), following)
    st.fragment(live_view, run_every=LIVE_SECONDS if following else None)(folder)
