"""Kernels and feature maps of a model's conv layers, for one image at a time.

Feature maps come from a Keras sub-model that shares the run's layers and weights
(``keras.Model(model.inputs, layer.output)``), so what you see is exactly what the
network computes now, after however many training steps. Images a person draws or
uploads are turned into MNIST-like digits (white ink on black, centred in 28x28)
before they are fed in, because that is what the network was trained on.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from cnnviz.compat import consumers
from cnnviz.data import adapt_images
from cnnviz.errors import UserError

CONV_TYPES = ("Conv2D",)
MNIST_SIZE = 28
DIGIT_BOX = 20  # MNIST digits fit a 20x20 box, centred by mass in the 28x28 frame
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
INK_THRESHOLD = 0.1

# Sub-models per (model, layer, pre/post): building one costs a graph walk, reuse it.
_submodels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the model's 2D convolution layers, in forward order."""
    return [layer.name for layer in model.layers if type(layer).__name__ in CONV_TYPES]


def _conv_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    names = conv_layers(model)
    if name not in names:
        listed = ", ".join(names) or "none"
        raise UserError(f"{name!r} is not a conv layer of {model.name}; its conv layers are: {listed}")
    return model.get_layer(name)


def kernels(model: keras.Model, layer: str) -> np.ndarray:
    """The current kernel of conv ``layer`` as (kernel_h, kernel_w, in_channels, out_filters)."""
    return np.asarray(_conv_layer(model, layer).kernel.numpy())


def following_activation_layer(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """The Activation/ReLU layer applied right after ``layer`` (the zoo adds one per conv)."""
    return next((op for op in consumers(layer) if isinstance(op, (keras.layers.Activation, keras.layers.ReLU))), None)


def activation_name(model: keras.Model, layer: str) -> str:
    """The nonlinearity that follows conv ``layer`` ("relu", "sigmoid", ... or "linear")."""
    conv = _conv_layer(model, layer)
    fused = getattr(conv.activation, "__name__", "linear")
    if fused != "linear":
        return fused
    following = following_activation_layer(conv)
    if following is None:
        return "linear"
    if isinstance(following, keras.layers.ReLU):
        return "relu"
    return getattr(following.activation, "__name__", "linear")


def _submodel(model: keras.Model, layer: str, pre_activation: bool):
    """A callable image batch -> the layer's maps (pre- or post-activation)."""
    cache = _submodels.setdefault(model, {})
    key = (layer, pre_activation)
    if key in cache:
        return cache[key]
    conv = _conv_layer(model, layer)
    fused = getattr(conv.activation, "__name__", "linear") != "linear"
    if not fused:
        following = following_activation_layer(conv)
        if pre_activation or following is None:
            target = conv.output
        else:
            target = following.output
        sub = keras.Model(model.inputs, target, name=f"{model.name}_{layer}_maps")
        compute = lambda x: sub(x, training=False)  # noqa: E731 - tiny closure over the sub-model
    else:
        # A user model may fuse the activation into the conv: recompute its linear part
        # from the layer's input with the same kernel and bias.
        feed = keras.Model(model.inputs, conv.input, name=f"{model.name}_{layer}_input")

        def compute(x):
            linear = conv.convolution_op(feed(x, training=False), conv.kernel)
            if conv.use_bias:
                linear = linear + conv.bias
            return linear if pre_activation else conv.activation(linear)
    cache[key] = compute
    return compute


def prepare_input(image: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """One image in [0, 1] ((H, W) or (H, W, C)) as a (1, *input_shape) float32 batch.

    Pads or resizes and fixes channels the same way the datasets do, so a 28x28 digit
    can be fed to a network that wants 32x32x1 or 224x224x3.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise UserError(f"an image must be H x W or H x W x C, got shape {array.shape}")
    target = tuple(int(v) for v in input_shape)
    if array.shape == target:
        return array[None]
    as_uint8 = np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
    return adapt_images(as_uint8[None], target)


def feature_maps(model: keras.Model, layer: str, image: np.ndarray, pre_activation: bool = True) -> np.ndarray:
    """What conv ``layer`` outputs for one ``image``: (H_out, W_out, filters) float32.

    ``pre_activation=True`` gives the convolution plus bias; ``False`` gives the maps
    after the nonlinearity that follows (for ReLU: ``max(pre, 0)``).
    ``image`` is in [0, 1]; it is adapted to the model's input shape first.
    """
    batch = prepare_input(image, tuple(model.inputs[0].shape[1:]))
    maps = _submodel(model, layer, pre_activation)(tf.constant(batch))
    return np.asarray(keras.ops.convert_to_numpy(maps))[0]


def run_kernels(run, layer: str) -> np.ndarray:
    """:func:`kernels` of ``run``'s network as it stands now (its compiled core is shared)."""
    with run.weights_loaded() as model:
        return kernels(model, layer)


def run_feature_maps(run, layer: str, image: np.ndarray, pre_activation: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`feature_maps` of ``run``'s network for ``image``, its softmax over the classes).

    The image (in [0, 1]) is fed the way the run feeds its batches (its input range).
    """
    with run.weights_loaded() as model:
        batch = run.config.scale_images(prepare_input(image, tuple(model.inputs[0].shape[1:])))
        maps = _submodel(model, layer, pre_activation)(tf.constant(batch))
        logits = np.asarray(model(batch, training=False), np.float64)[0]
    shifted = np.exp(logits - logits.max())
    return np.asarray(keras.ops.convert_to_numpy(maps))[0], shifted / shifted.sum()


# ------------------------------------------------------------- drawn / uploaded digits
def digit_from_pixels(pixels: np.ndarray) -> np.ndarray:
    """Any picture of one digit -> a 28x28 MNIST-like digit (float32, white ink on black).

    Accepts grey, RGB or RGBA (uint8 0-255 or float 0-1). Transparent pixels count as
    background; a light background is inverted; the ink is scaled to fit a 20x20 box
    and centred by its centre of mass, as MNIST was prepared.
    """
    grey = _to_grey(np.asarray(pixels))
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:  # dark ink on a light page: MNIST is the other way round
        grey = 1.0 - grey
    if grey.max() < INK_THRESHOLD:
        raise UserError("the image is blank: draw or upload a digit with some visible ink")
    rows = np.flatnonzero((grey > INK_THRESHOLD * grey.max()).any(axis=1))
    cols = np.flatnonzero((grey > INK_THRESHOLD * grey.max()).any(axis=0))
    ink = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = DIGIT_BOX / max(ink.shape)
    size = (max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale)))
    small = tf.image.resize(ink[..., None], size, method="area", antialias=True).numpy()[..., 0]
    small = small / max(float(small.max()), 1e-6)
    return _centre_by_mass(small)


def digit_from_image_bytes(data: bytes) -> np.ndarray:
    """The bytes of a PNG/JPEG/GIF/BMP file -> a 28x28 MNIST-like digit (see :func:`digit_from_pixels`)."""
    if not data:
        raise UserError("the uploaded file is empty; upload a PNG or JPEG picture of one digit")
    if len(data) > MAX_IMAGE_BYTES:
        raise UserError(f"the uploaded file is {len(data) / 2**20:.1f} MB; a picture of one digit should be under 10 MB")
    try:
        decoded = tf.io.decode_image(data, expand_animations=False).numpy()
    except (tf.errors.InvalidArgumentError, ValueError):
        raise UserError("the uploaded file is not an image TensorFlow can read; upload a PNG, JPEG, GIF or BMP") from None
    if max(decoded.shape[:2]) > MAX_IMAGE_SIDE:
        raise UserError(f"the image is {decoded.shape[1]}x{decoded.shape[0]} pixels; use one under {MAX_IMAGE_SIDE} pixels a side")
    return digit_from_pixels(decoded)


def _to_grey(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or min(pixels.shape[:2]) < 1:
        raise UserError(f"expected a grey, RGB or RGBA picture, got an array of shape {pixels.shape}")
    values = pixels.astype(np.float32)
    if np.issubdtype(pixels.dtype, np.integer):
        values = values / 255.0
    colour, alpha = (values[..., :-1], values[..., -1:]) if values.shape[2] in (2, 4) else (values, None)
    grey = colour.mean(axis=-1)
    if alpha is not None and alpha.min() < 1.0:
        # Transparent pixels show the page behind them; decide the page's shade from the
        # opaque strokes (dark strokes were drawn on a light page, light ones on a dark page).
        opaque = alpha[..., 0] > 0.5
        stroke = float(grey[opaque].mean()) if opaque.any() else 0.0
        page = 1.0 if stroke < 0.5 else 0.0
        grey = grey * alpha[..., 0] + page * (1.0 - alpha[..., 0])
    return np.clip(grey, 0.0, 1.0)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    total = float(digit.sum())
    rows, cols = np.indices(digit.shape)
    centre_row = float((rows * digit).sum() / total)
    centre_col = float((cols * digit).sum() / total)
    top = int(np.clip(round(MNIST_SIZE / 2 - centre_row), 0, MNIST_SIZE - digit.shape[0]))
    left = int(np.clip(round(MNIST_SIZE / 2 - centre_col), 0, MNIST_SIZE - digit.shape[1]))
    frame[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return frame



def kernel_tiles(kernel: np.ndarray, out_filter: int | None = None) -> np.ndarray:
    """2D pictures of a conv kernel (kh, kw, in_channels, out_filters).

    ``out_filter=None``: one tile per output filter (its single input channel for a
    grey first layer, else the mean over input channels) -> (out_filters, kh, kw).
    ``out_filter=f``: filter f's weights for each input channel -> (in_channels, kh, kw).
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise UserError(f"expected a conv kernel of shape (kh, kw, in, out), got {kernel.shape}")
    if out_filter is None:
        return np.moveaxis(kernel.mean(axis=2), -1, 0)
    if not 0 <= out_filter < kernel.shape[3]:
        raise UserError(f"filter {out_filter} does not exist; this layer has filters 0 to {kernel.shape[3] - 1}")
    return np.moveaxis(kernel[:, :, :, out_filter], -1, 0)
