"""Architecture: a network's layer table, the shape of its data flow and the output-size arithmetic.

Nothing here builds a model: the table and sizes come from the layer specs, so VGG16
and AlexNet are shown instantly and without allocating their weights.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import math  # noqa: E402

import streamlit as st  # noqa: E402

from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import architecture as architecture_figures  # noqa: E402
from cnnviz.figures.architecture import architecture_flow_figure, shape_text  # noqa: E402
from cnnviz.nets import layers as layer_math  # noqa: E402
from cnnviz.nets import zoo  # noqa: E402
from dashboard import state  # noqa: E402
from dashboard.components import csv_button  # noqa: E402

PAGE = "architecture"

st.title("Architecture")
st.markdown("Pick a network to see every layer's output shape and parameter count, how the data shrinks on its way "
            "to the logits, and the arithmetic behind each spatial size: **O = 1 + (W − K + 2P) / S**.")


def show_size_arithmetic(specs, height: int, width: int, key: str) -> None:
    for axis, size in (("height", height), ("width", width)) if height != width else (("height and width", height),):
        st.markdown(f"**Spatial sizes along the {axis}**, starting from {size}:")
        table = architecture_figures.size_arithmetic_table(layer_math.size_arithmetic(specs, size))
        st.dataframe(table, hide_index=True, key=f"{key}_{axis}")


# --- choose a network
names = list(zoo.ARCHITECTURES)
arch_col, custom_col = st.columns([3, 2], vertical_alignment="bottom")
arch = arch_col.selectbox("Architecture", names, index=names.index("ltfn_convnet"), key=state.widget(PAGE, "arch"),
                          format_func=lambda n: f"{n} — {zoo.ARCHITECTURES[n].description}")
info = zoo.ARCHITECTURES[arch]
custom = custom_col.checkbox("Custom input shape / classes", key=state.widget(PAGE, "custom"),
                             help=f"{arch} was designed for {shape_text(info.input_shape)} inputs and {info.classes} classes.")
height, width, channels = info.input_shape
classes = info.classes
if custom:
    # Keyed per architecture, so switching networks starts from each one's own design size.
    h_col, w_col, c_col, k_col = st.columns(4)
    height = int(h_col.number_input("Height H", 1, 1024, height, key=state.widget(PAGE, f"height:{arch}")))
    width = int(w_col.number_input("Width W", 1, 1024, width, key=state.widget(PAGE, f"width:{arch}")))
    channels = int(c_col.number_input("Channels C", 1, 64, channels, key=state.widget(PAGE, f"channels:{arch}")))
    classes = int(k_col.number_input("Classes", 2, 10_000, classes, key=state.widget(PAGE, f"classes:{arch}")))
shape = (height, width, channels)
specs = info.specs()
st.caption(f"{info.description} (from {info.source}). Designed for {shape_text(info.input_shape)} inputs.")

try:
    rows = zoo.layer_table(arch, shape, classes)
except UserError as error:
    rows = None
    st.error(f"{arch} cannot take this input. {str(error)[0].upper()}{str(error)[1:]}.")
    minimum = layer_math.minimum_input_size(specs, classes)
    if minimum:
        st.info(f"The smallest square input every layer of {arch} accepts is **{minimum}×{minimum}**. "
                "Each conv/pool layer needs O ≥ 1; the table shows where the size runs out.")
    show_size_arithmetic(specs, height, width, "failed_sizes")

if rows is not None:
    total = sum(row["params"] for row in rows)
    metric_cols = st.columns(4)
    metric_cols[0].metric("Input", shape_text(shape))
    metric_cols[1].metric("Layers with weights", sum(1 for row in rows if row["params"]))
    metric_cols[2].metric("Parameters", f"{total:,}")
    metric_cols[3].metric("Largest layer", max(rows, key=lambda r: r["params"])["name"],
                          help="The layer that owns the most weights.")

    st.subheader("Layer table")
    frame = architecture_figures.layer_display_table(rows)
    st.dataframe(frame, hide_index=True, key="layer_table",
                 column_config={"parameters": st.column_config.NumberColumn(format="localized")})
    st.caption(architecture_figures.layer_table_caption(total))
    csv_button(PAGE, "Download the layer table", lambda: frame, f"{arch}_layers.csv", "csv_layers")

    st.plotly_chart(architecture_flow_figure(rows, shape, arch), key="flow")
    st.caption(architecture_figures.FLOW_CAPTION)

    with st.expander("Per-layer output-size arithmetic", expanded=False):
        show_size_arithmetic(specs, height, width, "sizes")
        st.caption(architecture_figures.SIZE_ARITHMETIC_CAPTION)

# --- calculator
st.subheader("Output-size calculator")
w_col, k_col, p_col, s_col = st.columns(4)
size = int(w_col.number_input("Input size W", 1, 4096, 28, key=state.widget(PAGE, "calc_w")))
kernel = int(k_col.number_input("Kernel K", 1, 512, 5, key=state.widget(PAGE, "calc_k")))
padding = int(p_col.number_input("Padding P (per side)", 0, 512, 0, key=state.widget(PAGE, "calc_p")))
stride = int(s_col.number_input("Stride S", 1, 64, 1, key=state.widget(PAGE, "calc_s")))
step = layer_math.SizeStep("calculator", size, kernel, stride, 2 * padding, 1 + (size - kernel + 2 * padding) / stride)
st.markdown(f"### {step.explanation}")
if step.output_size < 1:
    st.error(f"A {kernel}×{kernel} kernel does not fit in a {size}-pixel input padded by {padding} on each side "
             f"({size + 2 * padding} pixels in all): the output would be empty. Use a smaller kernel or more padding.")
elif step.output_size != math.floor(step.output_size):
    covered = (math.floor(step.output_size) - 1) * stride + kernel
    st.warning(f"Not a whole number: TensorFlow keeps **O = {math.floor(step.output_size)}**. The kernel's last "
               f"position ends at pixel {covered} of {size + 2 * padding}; the remaining "
               f"{size + 2 * padding - covered} are never looked at.")
else:
    st.success(f"O = {int(step.output_size)}: the kernel fits exactly {int(step.output_size)} times.")
st.caption("Examples: 14 with K=5, P=0, S=1 gives 10 (LeNet-5's conv2 here); "
           "224 with K=11, P=0, S=4 gives 54.25, so AlexNet's conv1 keeps 54.")
