"""Every private Keras/TensorFlow internal cnnviz uses still exists and behaves (cnnviz/compat.py).

If one of these fails after an upgrade, the named feature silently stops working: fix
cnnviz/compat.py before anything else.
"""

import keras
import numpy as np
import tensorflow as tf

from cnnviz import compat


def small_model():
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def test_consumers_name_the_next_layers():
    """Keras Layer._outbound_nodes: how cnnviz finds the ReLU after Conv → BatchNorm."""
    model = small_model()
    assert [type(op).__name__ for op in compat.consumers(model.get_layer("conv"))] == ["BatchNormalization"]
    assert [op.name for op in compat.consumers(model.get_layer("bn"))] == ["relu"]


def test_functional_graph_runs_through_an_operation_hook():
    """Keras Functional._run_through_graph: how a user's model is re-traced with its pre-activations exposed."""
    model = small_model()
    seen = []

    def hook(op):
        def call(*args, **kwargs):
            seen.append(op.name)
            return op(*args, **kwargs)
        return call

    assert compat.is_functional(model)
    images = np.random.default_rng(0).random((2, 6, 6, 1)).astype("float32")
    out = compat.run_functional_graph(model, tf.constant(images), hook)
    np.testing.assert_allclose(np.asarray(out), np.asarray(model(images)), atol=1e-6)
    assert {"conv", "bn", "relu", "dense"} <= set(seen)


def test_tensorflow_gradient_registry_is_reachable():
    """tensorflow.python.framework.ops._gradient_registry: the playground's leak workaround needs it."""
    registry = compat.tensorflow_gradient_registry()
    assert isinstance(registry, dict) and "MatMul" in registry


def test_nested_function_graphs_are_listed():
    @tf.function
    def loop(x):
        return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), [0, x])[1]

    graph = loop.get_concrete_function(tf.TensorSpec([], tf.float32)).graph
    assert compat.nested_function_graphs(graph)  # the loop's cond and body


def test_a_parser_can_take_negative_coordinates_as_values():
    """`trajectory --start -1.5,2` and `basins --box -5,5,-5,5`: without the rule, argparse before
    Python 3.13 reads "-1.5,2" as an unknown option and exits."""
    import argparse

    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--start")
    parser.add_argument("--box")
    compat.accept_negative_number_values(parser)
    args = parser.parse_args(["--start", "-1.5,2", "--box", "-5,5,-5,5"])
    assert (args.start, args.box) == ("-1.5,2", "-5,5,-5,5")
