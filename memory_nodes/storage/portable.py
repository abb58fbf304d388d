"""Export and import a whole memory in a portable, inspectable format.

An export is a directory:
    manifest.json                 format name and version, memories exported, counts
    <memory>.jsonl                the memory's state, one JSON object per line:
                                  {"key": <state key>, "item": <one list element>} for list values,
                                  {"key": <state key>, "value": <value>} for the others
    <memory>.<array>.npy          numeric arrays (numpy .npy, read without pickle)
    clouds/<object id>.ply        each spatial object's point cloud (ASCII PLY, metres, frame map)
Nothing in it needs this package to be read; ``import_memory`` rebuilds the memories from it.

An export may come from elsewhere, so every file name in it is checked before use: memory kinds
are the four known ones, object ids are plain names (no separators, no ``..``), and no file read
or written may be a symbolic link or resolve outside the export directory. A crafted export is
refused with a ``SnapshotError`` before anything is written.

``memory_export <memory_directory> <export_directory>`` and ``memory_import <export_directory>
<memory_directory>`` work on the journals of stopped nodes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from memory_nodes.core.errors import SnapshotError
from memory_nodes.storage.event_store import load_array

FORMAT = "memory_nodes-export"
FORMAT_VERSION = 1
MEMORY_KINDS = ("spatial", "temporal", "episodic", "semantic")
EXPORT_FORMATS = ("portable", "spark-dsg")


# An id that is safe as a file name on every system: starts with a letter or digit, then letters,
# digits, '_', '-', '.' (no separators, never '.' or '..').
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def checked_kind(kind: object) -> str:
    if not isinstance(kind, str) or kind not in MEMORY_KINDS:
        raise SnapshotError(f"unknown memory kind {kind!r} (expected one of {', '.join(MEMORY_KINDS)})")
    return kind


def checked_id(object_id: object) -> str:
    if not isinstance(object_id, str) or not SAFE_ID.fullmatch(object_id) or ".." in object_id:
        raise SnapshotError(f"object id {object_id!r} is not a plain name: refused as a file name")
    return object_id


def inside(directory: Path, *parts: str) -> Path:
    """``directory/parts``, refused when it is a symbolic link or resolves outside ``directory``."""
    path = directory.joinpath(*parts)
    if path.is_symlink():
        raise SnapshotError(f"{path} is a symbolic link: refused")
    if not path.resolve().is_relative_to(directory.resolve()):
        raise SnapshotError(f"{path} resolves outside {directory}: refused")
    return path


def write_ply(path: Path, points: np.ndarray) -> None:
    lines = ["ply", "format ascii 1.0", f"element vertex {len(points)}", "property float x", "property float y",
             "property float z", "end_header"]
    lines += [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(points, dtype=np.float64)]
    path.write_text("\n".join(lines) + "\n")


def read_ply(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    if len(lines) < 2 or lines[0] != "ply" or "format ascii 1.0" not in lines[1]:
        raise SnapshotError(f"{path} is not an ASCII PLY file")
    try:
        count = next(int(line.split()[2]) for line in lines if line.startswith("element vertex"))
        start = lines.index("end_header") + 1
        points = np.array([[float(v) for v in line.split()[:3]] for line in lines[start:start + count]],
                          dtype=np.float32).reshape(-1, 3)
    except (StopIteration, ValueError, IndexError) as error:
        raise SnapshotError(f"{path} is a malformed PLY file: {error}") from error
    if len(points) != count:
        raise SnapshotError(f"{path} holds {len(points)} of its {count} vertices: truncated?")
    return points


def export_memory(directory: Path, snapshots: dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]]) -> Path:
    """Write ``snapshots`` (memory kind -> (state, arrays), as ``memory.snapshot()`` returns) to
    ``directory``; returns the manifest path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    inside(directory, "clouds").mkdir(exist_ok=True)
    for kind, (state, _arrays) in snapshots.items():  # every name checked before the first write
        checked_kind(kind)
        for obj in state.get("objects", []) if kind == "spatial" else []:
            checked_id(obj["id"])
    counts, keys = {}, {}
    for kind, (state, arrays) in snapshots.items():
        # The faiss graph of the text index is faiss' own format, not portable: an import rebuilds it.
        state = {key: value for key, value in state.items() if key != "index_slots"}
        arrays = {name: array for name, array in arrays.items() if name != "vector_index"}
        with open(inside(directory, f"{kind}.jsonl"), "w") as stream:
            for key, value in state.items():
                if isinstance(value, list):
                    for item in value:
                        stream.write(json.dumps({"key": key, "item": item}) + "\n")
                else:
                    stream.write(json.dumps({"key": key, "value": value}) + "\n")
        if kind == "spatial":
            offsets = np.concatenate([[0], np.cumsum(arrays.pop("point_counts"))]).astype(int)
            points = arrays.pop("points")
            for index, obj in enumerate(state["objects"]):
                write_ply(inside(directory, "clouds", f"{obj['id']}.ply"), points[offsets[index]:offsets[index + 1]])
        for name, array in arrays.items():
            np.save(inside(directory, f"{kind}.{checked_id(name)}.npy"), array, allow_pickle=False)
        counts[kind] = {key: len(value) for key, value in state.items() if isinstance(value, list)}
        keys[kind] = sorted(state)
    manifest = inside(directory, "manifest.json")
    manifest.write_text(json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "memories": sorted(snapshots),
                                    "keys": keys, "counts": counts}, indent=2))
    return manifest


def import_memory(directory: Path) -> dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """The (state, arrays) of every memory in an export, ready for ``memory.restore``."""
    directory = Path(directory)
    try:
        manifest = json.loads(inside(directory, "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise SnapshotError(f"{directory} has no readable manifest.json: {error}") from error
    if manifest.get("format") != FORMAT or manifest.get("version", 0) > FORMAT_VERSION:
        raise SnapshotError(f"{directory} is not a {FORMAT} export this build can read (got {manifest.get('format')} "
                            f"v{manifest.get('version')})")
    memories = manifest.get("memories")
    if not isinstance(memories, list):
        raise SnapshotError(f"{directory}/manifest.json lists no memories")
    result = {}
    for kind in map(checked_kind, memories):
        state: dict[str, Any] = {}
        with open(inside(directory, f"{kind}.jsonl")) as stream:
            for line in stream:
                record = json.loads(line)
                if "item" in record:
                    state.setdefault(record["key"], []).append(record["item"])
                else:
                    state[record["key"]] = record["value"]
        for key, count in manifest["counts"].get(kind, {}).items():
            state.setdefault(key, [])  # an empty list has no line
            if len(state[key]) != count:
                raise SnapshotError(f"{kind}.jsonl holds {len(state[key])} {key}, the manifest says {count}")
        missing = set(manifest["keys"][kind]) - set(state)
        if missing:
            raise SnapshotError(f"{kind}.jsonl lacks {', '.join(sorted(missing))}: truncated?")
        arrays = {checked_id(path.name[len(kind) + 1:-4]): load_array(inside(directory, path.name))
                  for path in directory.glob(f"{kind}.*.npy")}
        if kind == "spatial":
            clouds = [read_ply(inside(directory, "clouds", f"{checked_id(obj['id'])}.ply")) for obj in state["objects"]]
            arrays["point_counts"] = np.array([len(c) for c in clouds], dtype=np.int64)
            arrays["points"] = np.vstack(clouds) if clouds else np.zeros((0, 3), np.float32)
        result[kind] = (state, arrays)
    return result


def _memories() -> dict[str, type[Any]]:
    from memory_nodes.core.episodic import EpisodicMemory
    from memory_nodes.core.semantic import SemanticMemory
    from memory_nodes.core.spatial import SpatialMemory
    from memory_nodes.core.temporal import TemporalMemory

    return {"spatial": SpatialMemory, "temporal": TemporalMemory, "episodic": EpisodicMemory,
            "semantic": SemanticMemory}


def export_main(args: list[str] | None = None) -> int:
    """memory_export MEMORY_DIRECTORY EXPORT_DIRECTORY: export the journals of stopped nodes."""
    from memory_nodes.storage.event_store import SqliteEventStore
    from memory_nodes.storage.journal import Journal

    parser = argparse.ArgumentParser(description="Export memory journals to JSON lines, .npy and PLY, or the "
                                                 "spatial memory to a Spark-DSG (Hydra) scene graph file.")
    parser.add_argument("memory_directory", type=Path)
    parser.add_argument("export_directory", type=Path, help="a directory; with --format spark-dsg, a file "
                        "(.json, or Spark-DSG binary for any other suffix)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default=EXPORT_FORMATS[0])
    options = parser.parse_args(args)
    kinds = ["spatial"] if options.format == "spark-dsg" else list(MEMORY_KINDS)
    snapshots = {}
    for kind, memory_class in _memories().items():
        if kind not in kinds:
            continue
        path = options.memory_directory / f"{kind}.sqlite3"
        if path.exists():
            memory = memory_class()
            store = SqliteEventStore(path, kind)
            Journal(memory, kind, store).restore()
            store.close()
            snapshots[kind] = memory.snapshot()
    if not snapshots:
        print(f"no journal in {options.memory_directory}", file=sys.stderr)
        return 1
    try:
        if options.format == "spark-dsg":
            from memory_nodes.storage.spark_dsg_format import save_spark_dsg

            document, arrays = snapshots["spatial"]
            print(save_spark_dsg(document, arrays, options.export_directory))
        else:
            print(export_memory(options.export_directory, snapshots))
    except SnapshotError as error:
        print(f"memory_export: {error}", file=sys.stderr)
        return 1
    return 0


def import_main(args: list[str] | None = None) -> int:
    """memory_import EXPORT_DIRECTORY MEMORY_DIRECTORY: journals (new snapshots) from an export."""
    from memory_nodes.storage.event_store import SqliteEventStore
    from memory_nodes.storage.journal import Journal

    parser = argparse.ArgumentParser(description="Import an export, or a Spark-DSG (Hydra) scene graph into the "
                                                 "spatial memory, into memory journals.")
    parser.add_argument("export_directory", type=Path, help="a directory; with --format spark-dsg, a scene graph file")
    parser.add_argument("memory_directory", type=Path)
    parser.add_argument("--format", choices=EXPORT_FORMATS, default=EXPORT_FORMATS[0])
    options = parser.parse_args(args)
    try:
        if options.format == "spark-dsg":
            from memory_nodes.storage.spark_dsg_format import load_spark_dsg

            imported = {"spatial": load_spark_dsg(options.export_directory)}
        else:
            imported = import_memory(options.export_directory)
    except SnapshotError as error:
        print(f"memory_import: {error}", file=sys.stderr)
        return 1
    for kind, (state, arrays) in imported.items():
        memory = _memories()[kind]()
        memory.restore(state, arrays)
        store = SqliteEventStore(options.memory_directory / f"{kind}.sqlite3", kind)
        Journal(memory, kind, store).snapshot()
        store.close()
        print(f"{kind}: imported into {store.path}")
    return 0
