"""Snapshots of a memory as files in the memory directory: numpy ``.npz`` without pickle.

A snapshot is one ``.npz`` archive: the memory's arrays (point clouds, time series, embeddings)
plus ``__meta__``, a UTF-8 JSON document (schema version, memory kind, the memory's structured
state). ``np.load(allow_pickle=False)`` reads it, so opening a file never runs code. Files are
written to a temporary name, fsynced and renamed, so a crash leaves the old snapshot or the new
one, never half of one. Names are plain file names inside the directory: paths, ``..``, hidden
names and symlinks are refused.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from memory_nodes.core.errors import InvalidInputError, SnapshotError
from memory_nodes.storage.event_store import load_arrays

SCHEMA_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class SnapshotStore:
    """Snapshot files of one memory directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(os.path.expanduser(str(directory))).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)

    def resolve(self, name: str) -> Path:
        """The path of snapshot ``name`` (".npz" added if missing), refusing anything that is not a
        plain file name inside the directory."""
        if not _NAME.fullmatch(name or "") or ".." in name:
            raise InvalidInputError(
                f"snapshot name {name!r} must be a plain file name (letters, digits, '_', '-', '.'; no paths)")
        if not name.endswith(".npz"):
            name += ".npz"
        path = self.directory / name
        if path.is_symlink():
            raise InvalidInputError(f"snapshot {name!r} is a symlink; refused")
        if path.resolve().parent != self.directory:
            raise InvalidInputError(f"snapshot {name!r} is outside the memory directory")
        return path

    def save(self, name: str, kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
        """Write a snapshot of a memory of ``kind`` atomically; returns its path."""
        path = self.resolve(name)
        document = {"schema_version": SCHEMA_VERSION, "kind": kind, "state": meta}
        payload = {key: np.ascontiguousarray(value) for key, value in arrays.items()}
        if "__meta__" in payload:
            raise InvalidInputError("array name __meta__ is reserved")
        for key, value in payload.items():
            if value.dtype == object:
                raise InvalidInputError(f"array {key!r} holds Python objects; snapshots hold numbers only")
        payload["__meta__"] = np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, allow_pickle=False, **payload)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return path

    def exists(self, name: str) -> bool:
        return self.resolve(name).is_file()

    def load(self, name: str, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(state, arrays) of snapshot ``name``; ``SnapshotError`` if it is missing, corrupt, of
        another memory or of a newer schema. The file is only read."""
        path = self.resolve(name)
        if not path.is_file():
            raise SnapshotError(f"no snapshot {path.name!r} in {self.directory}")
        try:
            arrays = load_arrays(path)
            document = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, EOFError) as error:
            raise SnapshotError(f"snapshot {path.name!r} is unreadable or corrupt: {error}") from error
        version = document.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SnapshotError(f"snapshot {path.name!r} has schema version {version!r}; this build reads up to "
                                f"{SCHEMA_VERSION}")
        if document.get("kind") != kind:
            raise SnapshotError(f"snapshot {path.name!r} holds a {document.get('kind')!r} memory, not {kind!r}")
        return document["state"], arrays
