"""Checkpoints as .npz files: parameters, optimizer state and JSON metadata, never pickle.

Layout of the archive (one .npy member per entry):
    "format"        "rnnlab-checkpoint" (unicode scalar): marks the file as ours
    "version"       1 (integer scalar)
    "meta"          JSON text (unicode scalar): model config, vocabulary, step...
    "param/NAME"    one array per parameter, e.g. "param/layer0.W_x"
    "optim/NAME"    one entry per optimizer state item, e.g. "optim/m.W_y", "optim/step"

Loading reads the file only as data: every failure becomes a CheckpointError whose
message a student can act on.
"""
import io
import json
import math
import os
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

FORMAT = "rnnlab-checkpoint"
VERSION = 1
MAX_BYTES = 50 * 2**20  # 50 MB: far above a course-sized model, well below server memory
_FOREIGN = (f"this .npz file is not an RNN Lab checkpoint (it has no '{FORMAT}' marker; "
            "it may come from another program)")


class CheckpointError(ValueError):
    """A checkpoint could not be written or read; the message says why."""


class Checkpoint(NamedTuple):
    """What ``load_checkpoint`` returns."""
    params: dict           # name -> array
    optimizer_state: dict  # name -> array (e.g. "step", "m.W_y"), or None if none was saved
    meta: dict             # the JSON metadata given to save_checkpoint ({} if none)
    version: int


def save_checkpoint(file, params, optimizer_state=None, meta=None):
    """Write a checkpoint with ``np.savez_compressed``.

    Parameters
    ----------
    file : str, os.PathLike or binary file-like (e.g. io.BytesIO for a download button)
        A path is written exactly as given (no ".npz" is appended).
    params : dict name -> float array, all finite
    optimizer_state : dict name -> array or number, optional (``Optimizer.state_dict()``)
    meta : dict, optional
        JSON data (str keys, lists not tuples) that must read back equal, e.g.
        {"cell": "lstm", "hidden_size": 128, "vocab": "abc...", "step": 2000}.
    """
    meta = {} if meta is None else meta
    try:
        text = json.dumps(meta, allow_nan=False)
        round_trips = isinstance(meta, dict) and json.loads(text) == meta
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"meta must be a JSON-serialisable dict: {err}") from err
    if not round_trips:
        raise CheckpointError("meta must be a dict that reads back equal from JSON "
                              "(string keys, lists instead of tuples)")
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION), "meta": np.array(text)}
    for name, value in params.items():
        arrays["param/" + name] = _checked_values(f"parameter {name!r}", np.asarray(value), "f")
    for name, value in (optimizer_state or {}).items():
        arrays["optim/" + name] = _checked_values(f"optimizer state {name!r}", np.asarray(value), "fiu")
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            np.savez_compressed(f, allow_pickle=False, **arrays)
    else:
        np.savez_compressed(file, allow_pickle=False, **arrays)


def load_checkpoint(file, expected_params=None, max_bytes=MAX_BYTES):
    """Read and check a checkpoint written by ``save_checkpoint``.

    Parameters
    ----------
    file : str, os.PathLike, bytes, or binary file-like (e.g. a Streamlit upload)
    expected_params : dict name -> array or (shape, dtype), optional
        The model the checkpoint must fit: same names, shapes and dtypes.
    max_bytes : int
        Largest accepted size, for the file and for its unpacked arrays.

    Returns
    -------
    Checkpoint(params, optimizer_state, meta, version)

    Raises
    ------
    CheckpointError
        For anything other than a valid, fitting checkpoint; nothing is unpickled.
    """
    data = _read_bytes(file, max_bytes)
    if not data:
        raise CheckpointError("the file is empty")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError("this file is not an RNN Lab checkpoint (.npz): it is not a zip "
                              "archive (another kind of file, or damaged/truncated)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            entries = _read_entries(npz, max_bytes)
    except CheckpointError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError,
            NotImplementedError) as err:  # everything zipfile and np.load raise on bad bytes
        raise CheckpointError(f"this checkpoint is damaged and cannot be read ({err})") from err
    version, meta = _check_header(entries)
    params = {k[6:]: _checked_values(f"parameter {k[6:]!r}", v, "f")
              for k, v in entries.items() if k.startswith("param/")}
    state = {k[6:]: _checked_values(f"optimizer state {k[6:]!r}", v, "fiu")
             for k, v in entries.items() if k.startswith("optim/")}
    if expected_params is not None:
        _check_fits(params, expected_params)
    return Checkpoint(params, state or None, meta, version)


def _checked_values(what, value, kinds):
    """value if its dtype kind is in ``kinds`` ("f" float, "i"/"u" integer) and all finite."""
    if value.dtype.kind not in kinds:
        expected = "floating-point" if kinds == "f" else "numeric"
        raise CheckpointError(f"{what} must be {expected}; found dtype {value.dtype}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        kind = "nan" if np.isnan(value).any() else "inf"
        raise CheckpointError(f"{what} contains {kind}; a checkpoint keeps only finite values "
                              "(save the last good one)")
    return value


def _read_bytes(file, max_bytes):
    """At most max_bytes + 1 bytes of the file, or a CheckpointError."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
    else:
        try:
            if isinstance(file, (str, os.PathLike)):
                with open(file, "rb") as f:
                    data = f.read(max_bytes + 1)
            else:
                data = file.read(max_bytes + 1)
        except OSError as err:
            raise CheckpointError(f"cannot read the checkpoint file: {err}") from err
    if len(data) > max_bytes:
        raise CheckpointError(f"the file is larger than the {_size(max_bytes)} limit for checkpoints")
    return data


def _read_entries(npz, max_bytes):
    """All arrays of the archive, after checking headers so nothing huge or pickled is read."""
    members = npz.zip.infolist()
    if "format.npy" not in {m.filename for m in members}:
        raise CheckpointError(_FOREIGN)
    if sum(m.file_size for m in members) > max_bytes:
        raise CheckpointError(f"the checkpoint unpacks to more than the {_size(max_bytes)} limit")
    entries = {}
    for info in members:
        key = info.filename.removesuffix(".npy")
        if key == info.filename:
            raise CheckpointError(f"this checkpoint has an unknown entry {key!r}")
        with npz.zip.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise CheckpointError(f"entry {key!r} has an unsupported .npy version {version}")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
        if dtype.hasobject:
            raise CheckpointError(f"entry {key!r} is an object array (pickled Python data); "
                                  "it was not loaded, because unpickling can run code")
        if math.prod(shape) * dtype.itemsize > info.file_size:  # checked before allocating
            raise CheckpointError(f"entry {key!r} claims more data than it holds; the file is damaged")
        entries[key] = npz[key]
    return entries


def _check_header(entries):
    """Format marker, version and meta, or a CheckpointError; returns (version, meta)."""
    marker = entries.get("format")
    if marker is None or marker.shape != () or str(marker) != FORMAT:
        raise CheckpointError(_FOREIGN)
    version = entries.get("version")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise CheckpointError("this checkpoint has no valid format version")
    if int(version) > VERSION:
        raise CheckpointError(f"this checkpoint has format version {int(version)}, written by a "
                              f"newer RNN Lab; this one reads version {VERSION}")
    if int(version) < 1:
        raise CheckpointError(f"this checkpoint has an unknown format version {int(version)}")
    unknown = [k for k in entries if k not in ("format", "version", "meta")
               and not k.startswith(("param/", "optim/"))]
    if unknown:
        raise CheckpointError(f"this checkpoint has unknown entries {unknown}")
    text = entries.get("meta")
    try:
        meta = json.loads(str(text)) if text is not None and text.dtype.kind == "U" else None
    except ValueError as err:
        raise CheckpointError(f"the checkpoint's metadata is not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise CheckpointError("the checkpoint's metadata is missing or not a JSON object")
    return int(version), meta


def _check_fits(params, expected_params):
    """Refuse params whose names, shapes or dtypes differ from the model's."""
    missing = sorted(set(expected_params) - set(params))
    extra = sorted(set(params) - set(expected_params))
    if missing or extra:
        raise CheckpointError(f"the checkpoint does not fit this model: missing parameters "
                              f"{missing}, unexpected parameters {extra}")
    for name, spec in expected_params.items():
        shape, dtype = ((spec.shape, spec.dtype) if isinstance(spec, np.ndarray)
                        else (tuple(spec[0]), np.dtype(spec[1])))
        found = params[name]
        if found.shape != shape:
            raise CheckpointError(f"parameter {name!r} has shape {found.shape} in the checkpoint, "
                                  f"but this model expects {shape} (different sizes?)")
        if found.dtype != dtype:
            raise CheckpointError(f"parameter {name!r} has dtype {found.dtype} in the checkpoint, "
                                  f"but this model expects {dtype}")


def _size(n_bytes):
    return f"{n_bytes / 2**20:.0f} MB" if n_bytes >= 2**20 else f"{n_bytes} bytes"
