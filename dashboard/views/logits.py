"""Logits & softmax: what the last layer says about test images, at init and after training."""

import sys
import weakref
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from cnnviz.figures import logits as logit_figures  # noqa: E402
from dashboard import state  # noqa: E402
from dashboard.run_picker import run_to_inspect, train_more_button, when  # noqa: E402

PAGE = "logits"
GALLERY_SIZE = 12
GALLERY_PIXELS = 56  # at most this many pixels a side per gallery image
SMALL_INPUT_VALUES = 32 * 32 * 3

st.title("Logits & softmax")
st.markdown("The network ends in one raw score (**logit**) per class; softmax turns them into probabilities. "
            "Looking at many test images at once shows whether the network is guessing, certain, or certain *and wrong*.")


def evaluation(run) -> dict:
    """run.evaluate() on the test split, cached per (run, step); keeps the first one seen for comparison."""
    cache = state.get(state.LOGITS_EVALUATIONS)
    if cache is None or cache["run"]() is not run:
        cache = {"run": weakref.ref(run), "by_step": {}}
    by_step = cache["by_step"]
    if run.step_count not in by_step:
        limit = 500 if math.prod(run.dataset.shape) <= SMALL_INPUT_VALUES else 100
        with st.spinner(f"Running the network on {limit} test images…"):
            result = run.evaluate(split="test", limit=limit)
        first = min(by_step) if by_step else None
        by_step = {s: r for s, r in by_step.items() if s == first}  # keep the earliest and the newest only
        by_step[run.step_count] = result
        cache["by_step"] = by_step
    state.put(state.LOGITS_EVALUATIONS, cache)
    return cache["by_step"]


def class_names(run) -> list[str]:
    names = list(run.dataset.class_names)
    return names + [f"unit {k}" for k in range(len(names), run.classes)]


def gallery_indices(choice: str, start: int, predicted: np.ndarray, labels: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Which evaluated test images the gallery shows."""
    order = np.arange(len(labels))
    if choice == "misclassified":
        order = order[predicted != labels]
    elif choice == "least confident":
        order = np.argsort(top, kind="stable")
    elif choice == "most confident":
        order = np.argsort(-top, kind="stable")
    return order[start:start + GALLERY_SIZE]


run = run_to_inspect(PAGE)
if run is None:
    st.stop()
train_more_button(run, PAGE)

evaluations = evaluation(run)
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
st.caption("Look at the scale: a few units around 0 is healthy at init; hundreds or thousands means activations exploded, "
           "boxes squashed onto 0 mean they vanished and the softmax can only guess uniformly.")
table = pd.DataFrame(logits, columns=[f"logit_{n}" for n in names])
table.insert(0, "true_class", [names[int(k)] for k in labels])
table.insert(0, "test_index", np.arange(len(labels)))
st.download_button("Download logits (CSV)", table.to_csv(index=False), f"logits_step{run.step_count}.csv",
                   "text/csv", key=state.widget(PAGE, "csv_logits"))

# --- confidence and entropy, first look vs now
steps = sorted(evaluations)
groups = {}
for s in steps:
    past = evaluations[s]
    finite = logit_figures.finite_rows(past["logits"])
    groups[f"step {s}" + (" (init)" if s == 0 else "")] = logit_figures.softmax_probabilities(past["logits"][finite])
if len(steps) == 1:
    st.caption("Press **Train 20 more steps** to compare these histograms with the trained network.")
with st.container(key="wide-logits-confidence"):  # side by side when there is room (dashboard/style.py)
    left, right = st.columns(2)
with left:
    st.plotly_chart(logit_figures.max_probability_figure(groups, run.classes), key="max_prob")
    st.caption(f"Uniform softmax: every image piled at 1/{run.classes} (logits ≈ 0, nothing decided). "
               "Saturated softmax: everything at 1 while accuracy is low, certain and wrong.")
with right:
    st.plotly_chart(logit_figures.entropy_figure(groups, run.classes), key="entropy")
    st.caption(f"At the dashed line ln {run.classes} the network guesses uniformly; at 0 it is certain. "
               "A saturated softmax sits at 0 before it has learned anything.")
confidence = pd.concat([pd.DataFrame({"network_at": label, "max_probability": p.max(axis=1),
                                      "entropy_nats": logit_figures.prediction_entropy(p)}) for label, p in groups.items()])
st.download_button("Download top probability and entropy per image (CSV)", confidence.to_csv(index=False),
                   f"softmax_confidence_step{run.step_count}.csv", "text/csv", key=state.widget(PAGE, "csv_confidence"))

# --- predictions vs truth
counts = logit_figures.confusion_counts(predicted, labels[keep], run.classes)
st.plotly_chart(logit_figures.confusion_matrix_figure(counts, names, now), key="confusion")
st.caption("A bright diagonal is a working classifier. One bright column means the network gives the same answer for "
           "every image, typical of a bad initialization.")
st.download_button("Download confusion matrix (CSV)",
                   pd.DataFrame(counts, index=[f"true_{n}" for n in names], columns=[f"predicted_{n}" for n in names]).to_csv(),
                   f"confusion_step{run.step_count}.csv", "text/csv", key=state.widget(PAGE, "csv_confusion"))

# --- single images
st.subheader("Single test images")
choice_col, start_col = st.columns([3, 1])
choice = choice_col.radio("Show", ["in order", "misclassified", "least confident", "most confident"], horizontal=True,
                          key=state.widget(PAGE, "gallery_choice"))
start = start_col.number_input("Starting at", 0, max(len(probabilities) - 1, 0), 0, step=GALLERY_SIZE,
                               key=state.widget(PAGE, "gallery_start"))
top = probabilities.max(axis=1) if len(probabilities) else np.zeros(0)
picked = gallery_indices(choice, int(start), predicted, labels[keep], top)
if len(picked) == 0:
    st.info("No test images match this choice (for 'misclassified': the network got all of them right).")
else:
    test_index = np.flatnonzero(keep)[picked]
    images = run.dataset.x_test[test_index].astype(np.float32) / 255.0  # native pixels, as a person sees them
    stride = max(1, images.shape[1] // GALLERY_PIXELS)  # big synthetic images: thin out what goes to the browser
    images = images[:, ::stride, ::stride]
    st.plotly_chart(logit_figures.softmax_gallery_figure(images, probabilities[picked], labels[keep][picked],
                                                         test_index.tolist(), names, now), key="gallery")
    st.caption("Each bar chart is one image's softmax. Uniform: all bars at 1/classes. Saturated: one bar at 1, "
               "often the wrong one (red) before training.")
