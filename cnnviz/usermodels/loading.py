"""Opening a person's ``.keras`` file without trusting it.

A ``.keras`` file is a zip archive holding ``config.json`` (the architecture),
``model.weights.h5`` and ``metadata.json``. Deserialising the config builds Python
objects, so everything that could run code or exhaust memory is refused *before*
Keras sees the file:

* size over the upload cap (default 200 MB; ``CNNVIZ_MAX_UPLOAD_MB`` changes it);
* not a zip (legacy HDF5 ``.h5``, a SavedModel directory, a truncated download);
* a zip bomb: members declaring far more bytes than the archive holds (Keras
  stores members uncompressed, so an honest file unpacks to about its own size);
* members outside the known layout (path tricks such as ``../``);
* a config naming a ``Lambda`` layer (its Python bytecode would run), a layer that
  wraps foreign code (``TFSMLayer``, ``JaxLayer``, ...), or any class that is not
  part of Keras itself (custom registered layers, functions from ``__main__``).

Only then does :func:`load_user_model` call ``keras.saving.load_model(path,
safe_mode=True, compile=False)``, whose own safe mode is a second line of defence.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

from cnnviz.errors import UserError

DEFAULT_MAX_UPLOAD_MB = 200
MAX_EXPANSION_RATIO = 20  # unpacked bytes per archive byte; honest .keras files are ~1
EXPANSION_SLACK_BYTES = 1 << 20  # tiny archives may legitimately compress their JSON
MAX_CONFIG_BYTES = 32 << 20
MAX_MEMBERS = 10_000
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
RESAVE_HINT = "re-save it with model.save('model.keras') in Keras 3"

# Built-in Keras layers that run code from outside the file's config.
CODE_RUNNING_LAYERS = {
    "Lambda": "a Lambda layer stores Python bytecode, and loading it would run that code",
    "TFSMLayer": "a TFSMLayer loads and runs a TensorFlow SavedModel from another path",
    "JaxLayer": "a JaxLayer wraps arbitrary JAX functions",
    "FlaxLayer": "a FlaxLayer wraps an arbitrary Flax module",
    "TorchModuleWrapper": "a TorchModuleWrapper wraps an arbitrary PyTorch module",
    "TFOpLambda": "a TFOpLambda layer calls TensorFlow functions by name",
    "SlicingOpLambda": "a SlicingOpLambda layer calls TensorFlow functions by name",
}
# Marker dicts of the Keras serialisation format that build plain values, not objects.
VALUE_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
KNOWN_MEMBERS = {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}


def max_upload_bytes() -> int:
    """The upload cap in bytes: ``CNNVIZ_MAX_UPLOAD_MB`` if set, else 200 MB."""
    raw = os.environ.get("CNNVIZ_MAX_UPLOAD_MB", "")
    try:
        megabytes = float(raw) if raw else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        megabytes = DEFAULT_MAX_UPLOAD_MB
    return int(megabytes * 1024 * 1024)


def check_upload_size(size: int, name: str = "the file", max_bytes: int | None = None) -> None:
    """Refuse ``size`` bytes if it is over the cap (call before reading an upload)."""
    cap = max_upload_bytes() if max_bytes is None else int(max_bytes)
    if size > cap:
        raise UserError(f"{name} is {_mb(size)}, over the upload limit of {_mb(cap)}")


def check_model_file(path: str | Path, max_bytes: int | None = None) -> dict:
    """Every pre-check on a ``.keras`` file; returns its parsed ``config.json``.

    Nothing in the file is deserialised here: the config is only read as JSON.
    Raises UserError with the reason for any refusal.
    """
    path = Path(path)
    name = path.name
    if path.is_dir():
        raise UserError(f"{name} is a directory (a TensorFlow SavedModel?); cnnviz takes a single .keras file: "
                        f"{RESAVE_HINT}")
    if not path.is_file():
        raise UserError(f"no model file at {path}")
    check_upload_size(path.stat().st_size, name, max_bytes)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head == HDF5_MAGIC or path.suffix.lower() in {".h5", ".hdf5"}:
        raise UserError(f"{name} is a legacy HDF5 (.h5) model, which cnnviz does not load because its format predates "
                        f"Keras 3's safe loading; {RESAVE_HINT}")
    if path.suffix.lower() != ".keras":
        raise UserError(f"{name} is not a .keras file; {RESAVE_HINT}")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(archive, name, path.stat().st_size)
            config = _read_config(archive, name)
    except zipfile.BadZipFile:
        raise UserError(f"{name} is not a readable .keras archive (corrupt or truncated download?); "
                        f"{RESAVE_HINT}") from None
    check_config(config, name)
    return config


def _check_members(archive: zipfile.ZipFile, name: str, archive_bytes: int) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise UserError(f"{name} holds {len(infos)} files; a .keras archive holds a handful")
    for info in infos:
        member = info.filename
        if member.startswith(("/", "\\")) or ".." in Path(member).parts or not (
                member in KNOWN_MEMBERS or member.startswith("assets/")):
            raise UserError(f"{name} contains an unexpected file {member!r}, so it is not a .keras model archive")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_EXPANSION_RATIO * archive_bytes + EXPANSION_SLACK_BYTES:
        raise UserError(f"{name} would unpack to {_mb(unpacked)} from {_mb(archive_bytes)} (a zip bomb?); "
                        "refusing to open it")
    missing = {"config.json"} - {info.filename for info in infos}
    if missing or not any(info.filename.startswith("model.weights.") for info in infos):
        raise UserError(f"{name} lacks config.json or model.weights.h5, so it is not a complete .keras model; "
                        f"{RESAVE_HINT}")


def _read_config(archive: zipfile.ZipFile, name: str) -> dict:
    info = archive.getinfo("config.json")
    if info.file_size > MAX_CONFIG_BYTES:
        raise UserError(f"{name}: config.json is {_mb(info.file_size)}, far larger than any real model's")
    try:
        return json.loads(archive.read(info))  # read() checks the CRC: catches corrupted bytes
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, EOFError, OSError):
        raise UserError(f"{name}: its config.json is damaged (corrupt or truncated file); {RESAVE_HINT}") from None


def check_config(config, name: str = "the model") -> None:
    """Walk a Keras config and refuse anything that would run code or is not Keras's own.

    Raises UserError naming the first offending layer or class.
    """
    for node, owner in _serialised_objects(config, None):
        class_name = str(node.get("class_name"))
        where = f" ({owner!r})" if owner else ""
        if class_name in CODE_RUNNING_LAYERS or class_name == "__lambda__":
            reason = CODE_RUNNING_LAYERS.get(class_name, CODE_RUNNING_LAYERS["Lambda"])
            raise UserError(f"{name} contains a {class_name} layer{where}; {reason}, so cnnviz refuses it: "
                            "rebuild the model from built-in layers (e.g. Rescaling, Reshape, Activation)")
        if class_name in VALUE_MARKERS:
            continue
        if class_name.startswith("__") or not _is_keras_builtin(node):
            kind = "function" if class_name == "function" else "class"
            shown = node.get("config") if class_name == "function" else (node.get("registered_name") or class_name)
            where = f" in layer {owner!r}" if owner and owner != shown else ""
            raise UserError(f"{name} uses a custom {kind} {shown!r}{where} that is not part of Keras; cnnviz only "
                            "loads models made of built-in Keras layers, because custom code would have to be run")


def _serialised_objects(value, owner):
    """Yield (dict, enclosing layer name) for every serialised object in a config tree."""
    if isinstance(value, list):
        for item in value:
            yield from _serialised_objects(item, owner)
    elif isinstance(value, dict):
        if "class_name" in value:
            inner = value.get("config")
            if isinstance(inner, dict) and isinstance(inner.get("name"), str) and "trainable" in inner:
                owner = inner["name"]  # a layer (dtype policies have names too, but no "trainable")
            yield value, owner
        for key, item in value.items():
            if key != "compile_config":  # loaded with compile=False: Keras discards it unread
                yield from _serialised_objects(item, owner)


def _is_keras_builtin(node: dict) -> bool:
    module, class_name = node.get("module"), node.get("class_name")
    registered = node.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        return False  # "package>Name": registered by user code
    if class_name == "function":
        target = node.get("config")
        if module == "builtins":
            import keras

            return isinstance(target, str) and hasattr(keras.activations, target)
        return isinstance(module, str) and _keras_module_has(module, target)
    return isinstance(module, str) and _keras_module_has(module, class_name)


def _keras_module_has(module: str, attribute) -> bool:
    # Only modules inside the keras package are imported, never a name the file chose freely.
    if not isinstance(attribute, str) or not re.fullmatch(r"keras(\.\w+)*", module):
        return False
    try:
        return hasattr(importlib.import_module(module), attribute)
    except ImportError:
        return False


def load_user_model(path: str | Path, max_bytes: int | None = None):
    """Pre-check ``path`` (see module docs), then load it with Keras's safe mode, uncompiled.

    Raises UserError for every refusal and for files Keras cannot load.
    """
    import keras

    check_model_file(path, max_bytes)
    try:
        return keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as exc:  # Keras reports bad files with many exception types
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{Path(path).name} could not be loaded by Keras ({reason})") from None


def model_from_bytes(file_name: str, data: bytes, max_bytes: int | None = None):
    """Load an uploaded file's bytes with every check :func:`load_user_model` makes.

    The bytes go to a private temporary file (Keras loads from paths), deleted again
    once the weights are in memory. ``file_name`` only supplies the suffix and the
    name used in messages.
    """
    check_upload_size(len(data), file_name, max_bytes)
    safe_name = re.sub(r"[^\w.\-]", "_", Path(file_name).name).lstrip(".") or "upload.keras"
    with tempfile.TemporaryDirectory(prefix="cnnviz-upload-") as folder:
        path = Path(folder) / safe_name
        path.write_bytes(data)
        return load_user_model(path, max_bytes)


def _mb(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
