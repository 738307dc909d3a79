"""Filters & feature maps: the kernels a conv net learns and what they make of one digit."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402

from cnnviz.errors import UserError  # noqa: E402
from cnnviz.figures import filters as filter_figures  # noqa: E402
from cnnviz.nets.zoo import ARCHITECTURES  # noqa: E402
from cnnviz.probing import feature_maps as fm  # noqa: E402
from dashboard import state  # noqa: E402
from dashboard.components import class_names, csv_button  # noqa: E402
from dashboard.run_picker import QUICK_ARCHS, run_to_inspect, train_more_button, when  # noqa: E402

try:  # optional: draw a digit with the mouse (streamlit-drawable-canvas)
    from streamlit_drawable_canvas import st_canvas
except Exception:  # noqa: BLE001 - any import/registration failure just hides the drawing option
    st_canvas = None

PAGE = "filters"
MAX_MAPS = 32
CONV_ARCHS = [name for name in QUICK_ARCHS if any(type(spec).__name__ == "Conv" for spec in ARCHITECTURES[name].specs())]

st.title("Filters & feature maps")
st.markdown("A conv layer slides small **kernels** over its input; each kernel produces one **feature map**. "
            "Watch the first-layer kernels turn from noise into strokes as the network trains.")


def chosen_image(run) -> tuple[np.ndarray, str] | None:
    """The image to push through the network: a test digit, a drawn one or an uploaded one."""
    sources = ["a test image"] + (["draw a digit"] if st_canvas is not None else []) + ["upload a picture"]
    source = st.radio("Input", sources, horizontal=True, key=state.widget(PAGE, "source"))
    if source == "a test image":
        size = run.dataset.size("test")
        index = int(st.columns([1, 3])[0].number_input(f"Test image (0–{size - 1})", 0, size - 1, 0, step=1,
                                                       key=state.widget(PAGE, "test_index")))
        label = class_names(run)[int(run.dataset.y_test[index])]
        return run.dataset.images("test", np.array([index]))[0], f"test image #{index} (a {label})"
    if source == "draw a digit":
        hint_col, clear_col = st.columns([3, 1], vertical_alignment="center")
        hint_col.caption("Draw one digit with the mouse, big and centred, white on black like MNIST.")
        version = state.get(state.CANVAS_VERSION, 0)
        if clear_col.button("Clear the drawing", key=state.widget(PAGE, "clear_canvas")):
            version += 1  # a fresh key gives a fresh, empty canvas
            state.put(state.CANVAS_VERSION, version)
        canvas = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=240, width=240,
                           drawing_mode="freedraw", return_image_data=True,
                           key=state.widget(PAGE, f"canvas{version}"))
        pixels = canvas.image_data
        if pixels is None or np.asarray(pixels)[..., :3].max() < 30:
            st.info("The canvas is empty: draw a digit to see its feature maps.")
            return None
        try:
            return fm.digit_from_pixels(np.asarray(pixels)), "your drawing"
        except UserError as error:
            st.error(str(error))
            return None
    upload = st.file_uploader("A PNG or JPEG picture of one digit (any size; dark on light or light on dark)",
                              type=["png", "jpg", "jpeg", "gif", "bmp"], key=state.widget(PAGE, "upload"))
    if upload is None:
        st.info("Upload a picture of one digit to see its feature maps.")
        return None
    try:
        return fm.digit_from_image_bytes(upload.getvalue()), f"your picture {upload.name}"
    except UserError as error:
        st.error(str(error))
        return None


run = run_to_inspect(PAGE, CONV_ARCHS)
if run is None:
    st.stop()
layers = fm.conv_layers(run.model)
if not layers:
    st.info(f"{run.config.arch} has no convolution layers, so there are no filters to show. "
            "Pick a conv net such as ltfn_convnet or lenet5_like.")
    st.stop()
train_more_button(run, PAGE)
now = when(run)

# --- first layer
st.subheader(f"First layer ({layers[0]}): its kernels, {now}")
first = fm.run_kernels(run, layers[0])
kh, kw, cin, cout = first.shape
averaged = f", mean over its {cin} input channels" if cin > 1 else ""
st.plotly_chart(filter_figures.kernel_grid_figure(
    fm.kernel_tiles(first), [f"f{k}" for k in range(cout)],
    f"{layers[0]}: {cout} kernels of {kh}×{kw}<br>{now}{averaged}"), key="first_kernels")
st.caption(filter_figures.first_kernels_caption(cout))
csv_button(PAGE, f"Download {layers[0]} kernels", lambda: filter_figures.kernel_table(first),
           f"{layers[0]}_kernels_step{run.step_count}.csv", "csv_first")

# --- a deeper layer, by input channel
st.subheader("A deeper layer's kernels")
if len(layers) < 2:
    st.info(f"{run.config.arch} has a single conv layer.")
else:
    layer_col, view_col, filter_col = st.columns([2, 4, 2])
    deep = layer_col.selectbox("Layer", layers[1:], key=state.widget(PAGE, "deep_layer"))
    kernel = fm.run_kernels(run, deep)
    kh, kw, cin, cout = kernel.shape
    view = view_col.radio("Show", ["one filter, each input channel", "every filter, mean over input channels"],
                          key=state.widget(PAGE, "deep_view"))
    if view.startswith("one filter"):
        chosen = int(filter_col.number_input(f"Filter (0–{cout - 1})", 0, cout - 1, 0, step=1,
                                             key=state.widget(PAGE, "deep_filter")))
        tiles = fm.kernel_tiles(kernel, chosen)
        labels = [f"in {k}" for k in range(cin)]
        title = f"{deep}, filter {chosen}: its {kh}×{kw} weights<br>on each of its {cin} input maps, {now}"
        what = f"input channels (of {cin})"
    else:
        tiles, labels = fm.kernel_tiles(kernel), [f"f{k}" for k in range(cout)]
        title = f"{deep}: {cout} filters of {kh}×{kw}<br>weights averaged over {cin} input maps, {now}"
        what = f"filters (of {cout})"
    st.plotly_chart(filter_figures.kernel_grid_figure(tiles, labels, title), key="deep_kernels")
    st.caption(filter_figures.deeper_kernels_caption(len(tiles), what))
    csv_button(PAGE, f"Download {deep} kernels", lambda: filter_figures.kernel_table(kernel),
               f"{deep}_kernels_step{run.step_count}.csv", "csv_deep")

# --- feature maps of one image
st.subheader("Feature maps of one image")
picked = chosen_image(run)
layer_col, mode_col, scale_col = st.columns([2, 3, 2], vertical_alignment="bottom")
layer = layer_col.selectbox("Conv layer", layers, key=state.widget(PAGE, "map_layer"))
activation = fm.activation_name(run.model, layer)
mode = mode_col.radio("Values", ["pre-activation (conv + bias)", f"after the {activation}"], horizontal=True,
                      key=state.widget(PAGE, "map_mode"))
pre_activation = mode.startswith("pre")
shared_scale = scale_col.checkbox("One colour range for all maps", key=state.widget(PAGE, "shared_scale"),
                                  help="On: compare how strongly the maps respond. Off: each map on its own range, "
                                       "so weak maps still show their pattern.")
if picked is not None:
    image, described = picked
    maps, probabilities = fm.run_feature_maps(run, layer, image, pre_activation=pre_activation)
    guess = int(np.argmax(probabilities))
    names = class_names(run)
    with st.container(key="cards-filters-input"):  # the image above the maps on a projector (dashboard/style.py)
        image_col, maps_col = st.columns([1.6, 4])
    with image_col:
        st.plotly_chart(filter_figures.input_image_figure(image, f"Input<br>{described}"), key="input_image")
        st.markdown(f"The network says **{names[guess]}** (p = {probabilities[guess]:.2f}).")
    with maps_col:
        values = "pre-activation" if pre_activation else f"after {activation}"
        st.plotly_chart(filter_figures.feature_map_grid_figure(
            maps, f"{layer}: {min(MAX_MAPS, maps.shape[-1])} of {maps.shape[-1]} feature maps"
                  f"<br>{maps.shape[0]}×{maps.shape[1]}, {values}, {now}", pre_activation, limit=MAX_MAPS,
            shared_scale=shared_scale),
            key="feature_maps")
    st.caption(filter_figures.feature_maps_caption(pre_activation, activation, shared_scale, maps.shape[-1], MAX_MAPS))
    csv_button(PAGE, f"Download {layer} feature maps", lambda: filter_figures.feature_map_table(maps),
               f"{layer}_maps_step{run.step_count}.csv", "csv_maps")
