"""A Run owns one model, its optimizer, its data order and its history.

``Run.step()`` executes one compiled training step. On probed steps (every
``probe_every``-th) the same compiled function also returns per-layer pre-activation
summaries and histograms, gradient norms, weight norms and update sizes; the other
steps run a plain step. Nothing touches Keras global state: seeds go into the
initializers, dropout layers and the Run's own batch order.

A step whose loss or gradients are not finite is *not* applied; if an update turns
weights non-finite they are restored from the pre-step copy. Either way the run
halts with :attr:`Run.halted` explaining the step and the first bad layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from cnnviz import compiled_cores, zoo
from cnnviz.config import RunConfig
from cnnviz.data import Dataset, load_dataset
from cnnviz.errors import UserError
from cnnviz.optimizers import OptimizerSpec
from cnnviz.probes import ProbedModel
from cnnviz.snapshot import LayerSnapshot, Snapshot
from cnnviz.stats import Summary, softmax_summary, tensor_summary

RANGE_MARGIN = 0.25  # fixed histogram range = first probe's [min, max] widened by 25% of its span


@dataclass
class Halt:
    """Why a run stopped: the step that went non-finite and where it showed first."""

    step: int
    layer: str | None
    reason: str

    def message(self) -> str:
        where = f" first in layer {self.layer}" if self.layer else ""
        return f"step {self.step}: {self.reason}{where}; the weights of step {self.step - 1} were kept"


class Run:
    """One training run: model + optimizer + data order + history. See module docs."""

    def __init__(self, config: RunConfig, dataset: Dataset | None = None, model=None, probed: ProbedModel | None = None):
        self.config = config
        shape, default_classes = zoo.resolve_shape(config.arch, config.input_shape, config.classes) if model is None \
            else (tuple(int(v) for v in model.inputs[0].shape[1:]), int(model.outputs[0].shape[-1]))
        if dataset is None:
            dataset = load_dataset(config.dataset, shape, config.classes or default_classes)
        self.dataset = dataset.for_shape(shape)
        self.classes = config.classes or (int(model.outputs[0].shape[-1]) if model is not None else dataset.classes)
        if self.classes < dataset.classes:
            raise UserError(f"the model has {self.classes} outputs but {dataset.name} has {dataset.classes} classes")
        if config.batch_size > dataset.size("train"):
            raise UserError(f"batch size {config.batch_size} is larger than the {dataset.size('train')} training images of {dataset.name}")
        fresh_model = model if model is not None else zoo.build(config.arch, config.init, shape, self.classes, config.seed)
        # Sets model, probed (a user's model brings its own: cnnviz.user_models), optimizer, _ranges, _kernels and
        # the compiled functions, reusing an idle core's traced graphs when one fits: a fresh trace per Run
        # leaks TensorFlow memory (see cnnviz.compiled_cores).
        compiled_cores.attach(self, fresh_model, OptimizerSpec(config.optimizer, config.lr), probed,
                              pooled=model is None)
        self.step_count = 0
        self.halted: Halt | None = None
        self.snapshots: list[Snapshot] = []
        self.last_loss: float | None = None
        self.losses: list[float] = []  # training loss of every applied step (losses[k - 1] is step k's)
        self._ranges_set = False

    # ------------------------------------------------------------------ data
    @property
    def batches_per_epoch(self) -> int:
        return self.dataset.size("train") // self.config.batch_size

    def batch_indices(self, step: int) -> np.ndarray:
        """Training-set indices of the batch used by step ``step`` (1-based; 0 = init batch).

        A pure function of (seed, step): resuming needs only the step count.
        """
        index = max(step - 1, 0)
        epoch, position = divmod(index, self.batches_per_epoch)
        order = np.random.default_rng([self.config.seed, epoch]).permutation(self.dataset.size("train"))
        start = position * self.config.batch_size
        return order[start:start + self.config.batch_size]

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.batch_indices(step)
        return self.dataset.images("train", idx), self.dataset.labels("train", idx)

    # ----------------------------------------------------------- graph code
    def _summaries(self, images, pre, logits, labels, fixed_range: bool):
        bins = self.config.bins
        layer_stats = [tensor_summary(t, bins, self._ranges[i] if fixed_range else None) for i, t in enumerate(pre)]
        for stats, tensor in zip(layer_stats, pre):
            stats["dead_units"] = _dead_unit_fraction(tensor)
        logit_stats = tensor_summary(logits, bins, self._ranges[-1] if fixed_range else None)
        weight_stats = [{"weight_norm": tf.norm(k), "weight_std": tf.math.reduce_std(k)} for k in self._kernels]
        pixels = tf.cast(images, tf.float32)
        inputs = {"mean": tf.reduce_mean(pixels), "mean_sq": tf.reduce_mean(tf.square(pixels))}
        return layer_stats, logit_stats, weight_stats, softmax_summary(logits, labels, self.classes), inputs

    def _forward_graph(self, images, labels, fixed_range: bool):
        pre, logits = self.probed(images, training=False)
        layers, logit_stats, weights, soft, inputs = self._summaries(images, pre, logits, labels, fixed_range)
        return {"layers": layers, "logits": logit_stats, "weights": weights, "softmax": soft, "batch_logits": logits,
                "input": inputs}

    def _step_graph(self, images, labels, probe: bool):
        variables = self.model.trainable_variables
        before = [tf.identity(v) for v in variables]
        with tf.GradientTape() as tape:
            pre, logits = self.probed(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32)))
        grads = tape.gradient(loss, variables)
        # One pass per tensor: a sum is finite only if every element is (a sum that overflows
        # float32 also counts as non-finite, which such a gradient deserves).
        each_grad_finite = tf.stack([tf.math.is_finite(tf.reduce_sum(g)) for g in grads])
        grads_finite = tf.reduce_all(each_grad_finite)
        ok = tf.logical_and(tf.math.is_finite(loss), grads_finite)

        def apply():
            self.optimizer.apply(grads, variables)
            return tf.constant(True)

        applied = tf.cond(ok, apply, lambda: tf.constant(False))
        weights_finite = tf.stack([tf.math.is_finite(tf.reduce_sum(v)) for v in variables])
        restore = tf.logical_not(tf.reduce_all(weights_finite))

        def undo():
            for v, old in zip(variables, before):
                v.assign(old)
            return tf.constant(True)

        restored = tf.cond(restore, undo, lambda: tf.constant(False))
        out = {"loss": loss, "applied": applied, "restored": restored, "weights_finite": weights_finite,
               "grads_finite": grads_finite, "each_grad_finite": each_grad_finite}
        if probe:
            index = {id(v): i for i, v in enumerate(variables)}
            layers, logit_stats, weights, soft, inputs = self._summaries(images, pre, logits, labels, fixed_range=True)
            for k, kernel in enumerate(self._kernels):
                i = index.get(id(kernel))
                if i is None:  # a frozen layer of a user's model: no gradient, no update
                    continue
                weights[k]["grad_norm"] = tf.norm(grads[i])
                weights[k]["update_norm"] = tf.norm(variables[i] - before[i])
                weights[k]["weight_norm"] = tf.norm(before[i])
                weights[k]["weight_std"] = tf.math.reduce_std(before[i])
            out.update(layers=layers, logits=logit_stats, weights=weights, softmax=soft, batch_logits=logits,
                       input=inputs)
        return out

    def _eval_graph(self, images, labels):
        _, logits = self.probed(images, training=False)
        return logits

    # ------------------------------------------------------------- public API
    def snapshot_at_init(self) -> Snapshot:
        """Probe the untrained network on the first batch (step 0); fixes histogram ranges."""
        images, labels = self.batch(0)
        if self._compiled_forward.experimental_get_tracing_count() == 0:
            # A new core: tracing the probe graph for this one call costs several times running it
            # eagerly (bench/bench_time_to_first_chart.py --analyse), and the first chart waits on it.
            out = self._forward_graph(tf.constant(images), tf.constant(labels), fixed_range=False)
        else:
            out = self._compiled_forward(images, labels, fixed_range=False)
        snapshot = self._to_snapshot(out, step=0, labels=labels, trained=False)
        self._fix_ranges(snapshot)
        return snapshot

    def initial_snapshot(self) -> Snapshot:
        """The recorded step-0 snapshot, probing and recording it first if the run has none.

        On a run that has trained without a step-0 record (snapshots cleared by the
        caller) the earliest recorded snapshot is returned instead.
        """
        if self.snapshots and (self.snapshots[0].step == 0 or self.step_count > 0):
            return self.snapshots[0]
        if self.step_count > 0:
            raise UserError("this run has no recorded snapshots; its initial state is gone")
        self.snapshots.insert(0, self.snapshot_at_init())
        return self.snapshots[0]

    def step(self, probe: bool | None = None) -> Snapshot | None:
        """Run one training step; return its Snapshot if probed, else None.

        ``probe=None`` follows ``config.probe_every``. Raises UserError if the run halted.
        """
        if self.halted is not None:
            raise UserError(f"this run stopped at {self.halted.message()}; reset it or lower the learning rate")
        if self.step_count == 0 and not self.snapshots:
            self.initial_snapshot()  # records step 0 and fixes the histogram ranges
        elif not self._ranges_set:
            self.snapshot_at_init()  # fixes the histogram ranges
        step = self.step_count + 1
        if probe is None:
            probe = step % self.config.probe_every == 0 or step == 1
        images, labels = self.batch(step)
        out = self._compiled_step(images, labels, probe=bool(probe))
        loss = float(out["loss"])
        snapshot = self._to_snapshot(out, step, labels) if probe else None
        if not bool(out["applied"]) or bool(out["restored"]):
            self.halted = self._diagnose_halt(out, step, images, labels, snapshot)
            if snapshot is not None:
                snapshot.applied = False
                self.snapshots.append(snapshot)  # shows where the NaN appeared; weights were kept
            return snapshot
        self.step_count = step
        self.last_loss = loss
        self.losses.append(loss)
        if snapshot is not None:
            self.snapshots.append(snapshot)
        return snapshot

    def train(self, steps: int, callback=None, probe_last: bool = False) -> Snapshot | None:
        """Run up to ``steps`` steps (stops early if the run halts); return the last snapshot.

        ``callback(run, snapshot_or_None)`` is called after every step (progress bars,
        live pages). ``probe_last=True`` probes the final step whatever the interval, so
        the returned snapshot describes the weights the caller ends up with.
        """
        last = None
        steps = int(steps)
        for done in range(steps):
            if self.halted is not None:
                break
            snapshot = self.step(probe=True if probe_last and done == steps - 1 else None)
            last = snapshot or last
            if callback is not None:
                callback(self, snapshot)
        return last

    def evaluate(self, split: str = "test", limit: int | None = None, batch_size: int = 500) -> dict:
        """Loss, accuracy and logits on a whole split (or its first ``limit`` images)."""
        n = self.dataset.size(split) if limit is None else min(limit, self.dataset.size(split))
        all_logits, all_labels = [], []
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            all_logits.append(self._compiled_eval(self.dataset.images(split, idx), self.dataset.labels(split, idx)).numpy())
            all_labels.append(self.dataset.labels(split, idx))
        logits, labels = np.concatenate(all_logits), np.concatenate(all_labels)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return {"loss": float(-log_probs[np.arange(n), labels].mean()),
                "accuracy": float((logits.argmax(axis=1) == labels).mean()),
                "logits": logits, "labels": labels, "examples": n}

    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    def history(self) -> pd.DataFrame:
        """Tidy history: one row per probed layer per probed step (see :mod:`cnnviz.history`)."""
        from cnnviz.history import snapshots_to_frame

        return snapshots_to_frame(self.snapshots)

    def save(self, directory) -> None:
        """Write a checkpoint (model, optimizer state, config, step, history) to ``directory``."""
        from cnnviz.checkpoint import save_run

        save_run(self, directory)

    @classmethod
    def load(cls, directory, dataset: Dataset | None = None) -> Run:
        """The Run saved in ``directory``, ready to continue exactly where it stopped.

        Raises UserError if the directory is missing or is not a readable checkpoint.
        """
        from cnnviz.checkpoint import load_run

        return load_run(directory, dataset)

    # -------------------------------------------------------------- helpers
    def _fix_ranges(self, snapshot: Snapshot) -> None:
        ranges = []
        for summary in [l.pre_activation for l in snapshot.layers] + [snapshot.logits]:
            lo, hi = summary.min, summary.max
            if not (math.isfinite(lo) and math.isfinite(hi)):
                lo, hi = -1.0, 1.0
            span = max(hi - lo, abs(hi), abs(lo), 1e-6)
            ranges.append([lo - RANGE_MARGIN * span, hi + RANGE_MARGIN * span])
        self._ranges.assign(np.asarray(ranges, np.float32))
        self._ranges_set = True

    def _to_snapshot(self, out: dict, step: int, labels: np.ndarray, trained: bool = True) -> Snapshot:
        layers = []
        for point, stats, weights in zip(self.probed.points, out["layers"], out["weights"]):
            w = {k: float(v) for k, v in weights.items()}
            layers.append(LayerSnapshot(point.name, point.type, point.activation, point.fan_in,
                                        Summary.from_tensors(stats), w["weight_norm"], w["weight_std"],
                                        w.get("grad_norm"), w.get("update_norm"), float(stats["dead_units"])))
        soft = out["softmax"]
        softmax = {"max_prob_mean": float(soft["max_prob_mean"]), "entropy_mean": float(soft["entropy_mean"]),
                   "uniform_entropy": math.log(self.classes),
                   "predicted_counts": [int(c) for c in soft["predicted_counts"].numpy()],
                   "max_prob_hist": [int(c) for c in soft["max_prob_hist"].numpy()]}
        pixels = out["input"]
        input_mean, input_mean_sq = float(pixels["mean"]), float(pixels["mean_sq"])
        return Snapshot(step, float(soft["loss"]), float(soft["accuracy"]), layers,
                        Summary.from_tensors(out["logits"]), softmax,
                        np.asarray(out["batch_logits"]), np.asarray(labels), trained,
                        input_mean=input_mean, input_rms=math.sqrt(max(input_mean_sq, 0.0)))

    def _diagnose_halt(self, out: dict, step: int, images, labels, snapshot: Snapshot | None) -> Halt:
        if bool(out["restored"]):
            bad = [v for v, ok in zip(self.model.trainable_variables, out["weights_finite"].numpy()) if not ok]
            layer = bad[0].path.split("/")[0] if bad else None
            return Halt(step, layer, "the update made weights non-finite (learning rate too large?)")
        if snapshot is None:  # find the first bad layer with a probe pass on the same (unchanged) weights
            snapshot = self._to_snapshot(self._compiled_forward(images, labels, fixed_range=True), step, labels)
        loss = float(out["loss"])
        what = "the loss is non-finite" if not math.isfinite(loss) else "the gradients are non-finite"
        layer = snapshot.first_nonfinite_layer()
        if layer is None:  # the forward pass was finite: name the first layer whose gradient was not
            bad = [v for v, ok in zip(self.model.trainable_variables, out["each_grad_finite"].numpy()) if not ok]
            layer = bad[0].path.split("/")[0] if bad else None
        return Halt(step, layer, what)


def _dead_unit_fraction(pre_activation: tf.Tensor) -> tf.Tensor:
    """Fraction of units (last axis) that are ≤ 0 everywhere in the batch (in-graph)."""
    units = tf.shape(pre_activation)[-1]
    flat = tf.reshape(tf.cast(pre_activation, tf.float32), [-1, units])
    never_positive = tf.logical_not(tf.reduce_any(flat > 0.0, axis=0))
    return tf.reduce_mean(tf.cast(never_positive, tf.float32))
