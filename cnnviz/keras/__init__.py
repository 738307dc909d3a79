"""cnnviz for your own training: a ``model.fit`` callback and the run folders it writes.

    from cnnviz.keras import ActivationMonitor

    model.fit(x, y, callbacks=[ActivationMonitor("runs/exp1", data=(x[:64], y[:64]))])

:class:`ActivationMonitor` (Keras 3, TensorFlow backend) records per-layer
pre-activation histograms, gradient norms, update sizes, logits and softmax on a
fixed probe batch into a run folder (format: :mod:`cnnviz.keras.run_folder`),
optionally as TensorBoard events too. :func:`read_run_folder` reads a folder back
as the same Snapshot objects a Run holds: ``python -m cnnviz report --run DIR``
and the dashboard's Runs page use it.
"""

from cnnviz.keras.monitor import ActivationMonitor
from cnnviz.keras.run_folder import MonitoredRun, find_run_folders, read_run_folder

__all__ = ["ActivationMonitor", "MonitoredRun", "find_run_folders", "read_run_folder"]
