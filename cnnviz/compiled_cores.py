"""Compiled training cores, reused by Run after Run of the same shape (memory hygiene).

Why: TensorFlow keeps native memory that is *not* returned when a Run, its model,
its optimizer and its ``tf.function`` objects are garbage-collected: about 12 MiB
per traced training step and 0.8 MiB per Keras optimizer built. Measured with
``bench/bench_resets.py`` (lenet5, batch 32, TF 2.21 CPU): 100 resets (each a new
Run, probed at init, one probed step) grew the process from 819 to 2024 MiB (+147%)
although every old Run, model and optimizer had been collected.

What: a *core* is everything the compiled graphs close over (:data:`CORE_ATTRIBUTES`:
model, probes, optimizer, histogram-range variable, kernels) plus the three compiled
functions, bound to a bare Run object that holds only those attributes, never the
Run a person works with. When that Run is garbage-collected its core goes back to a
small pool; the next Run with the same :func:`signature` takes it, loads its *own*
freshly built initial weights and dropout seeds into the core's variables and resets
the core's optimizer to its just-built state with this Run's learning rate. Its
numbers are exactly those of a Run built from scratch, and nothing is traced again.

Limits: a user's own model is never pooled; cores of more than
:data:`POOLED_MAX_PARAMS` parameters are not kept (an idle VGG16 would hold more
memory than its traces cost); at most :data:`MAX_FREE_CORES` idle cores are kept,
the oldest dropped first. Code that keeps ``run.model`` after dropping the Run may
see those weights overwritten by a later Run.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, deque

import tensorflow as tf

POOLED_MAX_PARAMS = 5_000_000
MAX_FREE_CORES = 6
# What Run's graph code (_summaries/_forward_graph/_step_graph/_eval_graph) may read from self.
CORE_ATTRIBUTES = ("config", "classes", "model", "probed", "optimizer", "_ranges", "_kernels")
COMPILED = ("_compiled_step", "_compiled_forward", "_compiled_eval")

_returned: deque = deque()  # (signature, core) whose Run was collected; appended by finalizers, lock-free
_free: OrderedDict = OrderedDict()  # signature -> idle cores, least recently returned first
_lock = threading.Lock()


def signature(config, shape, classes: int) -> tuple:
    """Everything that shapes the traced graphs (weights' values and the learning rate do not)."""
    return (config.arch, tuple(int(v) for v in shape), int(classes), config.optimizer, config.bins)


def attach(run, fresh_model, optimizer_spec, probed=None, pooled: bool = True) -> None:
    """Give ``run`` its model, probes, optimizer and compiled functions.

    ``fresh_model`` (built and seeded for this run) is either copied into a pooled
    core of the same signature, whose optimizer is reset to its just-built state with
    this run's learning rate, or becomes a new core with a new optimizer for
    ``optimizer_spec``. (Creating a Keras optimizer costs ~0.8 MiB of native memory
    that is never returned, so pooled cores keep theirs.)

    A Run whose model was passed in is pooled only if it sets ``run.core_key`` (the
    model's structure, see :mod:`cnnviz.user_models`) before ``Run.__init__``; it may
    also set ``run.core_keep``, an object that travels with the core (for a user's
    model: the probe that owns the core's model), and gets back the core's.
    """
    from cnnviz.optimizers import make_optimizer, validate_learning_rate
    from cnnviz.probes import ProbedModel

    key = getattr(run, "core_key", None)
    if key is None and pooled:
        key = signature(run.config, run.dataset.shape, run.classes)
    core = _take(key) if key is not None else None
    if core is None:
        optimizer = make_optimizer(optimizer_spec)
        optimizer.build(fresh_model.trainable_variables)
        core = _new_core(type(run), run.config, run.classes, fresh_model,
                         probed if probed is not None else ProbedModel(fresh_model), optimizer)
        core.core_keep = getattr(run, "core_keep", None)
    else:
        _load(core, fresh_model, validate_learning_rate(optimizer_spec.learning_rate))
    for name in CORE_ATTRIBUTES[2:] + COMPILED + ("core_keep",):
        setattr(run, name, getattr(core, name))
    if key is not None and fresh_model.count_params() <= POOLED_MAX_PARAMS:
        weakref.finalize(run, _returned.append, (key, core))


def free_cores() -> int:
    """How many idle cores the pool holds now (for tests and benchmarks)."""
    with _lock:
        _collect_returned()
        return sum(len(cores) for cores in _free.values())


def _new_core(run_class, config, classes, model, probed, optimizer):
    core = run_class.__new__(run_class)  # a bare Run: only what the graph code reads
    core.config, core.classes, core.model, core.probed, core.optimizer = config, classes, model, probed, optimizer
    core.optimizer_start = [v.numpy() for v in optimizer.variables]  # slots as built (Adagrad's are not zeros)
    core._ranges = tf.Variable(tf.zeros([len(probed.points) + 1, 2]), trainable=False, name="hist_ranges")
    core._kernels = [p.kernel for p in probed.points]
    core._compiled_step = tf.function(core._step_graph, reduce_retracing=True)
    core._compiled_forward = tf.function(core._forward_graph, reduce_retracing=True)
    core._compiled_eval = tf.function(core._eval_graph, reduce_retracing=True)
    return core


def _load(core, model, learning_rate: float) -> None:
    """Overwrite the core's weights with a freshly built model's; reset its optimizer to step 0."""
    for target, source in ((core.model.variables, model.variables),
                           (core.optimizer.variables, core.optimizer_start)):
        if len(target) != len(source):
            raise RuntimeError("pooled core does not match the fresh model; the signature misses something")
        for variable, value in zip(target, source):
            variable.assign(value)
    core.optimizer.learning_rate = learning_rate


def _take(key):
    with _lock:
        _collect_returned()
        cores = _free.get(key)
        if not cores:
            return None
        core = cores.pop()
        if not cores:
            del _free[key]
        return core


def _collect_returned() -> None:
    while _returned:
        key, core = _returned.popleft()
        _free.setdefault(key, []).append(core)
        _free.move_to_end(key)
    while sum(len(cores) for cores in _free.values()) > MAX_FREE_CORES:
        oldest = next(iter(_free))
        _free[oldest].pop(0)
        if not _free[oldest]:
            del _free[oldest]
