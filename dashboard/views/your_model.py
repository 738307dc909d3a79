"""Your model: upload a .keras classifier and look inside it with the same instruments."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnviz.config import MAX_BATCH_SIZE, RunConfig  # noqa: E402
from cnnviz.diagnose import diagnose_run  # noqa: E402
from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import activations as layer_figures  # noqa: E402
from cnnviz.image_folder import IMAGE_SUFFIXES, images_to_dataset  # noqa: E402
from cnnviz.model_files import check_upload_size, max_upload_bytes  # noqa: E402
from cnnviz.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS  # noqa: E402
from cnnviz.user_models import model_from_bytes, model_io_shape, prepare_user_run  # noqa: E402
from dashboard import state  # noqa: E402
from dashboard.widgets import show_user_error as show_sentence  # noqa: E402

PAGE = "your_model"
MAX_STEPS_PER_PRESS = 200  # each press trains on the request path; more would stall the page
DATA_SOURCES = {"mnist-sample": "MNIST sample (adapted to the model's input)",
                "synthetic": "Synthetic stripe patterns", "upload": "My own images"}
SEVERITY_BOX = {"error": st.error, "warning": st.warning, "info": st.info}


def key(name: str) -> str:
    return state.widget(PAGE, name)


def show_user_error(error) -> None:
    """A refusal in one red sentence; one that starts with a file name keeps the name as written."""
    message = str(error).strip()
    first_word = message.split(" ", 1)[0]
    if "." in first_word:  # "lambda.keras contains ...": capitalising would misname the file
        st.error(message, icon=":material/block:")
    else:
        show_sentence(message)


def build_run(model_file, source: str, image_files, settings: dict):
    """A fresh UserModelRun from the widgets' values, probed at init and trained ``steps`` steps."""
    check_upload_size(model_file.size, model_file.name)  # before reading the bytes into memory
    model = model_from_bytes(model_file.name, model_file.getvalue())
    shape, _ = model_io_shape(model)
    dataset, notes, batch_size = None, [], int(settings["batch_size"])
    if source == "upload":
        if not image_files:
            raise UserError("choose some images to upload, or pick the MNIST sample")
        for image in image_files:
            check_upload_size(image.size, image.name)
        image_set = images_to_dataset([(f.name, f.getvalue()) for f in image_files], shape)
        batch_size = image_set.fit_batch_size(batch_size)
        dataset, notes = image_set.dataset, image_set.notes
    config = RunConfig(arch=f"file:{model_file.name}", init="from-file", optimizer=settings["optimizer"],
                       lr=float(settings["lr"]), dataset="uploaded images" if source == "upload" else source,
                       batch_size=batch_size, seed=int(settings["seed"]))
    run = prepare_user_run(model, config, dataset=dataset, source=model_file.name, notes=notes)
    run.snapshot_at_init()
    run.train(int(settings["steps"]))
    return run


def layer_table(snapshot) -> pd.DataFrame:
    """One row per probed layer: the numbers behind the histograms."""
    rows = []
    for layer in snapshot.layers:
        pre = layer.pre_activation
        rows.append({"layer": layer.name, "type": layer.type, "activation": layer.activation, "fan_in": layer.fan_in,
                     "mean": pre.mean, "std": pre.std, "min": pre.min, "max": pre.max,
                     "zero_after_relu": layer.dead_fraction, "nonfinite": pre.nonfinite,
                     "grad_norm": layer.grad_norm, "update_ratio": layer.update_ratio})
    return pd.DataFrame(rows)


def download(label: str, frame: pd.DataFrame, file_name: str) -> None:
    st.download_button(f"⬇ {label} (CSV)", data=frame.to_csv(index=False), file_name=file_name, mime="text/csv",
                       key=key(f"download_{file_name}"))


def show_run(run) -> None:
    """Everything the page knows about the uploaded model's run."""
    extras = run.payload_extras()
    snapshot = run.latest
    when = "at initialization (step 0)" if run.step_count == 0 else f"after {run.step_count} training steps"
    st.subheader(f"{extras['model']['file']}: {len(snapshot.layers)} probed layers, {when}")
    shape = "×".join(str(v) for v in extras["model"]["input_shape"])
    st.caption(f"Input {shape}, {extras['model']['classes']} classes, data: {run.dataset.name}, "
               f"loss {snapshot.loss:.4g}, batch accuracy {snapshot.accuracy:.1%}.")
    for note in [extras["note"], *extras["notes"]]:
        if note:
            st.info(note[:1].upper() + note[1:], icon=":material/info:")
    if run.halted is not None:
        st.error(f"Training stopped: {run.halted.message()}.", icon=":material/dangerous:")
    if extras["recovered_pre_activations"]:
        worst = max(item["max_abs_error"] for item in extras["recovered_pre_activations"])
        names = ", ".join(item["name"] for item in extras["recovered_pre_activations"])
        match = "exactly" if worst == 0 else f"to within {worst:.1e}"
        st.caption(f"Layers with a built-in activation ({names}) had their pre-activation recomputed from their own "
                   f"kernel and bias; re-applying the activation reproduces their output {match}.")

    table = layer_table(snapshot)
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Per-layer pre-activation statistics. Look for std far from ~1 (exploding or vanishing), "
               "a large share of zeros after ReLU (dead units), and any NaN/Inf.")
    download("Layer statistics", table, "your_model_layers.csv")

    left, right = st.columns(2)
    post = left.toggle("Show after the activation", key=key("post"))
    log_counts = right.toggle("Log-scale counts", key=key("log_counts"))
    st.plotly_chart(layer_figures.histogram_grid(snapshot, post_activation=post, log_counts=log_counts),
                    width="stretch", key=key("histograms"))
    st.caption("One histogram per probed layer, input side first. Widths that grow or shrink from panel to panel "
               "mean exploding or vanishing activations; a tall bar at 0 after ReLU is units that are off.")
    download("Histograms", layer_figures.histogram_table(snapshot, post), "your_model_histograms.csv")

    st.subheader("Layers that are not probed")
    unprobed = pd.DataFrame(extras["unprobed_layers"], columns=["name", "type", "reason"])
    if unprobed.empty:
        st.write("Every layer of the model is probed.")
    else:
        st.dataframe(unprobed, hide_index=True, width="stretch")
        st.caption("Only Dense and convolution layers have a pre-activation; each other layer is listed with why.")

    st.subheader("Findings")
    findings = diagnose_run(run)
    if not findings:
        st.success("Nothing alarming in these numbers.", icon=":material/check_circle:")
    for finding in findings:
        where = f"{finding.layer}: " if finding.layer else ""
        text = f"**{where}{finding.message}**" + (f"  \n→ {finding.suggestion}" if finding.suggestion else "")
        SEVERITY_BOX.get(finding.severity, st.info)(text)


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
                                   accept_multiple_files=True, key=key("images"))
columns = st.columns(5)
settings = {
    "optimizer": columns[0].selectbox("Optimizer", list(OPTIMIZERS), index=list(OPTIMIZERS).index("adam"),
                                      key=key("optimizer")),
    "lr": columns[1].number_input("Learning rate", min_value=0.0, value=DEFAULT_LEARNING_RATES["adam"], format="%g",
                                  step=0.001, key=key("lr")),
    "batch_size": columns[2].number_input("Batch size", min_value=1, max_value=MAX_BATCH_SIZE, value=32, step=1,
                                          key=key("batch_size")),
    "steps": columns[3].number_input("Training steps", min_value=0, max_value=MAX_STEPS_PER_PRESS, value=0, step=1,
                                     key=key("steps"), help=f"0 inspects the model as uploaded; at most "
                                                            f"{MAX_STEPS_PER_PRESS} per press."),
    "seed": columns[4].number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key=key("seed")),
}

if st.button("Inspect this model", type="primary", key=key("inspect")):
    if model_file is None:
        show_user_error("choose a .keras file first")
    else:
        try:
            with st.spinner("Checking, loading and probing the model…"):
                state.set_user_model_run(build_run(model_file, source, image_files, settings))
        except UserError as error:
            show_user_error(error)  # the previous run (if any) stays on screen
        except (MemoryError, tf.errors.ResourceExhaustedError):
            show_user_error("there is not enough memory for this model with this batch size; try a smaller batch")

run = state.current_user_model_run()
if run is not None:
    more = max(int(settings["steps"]), 1)
    if st.button(f"Train {more} more step{'s' if more > 1 else ''}", key=key("train_more")):
        try:
            with state.run_lock():  # never two steps of one session's run at once
                run.train(more)
        except UserError as error:
            show_user_error(error)
    show_run(run)
