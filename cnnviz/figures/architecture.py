"""A picture of a network's shape: how big each layer's output is and where the weights are.

Pure function from :func:`cnnviz.nets.zoo.layer_table` rows to a plotly Figure; nothing is
built, so VGG16 and AlexNet are drawn without allocating their weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures.style import FONT_SIZE, LEGEND_BELOW, style

TYPE_COLOURS = {
    "input": "#616161",
    "conv2d": "#1565c0",
    "max_pooling2d": "#ef6c00",
    "avg_pooling2d": "#ef6c00",
    "flatten": "#8d6e63",
    "dropout": "#bdbdbd",
    "dense": "#2e7d32",
}
TYPE_WORDS = {"input": "input", "conv2d": "convolution", "max_pooling2d": "max pooling",
              "avg_pooling2d": "average pooling", "flatten": "flatten", "dropout": "dropout", "dense": "dense"}


def shape_text(shape: Sequence[int]) -> str:
    """(28, 28, 64) -> '28×28×64'."""
    return "×".join(str(int(v)) for v in shape)


def compact_number(value: float) -> str:
    """12_345_678 -> '12.3M', 1_500 -> '1.5k', 0 -> '0'."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{int(value)}"


def architecture_flow_figure(rows: Sequence[dict], input_shape: Sequence[int], arch: str) -> go.Figure:
    """One horizontal bar per layer, top (input) to bottom (logits), on log scales.

    Left: how many numbers each layer outputs per image (its activation volume); the
    bars shrink as pooling and strides trade space for channels. Right: how many
    weights each layer owns; in AlexNet and VGG16 almost all of them sit in the first
    fully connected layer, not in the convolutions.
    """
    layers = [{"name": "input", "type": "input", "output_shape": list(input_shape), "params": 0}, *rows]
    names = [layer["name"] for layer in layers]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.6, 0.4], horizontal_spacing=0.03,
                        subplot_titles=["values per image (activation size)", "trainable parameters"])
    # One trace per layer type, so the legend explains the colours.
    for kind in dict.fromkeys(layer["type"] for layer in layers):
        group = [layer for layer in layers if layer["type"] == kind]
        colour, words = TYPE_COLOURS.get(kind, "#757575"), TYPE_WORDS.get(kind, kind)
        volumes = [math.prod(layer["output_shape"]) for layer in group]
        hover = [f"{layer['name']} ({words})<br>output {shape_text(layer['output_shape'])} = {volume:,} values"
                 f"<br>{layer['params']:,} parameters" for layer, volume in zip(group, volumes)]
        fig.add_trace(go.Bar(x=volumes, y=[layer["name"] for layer in group], orientation="h", name=words,
                             legendgroup=kind, marker_color=colour, hovertext=hover, hoverinfo="text",
                             text=[shape_text(layer["output_shape"]) for layer in group], textposition="auto",
                             insidetextanchor="end", textfont={"size": 15}), row=1, col=1)
        # Layers without weights get no bar (a log axis cannot show 0); the table lists them as 0.
        weighted = [layer for layer in group if layer["params"] > 0]
        if weighted:
            fig.add_trace(go.Bar(x=[layer["params"] for layer in weighted], y=[layer["name"] for layer in weighted],
                                 orientation="h", name=words, legendgroup=kind, showlegend=False, marker_color=colour,
                                 text=[compact_number(layer["params"]) for layer in weighted], textposition="auto",
                                 textfont={"size": 15}, hovertemplate="%{y}: %{x:,} parameters<extra></extra>"),
                          row=1, col=2)
    fig.update_yaxes(categoryorder="array", categoryarray=names, autorange="reversed", type="category",
                     tickfont={"size": 15})
    # One tick per power of ten: minor "2, 5" labels are unreadable on a projector.
    fig.update_xaxes(type="log", dtick=1, tickfont={"size": FONT_SIZE - 1}, title_font={"size": FONT_SIZE})
    fig.update_xaxes(title_text="values per image (log scale)", row=1, col=1)
    fig.update_xaxes(title_text="parameters (log scale)", row=1, col=2)
    total = sum(layer["params"] for layer in layers)
    style(fig, f"{arch}: input {shape_text(input_shape)}, {compact_number(total)} parameters"
          "<br>the shape of the data flowing through, layer by layer",
          max(380, 40 * len(layers) + 220), margin={"l": 90, "t": 120, "b": 100})
    fig.update_layout(barmode="overlay", legend={**LEGEND_BELOW, "title": {"text": "layer type"}})
    fig.update_annotations(font_size=FONT_SIZE)
    return fig


# ------------------------------------------------------------------ tables (shown and downloaded)
def layer_display_table(rows: Sequence[dict]) -> pd.DataFrame:
    """:func:`cnnviz.nets.zoo.layer_table` rows as the Architecture page shows and downloads them
    (blank fan-in for layers without weights)."""
    frame = pd.DataFrame([{
        "layer": row["name"], "type": row["type"], "output shape": shape_text(row["output_shape"]),
        "parameters": row["params"], "fan-in": row["fan_in"],
        "activation": row["activation"] or "",
        "kernel / stride / padding": (f"{row['kernel']}×{row['kernel']} / {row['stride']} / {row['padding']}"
                                      if "kernel" in row else ""),
    } for row in rows])
    frame["fan-in"] = frame["fan-in"].astype("Int64")
    return frame


def size_arithmetic_table(steps: Sequence) -> pd.DataFrame:
    """One row per conv/pool layer (:func:`cnnviz.nets.layers.size_arithmetic` steps): W, K, P, S,
    the exact O and what TensorFlow keeps."""
    return pd.DataFrame([{
        "layer": step.layer, "W (input)": step.input_size, "K (kernel)": step.kernel,
        "P (padding per side)": f"{step.padding_total / 2:g}", "S (stride)": step.stride,
        "O exact": round(step.output_size, 3),
        "O": str(math.floor(step.output_size)) if step.output_size >= 1 else "none: O < 1",
        "arithmetic": step.explanation,
    } for step in steps])


# ------------------------------------------------------------------ captions: what to look for
FLOW_CAPTION = ("Left: how many numbers each layer hands on per image (log scale): pools and strides shrink space "
                "while channels grow. Right: where the weights live; in AlexNet and VGG16 the first dense layer "
                "holds most.")
SIZE_ARITHMETIC_CAPTION = ("'same' padding pads just enough that O = ⌈W/S⌉ (an odd total goes to the bottom/right, "
                           "hence half pixels in P); 'valid' does not pad and drops what does not fit.")


def layer_table_caption(total: int) -> str:
    """Beside the layer table of a network with ``total`` parameters."""
    return (f"Total: {total:,} parameters ({compact_number(total)}). Activation layers are folded into the "
            "conv/dense row they follow; fan-in is how many inputs feed one output unit (K·K·C for a conv).")
