"""Run: one training run as a session sees it — a definition, where it stands, what was measured.

A Run is light: its :class:`~cnnviz.config.RunConfig`, the state it sits on
(:class:`~cnnviz.training.state.RunState`), and a :class:`~cnnviz.training.timeline.Timeline`
of what was computed. The heavy parts are shared process-wide: the compiled core that
does the arithmetic (:mod:`cnnviz.training.pool`) and, for runs of the zoo on a named
dataset, the timeline itself — identical runs are computed once.

Step semantics (see :mod:`cnnviz.training.state`): after ``run.step()`` returns,
``run.step_count`` is k and ``run.latest`` describes the network after k updates,
measured on training batch k + 1. A step whose update would make weights non-finite is
refused; a network whose forward or backward pass on the next batch is non-finite
cannot take its next step. Either way :attr:`Run.halted` says which step, where and why,
and the last good weights are kept.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pandas as pd

from cnnviz.config import RunConfig
from cnnviz.data import Dataset, load_dataset
from cnnviz.errors import UserError
from cnnviz.nets import zoo
from cnnviz.nets.initializers import is_data_dependent
from cnnviz.nets.optimizers import make_optimizer
from cnnviz.probing.histograms import Summary
from cnnviz.probing.probes import ProbedModel
from cnnviz.probing.snapshot import LayerSnapshot, Snapshot
from cnnviz.training.checkpoint import open_checkpoint, restore_run, save_run
from cnnviz.training.core import CompiledCore, unpack_summaries
from cnnviz.training.pool import POOL
from cnnviz.training.state import RunState
from cnnviz.training.timeline import Halt, Timeline, shared_timeline

# A lone run's state lives in its core's registers; every ANCHOR_EVERY steps it is also
# copied to the host, so a refused (non-finite) update can go back to it and replay the
# few steps since (runs are pure functions of their definition and step).
ANCHOR_EVERY = 25
# A train() call this long traces a cold core's step at once (shorter ones run eagerly at first).
TRACE_FOR_STEPS = 20
# Squares of gradients above this overflow float32 (3.4e38): optimizers that keep a running
# average of g² (Adam, RMSProp, ...) then turn the update into NaN whatever the learning rate.
FLOAT32_SQUARE_LIMIT = 1.8e19
SQUARING_OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "adagrad", "adadelta")


def core_signature(config: RunConfig, shape, classes: int) -> tuple:
    """What shapes a zoo network's traced graphs (initializer, seed and learning rate do not)."""
    spec = config.optimizer_spec()
    return ("zoo", config.arch, _arch_parameters(config), tuple(int(v) for v in shape), int(classes),
            spec.name, spec.momentum, spec.beta1, spec.beta2, spec.rho, spec.epsilon, config.bins)


def _arch_parameters(config: RunConfig) -> tuple:
    """The architecture's own knobs (depth, width, ... for parametric nets; empty for fixed ones)."""
    names = ("depth", "width", "activation", "norm", "residual")
    return tuple((name, getattr(config, name)) for name in names if getattr(config, name, None) is not None)


class Run:
    """One training run (see module docs)."""

    def __init__(self, config: RunConfig, dataset: Dataset | None = None, model=None,
                 probed: ProbedModel | None = None, core_key: tuple | None = None):
        self.config = config
        if model is None:
            shape, default_classes = zoo.resolve_shape(config.arch, config.input_shape, config.classes)
        else:
            shape = tuple(int(v) for v in model.inputs[0].shape[1:])
            default_classes = int(model.outputs[0].shape[-1])
        named_dataset = dataset is None
        if dataset is None:
            dataset = load_dataset(config.dataset, shape, config.classes or default_classes)
        self.dataset = dataset.for_shape(shape)
        self.classes = config.classes or (default_classes if model is not None else dataset.classes)
        if self.classes < dataset.classes:
            raise UserError(f"the model has {self.classes} outputs but {dataset.name} has {dataset.classes} classes")
        if config.batch_size > dataset.size("train"):
            raise UserError(f"batch size {config.batch_size} is larger than the {dataset.size('train')} "
                            f"training images of {dataset.name}")
        make_optimizer(config.optimizer_spec())  # a bad optimizer setting fails here, before anything is built
        self._given = (model, probed)
        self.step_count = 0  # before joining a timeline: other sessions read it
        self.core_key = core_key or core_signature(config, shape, self.classes)
        if model is None and named_dataset:
            definition = (config.replace(probe_every=1), self.dataset.name, id(self.dataset.x_train), shape)
            self.timeline = shared_timeline(definition)
        else:  # a user's model, a custom dataset, a checkpoint: nobody else can share it
            self.timeline = Timeline()
        self.timeline.runs.add(self)
        self._state: RunState | None = self.timeline.states.get(0)
        self._anchor: RunState | None = self._state
        if self._state is None:
            self._state = self._fresh_state()

    # ------------------------------------------------------------------ data
    @property
    def batches_per_epoch(self) -> int:
        return self.dataset.size("train") // self.config.batch_size

    def batch_indices(self, step: int) -> np.ndarray:
        """Training-set indices of the batch that step ``step`` learns from (1-based).

        A pure function of (seed, step): resuming needs only the step count. Step 0's
        batch is step 1's (the network at step k is measured on batch k + 1).
        """
        index = max(step - 1, 0)
        epoch, position = divmod(index, self.batches_per_epoch)
        order = np.random.default_rng([self.config.seed, epoch]).permutation(self.dataset.size("train"))
        start = position * self.config.batch_size
        return order[start:start + self.config.batch_size]

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(images as fed to the network, labels) of step ``step``'s batch."""
        idx = self.batch_indices(step)
        images = self.config.scale_images(self.dataset.images("train", idx))
        return images, self.dataset.labels("train", idx)

    def describe_batch(self, snapshot: Snapshot) -> str:
        """Plain words for the batch a snapshot was measured on."""
        batch = snapshot.batch or snapshot.step + 1
        epoch, position = divmod(batch - 1, self.batches_per_epoch)
        return (f"training batch {batch} ({self.config.batch_size} images, batch {position + 1} of epoch {epoch + 1}), "
                f"the batch step {batch} learns from")

    # ------------------------------------------------------------------ cores
    def _build_core(self, model=None) -> CompiledCore:
        given_model, given_probed = self._given
        if model is None:
            model = given_model if given_model is not None else self._build_model()
        probed = given_probed if model is given_model and given_probed is not None else ProbedModel(model)
        return CompiledCore(self.core_key, model, probed, make_optimizer(self.config.optimizer_spec()),
                            self.classes, self.config.bins)

    def _build_model(self):
        images = None
        if is_data_dependent(self.config.init):  # LSUV calibrates on images as this run feeds them
            images = self.config.scale_images(zoo.lsuv_images(self.config, self.dataset.shape, self.classes))
        return zoo.build_from_config(self.config, self.dataset.shape, self.classes, images=images)

    def _core(self, state: RunState | None = None):
        """The pool's core for this run (preferring the one holding ``state``, default this run's),
        locked while the block runs (see CorePool.use)."""
        return POOL.use(self.core_key, self._build_core, state or self._state)

    def _fresh_state(self) -> RunState:
        given_model = self._given[0]
        model = given_model if given_model is not None else self._build_model()
        with POOL.use(self.core_key, lambda: self._build_core(model), None) as core:
            state = core.fresh_state(model)
            core.with_learning_rate(state, self.config.lr)
        return state

    @property
    def model(self):
        """The network's structure (layers, shapes, names). Its weights belong to whichever run
        used the shared core last: read weights through :meth:`weights_loaded`."""
        return POOL.structure(self.core_key, self._build_core).model

    @property
    def probed(self) -> ProbedModel:
        """The probe points (layer names, types, fan-in) of this network."""
        return POOL.structure(self.core_key, self._build_core).probed

    @contextmanager
    def weights_loaded(self):
        """``with run.weights_loaded() as model:`` the Keras model holding *this* run's weights.

        The core stays locked for the block: keep it short and do not change the weights.
        """
        self._ensure_started()
        with self._core() as core:
            core.load(self._state)
            yield core.model

    # ------------------------------------------------------------------ stepping
    def _ensure_started(self) -> None:
        """Probe the network at step 0 once (this also computes the gradient step 1 will apply)."""
        if self._state.has_pending:
            return
        with self.timeline.compute:  # readers of the timeline's records do not wait for this
            step = self._state.step  # 0, or a version-1 checkpoint's step
            existing = self.timeline.states.get(step)
            if existing is not None and existing.has_pending:
                self._move_to(existing)
                self._anchor = existing
                return
            images, labels = self.batch(step + 1)
            with self._core() as core:
                state, out = core.run(self._state, images, labels, apply=False, probe=True, keep_source=False)
                self.timeline.steps_computed += 1
                core.release_values(state)  # step 0 is every session's anchor and starting point
                snapshot = self._to_snapshot(core, out, step, labels)
            with self.timeline.lock:
                self.timeline.record(snapshot, (step + 1, float(out["loss"])))
            self._check_next_step(out, snapshot, step, state)
            with self.timeline.lock:
                self.timeline.states.pop(step, None)
                self._move_to(self.timeline.adopt(state))
            self._anchor = self._state

    def restore(self, state: RunState, snapshots: list[Snapshot], losses: dict[int, float], halt: Halt | None,
                next_loss: float | None = None) -> None:
        """Put this (fresh, privately timelined) run at a saved state with its saved records."""
        if self.timeline.key is not None:
            raise RuntimeError("only a run with a private timeline can be restored")
        with self.timeline.lock:
            self.timeline.snapshots.clear()
            self.timeline._snapshot_steps.clear()
            self.timeline.losses.clear()
            for snapshot in snapshots:
                self.timeline.record(snapshot, None)
            self.timeline.losses.update(losses)
            if next_loss is not None:
                self.timeline.losses[state.step + 1] = float(next_loss)
            self.timeline.halt = halt
            self.timeline.states.clear()
            self._move_to(self.timeline.adopt(state))
            self._anchor = state

    def _move_to(self, state: RunState) -> None:
        self._state = state
        self.step_count = state.step

    def snapshot_at_init(self) -> Snapshot:
        """The network at initialization (step 0), measured on the first training batch."""
        self._ensure_started()
        with self.timeline.lock:
            snapshot = self.timeline.snapshots.get(0)
        return snapshot if snapshot is not None else self._measure(0)

    def step(self, probe: bool | None = None) -> Snapshot | None:
        """Take one training step; return the new network's Snapshot if probed, else None.

        ``probe=None`` follows ``config.probe_every`` (step 1 is always probed). Raises
        UserError if the run has halted.
        """
        self._ensure_started()
        if self.halted is not None:
            from cnnviz.diagnosis import halt_advice

            raise UserError(f"this run stopped at {self.halted.message()}; reset it: {halt_advice(self)}")
        target = self.step_count + 1
        if probe is None:
            probe = target % self.config.probe_every == 0 or target == 1
        with self.timeline.compute:  # one session computes a step; the others wait here, then find it
            if self.halted is not None:  # found by another session while this one waited
                return None
            existing = self.timeline.states.get(target)
            recorded = target in self.timeline.snapshots
            if existing is None or (probe and not recorded):
                self._compute_step(target, bool(probe) and not recorded)
            else:
                with self.timeline.lock:
                    self._move_to(existing)
                    self.timeline.prune()
            with self.timeline.lock:
                return self.timeline.snapshots.get(target) if probe else None

    def _compute_step(self, target: int, probe: bool) -> Snapshot | None:
        images, labels = self.batch(target + 1)  # the update applies batch `target`'s gradient; measure on the next
        keep = self.timeline.shared_by_others(self._state, self)
        with self._core() as core:
            state, out = core.run(self._state, images, labels, apply=True, probe=probe, keep_source=keep)
            self.timeline.steps_computed += 1
            if not out["weights_finite"].all():
                core.forget()
                layer = self._first_bad_layer(core, out["weights_finite"])
                if self._state.values is None:  # the registers held our state: go back to the anchor
                    self._replay_to(core, self.step_count)
                self.timeline.halt = self._update_halt(target, layer)
                return None
            snapshot = self._to_snapshot(core, out, target, labels) if probe else None
            behind = self.timeline.behind(target, self)
            if behind or target % ANCHOR_EVERY == 0:
                core.release_values(state)
                if behind:  # other sessions of this lesson will step into it: compute it once
                    self.timeline.retain(state)
                if target % ANCHOR_EVERY == 0:
                    self._anchor = state
        with self.timeline.lock:
            self.timeline.record(snapshot, (target + 1, float(out["loss"])))
        self._check_next_step(out, snapshot, target, state)
        with self.timeline.lock:
            self._move_to(self.timeline.adopt(state))
            self.timeline.prune()
        return snapshot

    def _update_halt(self, step: int, layer: str | None) -> Halt:
        """Why applying step ``step``'s gradient produced NaN/Inf weights: the gradient or the update."""
        largest = max((float(np.max(np.abs(g))) for g in self._state.host_values().pending if g.size), default=0.0)
        if largest > FLOAT32_SQUARE_LIMIT and self.config.optimizer in SQUARING_OPTIMIZERS:
            return Halt(step, layer, f"the gradients (up to {largest:.1e}) are too large for {self.config.optimizer}: "
                                     "its running average of squared gradients overflowed float32 and turned the "
                                     "update into NaN", cause="gradient_overflow")
        return Halt(step, layer, "the update made weights non-finite (learning rate x step overflowed float32)",
                    cause="learning_rate")

    def _replay_to(self, core: CompiledCore, step: int) -> None:
        """Recompute this run's state at ``step`` from its anchor (exact: runs are pure functions)."""
        state = self._anchor
        while state.step < step:
            state, _ = core.run(state, *self.batch(state.step + 2), apply=True, probe=False, keep_source=False)
        core.release_values(state)
        self.timeline.states[step] = state
        self._state = state

    def _check_next_step(self, out: dict, snapshot: Snapshot | None, step: int, state: RunState) -> None:
        """Halt before step ``step + 1`` if its batch gives a non-finite loss or gradient."""
        loss = float(out["loss"])
        if math.isfinite(loss) and out["grads_finite"].all():
            return
        if snapshot is None:
            snapshot = self._measure(step, state)
        layer = snapshot.first_nonfinite_layer()
        if layer is None:  # the forward pass was finite: name the first layer whose gradient was not
            with self._core() as core:
                layer = self._first_bad_layer(core, out["grads_finite"])
        reason = "the loss on its batch is non-finite" if not math.isfinite(loss) else "its gradients are non-finite"
        self.timeline.halt = Halt(step + 1, layer, reason, cause="initialization" if step == 0 else "training")

    def _measure(self, step: int, state: RunState | None = None) -> Snapshot:
        """A probe of ``state`` (default: this run's) on batch step + 1 that changes no state."""
        state = state or self._state
        images, labels = self.batch(step + 1)
        with self._core(state) as core:
            core.load(state)
            _, out = core.run(state, images, labels, apply=False, probe=True, keep_source=True)
            core.forget()  # the measurement advanced dropout/BatchNorm counters: not a state of this run
            return self._to_snapshot(core, out, step, labels)

    @staticmethod
    def _first_bad_layer(core: CompiledCore, finite_flags) -> str | None:
        bad = [v for v, ok in zip(core.model.trainable_variables, finite_flags) if not ok]
        return bad[0].path.split("/")[-2] if bad and "/" in bad[0].path else None

    def train(self, steps: int, callback=None, probe_last: bool = False) -> Snapshot | None:
        """Take up to ``steps`` steps (stops early if the run halts); return the last snapshot.

        ``callback(run, snapshot_or_None)`` is called after every step (progress bars, live
        pages). ``probe_last=True`` probes the final step whatever the interval, so the
        returned snapshot describes the weights the caller ends up with.
        """
        last = None
        steps = int(steps)
        if steps >= TRACE_FOR_STEPS:  # long enough that tracing the step now pays for itself
            self._ensure_started()
            with self._core() as core:
                core.warm()
        for done in range(steps):
            if self.halted is not None:
                break
            snapshot = self.step(probe=True if probe_last and done == steps - 1 else None)
            last = snapshot or last
            if callback is not None:
                callback(self, snapshot)
        return last

    # ------------------------------------------------------------------ reading
    @property
    def halted(self) -> Halt | None:
        """Why this run cannot take its next step, or None."""
        halt = self.timeline.halt
        return halt if halt is not None and halt.step == self.step_count + 1 else None

    @property
    def snapshots(self) -> list[Snapshot]:
        """The probed snapshots of steps 0..step_count, in order."""
        self._ensure_started()
        with self.timeline.lock:
            return self.timeline.snapshots_until(self.step_count)

    @property
    def latest(self) -> Snapshot | None:
        snapshots = self.snapshots
        return snapshots[-1] if snapshots else None

    @property
    def losses(self) -> list[float]:
        """Training loss of every step taken (``losses[k - 1]`` is step k's: batch k on step k-1's weights)."""
        with self.timeline.lock:
            return [self.timeline.losses[s] for s in range(1, self.step_count + 1)]

    @property
    def last_loss(self) -> float | None:
        return self.timeline.losses.get(self.step_count) if self.step_count else None

    def state_values(self):
        """Host copies of this run's variables (:class:`~cnnviz.training.state.StateValues`)."""
        self._ensure_started()
        return self._state.host_values()

    def evaluate(self, split: str = "test", limit: int | None = None, batch_size: int = 500) -> dict:
        """Loss, accuracy and logits on a whole split (or its first ``limit`` images), inference mode."""
        self._ensure_started()
        n = self.dataset.size(split) if limit is None else min(limit, self.dataset.size(split))
        all_logits = []
        with self._core() as core:
            for start in range(0, n, batch_size):
                idx = np.arange(start, min(start + batch_size, n))
                images = self.config.scale_images(self.dataset.images(split, idx))
                all_logits.append(core.logits(self._state, images))
        logits = np.concatenate(all_logits)
        labels = self.dataset.labels(split, np.arange(n))
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return {"loss": float(-log_probs[np.arange(n), labels].mean()),
                "accuracy": float((logits.argmax(axis=1) == labels).mean()),
                "logits": logits, "labels": labels, "examples": n}

    def history(self) -> pd.DataFrame:
        """Tidy history: one row per probed layer per probed step (see :mod:`cnnviz.probing.history`)."""
        from cnnviz.probing.history import snapshots_to_frame

        return snapshots_to_frame(self.snapshots)

    def save(self, directory) -> None:
        """Write a checkpoint (model, optimizer state, config, step, history) to ``directory``."""
        save_run(self, directory)

    @classmethod
    def load(cls, directory, dataset: Dataset | None = None) -> Run:
        """The Run saved in ``directory``, ready to continue exactly where it stopped.

        Raises UserError if the directory is missing or is not a readable checkpoint.
        """
        saved = open_checkpoint(directory)
        run = cls(saved.config, dataset=dataset, model=saved.model)
        restore_run(run, saved)
        return run

    # ------------------------------------------------------------------ records
    def _to_snapshot(self, core: CompiledCore, out: dict, step: int, labels: np.ndarray) -> Snapshot:
        layer_stats, logit_stats, soft = unpack_summaries(out)
        layers = []
        for point, stats in zip(core.points, layer_stats):
            layers.append(LayerSnapshot(point.name, point.type, point.activation, point.fan_in,
                                        Summary.from_tensors(stats), stats["weight_norm"], stats["weight_std"],
                                        stats.get("grad_norm"), stats.get("update_norm"), stats["dead_units"],
                                        stats.get("backward_std"), getattr(point, "normalized_by", None),
                                        stats.get("prior_weight_norm")))
        softmax = {"max_prob_mean": soft["max_prob_mean"], "entropy_mean": soft["entropy_mean"],
                   "uniform_entropy": math.log(self.classes),
                   "predicted_counts": [int(c) for c in soft["predicted_counts"]],
                   "max_prob_hist": [int(c) for c in soft["max_prob_hist"]]}
        return Snapshot(step, soft["loss"], soft["accuracy"], layers, Summary.from_tensors(logit_stats), softmax,
                        np.asarray(out["batch_logits"]), np.asarray(labels), trained=step > 0,
                        input_mean=soft["input_mean"], input_rms=math.sqrt(max(soft["input_mean_sq"], 0.0)),
                        batch=step + 1)


def run_at_init(config: RunConfig) -> Run:
    """A new Run whose step-0 snapshot is taken now: what a page shows first."""
    run = Run(config)
    run.snapshot_at_init()
    return run
