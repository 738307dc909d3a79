"""Named optimizer lessons: a surface, a start, a step budget and the optimizers to race.

Settings were chosen by running the real optimizers; ``tests/test_trajectory_presets.py``
checks each claim of each lesson's text against the real paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnviz.errors import check_choice
from cnnviz.nets.optimizers import OptimizerSpec
from cnnviz.playground.trajectories import Comparison, Point, compare


@dataclass(frozen=True)
class Preset:
    """A named lesson: a surface, a start, a step budget and the optimizers to race."""

    name: str
    title: str
    surface: str
    start: Point
    steps: int
    specs: tuple[OptimizerSpec, ...]
    lesson: str


# Settings were chosen by running the real optimizers (see tests/test_trajectory_presets.py,
# which checks that each lesson still shows what it claims).
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="tutorial",
            title="SGD vs Momentum vs Adam (120 steps)",
            surface="booth",
            start=(8.0, -8.0),
            steps=120,
            specs=(OptimizerSpec("sgd", lr=0.01), OptimizerSpec("momentum", lr=0.01), OptimizerSpec("adam", lr=0.3)),
            lesson="SGD is still short of the minimum after 120 steps; momentum (0.9) gets there "
            "but swings past it first; Adam arrives soonest with only a small overshoot.",
        ),
        Preset(
            name="saddle-escape",
            title="Escaping a saddle point",
            surface="saddle",
            start=(1.0, 0.001),
            steps=120,
            specs=(
                OptimizerSpec("sgd", lr=0.01),
                OptimizerSpec("momentum", lr=0.01),
                OptimizerSpec("rmsprop", lr=0.01),
                OptimizerSpec("adam", lr=0.01),
            ),
            lesson="Starting almost exactly on the ridge, the gradient along y is tiny: SGD slides "
            "into the saddle and sits there; momentum builds speed along y; RMSProp and Adam rescale "
            "the tiny y-gradient and walk off at a steady pace.",
        ),
        Preset(
            name="ravine-zigzag",
            title="Zig-zag in a ravine",
            surface="ravine",
            start=(-9.0, 1.5),
            steps=100,
            specs=(OptimizerSpec("sgd", lr=0.09), OptimizerSpec("momentum", lr=0.02), OptimizerSpec("adam", lr=0.3)),
            lesson="With the steep direction 100x more curved than the shallow one, SGD bounces "
            "between the walls every step and is still more than 1 from the minimum after 100 steps; "
            "momentum averages the bounces away and arrives; Adam rescales each coordinate and arrives too.",
        ),
        Preset(
            name="rastrigin-local-minima",
            title="Local minima on Rastrigin",
            surface="rastrigin",
            start=(3.2, -2.7),
            steps=300,
            specs=(OptimizerSpec("sgd", lr=0.002), OptimizerSpec("momentum", lr=0.007), OptimizerSpec("adam", lr=0.7)),
            lesson="SGD settles into the nearest dimple, far from the global minimum at (0, 0). "
            "Big steps (Adam) or momentum hop out of it, but only into other dimples nearby, "
            "still short of (0, 0).",
        ),
        Preset(
            name="momentum-overshoots",
            title="Momentum overshoots",
            surface="booth",
            start=(-8.0, -8.0),
            steps=120,
            specs=(
                OptimizerSpec("sgd", lr=0.01),
                OptimizerSpec("momentum", lr=0.01, momentum=0.5),
                OptimizerSpec("momentum", lr=0.01, momentum=0.9),
                OptimizerSpec("momentum", lr=0.01, momentum=0.99),
            ),
            lesson="Same learning rate, more momentum: the velocity carries the point past the "
            "minimum and it spirals back; at 0.99 it is still circling after 120 steps.",
        ),
        Preset(
            name="divergence",
            title="Too big a step: divergence",
            surface="rosenbrock",
            start=(-1.5, 2.0),
            steps=300,
            specs=(OptimizerSpec("momentum", lr=0.01), OptimizerSpec("momentum", lr=0.001), OptimizerSpec("adam", lr=0.05)),
            lesson="On Rosenbrock's steep walls, momentum with lr 0.01 is flung out within a few "
            "steps (marked X); lr 0.001 follows the valley; Adam's steps stay near lr in size.",
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; unknown names raise UserError."""
    return PRESETS[check_choice("preset", name, PRESETS)]


def run_preset(name: str | Preset) -> Comparison:
    """Run a named lesson (see :data:`PRESETS`)."""
    preset = get_preset(name) if isinstance(name, str) else name
    return compare(preset.surface, list(preset.specs), preset.start, preset.steps)
