"""Your model: upload a .keras classifier and look inside it with the same instruments.

What is shown always answers the controls above it: a refused upload hides the previous
model's results (kept, folded away and labelled with that other file's name), and
controls changed since the last Inspect mark the results as out of date until Inspect
is pressed again. Re-initialising the kernels keeps a second run with the file's own
weights, so the two can be compared layer by layer.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from cnnviz.config import INPUT_RANGES, MAX_BATCH_SIZE  # noqa: E402
from cnnviz.data.image_folder import IMAGE_SUFFIXES  # noqa: E402
from cnnviz.diagnosis import diagnose_run  # noqa: E402
from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import activations as layer_figures  # noqa: E402
from cnnviz.nets.initializers import INITIALIZERS, is_data_dependent  # noqa: E402
from cnnviz.nets.optimizers import OPTIMIZERS  # noqa: E402
from cnnviz.usermodels.loading import max_upload_bytes  # noqa: E402
from cnnviz.usermodels.probe import detect_input_range  # noqa: E402
from cnnviz.usermodels.upload import changed_settings, plan_upload, upload_settings  # noqa: E402
from dashboard import components, guarded, state  # noqa: E402
from dashboard.widgets import show_user_error  # noqa: E402

PAGE = "your_model"
MAX_STEPS_PER_PRESS = 200  # each press trains on the request path; more would stall the page
DATA_SOURCES = {"mnist-sample": "MNIST sample (adapted to the model's input)",
                "synthetic": "Synthetic stripe patterns", "upload": "My own images"}
AUTO = "auto"
RANGE_WORDS = {AUTO: "auto (read from the model)",
               **{name: f"{low:g} … {high:g}".replace("-", "−") for name, (low, high) in INPUT_RANGES.items()}}
NO_REINIT = "none"
# LSUV needs a calibration pass the loader cannot do on a user's graph; every fixed-rule initializer works.
REINIT_CHOICES = [NO_REINIT] + [name for name in INITIALIZERS if not is_data_dependent(name)]
FILE_WEIGHTS = "the file's weights"


def key(name: str) -> str:
    return state.widget(PAGE, name)


def build_runs(model_file, source: str, image_files, controls: dict):
    """(run, baseline): the upload probed at init and trained; baseline is the same file with its own
    weights when the kernels were re-initialised (None otherwise)."""
    plan = plan_upload(model_file, image_files, source, controls["optimizer"], controls["lr"],
                       controls["batch_size"], controls["seed"],
                       input_range=None if controls["input_range"] == AUTO else controls["input_range"],
                       reinit=None if controls["reinit"] == NO_REINIT else controls["reinit"])
    kept = [r for r in (state.current_user_model_run(), state.get(state.USER_MODEL_BASELINE)) if r is not None]
    # Estimated from the loaded model before any run is made: refused (with what fits) if too big.
    names = iter(plan.wanted)
    built = guarded.build(PAGE, [plan.estimate()] * len(plan.wanted), lambda _: plan.make(next(names)),
                          replacing=kept, session_runs=state.session_runs(exclude=kept), show_refusal=False)
    if built is None:
        raise UserError("the request was cancelled because the settings changed; press Inspect again")
    run, baseline = built[0], (built[1] if len(built) > 1 else None)
    for each in (run, baseline):
        if each is not None:
            each.snapshot_at_init()
            guarded.train(PAGE, each, int(controls["steps"]))
    return run, baseline


def when(run) -> str:
    if run.step_count == 0:
        return "as uploaded (step 0)" if run.config.init == "from-file" else "just re-initialised (step 0)"
    return f"after {run.step_count} training step{'s' if run.step_count != 1 else ''}"


def label_of(run) -> str:
    return FILE_WEIGHTS if run.config.init == "from-file" else f"re-initialised with {run.config.init}"


def show_findings(run) -> None:
    """The run's findings, worst first, as on the Activations page."""
    components.show_findings(diagnose_run(run), f"Nothing alarming {when(run)}.", step=False)


def show_input_range(run) -> None:
    """What pixel range was fed, and what the model's own first layers asked for."""
    detected, why = detect_input_range(run.user_model.model)
    fed = run.config.input_range
    chosen = "" if fed == detected else f" (chosen by you; the model's own layers suggest {RANGE_WORDS[detected]})"
    st.caption(f"Pixels fed in **{RANGE_WORDS[fed]}**{chosen}. Auto-detection: {why}.")


def show_comparison(run, baseline) -> None:
    """The file's weights next to the re-initialised ones: spread per layer and both findings lists."""
    st.subheader(f"The file's weights vs {run.config.init}")
    entries = [(FILE_WEIGHTS, baseline.latest), (run.config.init, run.latest)]
    st.plotly_chart(layer_figures.std_per_layer(entries, title=f"Spread per layer: file vs {run.config.init}"),
                    key=key("compare_std"))
    st.caption(layer_figures.compare_std_caption(f"Same model, same batch, {when(run)}; only the kernels differ "
                                                 "(log scale)."))
    with st.container(key="cards-your-model-findings"):
        for column, each in zip(st.columns(2), (baseline, run)):
            with column:
                st.markdown(f"**{label_of(each).capitalize()}**")
                show_findings(each)


def show_details(run, prefix: str = "") -> None:
    """Notes, the per-layer table, histograms and unprobed layers of one run."""
    snapshot = run.latest
    st.caption(run.view_sentence(snapshot))
    show_input_range(run)
    notes = run.sentences()  # the input range has its own line above; every other note is listed once
    if notes:
        st.info("  \n".join(f"• {note}" for note in notes), icon=":material/info:")
    if run.recovered_sentence():
        st.caption(run.recovered_sentence())

    table = layer_figures.layer_stats_table(snapshot)
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(layer_figures.LAYER_STATISTICS_CAPTION)
    components.csv_button(PAGE, "Layer statistics", lambda: table, "your_model_layers.csv",
                          f"{prefix}download_your_model_layers.csv")

    post, _, log_counts = components.histogram_toggles(PAGE, shared_x=None, prefix=prefix)
    st.plotly_chart(layer_figures.histogram_grid(snapshot, post_activation=post, log_counts=log_counts),
                    width="stretch", key=key(f"{prefix}histograms"))
    st.caption(layer_figures.HISTOGRAM_GRID_CAPTION)
    components.csv_button(PAGE, "Histograms", lambda: layer_figures.histogram_table(snapshot, post),
                          "your_model_histograms.csv", f"{prefix}download_your_model_histograms.csv")

    st.subheader("Layers that are not probed")
    unprobed = run.unprobed_table()
    if unprobed.empty:
        st.write("Every layer of the model is probed.")
    else:
        st.dataframe(unprobed, hide_index=True, width="stretch")
        st.caption("Only Dense and convolution layers have a pre-activation; each other layer is listed with why.")


def show_results(run, baseline, live: bool, prefix: str = "") -> None:
    """Findings first (as on Activations), then the comparison and the details; ``live`` adds Train."""
    st.subheader(f"{run.source}: {len(run.latest.layers)} probed layers, {when(run)}")
    if run.halted is not None:
        st.error(f"Training stopped: {run.halted.message()}.", icon=":material/dangerous:")
    if live:
        train_more_button(run, baseline)
    if baseline is None:
        st.markdown("**Findings**")
        show_findings(run)
        show_details(run, prefix)
        return
    show_comparison(run, baseline)
    shown = st.radio("Details of", [label_of(run), label_of(baseline)], horizontal=True, key=key(f"{prefix}details"))
    show_details(run if shown == label_of(run) else baseline, prefix)


def train_more_button(run, baseline) -> None:
    more = max(int(controls["steps"]), 1)
    both = " (both runs)" if baseline is not None else ""
    if st.button(f"Train {more} more step{'s' if more > 1 else ''}{both}", key=key("train_more"),
                 icon=":material/play_arrow:"):
        try:
            with state.run_lock():  # never two steps of one session's run at once
                for each in (run, baseline):
                    if each is not None:
                        guarded.train(PAGE, each, more)
        except UserError as error:
            show_user_error(error)


st.title("Your model")
st.markdown("Upload a classifier saved with Keras 3 (`model.save('model.keras')`). cnnviz loads it safely — no "
            "Lambda layers or custom code are run — probes every Dense and convolution layer, and shows the same "
            "histograms and findings as for the built-in networks. Your session's other run is not touched.")

model_file = st.file_uploader(f"Model file (.keras, at most {max_upload_bytes() // 2**20} MB)",
                              type=["keras", "h5", "hdf5"], key=key("model_file"),
                              help="Legacy .h5 files are refused with an explanation; re-save them as .keras.")
source = st.radio("Data to feed it", list(DATA_SOURCES), format_func=DATA_SOURCES.get, key=key("source"),
                  horizontal=True)
image_files = []
if source == "upload":
    image_files = st.file_uploader("Images (one class per file-name prefix, e.g. 7_photo.png)",
                                   type=[suffix.lstrip(".") for suffix in IMAGE_SUFFIXES],
                                   accept_multiple_files=True, key=key("images")) or []
columns = st.columns(5)
controls = {
    "optimizer": columns[0].selectbox("Optimizer", list(OPTIMIZERS), index=list(OPTIMIZERS).index("adam"),
                                      key=key("optimizer")),
    "lr": columns[1].number_input("Learning rate", min_value=0.0, value=components.default_learning_rate("adam"), format="%g",
                                  step=0.001, key=key("lr")),
    "batch_size": columns[2].number_input("Batch size", min_value=1, max_value=MAX_BATCH_SIZE, value=32, step=1,
                                          key=key("batch_size")),
    "steps": columns[3].number_input("Training steps", min_value=0, max_value=MAX_STEPS_PER_PRESS, value=0, step=1,
                                     key=key("steps"), help=f"0 inspects the model as uploaded; at most "
                                                            f"{MAX_STEPS_PER_PRESS} per press."),
    "seed": columns[4].number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key=key("seed")),
}
range_col, reinit_col = st.columns([3, 2])
controls["input_range"] = range_col.radio(
    "Input range (pixel values fed to the model)", list(RANGE_WORDS), format_func=RANGE_WORDS.get, horizontal=True,
    key=key("input_range"), help="Auto reads it from the model's first layers: a Rescaling(1/255) or a Normalization "
                                 "layer with pixel-scale means wants 0 … 255; otherwise 0 … 1.")
controls["reinit"] = reinit_col.selectbox(
    "Re-initialise kernels with", REINIT_CHOICES, key=key("reinit"),
    format_func=lambda name: "none (file's weights)" if name == NO_REINIT else name,
    help="Draw every Dense/conv kernel afresh (biases 0) and compare with the file's own weights.")
wanted = upload_settings(model_file, source, image_files, controls)

if st.button("Inspect this model", type="primary", key=key("inspect"), icon=":material/search:"):
    refusal = None
    if model_file is None:
        refusal = "choose a .keras file first"
    else:
        try:
            with st.spinner("Checking, loading and probing the model…"):
                new_run, new_baseline = build_runs(model_file, source, image_files, controls)
            state.set_user_model_run(new_run)
            state.put(state.USER_MODEL_BASELINE, new_baseline)
            state.put(state.USER_MODEL_BUILT_FROM, wanted)
            state.pop(state.USER_MODEL_REFUSED)
        except Exception as error:  # noqa: BLE001 - a refusal is kept and shown; anything else is raised again
            refusal = components.refusal(error, "there is not enough memory for this model with this batch size; "
                                                "try a smaller batch")
    if refusal is not None:
        state.put(state.USER_MODEL_REFUSED, {"file": model_file.name if model_file is not None else None,
                                             "message": refusal})

run = state.current_user_model_run()
baseline = state.get(state.USER_MODEL_BASELINE)
built = state.get(state.USER_MODEL_BUILT_FROM) or {}
refused = state.get(state.USER_MODEL_REFUSED)
if refused is not None:
    show_user_error(refused["message"])
if run is None:
    if refused is None:
        st.info("Choose a model file and press **Inspect this model**.", icon=":material/upload_file:")
elif refused is not None:
    # Nothing on the page may look like a result for the refused file: the last good one is folded away.
    with st.expander(f"Results of {run.source}, the last model accepted (not the file refused above)"):
        show_results(run, baseline, live=False, prefix="old_")
else:
    changed = changed_settings(built, wanted)
    if changed:
        st.warning(f"These results are out of date: the {', '.join(changed)} changed since they were made. "
                   f"They show {run.source} on {run.dataset.name}. Press **Inspect this model** to apply the "
                   "controls above.", icon=":material/edit:")
    show_results(run, baseline, live=not changed)
