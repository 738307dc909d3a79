"""TensorBoard events for the monitor's probes (``ActivationMonitor(tensorboard=True)``).

Tags, one per probed layer (``tensorboard --logdir`` on the run folder, or on the
folder above several runs):

* histograms ``pre_activation/<layer>``, ``gradients/<layer>``, ``logits``
* scalars ``pre_activation_std/<layer>``, ``dead_units/<layer>``, ``grad_norm/<layer>``,
  ``update_ratio/<layer>`` (‖Δw‖/‖w‖ of the step before the probe), ``probe/loss``,
  ``probe/accuracy``, ``probe/nonfinite``

The histograms are the ones cnnviz computed in-graph (the raw tensors never leave
the probe's graph), written in the exact event format ``tf.summary.histogram``
produces — a ``[bins, 3]`` tensor of (left edge, right edge, count) with the
histogram plugin's metadata — so TensorBoard's Histograms and Distributions tabs
show the same bins cnnviz shows. (``tf.summary.histogram`` on raw values would also
bin NaN/Inf into a garbage range; here non-finite values are counted apart, in
``probe/nonfinite``, and a histogram is written only over finite values.)
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from cnnviz.errors import UserError
from cnnviz.probing.histograms import Summary

try:  # tensorflow-cpu 2.21 does not bring tensorboard along (requirements.txt pins it)
    from tensorboard.plugins.histogram import metadata as _histogram_metadata
except ImportError:  # pragma: no cover - exercised only without the package
    _histogram_metadata = None


def histogram_tensor(summary: Summary) -> np.ndarray | None:
    """The ``[bins, 3]`` (left, right, count) array TensorBoard reads; None without finite edges."""
    edges = np.asarray(summary.hist_edges, dtype=np.float64)
    if not np.all(np.isfinite(edges)) or not summary.hist_counts:
        return None
    counts = np.asarray(summary.hist_counts, dtype=np.float64)
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


class TensorBoardWriter:
    """Writes one probe's summaries as TensorBoard events into ``folder``."""

    def __init__(self, folder):
        if _histogram_metadata is None:
            raise UserError("tensorboard=True needs the tensorboard package (pip install tensorboard); "
                            "tensorflow-cpu does not install it")
        self.writer = tf.summary.create_file_writer(str(folder))

    def _histogram(self, tag: str, summary: Summary, step: int, description: str) -> None:
        data = histogram_tensor(summary)
        if data is None:
            return
        metadata = _histogram_metadata.create_summary_metadata(display_name=tag, description=description)
        tf.summary.write(tag, tf.constant(data), step=step, metadata=metadata)

    def write(self, snapshot, gradients: dict[str, Summary]) -> None:
        """Everything of one probe (a :class:`~cnnviz.probing.snapshot.Snapshot`) at its step."""
        step = int(snapshot.step)
        with self.writer.as_default():
            for layer in snapshot.layers:
                pre = layer.pre_activation
                self._histogram(f"pre_activation/{layer.name}", pre, step,
                                f"{layer.name}'s pre-activation (before {layer.activation}) on the probe batch")
                _scalar(f"pre_activation_std/{layer.name}", pre.std, step)
                if layer.dead_units is not None and layer.activation == "relu":
                    _scalar(f"dead_units/{layer.name}", layer.dead_units, step)
                if layer.grad_norm is not None:
                    _scalar(f"grad_norm/{layer.name}", layer.grad_norm, step)
                if layer.update_ratio is not None:
                    _scalar(f"update_ratio/{layer.name}", layer.update_ratio, step)
                if layer.name in gradients:
                    self._histogram(f"gradients/{layer.name}", gradients[layer.name], step,
                                    f"gradient of the loss w.r.t. {layer.name}'s kernel on the probe batch")
            self._histogram("logits", snapshot.logits, step, "the model's logits (or output) on the probe batch")
            _scalar("probe/loss", snapshot.loss, step)
            _scalar("probe/accuracy", snapshot.accuracy, step)
            _scalar("probe/nonfinite", sum(l.pre_activation.nonfinite for l in snapshot.layers), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _scalar(tag: str, value, step: int) -> None:
    if value is not None and math.isfinite(value):
        tf.summary.scalar(tag, float(value), step=step)
