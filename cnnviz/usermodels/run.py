"""A user's model as a Run: the same API as a zoo network, plus what the probe found.

:func:`prepare_user_run` takes a ``.keras`` path or a loaded model, adapts the data to its input,
reads (or is told) the pixel range it expects, seeds its random layers, optionally re-draws its
kernels, and returns a :class:`UserModelRun`: a :class:`cnnviz.training.Run` over the flat graph
that :func:`cnnviz.usermodels.probe.probe_user_model` built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cnnviz.config import INPUT_RANGES, RunConfig
from cnnviz.data import Dataset, load_dataset
from cnnviz.errors import UserError
from cnnviz.training import Run
from cnnviz.usermodels.loading import load_user_model
from cnnviz.usermodels.probe import (CHECK_IMAGES, UserModelProbe, detect_input_range, first_line, model_io_shape,
                                     probe_user_model, reinitialize_kernels, seed_stochastic_layers)


class UserModelRun(Run):
    """A :class:`~cnnviz.training.Run` over a user's model: same API, plus what the probe found."""

    def __init__(self, config: RunConfig, dataset: Dataset, probe: UserModelProbe, source: str, notes=()):
        # Same architecture, shape and optimizer as an earlier upload: reuse its compiled core (and the probe
        # owning that core's variables, loaded with this upload's weights) instead of tracing again.
        spec = config.optimizer_spec()
        core_key = ("user-model", probe.architecture_key(), probe.input_shape, probe.classes, probe.output_kind,
                    spec.name, spec.momentum, spec.beta1, spec.beta2, spec.rho, spec.epsilon, config.bins)
        super().__init__(config, dataset=dataset, model=probe.flat_model, probed=probe.probed, core_key=core_key)
        self.user_model = probe
        self.source = source
        self.notes = list(notes)
        images, _ = self.batch(0)
        self.recovered_errors = probe.recovered_pre_activation_error(images)

    def payload_extras(self) -> dict:
        """Extra keys of the ``inspect --model`` JSON payload (see DESIGN.md)."""
        probe = self.user_model
        return {"model": {"file": self.source, "name": probe.model.name, "input_shape": list(probe.input_shape),
                          "classes": probe.classes, "probed_layers": len(probe.probed.points)},
                "unprobed_layers": [u.to_dict() for u in probe.unprobed],
                "output_is_probability": probe.output_is_probability, "output_kind": probe.output_kind,
                "note": probe.note,
                "recovered_pre_activations": [{"name": name, "max_abs_error": error}
                                              for name, error in self.recovered_errors.items()],
                "notes": list(self.notes)}

    def unprobed_table(self):
        """One row per layer that is not probed (name, type, reason): only Dense and conv layers have a pre-activation."""
        return pd.DataFrame([u.to_dict() for u in self.user_model.unprobed], columns=["name", "type", "reason"])

    def view_sentence(self, snapshot) -> str:
        """Which input, classes and data; which network ``snapshot`` shows, on which batch, and its loss and accuracy."""
        shape = "×".join(str(v) for v in self.user_model.input_shape)
        network = ("the network as uploaded (no updates yet)" if snapshot.step == 0 else
                   f"the network after {snapshot.step} update{'s' if snapshot.step != 1 else ''}")
        return (f"Input {shape}, {self.user_model.classes} classes, data: {self.dataset.name}. Step {snapshot.step}: "
                f"{network}, measured on {self.describe_batch(snapshot)}: loss {snapshot.loss:.4g}, "
                f"accuracy {snapshot.accuracy:.1%}.")

    def sentences(self) -> list[str]:
        """The probe's note and this run's notes as sentences (capitalised, one full stop), except the
        input-range note ("pixels are fed ..."), which a page shows on its own line."""
        notes = [note for note in [self.user_model.note, *self.notes]
                 if note and not note.startswith("pixels are fed")]
        return [f"{note[:1].upper()}{note[1:]}" + ("" if note.endswith(".") else ".") for note in notes]

    def recovered_sentence(self) -> str | None:
        """Which layers had their pre-activation recomputed (built-in activations) and how exactly
        re-applying the activation reproduces their output; None when there were none."""
        if not self.recovered_errors:
            return None
        worst = max(self.recovered_errors.values())
        match = "exactly" if worst == 0 else f"to within {worst:.1e}"
        return (f"Layers with a built-in activation ({', '.join(self.recovered_errors)}) had their pre-activation "
                f"recomputed from their own kernel and bias; re-applying the activation reproduces their output "
                f"{match}.")


def prepare_user_run(model, config: RunConfig, dataset: Dataset | None = None, source: str | None = None,
                     notes=(), max_bytes: int | None = None,
                     input_shape: tuple[int, int, int] | None = None, input_range: str | None = None,
                     reinit: str | None = None) -> UserModelRun:
    """A ready :class:`UserModelRun` for a ``.keras`` path or an already loaded model.

    ``dataset`` defaults to ``config.dataset`` adapted to the model's input (padding,
    resizing, channels); a class-count mismatch is a UserError that says what to do.
    ``input_shape`` only matters for models whose Input leaves height/width open.
    ``input_range`` None means "detect it from the model's own layers" (:func:`detect_input_range`);
    ``reinit`` re-draws the model's kernels with that initializer first (:func:`reinitialize_kernels`).
    Stochastic layers (Dropout, ...) are seeded from ``config.seed``: the same upload, the same numbers.
    The notes say what was fed and what was changed.
    """
    if isinstance(model, (str, Path)):
        source = source or Path(model).name
        model = load_user_model(model, max_bytes)
    native_hw = (28, 28) if dataset is None else dataset.native_shape[:2]
    shape, classes = model_io_shape(model, native_hw)
    shape = tuple(input_shape) if input_shape is not None else shape
    if dataset is None:
        dataset = load_dataset(config.dataset, shape, classes if config.dataset == "synthetic" else None)
    dataset = dataset.for_shape(shape)
    if classes < dataset.classes:
        raise UserError(f"the model has {classes} outputs but {dataset.name} has {dataset.classes} classes; "
                        "feed it your own images instead (one sub-folder per class)")
    if config.batch_size > dataset.size("train"):
        raise UserError(f"batch size {config.batch_size} is larger than the {dataset.size('train')} "
                        f"training images of {dataset.name}")
    detected, why = detect_input_range(model)
    if input_range is None:
        config = config.replace(input_range=detected)
        fed = f"pixels are fed in [{_range_text(detected)}] ({why})"
    else:
        config = config.replace(input_range=input_range)
        fed = f"pixels are fed in [{_range_text(input_range)}] as chosen" + (
            "" if input_range == detected else f"; cnnviz would have fed [{_range_text(detected)}] ({why})")
    seeded = seed_stochastic_layers(model, config.seed)
    all_notes = list(notes) + ([f"inputs are {dataset.adaptation()}"] if dataset.adaptation() else []) + [fed]
    if seeded:
        all_notes.append(f"{seeded} random layer state(s) (dropout, noise) seeded from seed {config.seed}, "
                         "so the same file gives the same numbers")
    if reinit:
        changed = reinitialize_kernels(model, reinit, config.seed)
        all_notes.append(f"kernels of {len(changed)} layers re-drawn with {reinit} (seed {config.seed}), biases "
                         "set to 0; the file's own weights are not used")
        config = config.replace(init=reinit)
    sample = config.scale_images(dataset.images("train", np.arange(min(config.batch_size, CHECK_IMAGES))))
    try:
        probe = probe_user_model(model, shape, sample)
        return UserModelRun(config, dataset, probe, source or model.name, all_notes)
    except UserError:
        raise
    except Exception as exc:  # an arbitrary model can fail in ways no check foresaw: say so, in one line
        raise UserError(f"cnnviz could not set up training for this model ({first_line(exc)})") from None


def _range_text(name: str) -> str:
    low, high = INPUT_RANGES[name]
    return f"{low:g}, {high:g}"
