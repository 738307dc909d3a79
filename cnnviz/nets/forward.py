"""One forward pass through a functional Keras model, layer by layer, with a hook after each weighted layer.

Each layer's ``input``/``output`` tensors give the graph, so a caller can see, and change, each
conv/dense layer's output as it is computed: LSUV (:mod:`cnnviz.nets.lsuv`) rescales kernels in
forward order with it, :mod:`cnnviz.nets.measure` reads every pre-activation in one pass.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

WEIGHTED_TYPES = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def forward(model: keras.Model, images: np.ndarray, training: bool = False,
            visit: Callable | None = None):
    """Run ``images`` through ``model`` one layer at a time; return the model's output.

    ``visit(layer, inputs, output)`` is called after each conv/dense layer and returns the
    output to pass on (it may rescale the kernel and recompute). Works for functional
    models whose layers are each called once (the zoo's, plain nets with skips).
    """
    values = {id(model.inputs[0]): keras.ops.convert_to_tensor(np.asarray(images, np.float32))}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inbound = layer.input
        inputs = [values[id(t)] for t in inbound] if isinstance(inbound, (list, tuple)) \
            else values[id(inbound)]
        output = layer(inputs, training=training)
        if visit is not None and isinstance(layer, WEIGHTED_TYPES):
            output = visit(layer, inputs, output)
        values[id(layer.output)] = output
    return values[id(model.outputs[0])]
