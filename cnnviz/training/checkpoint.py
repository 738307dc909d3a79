"""Save a Run to a folder and load it back, able to continue exactly where it stopped.

A checkpoint folder holds

* ``model.keras``      the network in Keras's own format (layers and weights), loaded with
                       ``keras.saving.load_model(..., safe_mode=True)``;
* ``optimizer.npz``    every optimizer variable (step counter, learning rate, momenta, ...) —
                       written explicitly because our optimizer lives outside
                       ``model.compile`` and so is not part of ``model.keras``;
* ``model_state.npz``  every model variable, including the dropout layers'
                       seed-generator counters, which ``model.keras`` does not keep
                       (measured on Keras 3.15: they come back as 0, and resumed
                       dropout masks would repeat the first steps' masks);
* ``pending.npz``      the gradient the next step will apply (see cnnviz.training.state);
* ``run.json``         config, step count, per-step losses, halt;
* ``snapshots.json`` + ``snapshot_arrays.npz``  every snapshot (the history);
* ``history.parquet``  the same history as a table, for pandas users.

The batch order is a pure function of (seed, step) (see ``Run.batch_indices``), so
the step count is all the data state there is: 2 steps + save + load + 2 steps
gives the same losses as 4 steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnviz.config import RunConfig
from cnnviz.errors import UserError
from cnnviz.probing.snapshot import Snapshot
from cnnviz.training.state import RunState, StateValues
from cnnviz.training.timeline import Halt

FORMAT = "cnnviz-checkpoint"
VERSION = 3  # 2: the pending gradient and "step k = after k updates" snapshots; 3: layers as to_row records
MODEL_FILE = "model.keras"
MODEL_STATE_FILE = "model_state.npz"
OPTIMIZER_FILE = "optimizer.npz"
PENDING_FILE = "pending.npz"
RUN_FILE = "run.json"
SNAPSHOTS_FILE = "snapshots.json"
ARRAYS_FILE = "snapshot_arrays.npz"
HISTORY_FILE = "history.parquet"
REQUIRED = (MODEL_FILE, MODEL_STATE_FILE, OPTIMIZER_FILE, RUN_FILE, SNAPSHOTS_FILE, ARRAYS_FILE)  # + pending.npz (v2)


# ------------------------------------------------------------------ save
def save_run(run, directory) -> Path:
    """Write ``run`` to ``directory`` (created; an older checkpoint there is replaced).

    Refuses a non-empty folder that is not a checkpoint, so a typo cannot wipe files.
    The files are written to a sibling temporary folder first and moved into place,
    so an interrupted save leaves the previous checkpoint intact.
    """
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise UserError(f"cannot save the run to {target}: it is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / RUN_FILE).is_file():
        raise UserError(f"cannot save the run to {target}: the folder is not empty and holds no cnnviz checkpoint")
    if not target.parent.is_dir():
        raise UserError(f"cannot save the run to {target}: folder {target.parent} does not exist")
    staging = target.parent / f".{target.name}.saving-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write(run, staging)
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write(run, folder: Path) -> None:
    values = run.state_values()
    with run.weights_loaded() as model:
        model.save(folder / MODEL_FILE)
        model_paths = [v.path for v in model.variables]
        optimizer_paths = [f"optimizer/{i}" for i in range(len(values.optimizer))]
    _save_arrays(model_paths, values.model, folder / MODEL_STATE_FILE)
    _save_arrays(optimizer_paths, values.optimizer, folder / OPTIMIZER_FILE)
    _save_arrays([f"pending/{i}" for i in range(len(values.pending))], values.pending, folder / PENDING_FILE)
    snapshots = run.snapshots
    state = {
        "format": FORMAT, "version": VERSION, "config": run.config.to_dict(),
        "step_count": run.step_count, "last_loss": run.last_loss, "losses": list(run.losses),
        "next_loss": run.timeline.losses.get(run.step_count + 1),
        "halted": dataclasses.asdict(run.halted) if run.halted else None,
        "probe_points": run.probed.layer_names,
    }
    (folder / RUN_FILE).write_text(json.dumps(state, indent=1))
    (folder / SNAPSHOTS_FILE).write_text(json.dumps([s.to_record() for s in snapshots]))
    arrays = {}
    for i, snap in enumerate(snapshots):
        arrays[f"logits{i:05d}"] = np.asarray(snap.batch_logits, np.float32)
        arrays[f"labels{i:05d}"] = np.asarray(snap.batch_labels, np.int32)
    np.savez_compressed(folder / ARRAYS_FILE, **arrays)
    if snapshots:
        from cnnviz.probing.history import export_history, snapshots_to_frame

        export_history(snapshots_to_frame(snapshots), folder / HISTORY_FILE)


# ------------------------------------------------------------------ load
@dataclass
class SavedRun:
    """A checkpoint folder, checked and read up to what building its Run needs."""

    folder: Path
    config: RunConfig
    model: object  # the keras.Model in model.keras
    state: dict  # run.json


def open_checkpoint(directory) -> SavedRun:
    """Check ``directory`` and read its description and model; UserError if it is missing,
    incomplete or corrupt. :meth:`cnnviz.training.Run.load` builds the Run from it and then
    calls :func:`restore_run`."""
    folder = Path(directory)
    if not folder.is_dir():
        raise UserError(f"no checkpoint at {folder}: the folder does not exist")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder} is not a complete cnnviz checkpoint: {', '.join(missing)} missing")
    state = _read_json(folder / RUN_FILE)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{folder / RUN_FILE} is not a cnnviz checkpoint description")
    if state.get("version", 0) > VERSION:
        raise UserError(f"{folder} was written by a newer cnnviz (checkpoint version {state['version']})")
    try:
        config = RunConfig.from_dict(state["config"])
    except (KeyError, TypeError) as exc:
        raise UserError(f"{folder / RUN_FILE} has an unreadable configuration ({exc})") from None
    return SavedRun(folder, config, _load_model(folder / MODEL_FILE), state)


def restore_run(run, saved: SavedRun) -> None:
    """Load the saved variables, optimizer state, pending gradient and history into ``run``
    (a Run just built from ``saved.config`` and ``saved.model``)."""
    folder, state, config = saved.folder, saved.state, saved.config
    if run.probed.layer_names != state.get("probe_points"):
        raise UserError(f"{folder}: the saved model's layers do not match the checkpoint description")
    fresh = run._state.host_values()  # the freshly loaded model's variables: the shapes and dtypes to expect
    step = int(state["step_count"])
    model_values = _restore_arrays(fresh.model, folder / MODEL_STATE_FILE, "model")
    optimizer_values = _restore_arrays(fresh.optimizer, folder / OPTIMIZER_FILE, f"{config.optimizer} optimizer")
    trainable_like = [np.zeros(tuple(v.shape), v.dtype) for v in run.model.trainable_variables]
    pending = _restore_arrays(trainable_like, folder / PENDING_FILE, "pending gradient") \
        if (folder / PENDING_FILE).is_file() else None  # version 1: recomputed on the first step
    snapshots = _load_snapshots(folder)
    losses = [float(v) for v in state.get("losses", [])]
    run.restore(RunState(step, StateValues(model_values, optimizer_values, pending)), snapshots,
                {k + 1: loss for k, loss in enumerate(losses)}, Halt(**state["halted"]) if state.get("halted") else None,
                next_loss=state.get("next_loss"))


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is corrupt and cannot be read ({type(exc).__name__})") from None


def _load_model(path: Path):
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path} is not a loadable Keras model ({type(exc).__name__})") from None


def _save_arrays(paths: list[str], values: list[np.ndarray], path: Path) -> None:
    np.savez(path, paths=np.array(paths), **{f"v{i:04d}": np.asarray(v) for i, v in enumerate(values)})


def _restore_arrays(like: list[np.ndarray], path: Path, what: str) -> list[np.ndarray]:
    """Saved arrays in order, checked against ``like`` (paths may differ by name suffixes
    between processes, so only their count, shapes and kinds must agree)."""
    try:
        with np.load(path) as saved:
            paths = [str(p) for p in saved["paths"]]
            values = [saved[f"v{i:04d}"] for i in range(len(paths))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path} is corrupt and cannot be read ({type(exc).__name__})") from None
    if len(like) != len(values):
        raise UserError(f"{path} holds {len(values)} variables; the {what} of this checkpoint has {len(like)}")
    for expected, value, name in zip(like, values, paths):
        if expected.shape != value.shape:
            raise UserError(f"{path}: variable {name} has shape {value.shape}, expected {expected.shape}")
    return [value.astype(expected.dtype, copy=False) for expected, value in zip(like, values)]


def _load_snapshots(folder: Path) -> list[Snapshot]:
    records = _read_json(folder / SNAPSHOTS_FILE)
    try:
        with np.load(folder / ARRAYS_FILE) as arrays:
            return [Snapshot.from_record(r, arrays[f"logits{i:05d}"], arrays[f"labels{i:05d}"])
                    for i, r in enumerate(records)]
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise UserError(f"{folder}: the saved snapshots are corrupt ({type(exc).__name__})") from None
