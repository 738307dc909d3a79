"""Classroom lessons: named presets that set every control at once.

Each lesson names the dashboard page it belongs to and the settings it applies;
the dashboard copies ``settings`` into its widgets, the CLI can print them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    page: str  # "activations" | "compare" | "playground" | ...
    summary: str
    settings: dict = field(default_factory=dict)


LESSONS: dict[str, Lesson] = {lesson.key: lesson for lesson in [
    Lesson("normal-explodes", "Why N(0,1) explodes", "activations",
           "Unit-variance weights multiply the signal by about √(fan-in/2) per ReLU layer: conv4's "
           "pre-activations are ~10,000x conv1's and the softmax is certain of everything.",
           {"arch": "ltfn_convnet", "init": "normal", "optimizer": "adam", "lr": 0.001, "batch_size": 100, "seed": 0}),
    Lesson("small-vanishes", "Why 0.01 vanishes", "activations",
           "Weights of std 0.01 shrink the signal at every layer; the logits are ~0, the softmax is uniform "
           "and the loss sits at ln 10 = 2.3026.",
           {"arch": "ltfn_convnet", "init": "normal-0.01", "optimizer": "adam", "lr": 0.001, "batch_size": 100, "seed": 0}),
    Lesson("he-rescues", "He to the rescue", "activations",
           "Var[w] = 2/fan-in exactly undoes ReLU's halving: every layer's pre-activations keep one scale.",
           {"arch": "ltfn_convnet", "init": "he-normal", "optimizer": "adam", "lr": 0.001, "batch_size": 100, "seed": 0}),
    Lesson("compare-inits", "Four initializers side by side", "compare",
           "The same network and batch under N(0,1), N(0,0.01²), Glorot and He.",
           {"arch": "ltfn_convnet", "inits": ["normal", "normal-0.01", "glorot-uniform", "he-normal"]}),
    Lesson("sigmoid-saturates", "LeNet-5's sigmoids saturate", "activations",
           "With large weights the sigmoid layers of LeNet-5 sit at 0 or 1 and pass almost no gradient.",
           {"arch": "lenet5", "init": "normal", "optimizer": "sgd", "lr": 0.1, "batch_size": 100, "seed": 0}),
    Lesson("lr-too-big", "A learning rate that blows up", "activations",
           "SGD with lr 1e6: the first update throws the weights far away and the loss turns to NaN; "
           "the run stops and says where.",
           {"arch": "ltfn_convnet", "init": "he-normal", "optimizer": "sgd", "lr": 1e6, "batch_size": 100, "seed": 0}),
    Lesson("momentum-overshoots", "Momentum overshoots", "playground",
           "Same learning rate, more momentum: the velocity carries the point past Booth's minimum and it "
           "spirals back; at momentum 0.99 it is still circling after 120 steps.",
           {"preset": "momentum-overshoots"}),
]}
