"""Pictures of a classifier's last layer: logits, softmax confidence, entropy, confusions.

Pure functions from arrays (logits of shape (N, classes), integer labels) to plotly
Figures. Rows holding a non-finite logit are left out of every picture (the title
says how many), so no figure ever carries a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cnnviz.figures.style import FONT_SIZE, style

# Readable from the back of a lecture hall.
GROUP_COLOURS = ("#9e9e9e", "#1565c0", "#e65100", "#2e7d32")  # first = earliest (init), then later steps
CORRECT_COLOUR, WRONG_COLOUR, OTHER_COLOUR = "#2e7d32", "#c62828", "#90a4ae"
PROBABILITY_BINS = 20
# At the bottom of the figure: inside the plot it would cover the bars piled up at "certain".
HISTOGRAM_LEGEND = {"title": {"text": "network at"}, "orientation": "h", "x": 0, "xanchor": "left",
                    "yref": "container", "y": 0, "yanchor": "bottom"}


def softmax_probabilities(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably (subtract each row's max before exp)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def prediction_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy of each row in nats (0 = certain, ln(classes) = uniform guess)."""
    p = np.asarray(probabilities, dtype=np.float64)
    safe = np.where(p > 0, p, 1.0)  # 0·log 0 counts as 0
    return -(p * np.log(safe)).sum(axis=1)


def finite_rows(logits: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows whose logits are all finite."""
    return np.isfinite(np.asarray(logits)).all(axis=1)


def confusion_counts(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return counts


def _dropped_note(logits: np.ndarray) -> str:
    dropped = int((~finite_rows(logits)).sum())
    return f" ({dropped} examples with non-finite logits left out)" if dropped else ""


def _title(main: str, detail: str = "") -> str:
    """A short main line (fits a projected half page) and the details, smaller, below it."""
    return f"{main}<br><sup>{detail}</sup>" if detail else main


def _style(fig: go.Figure, title: str, height: int) -> go.Figure:
    """The house look (:func:`cnnviz.figures.style.style`) with a little more room for two-line titles."""
    return style(fig, title, height, margin={"t": 95})


def logit_distribution_figure(logits: np.ndarray, class_names: Sequence[str], when: str) -> go.Figure:
    """Box plot of each output unit's logit over many test images.

    Healthy logits at init sit within a few units of 0 and overlap; huge boxes (hundreds
    or thousands) mean the scale exploded on the way up; boxes squeezed onto 0 mean it
    vanished. After training, each box gets a long upper tail: the images of that class.
    """
    logits = np.asarray(logits)
    finite = logits[finite_rows(logits)]
    fig = go.Figure()
    for unit, name in enumerate(class_names[:logits.shape[1]]):
        fig.add_trace(go.Box(y=finite[:, unit].tolist(), name=str(name), boxpoints="outliers",
                             marker_color="#1565c0", showlegend=False))
    fig.update_xaxes(title_text="output unit (class)", type="category")
    fig.update_yaxes(title_text="logit value (raw score before softmax)", zeroline=True)
    return _style(fig, _title(f"Logits per class, {when}",
                              f"{len(finite)} test images{_dropped_note(logits)}"), 440)


def _reference_line(fig: go.Figure, x: float, text: str, side: str, row: int = 0) -> None:
    """A dashed vertical line labelled just above the plot area (clear of the bars); labels of
    different ``row`` sit one above the other, so two near lines never print over each other."""
    fig.add_vline(x=x, line_dash="dash", line_color="#424242", line_width=2)
    fig.add_annotation(x=x, xref="x", y=1.0, yref="paper", yanchor="bottom", xanchor=side, text=text,
                       yshift=2 + 20 * row, showarrow=False, font={"size": 15, "color": "#424242"})


def probability_bins(values: np.ndarray, low: float, high: float, bins: int = PROBABILITY_BINS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of ``values`` over [low, high] in ``bins`` equal bins, the last one closed.

    Binned here, not by plotly: a saturated softmax puts every top probability at exactly
    1.0 (and a certain one every entropy at exactly 0), the edge of the range, where a
    browser-side histogram drew its bar outside the visible axis.
    """
    edges = np.linspace(low, high, bins + 1)
    counts, _ = np.histogram(np.clip(np.asarray(values, dtype=np.float64), low, high), bins=edges)
    return edges, counts


def _histogram_bars(fig: go.Figure, edges: np.ndarray, counts: np.ndarray, label: str, colour: str,
                    what: str) -> None:
    centres = (edges[:-1] + edges[1:]) / 2
    fig.add_trace(go.Bar(x=centres.tolist(), y=counts.tolist(), width=float(edges[1] - edges[0]), name=label,
                         opacity=0.7, marker_color=colour, customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                         hovertemplate=label + "<br>" + what + " %{customdata[0]:.2f}–%{customdata[1]:.2f}: "
                                       "%{y} images<extra></extra>"))


def max_probability_figure(groups: Mapping[str, np.ndarray], classes: int) -> go.Figure:
    """Histogram of the top softmax probability per image, one colour per step.

    Near 1/classes for every image: the network is guessing uniformly (logits ≈ 0).
    Piled up at 1 while accuracy is low: a saturated softmax, confidently wrong.
    After healthy training most images move to the right *and* are right.
    """
    fig = go.Figure()
    for index, (label, probabilities) in enumerate(groups.items()):
        top = np.asarray(probabilities).max(axis=1) if len(probabilities) else np.zeros(0)
        edges, counts = probability_bins(top, 0.0, 1.0)
        _histogram_bars(fig, edges, counts, label, GROUP_COLOURS[index % len(GROUP_COLOURS)], "top probability")
    _reference_line(fig, 1.0 / classes, f"uniform 1/{classes}", "left")
    _reference_line(fig, 1.0, "certain", "right", row=1)
    fig.update_layout(barmode="overlay", legend=HISTOGRAM_LEGEND)
    fig.update_xaxes(title_text="top probability of an image", range=[0, 1.02])
    fig.update_yaxes(title_text="test images (count)")
    return _style(fig, _title("How sure is the network?", "Top probability per image"), 480)


def entropy_figure(groups: Mapping[str, np.ndarray], classes: int) -> go.Figure:
    """Histogram of each image's softmax entropy (nats), with ln(classes) marked.

    Everything at ln(classes) (2.303 for 10 classes) is a uniform softmax that has not
    started to decide; everything at 0 is a saturated, one-hot softmax.
    """
    uniform = math.log(classes)
    fig = go.Figure()
    for index, (label, probabilities) in enumerate(groups.items()):
        edges, counts = probability_bins(prediction_entropy(probabilities), 0.0, uniform)
        _histogram_bars(fig, edges, counts, label, GROUP_COLOURS[index % len(GROUP_COLOURS)], "entropy")
    _reference_line(fig, uniform, f"uniform: ln {classes} = {uniform:.3f}", "right")
    fig.update_layout(barmode="overlay", legend=HISTOGRAM_LEGEND)
    fig.update_xaxes(title_text="entropy of an image (nats)", range=[-uniform * 0.02, uniform * 1.05])
    fig.update_yaxes(title_text="test images (count)")
    return _style(fig, _title("Softmax entropy per image", "0 = certain"), 480)


def confusion_matrix_figure(counts: np.ndarray, class_names: Sequence[str], when: str) -> go.Figure:
    """Heatmap of true class (rows) against predicted class (columns), counts written in.

    A bright diagonal is a working classifier. One bright column means the network
    answers the same class for everything, typical of a bad initialization.
    """
    counts = np.asarray(counts)
    names = [str(n) for n in class_names[:counts.shape[0]]]
    total = int(counts.sum())
    accuracy = float(np.trace(counts)) / total if total else 0.0
    fig = go.Figure(go.Heatmap(z=counts.tolist(), x=names, y=names, colorscale="Blues",
                               text=counts.tolist(), texttemplate="%{text}", textfont={"size": 14},
                               colorbar={"title": {"text": "images", "side": "right"}},
                               hovertemplate="true %{y}, predicted %{x}: %{z} images<extra></extra>"))
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom")
    fig.update_yaxes(title_text="true class", type="category", autorange="reversed")
    return _style(fig, _title("Confusion matrix", f"{total} test images, {when}: accuracy {accuracy:.1%}"), 580)


def softmax_gallery_figure(images: np.ndarray, probabilities: np.ndarray, labels: np.ndarray,
                           indices: Sequence[int], class_names: Sequence[str], when: str,
                           columns: int = 4) -> go.Figure:
    """Each test image above the bar chart of its softmax.

    The true class's bar is green, a wrong top guess red. A flat row of bars at
    1/classes is an undecided network; one full bar on the wrong class is saturation.
    """
    count = len(indices)
    rows = max(1, math.ceil(count / columns))
    names = [str(n) for n in class_names[:np.asarray(probabilities).shape[1]]]
    cell_w, cell_h = 1.0 / columns, 1.0 / rows
    traces, layout, annotations = [], {}, []
    # Axes are laid out by hand (two pairs per image): make_subplots is slow for dozens of panels.
    for k in range(count):
        row, col = divmod(k, columns)
        left, top = col * cell_w, 1.0 - row * cell_h
        image_axis, bar_axis = 2 * k + 1, 2 * k + 2
        predicted, truth = int(np.argmax(probabilities[k])), int(labels[k])
        image = np.asarray(images[k], dtype=np.float32)
        grey = np.round(image.mean(axis=-1) if image.ndim == 3 else image, 3)
        traces.append(go.Heatmap(z=grey.tolist(), colorscale="gray", zmin=0, zmax=1, showscale=False,
                                 xaxis=_axis_ref("x", image_axis), yaxis=_axis_ref("y", image_axis),
                                 hovertemplate="pixel (%{y}, %{x}) = %{z:.2f}<extra></extra>"))
        colours = [CORRECT_COLOUR if c == truth else WRONG_COLOUR if c == predicted else OTHER_COLOUR
                   for c in range(len(names))]
        traces.append(go.Bar(x=names, y=np.asarray(probabilities[k], float).tolist(), marker_color=colours,
                             showlegend=False, xaxis=_axis_ref("x", bar_axis), yaxis=_axis_ref("y", bar_axis),
                             hovertemplate="class %{x}: p = %{y:.3f}<extra></extra>"))
        hidden = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
        layout[_axis_key("x", image_axis)] = {**hidden, "domain": [left + 0.02 * cell_w, left + 0.98 * cell_w],
                                              "anchor": _axis_ref("y", image_axis), "constrain": "domain"}
        layout[_axis_key("y", image_axis)] = {**hidden, "domain": [top - 0.56 * cell_h, top - 0.15 * cell_h],
                                              "anchor": _axis_ref("x", image_axis), "autorange": "reversed",
                                              "scaleanchor": _axis_ref("x", image_axis), "constrain": "domain"}
        layout[_axis_key("x", bar_axis)] = {"domain": [left + 0.1 * cell_w, left + 0.95 * cell_w], "type": "category",
                                            "anchor": _axis_ref("y", bar_axis), "tickfont": {"size": 12}}
        layout[_axis_key("y", bar_axis)] = {"domain": [top - 0.93 * cell_h, top - 0.62 * cell_h], "range": [0, 1],
                                            "tickvals": [0, 0.5, 1], "anchor": _axis_ref("x", bar_axis),
                                            "title": {"text": "p"} if col == 0 else None, "tickfont": {"size": 12}}
        wrong = predicted != truth
        # Two short lines: four images share a projected half page, about 120 pixels each.
        annotations.append({"text": f"#{indices[k]}: true {class_names[truth]}<br>says {class_names[predicted]} "
                                    f"{'✗' if wrong else '✓'}",
                            "x": left + cell_w / 2, "y": top - 0.02 * cell_h, "xref": "paper", "yref": "paper",
                            "showarrow": False, "yanchor": "top", "xanchor": "center",
                            "font": {"size": 14, "color": WRONG_COLOUR if wrong else "#212121"}})
    fig = go.Figure(traces, layout={**layout, "annotations": annotations, "showlegend": False})
    return _style(fig, _title(f"Single test images, {when}",
                              "softmax bars: green = the true class, red = a wrong guess"),
                  360 * rows + 110)


def _axis_key(letter: str, number: int) -> str:
    """Layout key of axis ``number``: 'xaxis', 'xaxis2', ..."""
    return f"{letter}axis" if number == 1 else f"{letter}axis{number}"


def _axis_ref(letter: str, number: int) -> str:
    """Trace reference to axis ``number``: 'x', 'x2', ..."""
    return letter if number == 1 else f"{letter}{number}"


# ------------------------------------------------------------------ the numbers behind the pictures
GALLERY_CHOICES = ("in order", "misclassified", "least confident", "most confident")


def probability_groups(evaluations: Mapping[int, dict]) -> dict[str, np.ndarray]:
    """Softmax probabilities of the finite rows of each evaluation, labelled "step 0 (init)", "step 20", ...

    ``evaluations`` maps a training step to what ``Run.evaluate`` returned at that step (its ``logits``).
    """
    groups = {}
    for step in sorted(evaluations):
        logits = evaluations[step]["logits"]
        label = f"step {step}" + (" (init)" if step == 0 else "")
        groups[label] = softmax_probabilities(logits[finite_rows(logits)])
    return groups


def gallery_indices(choice: str, start: int, predicted: np.ndarray, labels: np.ndarray, top: np.ndarray,
                    size: int) -> np.ndarray:
    """Which images a gallery shows: ``size`` of them from ``start``, in the order ``choice`` names
    (one of :data:`GALLERY_CHOICES`; ``top`` is each image's highest probability)."""
    order = np.arange(len(labels))
    if choice == "misclassified":
        order = order[np.asarray(predicted) != np.asarray(labels)]
    elif choice == "least confident":
        order = np.argsort(top, kind="stable")
    elif choice == "most confident":
        order = np.argsort(-np.asarray(top), kind="stable")
    return order[start:start + size]


def logits_table(logits: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per test image: its index, true class and every logit (non-finite ones included)."""
    table = pd.DataFrame(np.asarray(logits), columns=[f"logit_{n}" for n in class_names])
    table.insert(0, "true_class", [class_names[int(k)] for k in labels])
    table.insert(0, "test_index", np.arange(len(labels)))
    return table


def confidence_table(groups: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per image and network age: its top softmax probability and the softmax's entropy (nats)."""
    return pd.concat([pd.DataFrame({"network_at": label, "max_probability": p.max(axis=1),
                                    "entropy_nats": prediction_entropy(p)}) for label, p in groups.items()],
                     ignore_index=True)


def confusion_table(counts: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """The confusion counts with a first column naming the true class (one row per true class)."""
    table = pd.DataFrame(counts, columns=[f"predicted_{n}" for n in class_names])
    table.insert(0, "", [f"true_{n}" for n in class_names])
    return table


# ------------------------------------------------------------------ captions: what to look for
LOGIT_DISTRIBUTION_CAPTION = (
    "Look at the scale: a few units around 0 is healthy at init; hundreds or thousands means activations exploded, "
    "boxes squashed onto 0 mean they vanished and the softmax can only guess uniformly.")
CONFUSION_CAPTION = ("A bright diagonal is a working classifier. One bright column means the network gives the same "
                     "answer for every image, typical of a bad initialization.")
GALLERY_CAPTION = ("Each bar chart is one image's softmax. Uniform: all bars at 1/classes. Saturated: one bar at 1, "
                   "often the wrong one (red) before training.")


def max_probability_caption(classes: int) -> str:
    """Beside :func:`max_probability_figure`."""
    return (f"Uniform softmax: every image piled at 1/{classes} (logits ≈ 0, nothing decided). "
            "Saturated softmax: everything at 1 while accuracy is low, certain and wrong.")


def entropy_caption(classes: int) -> str:
    """Beside :func:`entropy_figure`."""
    return (f"At the dashed line ln {classes} the network guesses uniformly; at 0 it is certain. "
            "A saturated softmax sits at 0 before it has learned anything.")
