"""The monitor's view of a user's model: a flat graph that also returns every pre-activation.

The graph walk (:func:`cnnviz.usermodels.probe.trace_graph`), the recovery of z for
Conv/Dense layers with a fused activation (:class:`cnnviz.usermodels.probe.LinearPart`) and
the logits detection (:func:`cnnviz.usermodels.probe.logits_of`) are that module's own; this
module only relaxes what it asks of a model it feeds itself. The monitor never feeds images of
its own (the user's probe batch goes in), so any one-input model works, and an output that is
not one score per class (a regression, a single sigmoid unit) is still probed: its
pre-activations are recorded and the softmax parts are marked as not applying.

The layers and variables are the user's: the flat model is a second function over
them, nothing is copied, and calling it does not change the user's model.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from cnnviz.diagnosis.theory import layers_between
from cnnviz.errors import UserError
from cnnviz.probing.probes import ProbePoint
from cnnviz.usermodels.probe import (FOLLOWING_ACTIVATIONS, UnprobedLayer, activation_function_name, first_line,
                                     logits_of, trace_graph)


@dataclass
class MonitorProbe:
    """What the monitor runs: ``graph(x) -> [*pre_activations, logits?, output]``."""

    graph: keras.Model
    points: list[ProbePoint]
    unprobed: list[UnprobedLayer]
    classes: int | None  # None when the output is not one score per class
    output_kind: str  # "logits" | "softmax" | "sigmoid" | "probabilities" | "regression"
    note: str
    between: dict[str, list[str]]  # layers between probed ones (pooling, dropout), for the variance rule

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None


def check_model(model) -> None:
    """UserError unless ``model`` is a built functional/Sequential model with one input and one output."""
    if not isinstance(model, keras.Model):
        raise UserError(f"ActivationMonitor needs a keras.Model, got {type(model).__name__}")
    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if not inputs or not outputs:
        raise UserError(f"{model.name} is a subclassed or unbuilt model; the monitor probes functional and "
                        "Sequential models (give a Sequential model an Input first)")
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"{model.name} has {len(inputs)} inputs and {len(outputs)} outputs; the monitor probes "
                        "models with one input and one output")


def build_monitor_probe(model: keras.Model, sample_x: np.ndarray, layers=None) -> MonitorProbe:
    """Flatten ``model`` and collect its probe points (see module docs); UserError if impossible.

    ``layers`` (names) keeps only those probe points, in forward order.
    """
    check_model(model)
    flat_input = keras.Input(tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype, name="cnnviz_input")
    try:
        trace = trace_graph(model, flat_input)
    except UserError:
        raise
    except Exception as exc:  # an arbitrary model can fail to re-trace in ways no check foresaw
        raise UserError(f"the monitor could not trace {model.name} ({first_line(exc)})") from None
    if not trace.points:
        raise UserError(f"{model.name} has no Dense or convolution layer, so there is no pre-activation to probe")
    points, pre_tensors = [], []
    for point, pre, post, output in trace.points:
        if point.activation == "linear":  # the activation may be the next layer (ReLU(), Activation("tanh"))
            nxt = trace.consumers.get(id(output))
            follow = activation_function_name(nxt.activation) if isinstance(nxt, keras.layers.Activation) else \
                next((a for cls, a in FOLLOWING_ACTIVATIONS.items() if isinstance(nxt, cls)), "linear")
            point = ProbePoint(point.name, point.type, follow, point.fan_in, point.kernel)
        points.append(point)
        pre_tensors.append(pre)
    if layers is not None:
        wanted = [layers] if isinstance(layers, str) else list(layers)
        names = [p.name for p in points]
        unknown = [n for n in wanted if n not in names]
        if unknown or not wanted:
            raise UserError(f"layers={wanted!r}: {', '.join(map(repr, unknown)) or 'no layer'} is not a probed layer "
                            f"of {model.name}; choose from {', '.join(names)}")
        keep = [i for i, p in enumerate(points) if p.name in wanted]
        points, pre_tensors = [points[i] for i in keep], [pre_tensors[i] for i in keep]
    out_shape = tuple(model.outputs[0].shape[1:])
    if len(out_shape) == 1 and out_shape[0] is not None and out_shape[0] >= 2:
        logits, kind, note = logits_of(model, trace, sample_x)
        graph = keras.Model(flat_input, [*pre_tensors, logits, trace.final], name=f"{model.name}_monitored")
        classes = int(out_shape[0])
    else:
        kind, classes = "regression", None
        note = (f"the output has shape {out_shape}, not one score per class: pre-activations, gradients and "
                "update sizes are recorded; logits, softmax and accuracy do not apply")
        graph = keras.Model(flat_input, [*pre_tensors, trace.final], name=f"{model.name}_monitored")
    unprobed = [u for u in trace.unprobed if u.reason != "input"]
    names = [p.name for p in points]
    try:
        between = layers_between(model, names)
    except Exception:  # only notes for the variance rule: never worth failing the monitor over
        between = {}
    return MonitorProbe(graph, points, unprobed, classes, kind, note, between)
