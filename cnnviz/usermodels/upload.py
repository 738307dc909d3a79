"""What a person uploads (a ``.keras`` file, perhaps images) turned into runs ready to build.

:func:`plan_upload` checks sizes before reading any bytes, loads the model safely, turns
uploaded images into a dataset that fits the model's input, and settles the run's config;
the returned :class:`UploadPlan` estimates the memory the runs need (so a resource guard can
refuse them first) and makes them: the upload as it is (or with re-drawn kernels) and, when
the kernels were re-drawn, a second copy of the file with its own weights to compare against.

Uploads are any objects with ``name``, ``size`` and ``getvalue()`` (Streamlit's ``UploadedFile``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnviz.config import RunConfig
from cnnviz.data import Dataset
from cnnviz.data.image_folder import images_to_dataset
from cnnviz.errors import UserError
from cnnviz.training.resources import estimate_model
from cnnviz.usermodels.loading import check_upload_size, model_from_bytes
from cnnviz.usermodels.probe import model_io_shape
from cnnviz.usermodels.run import UserModelRun, prepare_user_run


@dataclass
class UploadPlan:
    """A checked, loaded upload and the config of the runs to make from it."""

    name: str
    data: bytes = field(repr=False)
    model: object = field(repr=False)
    config: RunConfig
    dataset: Dataset | None = field(repr=False)  # None: the config's named dataset, adapted to the model
    notes: list[str]
    input_range: str | None  # None: read from the model's own first layers
    reinit: str | None  # an initializer to re-draw the kernels with, or None to keep the file's weights
    input_shape: tuple[int, int, int]

    @property
    def wanted(self) -> list[str]:
        """The runs to make: "run", and "baseline" (the file's own weights) when the kernels are re-drawn."""
        return ["run", "baseline"] if self.reinit else ["run"]

    def estimate(self):
        """The memory estimate of one run (:func:`cnnviz.training.resources.estimate_model`), before building."""
        return estimate_model(self.model, self.config.batch_size, self.config.optimizer, self.input_shape,
                              label=self.name)

    def make(self, which: str) -> UserModelRun:
        """Build ``which`` of :attr:`wanted`; the baseline loads a second, untouched copy of the file."""
        if which == "baseline":
            return prepare_user_run(model_from_bytes(self.name, self.data), self.config, dataset=self.dataset,
                                    source=self.name, notes=self.notes, input_range=self.input_range)
        return prepare_user_run(self.model, self.config, dataset=self.dataset, source=self.name, notes=self.notes,
                                input_range=self.input_range, reinit=self.reinit)


def plan_upload(model_file, images=(), source: str = "mnist-sample", optimizer: str = "adam", lr: float = 0.001,
                batch_size: int = 32, seed: int = 0, input_range: str | None = None,
                reinit: str | None = None) -> UploadPlan:
    """Check and load ``model_file``; with ``source`` "upload", turn ``images`` into the data (the batch
    size shrinks to fit a few images). A UserError says in one sentence what is wrong."""
    check_upload_size(model_file.size, model_file.name)  # before reading the bytes into memory
    data = model_file.getvalue()
    model = model_from_bytes(model_file.name, data)
    shape, _ = model_io_shape(model)
    dataset, notes = None, []
    if source == "upload":
        if not images:
            raise UserError("choose some images to upload, or pick the MNIST sample")
        for image in images:
            check_upload_size(image.size, image.name)
        image_set = images_to_dataset([(f.name, f.getvalue()) for f in images], shape)
        batch_size = image_set.fit_batch_size(int(batch_size))
        dataset, notes = image_set.dataset, image_set.notes
    config = RunConfig(arch=f"file:{model_file.name}", init="from-file", optimizer=optimizer, lr=float(lr),
                       dataset="uploaded images" if source == "upload" else source, batch_size=int(batch_size),
                       seed=int(seed))
    return UploadPlan(model_file.name, data, model, config, dataset, notes, input_range, reinit, shape)


# What the results of an upload depend on, in words (for "these results are out of date: the ... changed").
SETTING_WORDS = {"file": "model file", "source": "data", "images": "images", "optimizer": "optimizer",
                 "lr": "learning rate", "batch_size": "batch size", "seed": "seed", "input_range": "input range",
                 "reinit": "re-initialisation"}


def upload_settings(model_file, source: str, images, controls: dict) -> dict:
    """Everything the results depend on: the file (name, size), the data and the ``controls`` values
    (optimizer, lr, batch_size, seed, input_range, reinit). Two equal dicts give the same results."""
    return {"file": (model_file.name, model_file.size) if model_file is not None else None, "source": source,
            "images": tuple(sorted((f.name, f.size) for f in images)) if source == "upload" else (),
            **{name: controls[name] for name in ("optimizer", "lr", "batch_size", "seed", "input_range", "reinit")}}


def changed_settings(built: dict, now: dict) -> list[str]:
    """The settings (in words, see :data:`SETTING_WORDS`) that differ between two :func:`upload_settings`."""
    return [words for name, words in SETTING_WORDS.items() if built.get(name) != now.get(name)]
