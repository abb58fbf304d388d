"""Export to JSON lines + .npy + PLY and import back; the command-line tools on real journals."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import install_prefix, journaled_flat_scenario

from memory_nodes.apps.synthetic_scene import ROOMS, flat_scenario
from memory_nodes.core.errors import SnapshotError
from memory_nodes.core.geometry import Pose
from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.journal import Journal
from memory_nodes.storage.portable import export_memory, import_memory, read_ply


def spatial_with_clouds():
    memory = SpatialMemory(SpatialConfig(rooms=ROOMS))
    for frame in flat_scenario().frames:
        memory.integrate(frame.observations, frame.stamp, frame.view, frame.robot_position)
    rng = np.random.default_rng(0)
    cloud = rng.uniform([2.9, 3.9, 0.1], [3.1, 4.1, 0.3], (400, 3))
    for stamp in (2000.0, 2000.5):  # two detections confirm it
        memory.integrate([Observation("box", Pose(np.array([3.0, 4.0, 0.2])), np.ones(3) * 0.2, points=cloud)], stamp)
    return memory


def test_export_is_readable_without_the_package_and_imports_back(tmp_path, encoder):
    spatial = spatial_with_clouds()
    semantic = SemanticMemory(text_encoder=encoder)
    semantic.add_fact("mug", "is_in", "kitchen", stamp=1.0)
    semantic.add_fact("mug", "is_in", "office", stamp=2.0)
    manifest = export_memory(tmp_path, {"spatial": spatial.snapshot(), "semantic": semantic.snapshot()})
    document = json.loads(manifest.read_text())
    assert document["memories"] == ["semantic", "spatial"] and document["counts"]["semantic"]["facts"] == 2
    lines = [json.loads(line) for line in (tmp_path / "semantic.jsonl").read_text().splitlines()]
    assert {line["item"][3] for line in lines if line["key"] == "facts"} == {"kitchen", "office"}
    box = next(o for o in spatial.objects() if o.label == "box")
    cloud = read_ply(tmp_path / "clouds" / f"{box.id}.ply")
    assert np.allclose(cloud, box.points, atol=1e-5)
    imported = import_memory(tmp_path)
    restored = SpatialMemory(SpatialConfig(rooms=ROOMS))
    restored.restore(*imported["spatial"])
    assert sorted((o.id, o.label, o.status) for o in restored.objects()) == \
        sorted((o.id, o.label, o.status) for o in spatial.objects())
    assert np.allclose(restored.get(box.id).points, box.points, atol=1e-5)
    facts = SemanticMemory(text_encoder=encoder)
    facts.restore(*imported["semantic"])
    assert [(f.object, f.superseded_by) for f in facts.all_facts()] == [("kitchen", "fact-2"), ("office", "")]
    assert facts.query(text="where is the cup")[0][0].object == "office"


def test_truncated_or_foreign_exports_are_refused(tmp_path):
    export_memory(tmp_path, {"spatial": spatial_with_clouds().snapshot()})
    lines = (tmp_path / "spatial.jsonl").read_text().splitlines()
    (tmp_path / "spatial.jsonl").write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(SnapshotError):
        import_memory(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "something-else", "version": 1}')
    with pytest.raises(SnapshotError, match="not a"):
        import_memory(tmp_path)


def test_command_line_round_trip_of_journals(tmp_path):
    memory = journaled_flat_scenario(tmp_path / "memory")
    tools = install_prefix() / "lib" / "memory_nodes"
    exported = subprocess.run([str(tools / "memory_export"), str(tmp_path / "memory"), str(tmp_path / "export")],
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    imported = subprocess.run([str(tools / "memory_import"), str(tmp_path / "export"), str(tmp_path / "other")],
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    rebuilt = SpatialMemory(SpatialConfig(rooms=ROOMS))
    Journal(rebuilt, "spatial", SqliteEventStore(tmp_path / "other" / "spatial.sqlite3", "spatial")).restore()
    assert sorted((o.id, o.label) for o in rebuilt.objects()) == sorted((o.id, o.label) for o in memory.objects())


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("craft, refusal", [
    ("kind", "unknown memory kind"),
    ("object_id", "not a plain name"),
    ("cloud_symlink", "symbolic link"),
    ("clouds_folder_outside", "resolves outside"),
], ids=["kind ../..", "object id ../..", "cloud file a symlink", "clouds folder a symlink out"])
def test_a_crafted_export_is_refused_and_nothing_is_written_outside(tmp_path, craft, refusal):
    export, outside, memory_directory = tmp_path / "export", tmp_path / "outside", tmp_path / "memory"
    outside.mkdir()
    (outside / "secret.ply").write_text("ply\nformat ascii 1.0\nelement vertex 1\nend_header\n1 2 3\n")
    export_memory(export, {"spatial": spatial_with_clouds().snapshot()})
    manifest = json.loads((export / "manifest.json").read_text())
    first_id = next(json.loads(line)["item"]["id"] for line in (export / "spatial.jsonl").read_text().splitlines()
                    if json.loads(line)["key"] == "objects")
    if craft == "kind":
        manifest["memories"] = ["../outside/spatial"]
        (export / "manifest.json").write_text(json.dumps(manifest))
    elif craft == "object_id":
        text = (export / "spatial.jsonl").read_text()
        (export / "spatial.jsonl").write_text(text.replace(f'"id": "{first_id}"', '"id": "../../outside/secret"', 1))
    elif craft == "cloud_symlink":
        (export / "clouds" / f"{first_id}.ply").unlink()
        (export / "clouds" / f"{first_id}.ply").symlink_to(outside / "secret.ply")
    else:
        for cloud in (export / "clouds").iterdir():
            (outside / cloud.name).write_text(cloud.read_text())
        shutil.rmtree(export / "clouds")
        (export / "clouds").symlink_to(outside)
    before = _files(outside)
    with pytest.raises(SnapshotError, match=refusal):
        import_memory(export)
    tools = install_prefix() / "lib" / "memory_nodes"
    result = subprocess.run([str(tools / "memory_import"), str(export), str(memory_directory)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and refusal in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not memory_directory.exists() or _files(memory_directory) == []
    assert _files(outside) == before


def test_an_export_never_writes_through_a_link_or_a_crafted_id(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    export = tmp_path / "export"
    export.mkdir()
    (export / "clouds").symlink_to(outside)
    with pytest.raises(SnapshotError, match="symbolic link"):
        export_memory(export, {"spatial": spatial_with_clouds().snapshot()})
    state, arrays = spatial_with_clouds().snapshot()
    state["objects"][0]["id"] = "../../escaped"
    with pytest.raises(SnapshotError, match="not a plain name"):
        export_memory(tmp_path / "second", {"spatial": (state, arrays)})
    assert _files(outside) == [] and not (tmp_path / "escaped.ply").exists()
    assert not (tmp_path / "second" / "spatial.jsonl").exists()  # refused before the first file
