"""The README's depth tables: per-layer pre-activation std at init, measured next to the theory.

    python scripts/depth_tables.py            # both tables, seeds 0-9, prints Markdown

Measured: the real Keras ``plain_mlp`` (cnnviz.nets.zoo.build_from_config), one forward pass
(inference mode) of 256 training digits of the embedded MNIST sample
(cnnviz.nets.measure.measurement_images, seed 0), the std over batch and units of each
dense layer's output. Theory: cnnviz.diagnosis.theory.plain_chain from the same digits' moments.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEEDS = range(10)
SATURATED_Z = 2.6467  # |tanh(z)| > 0.99 exactly when |z| > atanh(0.99)


def profile(config, images):
    from cnnviz.nets.measure import depth_profile

    return depth_profile(config, images=images).set_index("layer")


def relu_table(images) -> None:
    from cnnviz.config import RunConfig

    print("| init | Var[w] | dense1 std | dense30 std | measured dense30/dense1 (seed 0) | "
          "seeds 0-9: median (min..max) | theory dense30/dense1 | theory per layer |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for init, var_text in (("glorot-uniform", "2/(256+256) = 1/256"), ("he-normal", "2/256")):
        ratios = []
        for seed in SEEDS:
            frame = profile(RunConfig(arch="plain_mlp", init=init, depth=30, width=256, activation="relu",
                                      seed=seed), images)
            ratios.append(frame.loc["dense30", "measured"] / frame.loc["dense1", "measured"])
            if seed == 0:
                first = frame.loc["dense1"]
                last = frame.loc["dense30"]
                theory = last["predicted"] / first["predicted"]
                per_layer = frame.loc["dense3", "predicted"] / frame.loc["dense2", "predicted"]
        print(f"| `{init}` | {var_text} | {first['measured']:.3g} | {last['measured']:.3g} | {ratios[0]:.3g} | "
              f"{statistics.median(ratios):.3g} ({min(ratios):.3g}..{max(ratios):.3g}) | {theory:.3g} | "
              f"×{per_layer:.3g} |")


def tanh_table(images) -> None:
    import keras
    import numpy as np

    from cnnviz.config import RunConfig
    from cnnviz.nets import zoo
    from cnnviz.nets.forward import forward

    print("| weights | dense1 std | dense5 std | dense10 std | theory dense1 / 5 / 10 | dense10 / dense1 "
          "measured vs theory | tanh outputs with abs > 0.99 at dense10 | linear rule holds through |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for init, label in (("normal-0.01", "N(0, 0.01²)"), ("normal", "N(0, 1)"), ("lecun-normal", "1/√n (lecun-normal)")):
        config = RunConfig(arch="plain_mlp", init=init, depth=10, width=500, activation="tanh")
        frame = profile(config, images)
        model = zoo.build_from_config(config, (28, 28, 1), 10)
        outputs = {}

        def keep(layer, inputs, output):
            outputs[layer.name] = np.abs(keras.ops.convert_to_numpy(output))
            return output

        forward(model, images, visit=keep)
        saturated = float(np.mean(outputs["dense10"] > SATURATED_Z))
        m, p = frame["measured"], frame["predicted"]
        holds = [name for name, ok in frame["linear_valid"].items() if ok and name.startswith("dense")]
        print(f"| {label} | {m['dense1']:.3g} | {m['dense5']:.3g} | {m['dense10']:.3g} | "
              f"{p['dense1']:.3g} / {p['dense5']:.3g} / {p['dense10']:.3g} | "
              f"{m['dense10'] / m['dense1']:.3g} vs {p['dense10'] / p['dense1']:.3g} | {saturated:.0%} | "
              f"{holds[-1] if holds else '-'} |")


def main() -> None:
    from cnnviz.config import RunConfig
    from cnnviz.nets.measure import measurement_images

    images = measurement_images(RunConfig(arch="plain_mlp"), (28, 28, 1), 10)
    print("Depth 30, width 256, ReLU plain_mlp at init (256 digits):\n")
    relu_table(images)
    print("\n10 tanh layers x 500 units at init (256 digits, seed 0):\n")
    tanh_table(images)


if __name__ == "__main__":
    main()
