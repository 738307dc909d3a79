"""One forward pass through a Keras model at init, and the std of every layer's pre-activation.

Independent of the training core: :func:`cnnviz.nets.forward.forward` evaluates a functional
model layer by layer; the measurement helpers here use it to read every pre-activation in one
pass (LSUV, :mod:`cnnviz.nets.lsuv`, uses it to rescale kernels in forward order).

:func:`depth_profile` puts measured and predicted std per layer side by side for a
RunConfig: the numbers behind the README's depth table, a lesson, or a depth chart.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from cnnviz.nets.forward import forward

# Measurement images come from a stream of their own (not LSUV's, not the training batches).
MEASURE_STREAM = 0x5EE
MEASURE_IMAGES = 256


def pre_activation_stats(model: keras.Model, images: np.ndarray, training: bool = False) -> pd.DataFrame:
    """Mean, std and RMS (float64, over batch and units/positions) of every conv/dense output.

    Columns: layer, type, fan_in, mean, std, rms — one row per weighted layer in order;
    a layer holding inf or NaN gets NaN statistics.
    """
    rows = []

    def record(layer, inputs, output):
        values = np.asarray(keras.ops.convert_to_numpy(output), dtype=np.float64)
        kernel_shape = tuple(int(v) for v in layer.kernel.shape)
        with np.errstate(invalid="ignore", over="ignore"):  # an exploded layer holds inf: its std is NaN
            mean, std, rms = float(values.mean()), float(values.std()), float(np.sqrt(np.mean(values * values)))
        rows.append({"layer": layer.name, "type": "dense" if isinstance(layer, keras.layers.Dense) else "conv2d",
                     "fan_in": int(np.prod(kernel_shape[:-1])), "mean": mean, "std": std, "rms": rms})
        return output

    forward(model, images, training=training, visit=record)
    return pd.DataFrame(rows, columns=["layer", "type", "fan_in", "mean", "std", "rms"])


def measurement_images(config, input_shape: tuple[int, int, int], classes: int | None = None,
                       count: int = MEASURE_IMAGES) -> np.ndarray:
    """``count`` training images of ``config.dataset`` for an init-time measurement (seeded by ``config.seed``)."""
    from cnnviz.data import load_dataset

    dataset = load_dataset(config.dataset, input_shape, classes).for_shape(input_shape)
    size = dataset.size("train")
    rng = np.random.default_rng([int(config.seed), MEASURE_STREAM])
    return dataset.images("train", np.sort(rng.choice(size, size=min(count, size), replace=False)))


def depth_profile(config, images: np.ndarray | None = None, input_shape: tuple[int, int, int] | None = None,
                  classes: int | None = None, training: bool = False) -> pd.DataFrame:
    """Measured and predicted pre-activation std per layer of ``config``'s network at init.

    Builds the real Keras model (:func:`cnnviz.nets.zoo.build_from_config`), runs one forward
    pass on ``images`` (default: :func:`measurement_images`) and, for plain nets, joins
    :func:`cnnviz.diagnosis.theory.plain_chain` computed from the same images' moments. Columns:
    layer, type, fan_in, measured (std), mean, predicted, ratio (measured / predicted),
    valid, linear_valid, note. Fixed zoo nets get NaN predictions (use theory.theory_vs_measured_table).
    """
    from cnnviz.diagnosis.theory_chain import InputMoments, plain_chain_for
    from cnnviz.nets import zoo

    shape, n_classes = zoo.resolve_shape(config.arch, input_shape or config.input_shape, classes or config.classes)
    if images is None:
        images = measurement_images(config, shape, n_classes)
    model = zoo.build_from_config(config, shape, n_classes)
    measured = pre_activation_stats(model, images, training=training)
    frame = measured.rename(columns={"std": "measured"})[["layer", "type", "fan_in", "measured", "mean"]]
    if config.net is not None:
        chain = plain_chain_for(config, InputMoments.from_images(images), n_classes, bn_training=training)
        frame = frame.merge(chain[["layer", "predicted", "valid", "linear_valid", "note"]], on="layer", how="left")
    else:
        frame = frame.assign(predicted=np.nan, valid=False, linear_valid=False, note="not a plain net")
    frame["ratio"] = frame["measured"] / frame["predicted"]
    return frame[["layer", "type", "fan_in", "measured", "mean", "predicted", "ratio", "valid", "linear_valid", "note"]]
