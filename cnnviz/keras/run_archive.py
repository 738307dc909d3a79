"""Unpacking a zipped run folder that someone uploaded, safely.

A zip from a stranger can hold paths that climb out of the target (``../../x``),
absolute paths, symlinks, a million entries, or a few kilobytes that inflate to
gigabytes. :func:`extract_run_zip` takes only the run-folder files (``run.json``,
``snapshots.jsonl``, ``events.jsonl``) from entries with plain relative paths,
never follows or creates links, and stops as soon as the bytes *actually* inflated
pass the cap (the sizes a zip declares are not trusted).
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

from cnnviz.errors import UserError
from cnnviz.keras.run_folder import EVENTS_FILE, RUN_FILE, SNAPSHOTS_FILE

MAX_ZIP_BYTES = 64 * 2**20  # the upload itself
MAX_UNPACKED_BYTES = 256 * 2**20  # what the run files may inflate to, all together
MAX_ENTRIES = 10_000
RUN_FILES = {RUN_FILE, SNAPSHOTS_FILE, EVENTS_FILE}
CHUNK = 2**20


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The path's parts if it is a plain relative path inside the archive, else None."""
    if "\\" in name or name.startswith("/") or "\x00" in name:
        return None
    parts = PurePosixPath(name).parts
    if not parts or any(part in ("", ".", "..") or ":" in part for part in parts):
        return None
    return parts


def extract_run_zip(data: bytes, target, max_unpacked: int = MAX_UNPACKED_BYTES) -> list[Path]:
    """Unpack the run folders in zip ``data`` under ``target``; returns their paths.

    UserError if the bytes are not a zip, it holds no run folder, or it is over a cap.
    """
    if len(data) > MAX_ZIP_BYTES:
        raise UserError(f"the zip is {len(data) / 2**20:.0f} MB; run folders up to {MAX_ZIP_BYTES // 2**20} MB "
                        "zipped are accepted")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise UserError("the upload is not a zip file; zip the run folder (the one holding run.json)") from None
    target = Path(target)
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise UserError(f"the zip holds {len(entries):,} entries; at most {MAX_ENTRIES:,} are accepted")
        total, folders = 0, set()
        for entry in entries:
            parts = _safe_parts(entry.filename)
            if parts is None or entry.is_dir() or parts[-1] not in RUN_FILES:
                continue  # not a run file, or a path that would leave the target: never written
            if stat.S_ISLNK(entry.external_attr >> 16):
                continue
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as source, open(destination, "wb") as sink:
                while chunk := source.read(CHUNK):
                    total += len(chunk)
                    if total > max_unpacked:
                        raise UserError(f"the zip's run files inflate past {max_unpacked // 2**20} MB; "
                                        "that is not a run folder cnnviz wrote")
                    sink.write(chunk)
            if parts[-1] == RUN_FILE:
                folders.add(destination.parent)
    if not folders:
        raise UserError("the zip holds no run folder: zip the folder that ActivationMonitor wrote (with run.json)")
    return sorted(folders)
