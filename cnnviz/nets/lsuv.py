"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas, "All you need is a good init", 2016).

The recipe: draw orthonormal kernels (the ``lsuv`` initializer does that at build time),
then, for each conv/dense layer in forward order, push a batch of training images
through the network and divide the layer's kernel by the std of its output (its
pre-activation, before any norm or activation) until that variance is within ``tol``
of 1, or ``max_iterations`` rescalings were made. Later layers see the already rescaled
earlier ones, so the unit variance holds through the whole depth whatever the
activation.

With zero biases (the zoo's) one division is exact, because the output is linear in
the kernel; the loop (the paper's) matters for other models. Contract for callers:

* ``apply_lsuv(model, images)`` after the model is built and before anything reads its
  weights (an optimizer's slots, a compiled core's copy); ``images`` are float32
  (N, H, W, C) in the model's input shape, e.g. :func:`cnnviz.nets.zoo.lsuv_images` or the
  run's own step-0 batch; 100 or more keep the variance estimate within a few percent.
* batch norm runs in inference mode (``training=False``), as at init elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from cnnviz.errors import UserError
from cnnviz.nets.forward import forward

TOLERANCE = 0.1  # |Var − 1| the paper accepts
MAX_ITERATIONS = 10


@dataclass(frozen=True)
class LsuvStep:
    """What LSUV did to one layer: std before, after, how many rescalings, total factor."""

    layer: str
    std_before: float
    std_after: float
    iterations: int
    scale: float
    note: str = ""


def apply_lsuv(model: keras.Model, images: np.ndarray, tol: float = TOLERANCE,
               max_iterations: int = MAX_ITERATIONS, include_logits: bool = True) -> list[LsuvStep]:
    """Rescale every conv/dense kernel of ``model`` in place, in forward order, to unit output variance.

    Returns one :class:`LsuvStep` per layer. A layer whose output is constant on the batch
    (variance 0: nothing reaches it) or not finite is left as it is, and its step says so.
    ``include_logits=False`` leaves the last layer alone (the paper rescales every layer).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or len(images) < 2:
        raise UserError(f"LSUV needs a batch of at least 2 images shaped (N, H, W, C), got shape {images.shape}")
    last = model.layers[-1].name
    steps: list[LsuvStep] = []

    def rescale(layer, inputs, output):
        if not include_logits and layer.name == last:
            return output
        variance = float(np.var(keras.ops.convert_to_numpy(output).astype(np.float64)))
        before, scale, iterations, note = math.sqrt(variance) if variance >= 0 else math.nan, 1.0, 0, ""
        while abs(variance - 1.0) >= tol and iterations < max_iterations:
            if not math.isfinite(variance) or variance <= 0.0:
                note = "output constant or not finite on the batch: left unscaled"
                break
            factor = 1.0 / math.sqrt(variance)
            layer.kernel.assign(layer.kernel * factor)
            scale *= factor
            iterations += 1
            output = layer(inputs, training=False)
            variance = float(np.var(keras.ops.convert_to_numpy(output).astype(np.float64)))
        if iterations == max_iterations and abs(variance - 1.0) >= tol:
            note = f"stopped after {max_iterations} rescalings at variance {variance:.3g}"
        steps.append(LsuvStep(layer.name, before, math.sqrt(variance) if variance >= 0 else math.nan,
                              iterations, scale, note))
        return output

    forward(model, images, training=False, visit=rescale)
    return steps
