"""ActivationMonitor: a ``model.fit`` callback that looks inside the user's own model as it trains.

    from cnnviz.keras import ActivationMonitor

    monitor = ActivationMonitor("runs/exp1", data=(x_train[:64], y_train[:64]), every=10)
    model.fit(x_train, y_train, epochs=5, callbacks=[monitor])

Every ``every`` optimizer steps it runs one compiled probe (:mod:`cnnviz.keras.graph`)
on the fixed probe batch ``data`` and appends what a cnnviz Run records to the run
folder (:mod:`cnnviz.keras.run_folder`): per-layer pre-activation summaries and
histograms (the linear part z of layers with a fused activation is recovered),
gradient norms on the probe batch (computed, never applied), ‖Δw‖/‖w‖ of the step
just taken, logits and softmax. A fixed batch makes probes comparable: what changes
between them is the weights, not the data.

Why ``data`` is required: Keras callbacks never see the training batches, and the
only way to reach them — replacing the model's traced train step for the duration
of ``fit`` — would change the user's compiled training function. The monitor does
not do that; without ``data`` it raises a UserError that says what to pass.

The monitor never changes the user's model or training: see the graph module for
why a probe leaves BatchNorm statistics, dropout seeds, metrics and the optimizer
as they were (losses with and without the monitor are identical, tested). Every
hook catches its own failures: a monitor problem prints one warning and switches
the monitor off; ``fit`` goes on. The only deliberate effect on training is
``stop_on_nan=True``.

Costs besides the probe: one copy of the trainable weights (kept to measure the
update of the step before a probe, and to find where a NaN started) refreshed
before every step, and one fsynced line per probe. With ``steps_per_execution`` > 1
Keras calls the hooks once per execution: probes then land on the first step at or
past each multiple of ``every``, and ‖Δw‖ spans the whole execution.

At each epoch end the findings (:mod:`cnnviz.diagnosis`) are printed one per line.
At the first non-finite training loss the monitor names the step (epoch, batch)
and the layer where NaN/Inf first appears on the probe batch with the weights that
produced it, and with ``stop_on_nan=True`` stops training (like
``keras.callbacks.TerminateOnNaN``, but saying where).
"""

from __future__ import annotations

import math
import sys
import time
import warnings

import keras
import numpy as np

from cnnviz import __version__
from cnnviz.errors import UserError
from cnnviz.keras.graph import ProbeFunction, compiled_loss
from cnnviz.keras.probe import build_monitor_probe, check_model
from cnnviz.keras.run_folder import MonitoredRun, RunFolderWriter, snapshot_record
from cnnviz.probing.histograms import Summary
from cnnviz.probing.snapshot import LayerSnapshot, Snapshot

MAX_PROBE_EXAMPLES = 4096  # a probe batch runs forward and backward each probe: keep it batch-sized


def probe_batch(data) -> tuple[np.ndarray, np.ndarray]:
    """``data`` as two arrays with the same number of examples; UserError otherwise."""
    if data is None:
        raise UserError("ActivationMonitor needs data=(x, y): a fixed probe batch, e.g. data=(x_train[:64], "
                        "y_train[:64]). Keras callbacks never see the training batches, and probing the same "
                        "examples every time makes the probes comparable")
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise UserError("data must be an (x, y) pair of arrays, e.g. data=(x_train[:64], y_train[:64]); "
                        "from a tf.data pipeline take one batch: data=next(iter(dataset))")
    if isinstance(data[0], (list, tuple, dict)):
        raise UserError(f"data's inputs are a {type(data[0]).__name__} of {len(data[0])}; the monitor probes models "
                        "with one input, so x must be one array")
    try:
        x, y = np.asarray(data[0]), np.asarray(data[1])
    except Exception:
        raise UserError("data must be an (x, y) pair of arrays (a model with several inputs is not supported)") from None
    if x.dtype == object or y.dtype == object or x.ndim == 0 or y.ndim == 0:
        raise UserError("data must be an (x, y) pair of arrays of numbers (a model with several inputs is not "
                        "supported)")
    if len(x) == 0 or len(x) != len(y):
        raise UserError(f"data has {len(x)} inputs and {len(y)} targets; give the same, non-zero number of each")
    if len(x) > MAX_PROBE_EXAMPLES:
        raise UserError(f"data holds {len(x):,} examples; the probe runs forward and backward on all of them "
                        f"every probe: take a batch (32–256 examples, at most {MAX_PROBE_EXAMPLES})")
    return x, y


def class_labels(y: np.ndarray, classes: int) -> np.ndarray | None:
    """Integer labels from sparse or one-hot targets; None if ``y`` holds no class labels."""
    if y.ndim == 2 and y.shape[1] == classes:
        return np.argmax(y, axis=1).astype(np.int32)
    flat = y.reshape(len(y), -1)
    if flat.shape[1] != 1:
        return None
    values = flat[:, 0]
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        return None
    if values.min() < 0 or values.max() >= classes:
        return None
    return values.astype(np.int32)


class ActivationMonitor(keras.callbacks.Callback):
    """Record pre-activations, gradients and update sizes of ``model.fit`` into a run folder.

    ``log_dir``: the run folder (created; UserError if it is a file or not writable).
    ``data``: ``(x, y)``, the probe batch (required, see module docs). ``every``: probe
    every this many optimizer steps (also once when fit starts). ``bins``: histogram
    bins. ``layers``: names of the layers to probe (default: every Conv/Dense layer).
    ``tensorboard``: also write TensorBoard events (``pre_activation/<layer>`` ...) into
    ``log_dir``. ``stop_on_nan``: stop training at the first NaN/Inf. ``verbose``: 0
    prints nothing, 1 prints findings at epoch ends and the NaN report.
    """

    def __init__(self, log_dir, data=None, every: int = 10, bins: int = 50, layers=None, tensorboard: bool = False,
                 stop_on_nan: bool = False, verbose: int = 1):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise UserError(f"every must be a whole number of steps ≥ 1, got {every!r}")
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 5 <= bins <= 512:
            raise UserError(f"bins must be a whole number between 5 and 512, got {bins!r}")
        self.x, self.y = probe_batch(data)
        self.writer = RunFolderWriter(log_dir)
        self.log_dir = self.writer.folder
        self.every, self.bins, self.layers = int(every), int(bins), layers
        self.tensorboard, self.stop_on_nan, self.verbose = bool(tensorboard), bool(stop_on_nan), int(verbose)
        self.active = True
        self.run: MonitoredRun | None = None  # what this monitor recorded, in memory (same objects as the folder's)
        self.first_nonfinite: dict | None = None
        self._probe = None
        self._probe_model = None
        self._tensorboard_writer = None
        self._epoch = 0
        self._step = 0
        self._probed_step = 0  # the step of the latest probe

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs=None):
        self.active = True  # each fit gets a fresh try, even after a problem switched the monitor off
        self._guarded(self._start)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.active:
            self._guarded(self._probe.remember)

    def on_train_batch_end(self, batch, logs=None):
        if self.active:
            self._guarded(self._after_step, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.active:
            self._guarded(self._epoch_end, epoch, logs or {})

    def on_train_end(self, logs=None):
        if self.active:
            self._guarded(self._end)

    # ------------------------------------------------------------------ what they do
    def _start(self) -> None:
        model = self.model
        check_model(model)
        if self._probe is None or self._probe_model is not model:
            probe = build_monitor_probe(model, self.x[:8], self.layers)
            expected = tuple(model.inputs[0].shape[1:])
            if len(expected) != self.x.ndim - 1 or any(e is not None and e != s for e, s in
                                                       zip(expected, self.x.shape[1:])):
                raise UserError(f"the probe inputs have shape {self.x.shape[1:]} but {model.name} takes {expected}")
            x = self.x.astype(model.inputs[0].dtype) if np.issubdtype(self.x.dtype, np.number) else self.x
            labels = class_labels(self.y, probe.classes) if probe.is_classifier else None
            self._probe = ProbeFunction(model, probe, x, self.y, labels, self.bins, self.tensorboard)
            self._probe_model = model
            self._labels = labels
            self.writer.start(self._meta(probe))
            self.run = MonitoredRun(self.log_dir, self._meta(probe))
            if self.tensorboard and self._tensorboard_writer is None:
                from cnnviz.keras.tensorboard import TensorBoardWriter

                self._tensorboard_writer = TensorBoardWriter(self.log_dir)
        self._step = self._iterations()
        self.writer.append_event("fit_start", step=self._step)
        self._probe.remember()
        self._record(self._step, batch=None, trained=self._step > 0, with_update=False)

    def _after_step(self, batch: int, logs: dict) -> None:
        self._step = self._iterations()
        loss = logs.get("loss")
        if self.first_nonfinite is None and loss is not None and not _finite(loss):
            self._report_nonfinite_loss(batch, float(loss))
        elif self._step // self.every > self._probed_step // self.every:  # crossed a multiple of `every`
            snapshot = self._record(self._step, batch, trained=True, with_update=True)
            if self.first_nonfinite is None and _has_nonfinite_values(snapshot):
                self._report_nonfinite_probe(batch, snapshot)

    def _epoch_end(self, epoch: int, logs: dict) -> None:
        findings = self.run.findings() if self.run is not None else []
        self.writer.append_event("epoch_end", step=self._step, epoch=epoch,
                                 logs={k: float(v) for k, v in logs.items() if isinstance(v, (int, float))},
                                 findings=[f.to_dict() for f in findings])
        if not self.verbose:
            return
        if not findings:
            self._say(f"epoch {epoch + 1}: no problems found (step {self._step})")
        for f in findings:
            where = f" {f.layer}" if f.layer else ""
            self._say(f"epoch {epoch + 1}: {f.severity} {f.kind}{where} (step {f.step}): {f.message}")

    def _end(self) -> None:
        self.writer.append_event("fit_end", step=self._iterations())
        if self._tensorboard_writer is not None:
            self._tensorboard_writer.writer.flush()

    # ------------------------------------------------------------------ probing
    def _record(self, step: int, batch: int | None, trained: bool, with_update: bool,
                applied: bool = True) -> Snapshot:
        out = self._probe.run()
        self._probed_step = step
        snapshot, gradients = self._snapshot(out, step, trained, with_update, applied)
        extra = {"epoch": self._epoch, "batch": batch, "time": time.time(),
                 "model_loss": float(out["model_loss"]) if "model_loss" in out else None,
                 "learning_rate": self._learning_rate()}
        if self._labels is not None:
            extra["batch_labels"] = self._labels.tolist()
        record = snapshot_record(snapshot, **extra)
        self.writer.append_snapshot(record)
        self.run.add(snapshot, record)
        if self._tensorboard_writer is not None:
            self._tensorboard_writer.write(snapshot, gradients)
        return snapshot

    def _snapshot(self, out: dict, step: int, trained: bool, with_update: bool, applied: bool):
        probe = self._probe.probe
        layers, gradients = [], {}
        for point, stats in zip(probe.points, out["layers"]):
            grad = float(stats["grad_norm"]) if "grad_norm" in stats else None
            update = float(stats["update_norm"]) if with_update and "update_norm" in stats else None
            layers.append(LayerSnapshot(point.name, point.type, point.activation, point.fan_in,
                                        Summary.from_tensors(stats), float(stats["weight_norm"]),
                                        float(stats["weight_std"]), grad, update, float(stats["dead_units"])))
            if "grad" in stats:
                gradients[point.name] = Summary.from_tensors(stats["grad"])
        model_loss = float(out["model_loss"]) if "model_loss" in out else math.nan
        soft = out.get("softmax")
        if soft is not None:
            softmax = {"max_prob_mean": float(soft["max_prob_mean"]), "entropy_mean": float(soft["entropy_mean"]),
                       "uniform_entropy": math.log(probe.classes),
                       "predicted_counts": [int(c) for c in soft["predicted_counts"]],
                       "max_prob_hist": [int(c) for c in soft["max_prob_hist"]]}
            loss, accuracy = float(soft["loss"]), float(soft["accuracy"])
        else:
            reason = probe.note if not probe.is_classifier else "the probe targets are not class labels"
            softmax = {"applies": False, "note": reason}
            loss, accuracy = model_loss, math.nan
        mean, mean_sq = float(out["input"]["mean"]), float(out["input"]["mean_sq"])
        labels = self._labels if self._labels is not None else np.zeros(0, int)
        snapshot = Snapshot(step, loss, accuracy, layers, Summary.from_tensors(out["logits"]), softmax,
                            batch_labels=labels, trained=trained, input_mean=mean,
                            input_rms=math.sqrt(max(mean_sq, 0.0)), applied=applied)
        return snapshot, gradients

    # ------------------------------------------------------------------ NaN / Inf
    def _report_nonfinite_loss(self, batch: int, loss: float) -> None:
        """The training loss of this step is NaN/Inf: probe the weights that produced it."""
        current = self._probe.swap_in_previous()  # the weights this step's forward pass used
        try:
            snapshot = self._record(self._step, batch, trained=True, with_update=False, applied=False)
        finally:
            self._probe.restore(current)
        layer = _first_layer_with_nonfinite_values(snapshot)
        where = f"epoch {self._epoch + 1}, batch {batch + 1}"
        if layer is not None:
            detail = f"on the probe batch, NaN/Inf first appears in {layer}'s pre-activation"
        else:
            layer = self._first_nonfinite_weights()
            detail = ("the probe batch stays finite with the weights before this step, so it came from this "
                      "training batch (its data or its gradients)")
            if layer is not None:
                detail += f"; the update then made {layer}'s weights NaN/Inf"
        self._stop_for(f"step {self._step} ({where}): the training loss is {loss}; {detail}", layer, batch)

    def _report_nonfinite_probe(self, batch: int, snapshot: Snapshot) -> None:
        layer = _first_layer_with_nonfinite_values(snapshot)
        where = f"epoch {self._epoch + 1}, batch {batch + 1}"
        text = f"in {layer}'s pre-activation" if layer else "in the logits, gradients or weights"
        self._stop_for(f"step {self._step} ({where}): NaN/Inf on the probe batch, first {text}", layer, batch)

    def _stop_for(self, text: str, layer: str | None, batch: int) -> None:
        stopped = self.stop_on_nan
        if stopped:
            self.model.stop_training = True
            text += "; training stopped (stop_on_nan=True)"
        self.first_nonfinite = {"step": self._step, "epoch": self._epoch, "batch": batch, "layer": layer,
                                "message": text}
        self.writer.append_event("non_finite", step=self._step, epoch=self._epoch, batch=batch, layer=layer,
                                 message=text, stopped=stopped)
        if self.run is not None:
            self.run.events.append({"event": "non_finite", "step": self._step, "layer": layer, "message": text,
                                    "stopped": stopped})
            if stopped:
                from cnnviz.keras.run_folder import MonitorHalt

                self.run.halted = MonitorHalt(self._step, layer, text)
        if self.verbose:
            self._say(text)

    def _first_nonfinite_weights(self) -> str | None:
        for point in self._probe.probe.points:
            if not np.all(np.isfinite(keras.ops.convert_to_numpy(point.kernel))):
                return point.name
        return None

    # ------------------------------------------------------------------ helpers
    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        return int(keras.ops.convert_to_numpy(optimizer.iterations)) if optimizer is not None else self._step + 1

    def _learning_rate(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except Exception:  # a custom optimizer without a readable rate: the record just lacks it
            return None

    def _meta(self, probe) -> dict:
        model, optimizer = self.model, getattr(self.model, "optimizer", None)
        loss = getattr(model, "loss", None)
        return {
            "created": time.time(), "cnnviz": __version__, "keras": keras.__version__,
            "model": {"name": model.name, "input_shape": list(model.inputs[0].shape[1:]),
                      "output_shape": list(model.outputs[0].shape[1:]), "output_kind": probe.output_kind,
                      "classes": probe.classes, "note": probe.note, "params": int(model.count_params())},
            "layers": [p.to_dict() for p in probe.points],
            "unprobed": [u.to_dict() for u in probe.unprobed],
            "monitor": {"every": self.every, "bins": self.bins, "probe_examples": int(len(self.x)),
                        "tensorboard": self.tensorboard, "stop_on_nan": self.stop_on_nan,
                        "gradients": compiled_loss(model) is not None},
            "optimizer": {"name": type(optimizer).__name__.lower() if optimizer is not None else None,
                          "learning_rate": self._learning_rate()},
            "loss": getattr(loss, "name", None) or getattr(loss, "__name__", None) or (loss if isinstance(loss, str)
                                                                                       else None),
            "between": probe.between,
        }

    def _guarded(self, function, *args) -> None:
        """Run a hook; a failure switches the monitor off with one warning, never stops fit."""
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001 - the user's training must outlive any monitor problem
            self.active = False
            reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            message = f"cnnviz ActivationMonitor is off for the rest of this fit: {reason}"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            try:
                self.writer.append_event("monitor_off", step=self._step, message=message)
            except Exception:  # noqa: BLE001 - e.g. the disk that caused the failure
                pass

    def _say(self, text: str) -> None:
        # Keras's progress bar (fit verbose=1) leaves its line open: start ours on a fresh one.
        fresh = "\n" if (self.params or {}).get("verbose") == 1 else ""
        print(f"{fresh}cnnviz: {text}", file=sys.stdout, flush=True)


def _first_layer_with_nonfinite_values(snapshot: Snapshot) -> str | None:
    """The earliest probed layer whose pre-activation holds NaN/Inf values.

    Counted values, not ``Snapshot.finite``: a huge but finite layer can have a
    summary (its std) that overflows, and it is not where the NaN appeared.
    """
    return next((l.name for l in snapshot.layers if l.pre_activation.nonfinite > 0), None)


def _has_nonfinite_values(snapshot: Snapshot) -> bool:
    return _first_layer_with_nonfinite_values(snapshot) is not None or snapshot.logits.nonfinite > 0


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True
