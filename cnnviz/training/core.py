"""CompiledCore: the traced step, probe and evaluation functions of one network shape.

Tracing a Keras training step costs seconds of CPU and about 12 MiB of TensorFlow
memory that is never given back. A room of thirty students on one lesson must not pay
that thirty times, so a core is traced once per process for one *signature* (network
structure, input shape, classes, optimizer kind and its fixed hyperparameters, bins)
and serves every run of that signature, whatever its initializer, seed or learning rate.

Keras 3.15's ``Optimizer.stateless_apply`` refuses the TensorFlow backend, so the core's
model and optimizer variables act as *registers*: under the core's lock a run's
:class:`~cnnviz.training.state.RunState` is assigned into them, the compiled function
runs, and the result is the next state. Keras's own update rules do the arithmetic, so a
run on a shared core computes exactly what a dedicated model and optimizer would.
A state fresh out of the core stays in its registers until the core is needed for
another state (then it is copied out), so a session stepping alone never pays a copy.

The step (see :mod:`cnnviz.training.state` for why it looks ahead):

1. apply the pending gradient with the optimizer (skipped for the very first call),
2. forward and backward pass of the next batch in training mode (BatchNorm on batch
   statistics, dropout on — exactly what the next update learns from),
3. keep that gradient as the new pending gradient,
4. on probed calls, summarise every probed layer in-graph (:mod:`cnnviz.probing.graph`).
"""

from __future__ import annotations

import functools
import threading
import weakref

import numpy as np
import tensorflow as tf

from cnnviz.probing.graph import LAYER_FIELDS, OPTIONAL_FIELDS, all_finite, softmax_summary, summarize_layers
from cnnviz.training.state import RunState, StateValues

# A cold core runs this many calls eagerly before it traces (see CompiledCore._eager).
EAGER_CALLS = 8
# What a probed call reports per layer (and, last, for the logits): cnnviz.probing.graph.LAYER_FIELDS.
SOFTMAX_FIELDS = ("loss", "accuracy", "max_prob_mean", "entropy_mean", "input_mean", "input_mean_sq")


class CompiledCore:
    """The registers and compiled functions for one signature (see module docs)."""

    def __init__(self, key: tuple, model, probed, optimizer, classes: int, bins: int):
        self.key = key
        self.model = model
        self.probed = probed
        self.points = probed.points
        self.optimizer = optimizer
        self.classes = int(classes)
        self.bins = int(bins)
        self.lock = threading.Lock()
        optimizer.build(model.trainable_variables)
        # Slots as built: Adagrad's accumulators start at 0.1, not 0. The learning rate is one of them.
        self.optimizer_start = [np.array(v.numpy()) for v in optimizer.variables]
        self._lr_index = next(i for i, v in enumerate(optimizer.variables) if v.path.endswith("learning_rate"))
        self.pending = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name="pending_gradient")
                        for v in model.trainable_variables]
        slot_of = {id(v): i for i, v in enumerate(model.trainable_variables)}
        self.kernel_slots = [slot_of.get(id(p.kernel)) for p in self.points]  # None: a frozen layer
        self._holder = lambda: None  # weak reference to the RunState the registers hold
        self.eager_calls = 0  # calls run eagerly before the functions were traced (see _eager)
        shape = tuple(model.inputs[0].shape[1:])
        signature = [tf.TensorSpec([None, *shape], tf.float32), tf.TensorSpec([None], tf.int32)]
        self._functions = {
            (apply, probe): tf.function(functools.partial(self._graph, apply=apply, probe=probe),
                                        input_signature=signature, autograph=False)
            for apply, probe in ((False, True), (True, True), (True, False))}
        self._evaluate = tf.function(self._logits_graph, input_signature=signature[:1], autograph=False)

    # ------------------------------------------------------------ registers
    def holds(self, state: RunState) -> bool:
        """Whether the registers hold ``state`` right now."""
        return self._holder() is state

    def load(self, state: RunState) -> None:
        """Make the registers hold ``state`` (copying out the state they held, if it still matters).

        Call with :attr:`lock` held.
        """
        if self.holds(state):
            return
        previous = self._holder()
        if previous is not None and previous.values is None:
            self.release_values(previous)
        values = state.values
        if values is None:  # lives only in another core: the pool never lets that happen (see CorePool)
            raise RuntimeError("a state that lives in another core's registers cannot be loaded here")
        for target, source in ((self.model.variables, values.model), (self.optimizer.variables, values.optimizer)):
            for variable, value in zip(target, source, strict=True):
                variable.assign(value)
        if values.pending is not None:
            for variable, value in zip(self.pending, values.pending, strict=True):
                variable.assign(value)
        self._hold(state)

    def release_values(self, state: RunState) -> None:
        """Copy the registers into ``state.values`` (``state`` must be what they hold)."""
        if not self.holds(state):
            raise RuntimeError("a core can only copy out the state its registers hold")
        state.values = self.read_values()

    def read_values(self, pending: bool = True) -> StateValues:
        """Host copies of the registers."""
        return StateValues([np.array(v.numpy()) for v in self.model.variables],
                           [np.array(v.numpy()) for v in self.optimizer.variables],
                           [v.numpy() for v in self.pending] if pending else None)

    def _hold(self, state: RunState | None) -> None:
        self._holder = weakref.ref(state) if state is not None else (lambda: None)
        if state is not None:
            state.core = self

    def forget(self) -> None:
        """The registers hold garbage (e.g. a refused update): nobody may read them as a state."""
        self._holder = lambda: None

    def fresh_state(self, model) -> RunState:
        """Step-0 state from a freshly built, seeded model of this signature (weights copied out)."""
        values = [np.array(v.numpy()) for v in model.variables]
        if len(values) != len(self.model.variables):
            raise RuntimeError("the fresh model does not match the core; the signature misses something")
        return RunState(0, StateValues(values, [v.copy() for v in self.optimizer_start], None))

    def with_learning_rate(self, state: RunState, learning_rate: float) -> None:
        """Set a fresh (host) state's learning rate, an optimizer variable like the slots."""
        state.values.optimizer[self._lr_index] = np.asarray(learning_rate, self.optimizer_start[self._lr_index].dtype)

    # ------------------------------------------------------------ running
    def run(self, state: RunState, images: np.ndarray, labels: np.ndarray, apply: bool, probe: bool,
            keep_source: bool = True) -> tuple[RunState, dict]:
        """One compiled call from ``state``: the next state and the graph's outputs (host values).

        ``apply=False`` only measures (the first call of a run); ``keep_source=False`` lets the
        registers overwrite ``state`` without copying it out first (nobody else needs it).
        Call with :attr:`lock` held.
        """
        self.load(state)
        if keep_source and state.values is None:
            self.release_values(state)
        function = self._functions[(apply, probe)]
        images, labels = tf.constant(images, tf.float32), tf.constant(labels, tf.int32)
        if self._eager(function):
            outputs = self._graph(images, labels, apply=apply, probe=probe)
        else:
            outputs = function(images, labels)
        outputs = tf.nest.map_structure(lambda t: t.numpy(), outputs)
        new_state = RunState(state.step + (1 if apply else 0))
        self._hold(new_state)
        return new_state, outputs

    def logits(self, state: RunState, images: np.ndarray) -> np.ndarray:
        """Inference-mode logits of ``state``'s network for a batch. Call with :attr:`lock` held."""
        self.load(state)
        images = tf.constant(images, tf.float32)
        if self._eager(self._evaluate):
            return self._logits_graph(images).numpy()
        return self._evaluate(images).numpy()

    def _eager(self, function) -> bool:
        """Whether this call runs the graph code eagerly instead of tracing it.

        Tracing a deep network's training step costs far more than running it once
        (MobileNetV2: ~60 s against ~0.5 s per eager step on 2 busy cores), so a cold
        core runs its first :data:`EAGER_CALLS` calls eagerly — ``inspect --steps 3`` never
        waits for a trace — and traces when it keeps being used (or when :meth:`warm` or a
        long ``Run.train`` asks for it). Eager and traced results agree to ~1e-7.
        """
        if _traced(function):
            return False
        self.eager_calls += 1
        return self.eager_calls <= EAGER_CALLS

    def warm(self) -> None:
        """Trace every compiled function now (a background warm-up), and run each once.

        Tracing alone leaves TensorFlow's instantiation of the traced graph (optimising it,
        creating its kernels) to the first real call: about as long again as the trace.
        So each function also runs once on a two-image batch of zeros; what that leaves in
        the registers is garbage nobody may read, so a state they held is copied out first.
        Call with :attr:`lock` held.
        """
        previous = self._holder()
        if previous is not None and previous.values is None:
            self.release_values(previous)
        self.forget()
        shape = tuple(self.model.inputs[0].shape[1:])
        images, labels = tf.zeros((2, *shape), tf.float32), tf.zeros((2,), tf.int32)
        for function in self._functions.values():
            function(images, labels)
        self._evaluate(images)

    @property
    def traced(self) -> int:
        """How many compiled functions of this core have been traced (of :attr:`functions`)."""
        return sum(_traced(f) for f in [*self._functions.values(), self._evaluate])

    @property
    def functions(self) -> int:
        """How many compiled functions this core has."""
        return len(self._functions) + 1

    # ------------------------------------------------------------ graph code
    def _logits_graph(self, images):
        return tf.cast(self.probed(images, training=False)[1], tf.float32)

    def _graph(self, images, labels, apply: bool, probe: bool):
        trainable = self.model.trainable_variables
        outputs = {}
        before = None
        if apply:
            if probe:  # only the probed kernels, only on probed steps: the update size needs them
                before = [None if s is None else tf.identity(trainable[s]) for s in self.kernel_slots]
            self.optimizer.apply([p.read_value() for p in self.pending], trainable)
            outputs["weights_finite"] = tf.stack([all_finite(v) for v in trainable])
        with tf.GradientTape() as tape:
            pre, logits = self.probed(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=tf.cast(logits, tf.float32)))
        sources = list(trainable) + (list(pre) if probe else [])
        grads = tape.gradient(loss, sources)
        variable_grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads[:len(trainable)], trainable)]
        for pending, grad in zip(self.pending, variable_grads):
            pending.assign(grad)
        outputs["loss"] = loss
        outputs["grads_finite"] = tf.stack([all_finite(g) for g in variable_grads])
        if probe:
            outputs.update(self._summaries(images, labels, pre, logits, variable_grads, grads[len(trainable):], before))
        return outputs

    def _summaries(self, images, labels, pre, logits, variable_grads, pre_grads, before):
        """Every probed number, packed into a few tensors: one host transfer each, not hundreds."""
        items = []
        for index, (point, tensor) in enumerate(zip(self.points, pre)):
            slot = self.kernel_slots[index]  # None: a frozen layer of a user's model (no gradient, no update)
            items.append({
                "values": tensor, "dead": True, "kernel": point.kernel,
                "grad": variable_grads[slot] if slot is not None else None,
                "update": point.kernel - before[index] if slot is not None and before is not None else None,
                "prior": before[index] if slot is not None and before is not None else None,
                # None: a fused layer's recovered z lies off the loss path
                "backward": pre_grads[index]})
        items.append({"values": logits})
        rows, hists = summarize_layers(items, self.bins)
        soft = softmax_summary(logits, labels, self.classes)
        pixels = tf.cast(images, tf.float32)
        soft["input_mean"], soft["input_mean_sq"] = tf.reduce_mean(pixels), tf.reduce_mean(tf.square(pixels))
        return {"layer_stats": rows, "hists": hists,
                "softmax": tf.stack([tf.cast(soft[f], tf.float64) for f in SOFTMAX_FIELDS]),
                "predicted_counts": soft["predicted_counts"], "max_prob_hist": soft["max_prob_hist"],
                "batch_logits": tf.cast(logits, tf.float32)}


def unpack_summaries(out: dict) -> tuple[list[dict], dict, dict]:
    """(per-layer dicts, the logits' dict, softmax dict) from a probed call's host outputs.

    Layer dicts hold :data:`LAYER_FIELDS` (absent where not measured) plus ``hist``; they
    are what :meth:`cnnviz.probing.histograms.Summary.from_tensors` reads.
    """
    layers = []
    for row, hist in zip(out["layer_stats"], out["hists"]):
        entry = {f: float(v) for f, v in zip(LAYER_FIELDS, row) if not (f in OPTIONAL_FIELDS and np.isnan(v))}
        entry["hist"] = hist
        layers.append(entry)
    soft = dict(zip(SOFTMAX_FIELDS, (float(v) for v in out["softmax"])))
    soft["predicted_counts"], soft["max_prob_hist"] = out["predicted_counts"], out["max_prob_hist"]
    return layers[:-1], layers[-1], soft


def _traced(function) -> bool:
    return function.experimental_get_tracing_count() > 0
