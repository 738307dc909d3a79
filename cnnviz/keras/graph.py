"""The monitor's compiled probe: one ``tf.function`` per monitor, traced once.

One call measures the user's model on the fixed probe batch: every pre-activation's
summary and histogram (:func:`cnnviz.probing.graph.tensor_summary`), the logits and softmax,
the gradient of the compiled loss with respect to every probed kernel (computed,
never applied), and each kernel's norm and its change over the last training step.

Why the probe leaves training untouched:

* The forward pass runs with ``training=True`` — BatchNormalization then normalises
  with the probe batch's own statistics, exactly what the training step sees (with
  ``training=False`` a young network's BN uses moving statistics it has not learned
  yet and the probe would show a collapse that training never meets). That pass
  *assigns* BN's moving mean/variance and advances dropout's seed generator, so
  every non-trainable variable of the model is read first and written back after,
  in the same graph: the next training step starts from exactly the state it would
  have had without the monitor.
* The loss is the model's compiled loss function called directly, not
  ``model.compute_loss`` (which would also update the model's loss trackers and so
  the ``loss`` that ``fit`` logs). Regularisation terms are left out of it.
* The optimizer is never called; the gradients stay in the graph.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from cnnviz.keras.probe import MonitorProbe
from cnnviz.probing.graph import dead_unit_fraction, softmax_summary, tensor_summary


def compiled_loss(model: keras.Model):
    """The model's loss as ``f(y, y_pred) -> scalar``, or None (not compiled with one loss)."""
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None
    try:
        function = keras.losses.get(loss)
    except (ValueError, TypeError):
        return None
    return None if function is None else function


class ProbeFunction:
    """Holds the fixed probe batch and the compiled function that measures the model on it."""

    def __init__(self, model: keras.Model, probe: MonitorProbe, x: np.ndarray, y: np.ndarray,
                 labels: np.ndarray | None, bins: int, gradient_histograms: bool):
        self.model, self.probe, self.bins = model, probe, bins
        self.gradient_histograms = gradient_histograms
        self.loss_fn = compiled_loss(model)
        self.kernels = [p.kernel for p in probe.points]
        trainable = {id(v) for v in model.trainable_variables}
        self.kernel_trainable = [id(k) in trainable for k in self.kernels]
        self.variables = list(model.trainable_variables)
        self.state = list(model.non_trainable_variables)
        # The weights before the latest training step (remember() copies them): ‖Δw‖ of that step,
        # and the weights that produced a non-finite loss, to find the layer where it started.
        self.previous = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.variables]
        self.previous_kernels = [self._previous_of(k) for k in self.kernels]
        self.x = tf.constant(x)
        self.y = tf.constant(y)
        self.labels = None if labels is None else tf.constant(labels, tf.int32)
        self._probe = tf.function(self._probe_graph, reduce_retracing=True)
        self._remember = tf.function(self._remember_graph)

    def _previous_of(self, kernel):
        for variable, copy in zip(self.variables, self.previous):
            if variable is kernel:
                return copy
        return None

    # ------------------------------------------------------------------ graph code
    def _remember_graph(self):
        for variable, copy in zip(self.variables, self.previous):
            copy.assign(variable)
        return tf.constant(True)

    def _probe_graph(self):
        saved_state = [tf.identity(v) for v in self.state]
        trainable_kernels = [k for k, t in zip(self.kernels, self.kernel_trainable) if t]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([k.value for k in trainable_kernels])
            outputs = self.probe.graph(self.x, training=True)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            loss = None
            if self.loss_fn is not None:
                loss = tf.reduce_mean(tf.cast(self.loss_fn(self.y, outputs[-1]), tf.float32))
        for variable, value in zip(self.state, saved_state):  # undo BN moving statistics, seed steps
            variable.assign(value)
        n = len(self.kernels)
        pre = outputs[:n]
        out = {"layers": [], "input": self._input_moments()}
        grads = tape.gradient(loss, [k.value for k in trainable_kernels]) if loss is not None else []
        grads = iter(grads)
        for tensor, kernel, trainable, previous in zip(pre, self.kernels, self.kernel_trainable,
                                                        self.previous_kernels):
            stats = tensor_summary(tensor, self.bins)
            stats["dead_units"] = dead_unit_fraction(tensor)
            weights = tf.cast(kernel.value, tf.float32)
            stats["weight_norm"] = tf.norm(weights)
            stats["weight_std"] = tf.math.reduce_std(weights)
            if previous is not None:
                stats["update_norm"] = tf.norm(weights - tf.cast(previous, tf.float32))
            if trainable and loss is not None:
                grad = next(grads)
                if grad is not None:
                    grad = tf.cast(tf.convert_to_tensor(grad), tf.float32)
                    stats["grad_norm"] = tf.norm(grad)
                    if self.gradient_histograms:
                        stats["grad"] = tensor_summary(grad, self.bins)
            out["layers"].append(stats)
        if loss is not None:
            out["model_loss"] = loss
        if self.probe.is_classifier:
            logits = outputs[n]
            out["logits"] = tensor_summary(logits, self.bins)
            if self.labels is not None:
                out["softmax"] = softmax_summary(logits, self.labels, self.probe.classes)
        else:
            out["logits"] = tensor_summary(outputs[-1], self.bins)  # the regression output itself
        return out

    def _input_moments(self):
        pixels = tf.cast(self.x, tf.float32)
        return {"mean": tf.reduce_mean(pixels), "mean_sq": tf.reduce_mean(tf.square(pixels))}

    # ------------------------------------------------------------------ host side
    def remember(self) -> None:
        """Copy the current weights: the next probe's update size is measured against them."""
        self._remember()

    def run(self) -> dict:
        """Evaluate the probe; nested dict of numpy values."""
        return tf.nest.map_structure(lambda t: t.numpy(), self._probe())

    def swap_in_previous(self) -> list[np.ndarray]:
        """Load the remembered weights into the model; returns the current ones for :meth:`restore`."""
        current = [v.numpy() for v in self.variables]
        for variable, copy in zip(self.variables, self.previous):
            variable.assign(copy)
        return current

    def restore(self, values: list[np.ndarray]) -> None:
        for variable, value in zip(self.variables, values):
            variable.assign(value)
