"""RunConfig: everything that defines a run, as one frozen, serialisable value (and parsing what people type)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from cnnviz.errors import UserError
from cnnviz.nets.params import PlainNet, check_fixed_arch_fields, is_plain

MAX_BATCH_SIZE = 4096
MAX_STEPS_PER_CALL = 10_000
# Name -> (low, high): the pixel values fed to the network for black and white.
INPUT_RANGES = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0), "-1-1": (-1.0, 1.0)}


@dataclass(frozen=True)
class RunConfig:
    """The knobs of a run. ``input_shape``/``classes`` of None mean "the architecture's
    default input shape" and "as many classes as the dataset has".

    ``depth``, ``width``, ``activation``, ``norm`` and ``residual`` describe the parametric
    architectures (``plain_mlp``, ``plain_cnn``; see :class:`cnnviz.nets.params.PlainNet`):
    left at None they are filled with that architecture's defaults, so a config always
    spells out its network. For a fixed zoo architecture they must stay None / False.
    """

    arch: str = "ltfn_convnet"
    init: str = "he-normal"
    optimizer: str = "adam"
    lr: float = 0.001
    dataset: str = "mnist-sample"
    batch_size: int = 100
    seed: int = 0
    probe_every: int = 1
    bins: int = 50
    input_shape: tuple[int, int, int] | None = None
    classes: int | None = None
    # The pixel range fed to the network: images are stored in [0, 1]; a model that rescales
    # inside (Rescaling(1/255) first) wants "0-255". See INPUT_RANGES.
    input_range: str = "0-1"
    # Optimizer hyperparameters besides the learning rate (None: cnnviz.nets.optimizers' defaults).
    momentum: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    rho: float | None = None
    epsilon: float | None = None
    depth: int | None = None
    width: int | None = None
    activation: str | None = None
    norm: str | None = None
    residual: bool = False

    def __post_init__(self):
        plain_fields = {"depth": self.depth, "width": self.width, "activation": self.activation,
                        "norm": self.norm, "residual": self.residual}
        if is_plain(self.arch):
            for name, value in PlainNet.with_defaults(self.arch, **plain_fields).to_dict().items():
                object.__setattr__(self, name, value)
        else:
            check_fixed_arch_fields(self.arch, plain_fields)
            object.__setattr__(self, "residual", False)  # None from a hand-written dict means "off"
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size <= 0:
            raise UserError(f"batch size must be a positive whole number, got {self.batch_size!r}")
        if self.batch_size > MAX_BATCH_SIZE:
            raise UserError(f"batch size {self.batch_size} is larger than the cap of {MAX_BATCH_SIZE}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise UserError(f"learning rate must be a positive finite number, got {self.lr!r}")
        if self.probe_every < 1:
            raise UserError(f"probe interval must be at least 1 step, got {self.probe_every!r}")
        if not 5 <= self.bins <= 512:
            raise UserError(f"histogram bins must be between 5 and 512, got {self.bins!r}")
        if self.classes is not None and self.classes < 2:
            raise UserError(f"a classifier needs at least 2 classes, got {self.classes!r}")
        if self.input_range not in INPUT_RANGES:
            raise UserError(f"unknown input range {self.input_range!r}; choose one of: {', '.join(INPUT_RANGES)}")
        for name in ("momentum", "beta1", "beta2", "rho"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise UserError(f"{name} must be in [0, 1), got {value!r}")
        if self.epsilon is not None and not (isinstance(self.epsilon, (int, float)) and math.isfinite(self.epsilon)
                                             and self.epsilon > 0):
            raise UserError(f"epsilon must be a positive number, got {self.epsilon!r}")

    def optimizer_spec(self):
        """The :class:`~cnnviz.nets.optimizers.OptimizerSpec` this run trains with."""
        from cnnviz.nets.optimizers import OptimizerSpec

        return OptimizerSpec(self.optimizer, self.lr, self.momentum, self.beta1, self.beta2, self.rho, self.epsilon)

    def scale_images(self, images):
        """Map images stored in [0, 1] to this run's :attr:`input_range`."""
        low, high = INPUT_RANGES[self.input_range]
        return images if (low, high) == (0.0, 1.0) else images * (high - low) + low

    @property
    def net(self) -> PlainNet | None:
        """The plain net's parameters, or None for a fixed architecture."""
        if not is_plain(self.arch):
            return None
        return PlainNet(self.arch, self.depth, self.width, self.activation, self.norm, self.residual)

    def replace(self, **changes) -> RunConfig:
        """A copy with some fields changed (validated again).

        Changing ``arch`` drops the plain-net fields not given with it: they described
        the old network (a width of 256 units is not a sensible number of channels).
        """
        if "arch" in changes and changes["arch"] != self.arch:
            changes = {"depth": None, "width": None, "activation": None, "norm": None, "residual": False, **changes}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape) if self.input_shape else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (older/newer checkpoints)."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if kwargs.get("input_shape") is not None:
            kwargs["input_shape"] = tuple(kwargs["input_shape"])
        return cls(**kwargs)


def parse_tuple(text: str, kind: type, count: int | None, what: str) -> tuple:
    """Parse "28,28,1" / "-1.5,2" into a tuple, with a clear error naming ``what``."""
    try:
        values = tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"{what} must be comma-separated {kind.__name__}s, got {text!r}") from None
    if count is not None and len(values) != count:
        raise UserError(f"{what} needs {count} comma-separated values, got {text!r}")
    return values
