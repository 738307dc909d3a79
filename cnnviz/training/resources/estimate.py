"""What a run will cost, estimated from its layer table before anything is built.

A training step of a :class:`~cnnviz.training.Run` holds, at its peak:

* the weights, and per weight the optimizer's slots (Adam: 2, SGD with momentum: 1,
  plain SGD: 0, see :data:`OPTIMIZER_SLOTS`) *twice*: a new compiled core keeps the
  slots as built next to the live ones, to reset them for the next Run that reuses
  the core (``cnnviz.compiled_cores``);
* one gradient per weight (a live run was measured to keep about that much between
  steps), the step's copy of the weights before the update (kept to undo a non-finite
  update) and the update-size temporaries of a probed step;
* one more copy of the weights while building (the freshly built model before it
  moves into a pooled core; initializer buffers), two more of every conv kernel
  (oneDNN's blocked layouts for the forward and backward kernels), and half a copy
  for freed temporaries the allocator keeps mapped;
* every layer's output kept for the backward pass, and their gradients, at the chosen
  batch size, plus a few temporaries of the largest layer for the in-graph summaries;
* TensorFlow's working memory: traced graphs and kernels, a base plus a little per layer.

The step time is a fixed overhead, a memory-bound cost per weight (the update and its
copies), and the forward FLOPs of conv/dense layers, times three for forward and
backward, plus a per-value cost for the elementwise work, divided by a measured CPU
throughput (:data:`CPU_GFLOPS`, overridden by ``CNNVIZ_CPU_GFLOPS``; measure yours
with ``python bench/bench_resource_guard.py --calibrate``).

Every constant was fitted to peak-RSS growth measured in fresh processes on ltfn_convnet,
lenet5, ltfn_vgg, alexnet and vgg16 at small batches (``bench/bench_resource_guard.py
--validate``, results in BENCHMARKS.md) so that the estimate is at least the measurement
and within about 2x of it. The zoo path works from :func:`cnnviz.nets.zoo.layer_table`
rows, so it never builds a Keras model; a user's model is read from its built layers.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cnnviz.errors import UserError

MIB = 1024 * 1024
BYTES_PER_VALUE = 4  # float32 everywhere (a float16 user model is over- not under-estimated)

# Optimizer state per weight, as Keras 3.15 builds it (tests/test_resources.py counts the real variables).
OPTIMIZER_SLOTS: dict[str, int] = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adagrad": 1,
                                   "adam": 2, "adamw": 2, "nadam": 2, "adadelta": 2}
SLOT_COPIES = 2  # live slots + the core's copy of the slots as built
GRADIENT_COPIES = 1
STEP_COPIES = 2  # the pre-update copy of the weights + update-size temporaries of a probed step
BUILD_COPIES = 1  # the freshly built model / initializer buffers
CONV_KERNEL_COPIES = 2  # oneDNN reorders conv kernels into blocked layouts, forward and backward
ALLOCATOR_SLACK_COPIES = 0.5  # freed weight-sized temporaries that stay mapped (measured 0.1-0.9 copies)
# Layer outputs: kept for backward (x1) and their gradients (x1); the largest layer's output again
# a few times for the summaries' temporaries (x^2, masks, histogram indices).
ACTIVATION_COPIES = 2
LARGEST_LAYER_COPIES = 3
INPUT_COPIES = 2  # the numpy batch and its tensor
RUNTIME_BASE_BYTES = 96 * MIB  # traced step + probe graphs, kernels, Python objects of one Run
RUNTIME_PER_LAYER_BYTES = 2 * MIB

# Effective training throughput, GFLOP/s, measured on the 2-core classroom test machine (AMD EPYC,
# TF 2.21 CPU), idle: 152-454 GFLOP/s over ltfn_convnet, ltfn_vgg, alexnet and vgg16 steps (median ~290);
# the slowest, rounded down, so an idle server's steps come out at most as long as estimated. With other
# jobs on the two cores 80-164 GFLOP/s was measured (BENCHMARKS.md, section 5). Recalibrate with `python bench/bench_resource_guard.py --calibrate`; override with CNNVIZ_CPU_GFLOPS.
CPU_GFLOPS = 150.0
STEP_OVERHEAD_SECONDS = 0.015  # Python, probes' host side, one dispatch
# The update, the pre-update copy and the norms pass over every weight and optimizer slot each step:
# memory-bound, measured 1.7-3.3 ns per weight on an idle machine (alexnet, ltfn_vgg, vgg16 at batch 1).
SECONDS_PER_WEIGHT = 3.5e-9
ELEMENTWISE_FLOPS_PER_VALUE = 60  # activation, pooling, summaries, their backward: per kept value
BUILD_OVERHEAD_SECONDS = 1.0
INIT_VALUES_PER_SECOND = 25e6  # drawing initial weights
TRACE_SECONDS_PER_LAYER = 0.15

HELD_PARTS = ("weights", "optimizer_slots", "gradients", "conv_kernel_copies", "allocator_slack", "tensorflow")

# Layers whose output is a view (no new memory) or that keep two tensors of their output size.
_VIEW_TYPES = {"flatten", "reshape", "inputlayer", "input"}
_TWO_TENSOR_TYPES = {"dropout", "spatialdropout2d", "gaussiandropout", "alphadropout"}
# Datasets whose class count is fixed (the others, e.g. "synthetic", take the architecture's).
DATASET_CLASSES = {"mnist-sample": 10, "mnist": 10, "cifar10": 10}


@dataclass(frozen=True)
class NetworkProfile:
    """The batch-independent facts about a network that its cost depends on."""

    label: str  # "vgg16", "file:model.keras"
    input_shape: tuple[int, ...]
    optimizer: str
    params: int
    weighted_layers: int
    kept_values_per_image: int  # layer outputs held for the backward pass, per image
    largest_values_per_image: int
    forward_flops_per_image: int
    conv_params: int = 0  # weights of layers with spatial outputs (conv kernels)
    arch: str | None = None  # a zoo architecture (None for a user's model): enables the input-size alternative
    build_copies: int = BUILD_COPIES  # 0 for a loaded user model: no fresh model, no initializers

    @property
    def optimizer_slots(self) -> int:
        return OPTIMIZER_SLOTS.get(self.optimizer, 2)  # an unknown optimizer: assume Adam's two

    def at(self, batch_size: int) -> Estimate:
        """This network's :class:`Estimate` at ``batch_size``."""
        return Estimate(self, int(batch_size))


@dataclass(frozen=True)
class Estimate:
    """Peak memory and step time of one run at one batch size (see module docs)."""

    profile: NetworkProfile
    batch_size: int
    breakdown: dict[str, int] = field(init=False, compare=False)

    def __post_init__(self):
        p, b, weight_bytes = self.profile, self.batch_size, self.profile.params * BYTES_PER_VALUE
        per_image = BYTES_PER_VALUE * (ACTIVATION_COPIES * p.kept_values_per_image
                                       + LARGEST_LAYER_COPIES * p.largest_values_per_image
                                       + INPUT_COPIES * math.prod(p.input_shape))
        object.__setattr__(self, "breakdown", {
            # held while the run lives (HELD_PARTS) ...
            "weights": weight_bytes,
            "optimizer_slots": weight_bytes * p.optimizer_slots * SLOT_COPIES,
            "gradients": weight_bytes * GRADIENT_COPIES,
            "conv_kernel_copies": p.conv_params * BYTES_PER_VALUE * CONV_KERNEL_COPIES,
            "allocator_slack": int(weight_bytes * ALLOCATOR_SLACK_COPIES),
            "tensorflow": RUNTIME_BASE_BYTES + RUNTIME_PER_LAYER_BYTES * p.weighted_layers,
            # ... and only while it builds or steps
            "step_copies": weight_bytes * (STEP_COPIES + p.build_copies),
            "activations": per_image * b,
        })

    @property
    def total_bytes(self) -> int:
        """Estimated peak growth of the process while building and stepping this run."""
        return sum(self.breakdown.values())

    @property
    def held_bytes(self) -> int:
        """What the run keeps between steps (weights, optimizer state, its graphs): what the ledger counts."""
        return sum(self.breakdown[part] for part in HELD_PARTS)

    @property
    def transient_bytes(self) -> int:
        """What building or one step needs on top of :attr:`held_bytes`, freed afterwards."""
        return self.total_bytes - self.held_bytes

    @property
    def bytes_per_image(self) -> int:
        return self.breakdown["activations"] // max(self.batch_size, 1)

    @property
    def step_flops(self) -> float:
        p = self.profile
        return self.batch_size * (3.0 * p.forward_flops_per_image
                                  + ELEMENTWISE_FLOPS_PER_VALUE * p.kept_values_per_image)

    @property
    def step_seconds(self) -> float:
        """Estimated seconds per training step on an otherwise idle machine."""
        return (STEP_OVERHEAD_SECONDS + SECONDS_PER_WEIGHT * self.profile.params
                + self.step_flops / (cpu_gflops() * 1e9))

    @property
    def build_seconds(self) -> float:
        """Rough seconds to build, trace and probe it at init (for queue-wait estimates)."""
        p = self.profile
        return (BUILD_OVERHEAD_SECONDS + p.params / INIT_VALUES_PER_SECOND
                + TRACE_SECONDS_PER_LAYER * p.weighted_layers + 2 * self.step_seconds)

    def describe(self) -> str:
        """"vgg16 at batch 100 (224x224x3, adam)"."""
        shape = "x".join(str(v) for v in self.profile.input_shape)
        return f"{self.profile.label} at batch {self.batch_size} ({shape}, {self.profile.optimizer})"

    def to_dict(self) -> dict:
        """JSON-ready numbers (MiB and seconds) for pages, benchmarks and ``--json``."""
        p = self.profile
        return {"label": p.label, "batch_size": self.batch_size, "input_shape": list(p.input_shape),
                "optimizer": p.optimizer, "params": p.params, "total_mib": round(self.total_bytes / MIB, 1),
                "held_mib": round(self.held_bytes / MIB, 1),
                "breakdown_mib": {k: round(v / MIB, 1) for k, v in self.breakdown.items()},
                "step_seconds": round(self.step_seconds, 3), "build_seconds": round(self.build_seconds, 1)}


def cpu_gflops() -> float:
    """The training throughput used for step times: ``CNNVIZ_CPU_GFLOPS`` or :data:`CPU_GFLOPS`."""
    raw = os.environ.get("CNNVIZ_CPU_GFLOPS")
    if raw is None or raw.strip() == "":
        return CPU_GFLOPS
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise UserError(f"CNNVIZ_CPU_GFLOPS must be a positive number of GFLOP/s, got {raw!r}")
    return value


# ------------------------------------------------------------------ from layer rows
def profile_from_rows(rows: Iterable[Mapping], input_shape: tuple[int, ...], optimizer: str, label: str,
                      arch: str | None = None, build_copies: int = BUILD_COPIES) -> NetworkProfile:
    """A profile from layer rows ``{type, output_shape, params[, activation]}`` (zoo.layer_table's form).

    Unknown layer types count their output once and, if they have weights, their
    weights times output positions as FLOPs, so new architectures work unchanged.
    """
    params = weighted = kept = flops = conv_params = 0
    largest = math.prod(input_shape)
    for row in rows:
        values = math.prod(int(v) for v in row["output_shape"])
        layer_params = int(row.get("params") or 0)
        params += layer_params
        kind = str(row.get("type", "")).lower()
        if layer_params:
            weighted += 1
            # conv: 2·K·K·C_in·C_out per output position; dense: 2·n_in·n_out (one "position").
            positions = math.prod(int(v) for v in row["output_shape"][:-1]) if len(row["output_shape"]) > 1 else 1
            flops += 2 * layer_params * positions
            conv_params += layer_params if len(row["output_shape"]) > 1 else 0
        if kind in _VIEW_TYPES:
            continue
        activation = row.get("activation")
        fused_activation = layer_params and activation not in (None, "linear")  # pre- and post-activation
        copies = 2 if kind in _TWO_TENSOR_TYPES or fused_activation else 1
        kept += copies * values
        largest = max(largest, values)
    return NetworkProfile(label, tuple(int(v) for v in input_shape), optimizer, params, weighted, kept, largest,
                          flops, conv_params, arch, build_copies)


def classes_for(config) -> int | None:
    """The class count a Run of ``config`` will have (None: the architecture's default)."""
    return config.classes or DATASET_CLASSES.get(config.dataset)


def profile_from_config(config) -> NetworkProfile:
    """The profile of a zoo run from its RunConfig, via :func:`cnnviz.nets.zoo.layer_table` (no Keras build).

    Raises UserError for an unknown architecture or an input too small for it.
    """
    from cnnviz.nets import zoo

    shape, classes = zoo.resolve_shape(config.arch, config.input_shape, classes_for(config))
    rows = zoo.layer_table(config.arch, shape, classes, **_extra_table_arguments(zoo.layer_table, config))
    return profile_from_rows(rows, shape, config.optimizer, config.arch, arch=config.arch)


def _extra_table_arguments(layer_table, config) -> dict:
    """RunConfig fields that layer_table also takes (depth, width, ... of parametric nets)."""
    wanted = inspect.signature(layer_table).parameters
    return {name: getattr(config, name) for name in wanted
            if name not in ("arch", "input_shape", "classes") and hasattr(config, name)}


def estimate_config(config) -> Estimate:
    """Estimate for a zoo RunConfig at its own batch size."""
    return profile_from_config(config).at(config.batch_size)


# ------------------------------------------------------------------ from a built Keras model
def model_rows(model) -> list[dict]:
    """Layer rows of a built Keras model (nested models walked), in the form of zoo.layer_table."""
    rows = []
    for layer in _leaf_layers(model):
        kind = type(layer).__name__.lower()
        if kind == "inputlayer":
            continue
        try:
            shape = list(layer.output.shape[1:])
        except (AttributeError, ValueError):  # a layer called more than once: its outputs are ambiguous
            shape = None
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        rows.append({"name": layer.name, "type": kind, "output_shape": shape, "params": int(layer.count_params()),
                     "activation": activation})
    return rows


def _leaf_layers(model):
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and getattr(layer, "layers"):  # a nested Sequential / functional model
            yield from _leaf_layers(layer)
        else:
            yield layer


def profile_from_model(model, optimizer: str, input_shape: tuple[int, int, int] | None = None,
                       label: str | None = None) -> NetworkProfile:
    """The profile of a user's built Keras model.

    Open spatial sizes (``Input((None, None, 1))``) are taken as the input's size at
    every layer, which over-estimates (no downsampling assumed). The probe's flat copy
    of the graph shares the model's weights; fused activations count twice (the
    probe recovers the pre-activation next to the layer's output).
    """
    given = tuple(model.inputs[0].shape[1:])
    shape = tuple(input_shape) if input_shape is not None else tuple(28 if v is None else v for v in given)
    rows = []
    for row in model_rows(model):
        out = row["output_shape"]
        if out is None:
            out = list(shape)  # unknown: as large as the input, conservatively
        out = [shape[i] if v is None and i < 2 else (v if v is not None else 1) for i, v in enumerate(out)]
        rows.append({**row, "output_shape": out})
    # Loaded, not built: no fresh copy of the weights and no initializer buffers.
    return profile_from_rows(rows, shape, optimizer, label or f"file:{model.name}", build_copies=0)


def estimate_model(model, batch_size: int, optimizer: str = "adam", input_shape: tuple[int, int, int] | None = None,
                   label: str | None = None) -> Estimate:
    """Estimate for training a user's loaded Keras model at ``batch_size``."""
    return profile_from_model(model, optimizer, input_shape, label).at(batch_size)


def estimate(target) -> Estimate:
    """An :class:`Estimate` for a RunConfig (zoo) or an Estimate (returned as is)."""
    if isinstance(target, Estimate):
        return target
    if hasattr(target, "arch") and hasattr(target, "batch_size"):
        return estimate_config(target)
    raise TypeError(f"cannot estimate {type(target).__name__}; pass a RunConfig or an Estimate")


def format_bytes(size: float) -> str:
    """"1.9 GiB", "340 MiB"."""
    if size >= 1024 * MIB:
        return f"{size / (1024 * MIB):.1f} GiB"
    return f"{size / MIB:.0f} MiB"


def format_seconds(seconds: float) -> str:
    """"0.35 s", "37 s"."""
    if math.isinf(seconds):
        return "no limit"
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
