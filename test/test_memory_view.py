"""The 3D view with a timeline: ``memory_view`` records what the memory believed, on the message-time
timeline, and the recording read back with the rerun SDK matches the memory."""

from __future__ import annotations

import subprocess
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
from conftest import install_prefix
from rclpy.parameter import Parameter
from rerun.chunk import RrdReader
from simulated_memory import fed_by_simulator

from memory_nodes.ros.view_node import STATUS_COLOURS, ViewNode

# Kitchen, living room (mug1 carried there between frames 9 and 10, the apple taken away), the
# playroom, back to the kitchen, where the memory finds the mug gone and links it to the one it saw
# in the living room.
FRAMES = 27


def read_recording(path) -> dict[str, list[tuple[float, dict]]]:
    """entity path -> [(stamp seconds, row as {column: value})] on the ``stamp`` timeline, in time order."""
    rows: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    for chunk in RrdReader(path).stream():
        batch = chunk.to_record_batch()
        if "stamp" not in batch.schema.names:
            continue
        stamps = batch.column("stamp").cast(pa.int64()).to_pylist()
        columns = {name: batch.column(name).to_pylist() for name in batch.schema.names
                   if name not in ("stamp", "log_time", "rerun.controls.RowId")}
        for index, stamp in enumerate(stamps):
            rows[chunk.entity_path].append((stamp * 1e-9, {name: values[index] for name, values in columns.items()}))
    for entity in rows:
        rows[entity].sort(key=lambda item: item[0])
    return rows


def row_at(rows: list[tuple[float, dict]], stamp: float, column: str) -> dict | None:
    """The last row holding ``column`` logged at or before ``stamp`` (what the viewer shows there)."""
    found = None
    for logged, row in rows:
        if logged <= stamp + 1e-6 and row.get(column) is not None:
            found = row
    return found


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("view") / "flat.rrd"
    beliefs: dict[float, dict[str, tuple]] = {}  # frame stamp -> what get_scene_graph said right after it

    def believed(client, frame):
        beliefs[frame.stamp] = {o.id: (o.position, o.status) for o in client.get_scene_graph().objects}

    with fed_by_simulator(FRAMES, after_each_frame=believed, extra_nodes=lambda context: [ViewNode(
            context=context, parameter_overrides=[Parameter("recording_path", value=str(path))])]) as fed:
        graph = fed.client.get_scene_graph()
        changes = fed.client.query_changes(limit=1000)
        stamps = list(fed.stamps)
    return read_recording(path), graph, changes, beliefs, stamps


def test_each_object_is_a_box_where_the_memory_has_it_with_its_label_and_status(recorded):
    rows, graph, _, _, stamps = recorded
    assert graph.objects
    for item in graph.objects:
        entity = rows[f"/world/objects/{item.id}"]
        last = row_at(entity, stamps[-1], "Boxes3D:centers")
        assert last is not None, item.id
        assert np.allclose(last["Boxes3D:centers"][0], item.position, atol=1e-4)
        assert np.allclose(np.asarray(last["Boxes3D:half_sizes"][0]) * 2, item.extent, atol=1e-4)
        assert last["Boxes3D:labels"] == [f"{item.label} {item.id}"]
        r, g, b = STATUS_COLOURS[item.status]
        assert last["Boxes3D:colors"][0] >> 8 == (r << 16) | (g << 8) | b, item.status
    # Objects the memory no longer holds (merged duplicates, dropped ghosts) end cleared.
    kept = {f"/world/objects/{item.id}" for item in graph.objects}
    for entity in [e for e in rows if e.startswith("/world/objects/") and e not in kept]:
        assert "Clear:is_recursive" in rows[entity][-1][1], entity


def test_scrubbing_back_shows_what_the_memory_believed_at_that_moment(recorded):
    rows, _, changes, beliefs, stamps = recorded
    objects = [e for e in rows if e.startswith("/world/objects/")]
    for entity in objects:  # message time, not wall time
        assert {round(t, 3) for t, _ in rows[entity]} <= {round(s, 3) for s in stamps}, entity
    for stamp, believed in beliefs.items():
        for entity in objects:
            object_id = entity.rsplit("/", 1)[1]
            logged = [row for t, row in rows[entity] if t <= stamp + 1e-6]
            if object_id not in believed:  # not yet known, or gone by then: nothing shown
                assert not logged or "Clear:is_recursive" in logged[-1], (stamp, object_id)
                continue
            shown = row_at(rows[entity], stamp, "Boxes3D:centers")
            position, status = believed[object_id]
            assert shown is not None and np.allclose(shown["Boxes3D:centers"][0], position, atol=1e-4), (stamp, object_id)
            r, g, b = STATUS_COLOURS[status]
            assert shown["Boxes3D:colors"][0] >> 8 == (r << 16) | (g << 8) | b, (stamp, object_id, status)
    # The run holds a move the memory recorded, so the timeline shows the object in two places.
    assert any(c.kind == "moved" for c in changes) and len(beliefs) == len(stamps) == FRAMES


def test_changes_are_events_on_the_timeline_and_the_robot_and_camera_are_there(recorded):
    rows, _, changes, _, stamps = recorded
    logged = [(round(t, 3), row["TextLog:text"][0]) for t, row in rows["/changes"]]
    assert sorted(t for t, _ in logged) == sorted(round(c.stamp, 3) for c in changes)
    for change in changes:
        assert any(t == round(change.stamp, 3) and text.startswith(f"{change.kind}: ") and change.object_id in text
                   for t, text in logged), change
    for change in (c for c in changes if c.kind == "moved"):
        arrow = rows[f"/world/changes/{change.object_id}"][-1][1]
        assert np.allclose(arrow["Arrows3D:origins"][0], change.from_position, atol=1e-4)
    path = rows["/world/robot/path"]
    assert len(path) == len(stamps) and len(path[-1][1]["LineStrips3D:strips"][0]) == len(stamps)
    assert [round(t, 3) for t, _ in rows["/world/camera"]] == [round(s, 3) for s in stamps]
    assert len(rows["/world/camera/image/depth"]) == len(stamps)


@pytest.mark.parametrize("arguments, message", [
    (["-p", "recording_path:=/tmp/memory.txt"], "recording_path must name an .rrd file"),
    ([], "memory_view needs somewhere to send the view"),
], ids=["not an .rrd file", "no sink"])
def test_a_bad_configuration_stops_the_node_at_start(arguments, message):
    result = subprocess.run([str(install_prefix() / "lib" / "memory_nodes" / "memory_view"), "--ros-args", *arguments],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and message in result.stderr
