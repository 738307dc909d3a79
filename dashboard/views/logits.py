"""Logits & softmax: what the last layer says about test images, at init and after training."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import math  # noqa: E402

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402

from cnnviz.figures import logits as logit_figures  # noqa: E402
from cnnviz.training.evaluations import Evaluations  # noqa: E402
from dashboard import state  # noqa: E402
from dashboard.components import class_names, csv_button  # noqa: E402
from dashboard.run_picker import run_to_inspect, train_more_button, when  # noqa: E402

PAGE = "logits"
GALLERY_SIZE = 12
GALLERY_PIXELS = 56  # at most this many pixels a side per gallery image

st.title("Logits & softmax")
st.markdown("The network ends in one raw score (**logit**) per class; softmax turns them into probabilities. "
            "Looking at many test images at once shows whether the network is guessing, certain, or certain *and wrong*.")


def evaluation(run) -> Evaluations:
    """The run's test evaluations (cnnviz.training.evaluations), kept in the session: the first seen and now."""
    evaluations = state.get(state.LOGITS_EVALUATIONS)
    if not isinstance(evaluations, Evaluations) or not evaluations.is_for(run):
        evaluations = Evaluations(run)
    if not evaluations.has_current():
        with st.spinner(f"Running the network on {evaluations.limit} test images…"):
            evaluations.current()
    state.put(state.LOGITS_EVALUATIONS, evaluations)
    return evaluations


run = run_to_inspect(PAGE)
if run is None:
    st.stop()
train_more_button(run, PAGE)

evaluations = evaluation(run).by_step
result = evaluations[run.step_count]
logits, labels = result["logits"], result["labels"]
keep = logit_figures.finite_rows(logits)
if not keep.all():
    st.warning(f"{int((~keep).sum())} of {len(keep)} test images have non-finite logits; they are left out of the charts.")
names = class_names(run)
probabilities = logit_figures.softmax_probabilities(logits[keep])
predicted = probabilities.argmax(axis=1)
now = when(run)
st.subheader(f"{result['examples']} test images, {now}")
metric_cols = st.columns(4)
metric_cols[0].metric("Test accuracy", f"{result['accuracy']:.1%}")
metric_cols[1].metric("Test loss", f"{result['loss']:.3f}" if math.isfinite(result["loss"]) else "not finite")
metric_cols[2].metric("Mean top probability", f"{probabilities.max(axis=1).mean():.3f}" if len(probabilities) else "—",
                      help=f"1/{run.classes} = {1 / run.classes:.3f} is a uniform guess; 1 is certainty.")
metric_cols[3].metric("Mean entropy (nats)", f"{logit_figures.prediction_entropy(probabilities).mean():.3f}"
                      if len(probabilities) else "—", help=f"ln {run.classes} = {math.log(run.classes):.3f} is a uniform guess.")

# --- logits per class
st.plotly_chart(logit_figures.logit_distribution_figure(logits, names, now), key="logit_boxes")
st.caption(logit_figures.LOGIT_DISTRIBUTION_CAPTION)
csv_button(PAGE, "Download logits", lambda: logit_figures.logits_table(logits, labels, names),
           f"logits_step{run.step_count}.csv", "csv_logits")

# --- confidence and entropy, first look vs now
groups = logit_figures.probability_groups(evaluations)
if len(evaluations) == 1:
    st.caption("Press **Train 20 more steps** to compare these histograms with the trained network.")
with st.container(key="wide-logits-confidence"):  # side by side when there is room (dashboard/style.py)
    left, right = st.columns(2)
with left:
    st.plotly_chart(logit_figures.max_probability_figure(groups, run.classes), key="max_prob")
    st.caption(logit_figures.max_probability_caption(run.classes))
with right:
    st.plotly_chart(logit_figures.entropy_figure(groups, run.classes), key="entropy")
    st.caption(logit_figures.entropy_caption(run.classes))
csv_button(PAGE, "Download top probability and entropy per image", lambda: logit_figures.confidence_table(groups),
           f"softmax_confidence_step{run.step_count}.csv", "csv_confidence")

# --- predictions vs truth
counts = logit_figures.confusion_counts(predicted, labels[keep], run.classes)
st.plotly_chart(logit_figures.confusion_matrix_figure(counts, names, now), key="confusion")
st.caption(logit_figures.CONFUSION_CAPTION)
csv_button(PAGE, "Download confusion matrix", lambda: logit_figures.confusion_table(counts, names),
           f"confusion_step{run.step_count}.csv", "csv_confusion")

# --- single images
st.subheader("Single test images")
choice_col, start_col = st.columns([3, 1])
choice = choice_col.radio("Show", logit_figures.GALLERY_CHOICES, horizontal=True,
                          key=state.widget(PAGE, "gallery_choice"))
start = start_col.number_input("Starting at", 0, max(len(probabilities) - 1, 0), 0, step=GALLERY_SIZE,
                               key=state.widget(PAGE, "gallery_start"))
top = probabilities.max(axis=1) if len(probabilities) else np.zeros(0)
picked = logit_figures.gallery_indices(choice, int(start), predicted, labels[keep], top, GALLERY_SIZE)
if len(picked) == 0:
    st.info("No test images match this choice (for 'misclassified': the network got all of them right).")
else:
    test_index = np.flatnonzero(keep)[picked]
    images = run.dataset.x_test[test_index].astype(np.float32) / 255.0  # native pixels, as a person sees them
    stride = max(1, images.shape[1] // GALLERY_PIXELS)  # big synthetic images: thin out what goes to the browser
    images = images[:, ::stride, ::stride]
    st.plotly_chart(logit_figures.softmax_gallery_figure(images, probabilities[picked], labels[keep][picked],
                                                         test_index.tolist(), names, now), key="gallery")
    st.caption(logit_figures.GALLERY_CAPTION)
