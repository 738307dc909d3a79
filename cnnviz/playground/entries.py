"""The playground's optimizer entries: "momentum", "momentum #2", ... and their settings as plain values.

The page races up to :data:`COPIES` copies of each optimizer, each with its own learning rate
and hyperparameters. This module turns a preset into those settings, settings back into
:class:`OptimizerSpec` objects, and a spec into what "Train the CNN with these settings" sends.
No TensorFlow: the defaults are :data:`cnnviz.nets.optimizers.HYPERPARAMETER_DEFAULTS`.
"""

from __future__ import annotations

import math

from cnnviz.nets.optimizers import HYPERPARAMETER_DEFAULTS, OPTIMIZERS, OptimizerSpec

COPIES = 3  # "momentum", "momentum #2", "momentum #3": race one optimizer under several settings
ENTRIES = [name if copy == 1 else f"{name} #{copy}" for copy in range(1, COPIES + 1) for name in OPTIMIZERS]
HANDOFF_FIELDS = ("momentum", "beta1", "beta2", "rho", "epsilon")


def optimizer_of(entry: str) -> str:
    """'momentum #2' -> 'momentum'."""
    return entry.split(" #")[0]


def setting_names() -> list[str]:
    """Every per-entry setting, as "parameter:entry" ("lr:adam", "beta1:adam #2", ...)."""
    return [f"{p}:{e}" for e in ENTRIES for p in ("lr", *HYPERPARAMETER_DEFAULTS[optimizer_of(e)])]


def preset_settings(preset) -> dict:
    """A :class:`cnnviz.playground.presets.Preset` as setting values: surface, start, steps, the entries
    it races (a repeated optimizer becomes "name #2") and each entry's learning rate and hyperparameters
    (defaults filled in)."""
    settings = {"surface": preset.surface, "start_x": preset.start[0], "start_y": preset.start[1],
                "steps": preset.steps}
    entries, seen = [], {}
    for spec in preset.specs:
        seen[spec.name] = seen.get(spec.name, 0) + 1
        entry = spec.name if seen[spec.name] == 1 else f"{spec.name} #{seen[spec.name]}"
        entries.append(entry)
        settings[f"lr:{entry}"] = spec.learning_rate
        for parameter, default in HYPERPARAMETER_DEFAULTS[spec.name].items():
            value = getattr(spec, parameter)
            settings[f"{parameter}:{entry}"] = default if value is None else value
    settings["entries"] = entries
    return settings


def spec_from_settings(entry: str, lr: float, values: dict) -> OptimizerSpec:
    """The spec of ``entry`` with learning rate ``lr`` and hyperparameter ``values``; a value equal to
    the default is left unset, so legends mention only what was changed."""
    name = optimizer_of(entry)
    given = {}
    for parameter, default in HYPERPARAMETER_DEFAULTS[name].items():
        value = values.get(parameter)
        if value is not None and not math.isclose(value, default, rel_tol=0, abs_tol=1e-12):
            given[parameter] = float(value)
    return OptimizerSpec(name, lr=float(lr), **given)


def filled_settings(spec: OptimizerSpec) -> tuple:
    """A spec with every default filled in, so equal settings compare equal."""
    defaults = HYPERPARAMETER_DEFAULTS[spec.name]
    return (spec.name, spec.learning_rate, *[defaults[p] if getattr(spec, p) is None else getattr(spec, p)
                                             for p in defaults])


def preset_matches(preset, surface: str, start, steps: int, specs) -> bool:
    """Whether the controls still show ``preset`` (surface, start, steps and the same optimizer settings)."""
    return ((preset.surface, tuple(preset.start), preset.steps) == (surface, tuple(start), steps)
            and [filled_settings(s) for s in preset.specs] == [filled_settings(s) for s in specs])


def handoff(spec: OptimizerSpec) -> dict:
    """What "Train the CNN with these settings" sends: the optimizer, its lr and every hyperparameter.

    Hyperparameters the optimizer uses carry their value (defaults filled in, so momentum
    0.9 arrives as 0.9); the ones it does not use are None.
    """
    defaults = HYPERPARAMETER_DEFAULTS[spec.name]
    used = {p: d if getattr(spec, p) is None else float(getattr(spec, p)) for p, d in defaults.items()}
    return {"optimizer": spec.name, "lr": spec.learning_rate} | {field: used.get(field) for field in HANDOFF_FIELDS}
