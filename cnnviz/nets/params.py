"""The knobs of the parametric architectures ``plain_mlp`` and ``plain_cnn`` (no Keras here).

A :class:`PlainNet` is ``depth`` hidden layers of ``width`` units (MLP) or channels
(CNN), each followed by an optional normalization and then ``activation``, with
optional residual skips. It is validated on construction, so a bad value becomes
one clear :class:`~cnnviz.errors.UserError` wherever it came from (CLI, dashboard,
a checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnviz.errors import UserError, check_choice
from cnnviz.nets.activations import ACTIVATIONS

PLAIN_ARCHS = ("plain_mlp", "plain_cnn")
NORMS = ("none", "batch", "layer")
MIN_DEPTH, MAX_DEPTH = 1, 100
MIN_WIDTH, MAX_WIDTH = 1, 4096
# What a plain net is when a field is left out (the dashboard's first pick, `summary plain_mlp`).
DEFAULTS = {"plain_mlp": {"depth": 5, "width": 256, "activation": "relu", "norm": "none", "residual": False},
            "plain_cnn": {"depth": 5, "width": 32, "activation": "relu", "norm": "none", "residual": False}}
FIELDS = ("depth", "width", "activation", "norm", "residual")
CNN_KERNEL = 3  # plain_cnn's convs are 3x3, stride 1, 'same' padding


def is_plain(arch: str) -> bool:
    """True for the parametric architectures (``plain_mlp``, ``plain_cnn``)."""
    return arch in PLAIN_ARCHS


def _whole_number(field: str, value, low: int, high: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserError(f"{field} must be a whole number from {low} to {high} ({unit}), got {value!r}")
    return value


@dataclass(frozen=True)
class PlainNet:
    """One plain net: ``depth`` hidden layers of ``width``, then a linear ``logits`` layer.

    ``activation`` is a user-facing name (``leaky-relu``; see
    :data:`cnnviz.nets.activations.ACTIVATIONS`); ``norm`` is ``none``, ``batch`` or
    ``layer``; ``residual`` adds skips (see :mod:`cnnviz.nets.plain` for where they sit).
    """

    arch: str = "plain_mlp"
    depth: int = 5
    width: int = 256
    activation: str = "relu"
    norm: str = "none"
    residual: bool = False

    def __post_init__(self):
        check_choice("parametric architecture", self.arch, PLAIN_ARCHS)
        unit = "units per layer" if self.arch == "plain_mlp" else "channels per layer"
        _whole_number("depth", self.depth, MIN_DEPTH, MAX_DEPTH, "hidden layers")
        _whole_number("width", self.width, MIN_WIDTH, MAX_WIDTH, unit)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("normalization", self.norm, NORMS)
        if not isinstance(self.residual, bool):
            raise UserError(f"residual must be true or false, got {self.residual!r}")

    @classmethod
    def with_defaults(cls, arch: str, **given) -> PlainNet:
        """A PlainNet from the fields given (None = this architecture's default)."""
        check_choice("parametric architecture", arch, PLAIN_ARCHS)
        values = {k: (v if v is not None else DEFAULTS[arch][k]) for k, v in
                  ((k, given.get(k)) for k in FIELDS)}
        return cls(arch, **values)

    def to_dict(self) -> dict:
        return {"depth": self.depth, "width": self.width, "activation": self.activation, "norm": self.norm,
                "residual": self.residual}

    def describe(self) -> str:
        """'30 dense layers × 256 units, relu, no normalization, no skips' and similar."""
        kind, unit = ("dense", "units") if self.arch == "plain_mlp" else ("conv", "channels")
        norm = {"none": "no normalization", "batch": "batch norm", "layer": "layer norm"}[self.norm]
        layers = "layer" if self.depth == 1 else "layers"
        if self.arch == "plain_cnn":
            kind, layers = "conv", f"{layers} (3x3)"
        return (f"{self.depth} {kind} {layers} × {self.width} {unit}, {self.activation}, {norm}, "
                f"{'residual skips' if self.residual else 'no skips'}")


def check_fixed_arch_fields(arch: str, given: dict, flag_prefix: str = "") -> None:
    """UserError if any plain-net field is set for a fixed zoo architecture.

    ``given`` maps field names to values (None / False = not set); ``flag_prefix="--"``
    words the message for the command line.
    """
    set_fields = [name for name in FIELDS if given.get(name) not in (None, False)]
    if set_fields:
        names = ", ".join(flag_prefix + name for name in set_fields)
        verb = "applies" if len(set_fields) == 1 else "apply"
        raise UserError(f"{names} {verb} only to {' and '.join(PLAIN_ARCHS)}; {arch} has a fixed layer table")
