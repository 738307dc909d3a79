"""Classroom lessons: named presets that set every control at once, each with the claims its text makes.

Each lesson names the dashboard page it belongs to and the settings it applies; the
dashboard copies ``settings`` into its widgets (``train_steps`` / ``steps`` preset the
page's train button). ``claims()`` returns the lesson's sentences as checks
(:mod:`cnnviz.lessons.claims`) against the real runs the page would build
(:mod:`cnnviz.lessons.evidence`): every number the summary states, every finding the page
lists at the moments the lesson talks about (as it opens, and after one press of Train),
and every finding's suggestion, followed. ``tests/test_lessons.py`` verifies every lesson
in :data:`LESSONS`, so a lesson whose text stops matching the tool fails a test. Numbers
in the texts were measured with these settings (seed 0, batch 100, the embedded digits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cnnviz.lessons.claims import (GLOROT_FIX, Claim, advises, findings, findings_and_follows, follow, holds, increasing, layer_std,
                                  mean_loss, measure, saturated, std_ratio, top_probability, variant_ratio)
from cnnviz.lessons.evidence import suggested_learning_rate
from cnnviz.nets.backward import SLOPES

LN10 = math.log(10)


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    page: str  # "activations" | "compare" | "playground" | ...
    summary: str
    settings: dict = field(default_factory=dict)
    # claims(steps) -> the checks of this text, ``steps`` being what one press of the page's train button runs.
    claims: Callable[[int], list[Claim]] = field(default=lambda steps: [], compare=False, repr=False)

    @property
    def steps(self) -> int:
        """How many steps one press of the page's train button runs for this lesson."""
        from cnnviz.lessons.evidence import lesson_steps

        return lesson_steps(self.page, self.settings)

    def verify(self):
        """Every claim's :class:`~cnnviz.lessons.claims.Outcome`, measured on real runs (slow: it trains)."""
        from cnnviz.lessons.claims import verify
        from cnnviz.lessons.evidence import Evidence

        return verify(self.claims(self.steps), Evidence(self.page, self.settings))


# ------------------------------------------------------------------ Activations lessons
def _normal_explodes(n: int) -> list[Claim]:
    kinds = {"exploding_activations", "saturated_softmax", "exploding_gradients"}
    return [
        std_ratio("conv4's pre-activations are ~10,000x conv1's", 0, "conv4", "conv1", 5e3, 2e4),
        measure("the logits reach ~10⁶", 0, lambda e: e.at(0).snapshot.logits.std, 1e5, 1e7),
        measure("the softmax is certain of everything", 0, top_probability(0), 0.99, 1.0),
        measure("the loss is ~10⁶", 0, lambda e: e.at(0).snapshot.loss, 1e5, 1e7),
        findings("findings at step 0", 0, kinds),
        measure(f"Train {n}: the loss falls but stays in the hundreds of thousands", n, mean_loss(n), 1e5, 1e6),
        measure(f"after Train {n} the softmax is still certain", n, top_probability(n), 0.99, 1.0),
        findings(f"findings after Train {n}", n, kinds),
        *[follow(kind, step, "he-normal", init="he-normal") for kind in sorted(kinds) for step in (0, n)],
    ]


def _small_vanishes(n: int) -> list[Claim]:
    return [
        std_ratio("conv4's pre-activations are ~1/100 of conv1's", 0, "conv4", "conv1", 0.005, 0.02),
        measure("the loss sits at ln 10 = 2.3026", 0, lambda e: e.at(0).snapshot.loss, LN10 - 1e-3, LN10 + 1e-3),
        measure("the softmax is uniform", 0, top_probability(0), 0.099, 0.101),
        measure("the logits are ~0", 0, lambda e: e.at(0).snapshot.logits.std, 0.0, 1e-3),
        findings("findings at step 0", 0, {"vanishing_activations", "uniform_softmax"}),
        measure(f"SGD: Train {n} and the loss is still ln 10", n, mean_loss(n), LN10 - 0.003, LN10 + 0.003),
        findings(f"findings after Train {n}", n, {"vanishing_activations", "uniform_softmax", "update_ratio_low"}),
        measure(f"with adam (lr 0.001) the same Train {n} escapes: loss below 1.5", n,
                mean_loss(n, last=3, optimizer="adam", lr=0.001), 0.0, 1.5),
        *[follow(kind, step, "he-normal", init="he-normal")
          for kind in ("vanishing_activations", "uniform_softmax") for step in (0, n)],
        follow("update_ratio_low", n, "raise the learning rate", lr=0.1,
               allow_new={"dead_relu": "ten times the step pushes conv4's units below zero for good: the init, "
                                       "not the learning rate, is the fix (the other findings say so)"}),
    ]


def _he_rescues(n: int) -> list[Claim]:
    hidden = ("conv1", "conv2", "conv3", "conv4")
    return [
        holds("every conv layer's pre-activations keep one scale (std 0.4–0.8)", 0,
              lambda e: (all(0.4 <= e.at(0).std(l) <= 0.8 for l in hidden),
                         ", ".join(f"{l} {e.at(0).std(l):.3g}" for l in hidden))),
        findings("no findings at step 0", 0, set()),
        measure("the loss starts at 2.34", 0, lambda e: e.at(0).snapshot.loss, 2.33, 2.35),
        measure(f"Train {n}: the loss falls from 2.34 to below 0.6", n, mean_loss(n, last=5), 0.0, 0.6),
        findings(f"no findings after Train {n}", n, set()),
    ]


def _sigmoid_saturates(n: int) -> list[Claim]:
    return [
        measure("47% of conv2's sigmoid inputs sit beyond |z| > 4", 0, saturated("conv2", 0), 0.4, 0.55),
        measure("76% of fc1's", 0, saturated("fc1", 0), 0.7, 0.85),
        measure("beyond |z| > 4 sigmoid's slope is under 7% of its maximum (¼)", 0,
                lambda e: float(SLOPES["sigmoid"](np.array([4.0]))[0]) / 0.25, 0.0, 0.071),
        findings("findings at step 0", 0, {"sigmoid_saturation"}),
        measure(f"Train {n}: conv2's saturation stays above 40%", n, saturated("conv2", n), 0.4, 1.0),
        findings(f"findings after Train {n}", n, {"sigmoid_saturation"}),
        std_ratio("the big weights still pass conv1 ~1/7 of fc2's gradient", 0, "conv1", "fc2", 0.05, 0.4,
                  backward=True),
        measure("glorot-normal: nothing saturates, but conv1 gets ~1/2,000 of fc2's gradient", 0,
                variant_ratio("conv1", "fc2", 0, backward=True, init="glorot-normal"), 1e-4, 2e-3),
        *[follow("sigmoid_saturation", step, "glorot-normal", init="glorot-normal",
                 allow_new={"vanishing_gradients": "the lesson's point: sigmoid's slope ≤ ¼ shrinks the gradient"})
          for step in (0, n)],
    ]


def _lr_too_big(n: int) -> list[Claim]:

    def halted(evidence) -> tuple[bool, str]:
        at = evidence.at(n)
        ok = at.halted is not None and at.halted.step == 2 and "non-finite" in at.halted.reason
        return ok, at.halted.message() if at.halted else "did not halt"

    return [
        holds("the findings at step 0 already predict a step of ~10⁸ times the weights", 0,
              lambda e: (("2.1e8 times their size" in e.at(0).finding("exploding_gradients").message),
                         e.at(0).finding("exploding_gradients").message)),
        findings("findings at step 0", 0, {"exploding_gradients"}),
        measure("the first update throws conv1's pre-activations ~10⁶-fold", 1,
                lambda e: e.at(1).std("conv1") / e.at(0).std("conv1"), 1e5, 1e8),
        holds("the next forward pass overflows float32 and the run stops at step 2, naming the layer", n, halted),
        findings(f"findings after Train {n}", n, {"non_finite", "exploding_gradients"}),
        follow("non_finite", n, "lower the learning rate", lr="suggested"),
        measure("the two suggested rates disagree by a factor of 20", n,
                lambda e: (suggested_learning_rate(e.at(n).finding("non_finite").suggestion)
                           / suggested_learning_rate(e.at(n).finding("exploding_gradients").suggestion)), 15, 25),
        follow("exploding_gradients", 0, "lower the learning rate", lr="suggested"),
        follow("exploding_gradients", n, "lower the learning rate", lr="suggested",
               allow_new={"update_ratio_low": "the lesson says so: the predicted rate suits the logits, not the convs"}),
        measure("at lr 5e-4 the conv layers barely move (an update_ratio_low finding)", n,
                lambda e: float(e.variant(n, lr=5e-4).finding("update_ratio_low") is not None), 1.0, 1.0),
    ]


def _glorot_bengio(n: int) -> list[Claim]:
    layers = [f"dense{i}" for i in range(1, 6)]

    def climbing(evidence) -> tuple[bool, str]:
        shares = [saturated(l, 0)(evidence) for l in layers]
        return (increasing(shares) and shares[0] <= 0.05 and shares[-1] >= 0.35,
                " → ".join(f"{s:.0%}" for s in shares))

    return [
        measure("weights of std 0.1 are ~3x Glorot's scale at fan-in 1000", 0,
                lambda e: e.at(0).snapshot.layer("dense2").weight_std / math.sqrt(2 / 2000), 2.5, 3.2),
        holds("the saturated share (|z| > 2) climbs layer by layer, ~3% → ~40%", 0, climbing),
        holds("the std climbs 0.86 → 2.3, then levels off where tanh caps it", 0,
              lambda e: (0.8 <= e.at(0).std("dense1") <= 0.92 and 2.1 <= e.at(0).std("dense5") <= 2.5
                         and 0.9 <= e.at(0).std("dense5") / e.at(0).std("dense4") <= 1.1,
                         " → ".join(f"{e.at(0).std(l):.3g}" for l in layers))),
        findings("no findings at step 0 (under half of any layer saturates)", 0, set()),
        measure(f"Train {n} (SGD, lr 0.1): it learns (loss below 1)", n, mean_loss(n), 0.0, 1.0),
        measure(f"... and dense3 still has ~40% of its units saturated", n, saturated("dense3", n), 0.3, 0.6),
        findings(f"no findings after Train {n}", n, set()),
        measure("standard-uniform: the activations shrink ×0.58 per layer (dense5/dense1 ≈ 0.1)", 0,
                variant_ratio("dense5", "dense1", 0, init="standard-uniform"), 0.07, 0.16),
        measure("standard-uniform: the gradients shrink toward the input the same way (dense1/dense5 ≈ 0.1)", 0,
                variant_ratio("dense1", "dense5", 0, backward=True, init="standard-uniform"), 0.07, 0.16),
        measure("glorot-uniform keeps the activations level (dense5/dense1 0.5–1)", 0,
                variant_ratio("dense5", "dense1", 0, init="glorot-uniform"), 0.5, 1.0),
        measure("glorot-uniform keeps the gradients level (dense1/dense5 0.5–1.3)", 0,
                variant_ratio("dense1", "dense5", 0, backward=True, init="glorot-uniform"), 0.5, 1.3),
    ]


def _bn_rescues(n: int) -> list[Claim]:
    hidden = [f"dense{i}" for i in range(1, 11)]

    def level(evidence) -> tuple[bool, str]:
        stds = [evidence.at(0).std(l) for l in hidden]
        return all(8 <= s <= 14 for s in stds), " ".join(f"{s:.3g}" for s in stds)

    return [
        holds("every dense layer's raw output has std ≈ √(256·½) ≈ 11, at every depth", 0, level),
        measure("without batch norm the same weights reach ~4×10¹⁰ by dense10", 0,
                layer_std("dense10", 0, norm="none"), 2e10, 8e10),
        measure("the loss starts at ~17 (the logits layer has no norm: std ~11)", 0,
                lambda e: e.at(0).snapshot.loss, 10, 30),
        measure("... against ~6×10¹¹ without batch norm", 0, lambda e: e.variant(0, norm="none").snapshot.loss,
                3e11, 1.2e12),
        findings("no findings at step 0", 0, set()),
        measure(f"Train {n} (adam, lr 0.01): the loss falls below 1.2", n, mean_loss(n), 0.0, 1.2),
        measure(f"without batch norm, the same Train {n} leaves it above 10⁸", n, mean_loss(n, norm="none"), 1e8, 1e13),
        findings(f"no findings after Train {n}", n, set()),
    ]


def _residual_depth_50(n: int) -> list[Claim]:
    return [
        measure(f"with skips, Train {n} takes the loss below 1.2", n, mean_loss(n, last=5), 0.0, 1.2),
        measure(f"without skips (the same 50 batch-norm layers) the loss is still ~2.3 after {n}", n,
                mean_loss(n, residual=False), 2.0, 2.6),
        measure("without skips the gradient grows ~10⁴x on its way back to dense1", 0,
                variant_ratio("dense1", "dense50", 0, backward=True, residual=False), 3e3, 1e5),
        measure("the skips add up: the logits start with std ~25, a saturated softmax", 0,
                lambda e: e.at(0).snapshot.logits.std, 10, 50),
        findings("findings at step 0", 0, {"saturated_softmax"}),
        findings(f"no findings after Train {n}", n, set()),
        # The skips add up whatever the initializer (batch norm fixes each branch's scale): the advice
        # names the cure no control here offers, and says such a network often trains anyway.
        advises("saturated_softmax", 0, "each residual branch adds to the signal"),
    ]


# ------------------------------------------------------------------ Compare lessons
def _compare_inits(n: int) -> list[Claim]:
    expected = {0: {"normal": {"exploding_activations", "saturated_softmax", "exploding_gradients"},
                    "normal-0.01": {"vanishing_activations", "uniform_softmax"},
                    "glorot-uniform": set(), "he-normal": set()},
                n: {"normal": {"exploding_activations", "saturated_softmax", "exploding_gradients"},
                    "normal-0.01": set(), "glorot-uniform": set(), "he-normal": set()}}
    claims = [
        std_ratio("N(0,1): conv4 ~10,000x conv1", 0, "conv4", "conv1", 5e3, 2e4, label="normal"),
        std_ratio("N(0, 0.01²): conv4 ~1/100 of conv1", 0, "conv4", "conv1", 0.005, 0.02, label="normal-0.01"),
        std_ratio("Glorot: conv4 ~⅓ of conv1 (ReLU halves what Glorot's variance assumes)", 0, "conv4", "conv1",
                  0.2, 0.5, label="glorot-uniform"),
        std_ratio("He: conv4 within 2x of conv1", 0, "conv4", "conv1", 0.5, 2.0, label="he-normal"),
        measure(f"Train all {n}: N(0,1) is still certain and wrong (loss above 10⁴)", n, mean_loss(n, "normal", 5),
                1e4, 1e7, label="normal"),
        measure(f"Train all {n}: He's loss is below 0.6", n, mean_loss(n, "he-normal", 5), 0.0, 0.6, label="he-normal"),
    ]
    return claims + findings_and_follows(expected)


def _he_2015(n: int) -> list[Claim]:
    xavier, he = "glorot-uniform", "he-normal"
    return [
        std_ratio("Xavier: dense30's std is ~3e-5 of dense1's (×0.71 per layer)", 0, "dense30", "dense1", 1e-5,
                  1e-4, label=xavier),
        std_ratio("He: dense30 stays within 2x of dense1", 0, "dense30", "dense1", 0.5, 2.0, label=he),
        measure(f"Train all {n} (momentum 0.9, lr 0.001): Xavier stalls at ln 10", n, mean_loss(n, xavier, 20),
                LN10 - 0.03, LN10 + 0.03, label=xavier),
        measure(f"... while He's loss falls below 1", n, mean_loss(n, he, 20), 0.0, 1.0, label=he),
        *findings_and_follows({0: {xavier: {"vanishing_activations", "uniform_softmax", "vanishing_gradients"},
                                    he: set()},
                                n: {he: set()}}),
        findings(f"Xavier's findings after {n} steps", n,
                 {"vanishing_activations", "vanishing_gradients", "update_ratio_low", "uniform_softmax"},
                 label=xavier),
        follow("uniform_softmax", n, "he-normal", label=xavier, init=he),
        follow("vanishing_gradients", n, "he-normal", label=xavier, init=he),
        follow("update_ratio_low", n, "check for vanishing gradients", label=xavier, init=he),
        # The signal vanished from step 0 on: the advice names the initializer, not training.
        follow("vanishing_activations", n, "he-normal", label=xavier, init=he),
    ]


def _tanh_500(n: int) -> list[Claim]:
    small, big, fan_in = "normal-0.01", "normal", "lecun-normal"
    return [
        std_ratio("×0.01: the signal shrinks ×0.22 per layer, to ~10⁻⁶ of dense1 by dense10", 0, "dense10", "dense1",
                  5e-7, 5e-6, label=small),
        std_ratio("×1.0: every layer saturates; dense10 ~2x dense1", 0, "dense10", "dense1", 1.5, 3.0, label=big),
        measure("×1.0: ~90% of dense10's tanh units beyond |z| > 2", 0, saturated("dense10", 0, big), 0.8, 1.0,
                label=big),
        std_ratio("1/√n: within 2x over ten layers", 0, "dense10", "dense1", 0.5, 1.0, label=fan_in),
        measure(f"Train all {n} (SGD, lr 0.1): 1/√n learns (loss below 1)", n, mean_loss(n, fan_in), 0.0, 1.0,
                label=fan_in),
        measure(f"... ×0.01 stays at ln 10", n, mean_loss(n, small), LN10 - 0.01, LN10 + 0.01, label=small),
        *findings_and_follows(
            {0: {small: {"vanishing_activations", "uniform_softmax", "vanishing_gradients"},
                 big: {"sigmoid_saturation", "exploding_gradients"}, fan_in: set()},  # two exploding_gradients
             n: {small: {"vanishing_activations", "vanishing_gradients", "update_ratio_low"},
                 big: {"sigmoid_saturation", "exploding_activations", "update_ratio_low"}, fan_in: set()}},
            fixes={"sigmoid_saturation": GLOROT_FIX, "vanishing_activations": GLOROT_FIX,
                   "uniform_softmax": GLOROT_FIX, "vanishing_gradients": GLOROT_FIX,
                   "exploding_gradients": GLOROT_FIX, "exploding_activations": GLOROT_FIX,
                   # "raise the learning rate, or check for vanishing gradients": a 10x rate does not help
                   # (measured); the vanishing-gradient finding beside it names the cure.
                   "update_ratio_low": ("check for vanishing gradients", {"init": "glorot-normal"})}),
        # N(0,1) at step 0 gets two exploding_gradients findings: the backward signal's (above) and the
        # step-size rule's, which names a learning rate.
        follow("exploding_gradients", 0, "lower the learning rate", label=big, lr="suggested"),
    ]


# ------------------------------------------------------------------ Playground lessons
def _momentum_overshoots(n: int) -> list[Claim]:
    def overshoots(evidence) -> tuple[bool, str]:
        import numpy as np

        from cnnviz.playground.presets import run_preset
        from cnnviz.playground.surfaces import get_surface

        comparison = run_preset(evidence.settings["preset"])
        minimum = np.asarray(get_surface(comparison.surface.name).minima[0])
        past, final = [], []
        for path in comparison.trajectories:  # sgd, momentum 0.5, 0.9, 0.99
            towards_start = (path.points[0] - minimum) / np.linalg.norm(path.points[0] - minimum)
            past.append(float(-min(0.0, ((path.points - minimum) @ towards_start).min())))
            final.append(float(np.linalg.norm(path.points[-20:] - minimum, axis=1).max()))
        ok = past[0] < 0.1 and past[1] < past[2] < past[3] and past[2] > 1 and final[2] < 0.5 and final[3] > 1
        return ok, (f"distance past the minimum: {', '.join(f'{v:.3g}' for v in past)}; farthest from it in the last "
                    f"20 steps: {', '.join(f'{v:.3g}' for v in final)}")
    return [holds("more momentum carries the point further past Booth's minimum; 0.9 then settles, 0.99 is still "
                  "circling after 120 steps", 0, overshoots)]


# ------------------------------------------------------------------ the list
CONVNET = {"arch": "ltfn_convnet", "batch_size": 100, "seed": 0}


def _plain(arch: str, depth: int, width: int, activation: str, norm: str = "none", residual: bool = False) -> dict:
    """Every plain-net control, so a lesson never inherits one from the page's last state."""
    return {"arch": arch, "depth": depth, "width": width, "activation": activation, "norm": norm,
            "residual": residual, "batch_size": 100, "seed": 0}


LESSONS: dict[str, Lesson] = {lesson.key: lesson for lesson in [
    Lesson("normal-explodes", "Why N(0,1) explodes", "activations",
           "Unit-variance weights multiply the signal by about √(fan-in/2) per ReLU layer: conv4's pre-activations "
           "are ~10,000x conv1's, the logits reach ~10⁶ and the softmax is certain of everything (loss ~10⁶). "
           "Train 20 with Adam: the loss falls, but stays in the hundreds of thousands — certain and wrong.",
           {**CONVNET, "init": "normal", "optimizer": "adam", "lr": 0.001, "train_steps": 20}, _normal_explodes),
    Lesson("small-vanishes", "Why 0.01 vanishes", "activations",
           "Weights of std 0.01 shrink the signal at every layer: conv4's pre-activations are ~1/100 of conv1's, "
           "the logits are ~0, the softmax is uniform and the loss sits at ln 10 = 2.3026. Plain SGD steps in "
           "proportion to that vanishing gradient: Train 20 and the loss is still ln 10. (Adam rescales every "
           "step to about its learning rate: switch the optimizer to adam and the same 20 steps escape, loss "
           "below 1.5.)",
           {**CONVNET, "init": "normal-0.01", "optimizer": "sgd", "lr": 0.01, "train_steps": 20}, _small_vanishes),
    Lesson("he-rescues", "He to the rescue", "activations",
           "Var[w] = 2/fan-in exactly undoes ReLU's halving: every conv layer's pre-activations keep one scale "
           "(std 0.4–0.8). Train 20: the loss falls from 2.34 to below 0.6, with no findings.",
           {**CONVNET, "init": "he-normal", "optimizer": "adam", "lr": 0.001, "train_steps": 20}, _he_rescues),
    Lesson("compare-inits", "Four initializers side by side", "compare",
           "The same network and batch under N(0,1), N(0,0.01²), Glorot and He: conv4 is ~10,000x conv1, ~1/100 of "
           "it, ~⅓ of it (Glorot's variance is made for tanh; ReLU halves it) and within 2x of it. Train all 20 "
           "(Adam): N(0,1) stays certain and wrong (loss above 10⁴), He's loss drops below 0.6.",
           {"arch": "ltfn_convnet", "inits": ["normal", "normal-0.01", "glorot-uniform", "he-normal"],
            "optimizer": "adam", "lr": 0.001, "steps": 20}, _compare_inits),
    Lesson("sigmoid-saturates", "LeNet-5's sigmoids saturate", "activations",
           "N(0,1) weights push LeNet-5's sigmoid inputs far from 0: 47% of conv2's and 76% of fc1's sit beyond "
           "|z| > 4, where the slope is under 7% of its maximum, and training (SGD, Train 20) leaves them there. "
           "The backward-signal chart holds a surprise: the big weights still pass conv1 ~1/7 of fc2's gradient. "
           "With glorot-normal nothing saturates, yet conv1 gets ~1/2,000 of it: every sigmoid layer multiplies "
           "the gradient by at most ¼.",
           {"arch": "lenet5", "init": "normal", "optimizer": "sgd", "lr": 0.1, "batch_size": 100, "seed": 0,
            "train_steps": 20}, _sigmoid_saturates),
    Lesson("lr-too-big", "A learning rate that blows up", "activations",
           "SGD with lr 1e8 on a well-initialized net: the findings at step 0 already predict that one step will "
           "change the logits' weights 2e8-fold. Press Train 20: the first update throws conv1's pre-activations "
           "~10⁶-fold, the next forward pass overflows float32 (NaN loss) and the run stops at step 2, naming the "
           "layer, and suggests SGD's usual 0.01, which trains without a finding. The rate predicted at step 0 "
           "(5e-4) keeps the logits' step near 1e-3 of their size but leaves the conv layers barely moving, and a "
           "finding then says so: the two rules disagree by a factor of 20.",
           {**CONVNET, "init": "he-normal", "optimizer": "sgd", "lr": 1e8, "train_steps": 20}, _lr_too_big),
    Lesson("glorot-bengio", "Glorot & Bengio 2010: tanh saturates layer by layer", "activations",
           "Their 5 × 1000 tanh net, with weights of std 0.1 (~3x Glorot's scale at fan-in 1000): each layer "
           "multiplies the signal until tanh caps it, so the share of saturated units (|z| > 2) climbs layer by "
           "layer, ~3% → ~40%. Train 50 (SGD, lr 0.1): it learns, and the saturation stays. Their 'standard' init "
           "(standard-uniform, Var = 1/(3n)) errs the other way: Reset with it and both the activations and, in "
           "the backward-signal chart, the gradients shrink ×0.58 per layer (their Figs. 6–7); glorot-uniform, "
           "their 'normalized' init, keeps both level. (In the paper saturation also appeared during training, "
           "layer 1 first; on our digits it did not.)",
           {**_plain("plain_mlp", 5, 1000, "tanh"), "init": "truncated-normal-0.1", "optimizer": "sgd", "lr": 0.1,
            "train_steps": 50}, _glorot_bengio),
    Lesson("he-2015", "He et al. 2015: 30 ReLU layers — Xavier stalls, He trains", "compare",
           "A plain 30-layer ReLU net (256 units). Xavier's variance ignores ReLU's halving: ×0.71 per layer, so "
           "dense30 gets ~3e-5 of dense1's signal and the gradient shrinks as much on its way back. Train all "
           "200 with SGD + momentum 0.9 at lr 0.001: Xavier's loss stays at ln 10, He's falls below 1. (Measured "
           "on our digits: Xavier also stalled with plain SGD and with Adam over 500 steps; see README.)",
           {**_plain("plain_mlp", 30, 256, "relu"), "inits": ["glorot-uniform", "he-normal"],
            "optimizer": "momentum", "lr": 0.001, "steps": 200}, _he_2015),
    Lesson("tanh-500", "10 tanh layers × 500 units at 0.01, 1.0 and 1/√n", "compare",
           "The classic demonstration. Weights × 0.01 shrink the signal ×0.22 per layer until dense10 has ~10⁻⁶ "
           "of dense1's; × 1.0 saturate every tanh (~90% of dense10 beyond |z| > 2); 1/√n (lecun-normal) stays "
           "within 2x over ten layers. The depth view draws the theory dashed. Train all 50 (SGD, lr 0.1): only "
           "1/√n learns; × 0.01 stays at ln 10.",
           {**_plain("plain_mlp", 10, 500, "tanh"), "inits": ["normal-0.01", "normal", "lecun-normal"],
            "optimizer": "sgd", "lr": 0.1, "steps": 50}, _tanh_500),
    Lesson("bn-rescues", "BatchNorm rescues N(0,1)", "activations",
           "Ten ReLU layers with N(0,1) weights and batch norm before every ReLU: each layer's raw output still has "
           "std ≈ √(256·½) ≈ 11, but the same at every depth, because batch norm hands the next layer unit-scale "
           "inputs; without it the same weights reach ~4×10¹⁰ by dense10. The loss starts at ~17 (the logits "
           "layer has no norm) instead of ~6×10¹¹, and Train 100 (Adam, lr 0.01) brings it below 1.2; without batch norm "
           "it stays above 10⁸.",
           {**_plain("plain_mlp", 10, 256, "relu", norm="batch"), "init": "normal", "optimizer": "adam", "lr": 0.01,
            "train_steps": 100}, _bn_rescues),
    Lesson("residual-50", "Residual connections keep depth 50 trainable", "activations",
           "Fifty ReLU layers with batch norm and He init. With skips, Train 50 takes the loss below 1.2. Switch "
           "Residual skips off and Reset: the same 50 layers no longer train (loss ~2.3 after 50 steps), and the "
           "backward-signal chart shows why: through fifty batch norms the gradient grows ~10⁴x on its way back to "
           "dense1. The price of the skips: every block adds to the signal, so the logits start at std ~25 and "
           "the softmax saturated, until training shrinks them.",
           {**_plain("plain_mlp", 50, 128, "relu", norm="batch", residual=True), "init": "he-normal",
            "optimizer": "adam", "lr": 0.001, "train_steps": 50}, _residual_depth_50),
    Lesson("momentum-overshoots", "Momentum overshoots", "playground",
           "Same learning rate, more momentum: the velocity carries the point past Booth's minimum and it "
           "spirals back; at momentum 0.99 it is still circling after 120 steps.",
           {"preset": "momentum-overshoots"}, _momentum_overshoots),
]}
