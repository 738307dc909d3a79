"""Run folders: what :class:`~cnnviz.keras.ActivationMonitor` writes, and reading them back.

The format (version 2), all UTF-8 text, append-only::

    run.json          written once when the first fit starts (write to a temporary
                      file, then rename): {"format": "cnnviz-run", "version": 2,
                      "model": {...}, "layers": [{name, type, activation, fan_in}],
                      "unprobed": [...], "monitor": {every, bins, probe_examples, ...},
                      "optimizer": {...}, "between": {...}}
    snapshots.jsonl   one JSON object per line, one line per probed step:
                      {"step", "epoch", "batch", "time", "trained", "applied", "loss",
                       "accuracy", "model_loss", "learning_rate", "input_mean", "input_rms",
                       "layers": [LayerSnapshot.to_row() records],
                       "logits": Summary fields, "softmax": {...}}
    events.jsonl      one JSON object per line: {"event": "fit_start" | "epoch_end" |
                      "non_finite" | "fit_end", "time", "step", ...}
    events.out.tfevents.*   TensorBoard events (only with tensorboard=True)

``step`` counts the optimizer updates applied when the probe ran (0 = before any);
``epoch`` and ``batch`` say where in ``fit`` that was. Numbers that are NaN or
infinite are written as the JSON extensions ``NaN``/``Infinity``, which Python's
``json`` reads back. Each line is written with one ``write`` and flushed to disk
(``fsync``) before the call returns, so a process killed at any moment leaves
complete lines plus at most one torn last line; the reader skips a line without
its newline (and any line that does not parse), so a folder is readable while it
is being written and after a crash.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnviz.errors import UserError
from cnnviz.probing.snapshot import Snapshot

FORMAT = "cnnviz-run"
VERSION = 2  # 2: layers as LayerSnapshot.to_row records (version 1 nested the summary; still read)
RUN_FILE = "run.json"
SNAPSHOTS_FILE = "snapshots.jsonl"
EVENTS_FILE = "events.jsonl"


# ---------------------------------------------------------------- records
def snapshot_record(snapshot: Snapshot, **extra) -> dict:
    """A Snapshot as one JSON-ready line: :meth:`Snapshot.to_record` (layers as
    :meth:`LayerSnapshot.to_row` records) plus ``extra`` (epoch, batch, time, ...)."""
    record = snapshot.to_record()
    del record["batch"]  # here "batch" is the batch within the epoch, given in ``extra``
    return {"step": record.pop("step"), **extra, **record}


def snapshot_from_record(record: dict) -> Snapshot:
    """Rebuild the :class:`Snapshot` written by :func:`snapshot_record` (unknown keys ignored;
    layers in the nested form of earlier versions are read too)."""
    fields = {key: value for key, value in record.items() if key != "batch"}
    fields.update(step=int(record["step"]), loss=_float(record.get("loss")), accuracy=_float(record.get("accuracy")),
                  softmax=dict(record.get("softmax") or {}), trained=bool(record.get("trained", True)),
                  applied=bool(record.get("applied", True)))
    return Snapshot.from_record(fields)


def _float(value) -> float:
    return math.nan if value is None else float(value)


# ---------------------------------------------------------------- writing
def check_log_dir(path) -> Path:
    """The folder as a Path, created if needed; UserError if it cannot hold a run."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"log_dir {folder} is a file, not a folder; give the monitor a folder to write the run into")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create log_dir {folder} ({exc.strerror or exc})") from None
    probe = folder / f".cnnviz-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write into log_dir {folder} ({exc.strerror or exc}); pick a folder you can write to") \
            from None
    return folder


class RunFolderWriter:
    """Appends to a run folder; every line reaches the disk before the call returns."""

    def __init__(self, folder):
        self.folder = check_log_dir(folder)

    def start(self, meta: dict) -> None:
        """Write run.json unless the folder already has one for the same layers (a continued fit).

        UserError if it holds a run of a model with other layers.
        """
        self._terminate_torn_lines()
        path = self.folder / RUN_FILE
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            old_layers = [l.get("name") for l in (old or {}).get("layers", [])]
            new_layers = [l["name"] for l in meta["layers"]]
            if old_layers == new_layers:
                return
            raise UserError(f"log_dir {self.folder} already holds a run of another model (layers "
                            f"{', '.join(map(str, old_layers[:4]))}…); give this fit a new folder")
        temporary = self.folder / f".{RUN_FILE}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"format": FORMAT, "version": VERSION, **meta}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def _terminate_torn_lines(self) -> None:
        """End a line torn by a killed process, so the next record starts on a line of its own."""
        for name in (SNAPSHOTS_FILE, EVENTS_FILE):
            path = self.folder / name
            if path.is_file() and path.stat().st_size:
                with open(path, "rb") as handle:
                    handle.seek(-1, os.SEEK_END)
                    torn = handle.read(1) != b"\n"
                if torn:
                    with open(path, "ab") as handle:
                        handle.write(b"\n")

    def append_snapshot(self, record: dict) -> None:
        self._append(SNAPSHOTS_FILE, record)

    def append_event(self, event: str, **fields) -> None:
        self._append(EVENTS_FILE, {"event": event, "time": time.time(), **fields})

    def _append(self, name: str, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.folder / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = 0
            while written < len(line):  # one write in practice; loop in case the OS splits it
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- reading
class _LineTail:
    """Reads the complete lines appended to a file since the last call (a torn last line waits)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.bad_lines = path, 0, 0

    def new_records(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        records = []
        for line in data[:end].split(b"\n"):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:  # a line torn by a crash and later appended to: skip it, keep the rest
                self.bad_lines += 1
        return records


@dataclass
class RunInfo:
    """The few settings diagnosis reads from a run (``run.config`` of a Run)."""

    lr: float | None
    optimizer: str


@dataclass
class MonitorHalt:
    """Training stopped by ``stop_on_nan``: where the first NaN/Inf appeared."""

    step: int
    layer: str | None
    text: str

    def message(self) -> str:
        return self.text


@dataclass
class MonitoredRun:
    """A run folder read back: the same Snapshot objects a Run holds, so history,
    diagnosis, figures and the report work on it as on a Run. :meth:`refresh` reads
    what was appended since (a folder that a ``fit`` is still writing)."""

    path: Path
    meta: dict
    snapshots: list[Snapshot] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)  # the raw lines (epoch, batch, time, model_loss, ...)
    events: list[dict] = field(default_factory=list)
    halted: MonitorHalt | None = None

    def __post_init__(self):
        self._tails = (_LineTail(self.path / SNAPSHOTS_FILE), _LineTail(self.path / EVENTS_FILE))

    # -- the parts of Run's API that history, diagnosis and figures use
    @property
    def config(self) -> RunInfo:
        optimizer = self.meta.get("optimizer") or {}
        lr = self.records[-1].get("learning_rate") if self.records else optimizer.get("learning_rate")
        return RunInfo(lr if isinstance(lr, (int, float)) and math.isfinite(lr) else None,
                       str(optimizer.get("name", "optimizer")))

    @property
    def classes(self) -> int | None:
        return (self.meta.get("model") or {}).get("classes")

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    @property
    def layer_names(self) -> list[str]:
        return [l["name"] for l in self.meta.get("layers", [])]

    @property
    def step_count(self) -> int:
        return self.snapshots[-1].step if self.snapshots else 0

    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    @property
    def finished(self) -> bool:
        """True once the last fit that wrote here ended (normally or by stop_on_nan)."""
        starts = [e for e in self.events if e.get("event") == "fit_start"]
        ends = [e for e in self.events if e.get("event") == "fit_end"]
        return bool(starts) and len(ends) >= len(starts)

    @property
    def bad_lines(self) -> int:
        return sum(tail.bad_lines for tail in self._tails)

    def last_write_age(self) -> float | None:
        """Seconds since the folder's files last changed (None if it has none)."""
        times = [p.stat().st_mtime for p in (self.path / SNAPSHOTS_FILE, self.path / EVENTS_FILE) if p.exists()]
        return time.time() - max(times) if times else None

    def snapshot_at_init(self) -> Snapshot | None:
        """The first snapshot the callback wrote (the network before training), or None if none yet."""
        return self.snapshots[0] if self.snapshots else None

    def history(self):
        """Tidy DataFrame, one row per layer per probed step (:mod:`cnnviz.probing.history`)."""
        from cnnviz.probing.history import snapshots_to_frame

        return snapshots_to_frame(self.snapshots)

    def findings(self) -> list:
        """:func:`cnnviz.diagnosis.diagnose_run` on the snapshots read so far."""
        from cnnviz.diagnosis import diagnose_run

        return diagnose_run(self)

    def refresh(self) -> int:
        """Read lines appended since the last call; returns how many snapshots were added."""
        snapshot_tail, event_tail = self._tails
        added = 0
        for record in snapshot_tail.new_records():
            try:
                snapshot = snapshot_from_record(record)
            except (KeyError, TypeError, ValueError):
                snapshot_tail.bad_lines += 1
                continue
            self.snapshots.append(snapshot)
            self.records.append(record)
            added += 1
        for event in event_tail.new_records():
            self.events.append(event)
            if event.get("event") == "non_finite" and event.get("stopped"):
                self.halted = MonitorHalt(int(event.get("step", 0)), event.get("layer"), str(event.get("message")))
        return added

    def add(self, snapshot: Snapshot, record: dict) -> None:
        """Record a snapshot in memory (the monitor keeps its own copy of what it writes)."""
        self.snapshots.append(snapshot)
        self.records.append(record)


def read_run_folder(path) -> MonitoredRun:
    """Open a run folder written by the monitor; UserError if it is not one."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"run folder {folder} does not exist" if not folder.exists()
                        else f"{folder} is a file; a run folder is a directory with {RUN_FILE} in it")
    meta_path = folder / RUN_FILE
    if not meta_path.is_file():
        raise UserError(f"{folder} is not a cnnviz run folder: it has no {RUN_FILE} "
                        "(ActivationMonitor writes one when fit starts)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{meta_path} cannot be read ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{meta_path} is not a cnnviz run description")
    if int(meta.get("version", 0)) > VERSION:
        raise UserError(f"{folder} was written by a newer cnnviz (format version {meta.get('version')}); upgrade cnnviz")
    run = MonitoredRun(folder, meta)
    run.refresh()
    return run


def find_run_folders(root, max_depth: int = 3) -> list[Path]:
    """Run folders (directories with a run.json) under ``root``, newest first."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    found = []
    for depth in range(max_depth + 1):
        for path in root.glob("/".join(["*"] * depth) + ("/" if depth else "") + RUN_FILE):
            if path.is_file():
                found.append(path.parent)
    return sorted(set(found), key=lambda p: _mtime(p), reverse=True)


def _mtime(folder: Path) -> float:
    times = [p.stat().st_mtime for p in (folder / RUN_FILE, folder / SNAPSHOTS_FILE) if p.exists()]
    return max(times) if times else 0.0
