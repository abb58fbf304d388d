"""The spatial memory through Spark-DSG (Hydra's scene-graph format): a round trip through a file read
by ``spark_dsg`` itself, a graph built the way Hydra builds one seeding the memory, and the
command-line tools on real journals."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import spark_dsg as dsg
from conftest import install_prefix, journaled_flat_scenario

from memory_nodes.apps.synthetic_scene import ROOMS, flat_scenario
from memory_nodes.core.errors import SnapshotError
from memory_nodes.core.geometry import Pose
from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory
from memory_nodes.storage.event_store import SqliteEventStore
from memory_nodes.storage.journal import Journal
from memory_nodes.storage.spark_dsg_format import load_spark_dsg, save_spark_dsg


def flat_memory() -> SpatialMemory:
    memory = SpatialMemory(SpatialConfig(rooms=ROOMS))
    for frame in flat_scenario().frames:
        memory.integrate(frame.observations, frame.stamp, frame.view, frame.robot_position)
    cloud = np.random.default_rng(0).uniform([2.9, 3.9, 0.1], [3.1, 4.1, 0.3], (400, 3))
    for stamp in (2000.0, 2000.5):  # two detections with points confirm a box
        memory.integrate([Observation("box", Pose(np.array([3.0, 4.0, 0.2])), np.ones(3) * 0.2, points=cloud)], stamp)
    return memory


def summary(memory: SpatialMemory) -> list[tuple]:
    return sorted((o.id, o.label, o.status.value, o.place_id, memory.room_of(o.place_id), o.observation_count,
                   tuple(np.round(o.position, 4)), tuple(np.round(o.box.extent, 4)), len(o.points))
                  for o in memory.objects(include_tentative=True))


def test_export_opens_in_spark_dsg_with_hydra_layers_and_imports_back_unchanged(tmp_path):
    memory = flat_memory()
    path = save_spark_dsg(*memory.snapshot(), tmp_path / "flat.json")

    graph = dsg.DynamicSceneGraph.load(str(path))
    objects = {node.attributes.name: node for node in graph.get_layer(dsg.DsgLayers.OBJECTS).nodes}
    assert set(objects) == {o.id for o in memory.objects(include_tentative=True)}
    names = graph.get_labelspace("OBJECTS").labels_to_names
    vertices = graph.mesh.get_vertices()[:3].T
    assert len(vertices) == sum(len(o.points) for o in memory.objects(include_tentative=True)) > 100
    for node in memory.objects():
        exported = objects[node.id].attributes
        assert names[exported.semantic_label] == node.label
        assert np.allclose(exported.position, node.position)
        assert np.allclose(exported.bounding_box.dimensions, node.box.extent, atol=1e-5)
        assert np.allclose(vertices[exported.mesh_connections].reshape(-1, 3), node.points.reshape(-1, 3), atol=1e-5)
    rooms = {node.attributes.name for node in graph.get_layer(dsg.DsgLayers.ROOMS).nodes}
    assert rooms == {"room-kitchen", "room-office"}
    places = graph.get_layer(dsg.DsgLayers.PLACES)
    assert places.num_nodes() == sum(1 for p in memory.places() if p.layer.value == "place") > 0
    # Hydra's hierarchy: each object's parent is a place, each place's parent a room.
    mug = next(o for o in memory.objects() if o.label == "mug")
    parent = graph.get_node(objects[mug.id].id).get_parent()
    assert parent is not None and graph.get_node(parent).attributes.name == mug.place_id
    mug_place = next(p for p in memory.places() if p.id == mug.place_id)
    assert graph.get_node(graph.get_node(parent).get_parent()).attributes.name == mug_place.parent_id != ""

    restored = SpatialMemory(SpatialConfig(rooms=ROOMS))
    restored.restore(*load_spark_dsg(path))
    assert summary(restored) == summary(memory)
    assert sorted(restored.relations()) == sorted(memory.relations()) != []
    assert [n.id for n, _, _ in restored.where_is("the mug in the kitchen")] == \
        [n.id for n, _, _ in memory.where_is("the mug in the kitchen")]


def hydra_like_graph(path):
    """A graph as Hydra writes one: no memory_nodes metadata, a labelspace, a mesh, rooms above places
    above objects, place-to-place edges."""
    graph = dsg.DynamicSceneGraph()
    graph.set_labelspace(dsg.Labelspace({7: "mug", 12: "table"}), "OBJECTS")
    rng = np.random.default_rng(1)
    mug_points = rng.uniform([1.95, 2.95, 0.75], [2.05, 3.05, 0.85], (50, 3))
    mesh = dsg.Mesh(False, False, False, False)
    mesh.set_vertices(np.vstack([mug_points.T, np.zeros((3, 50))]))
    graph.mesh = mesh
    for index, (label, centre, size) in enumerate([(7, [2.0, 3.0, 0.8], [0.1, 0.1, 0.1]),
                                                   (12, [2.0, 3.0, 0.35], [1.2, 0.8, 0.7])]):
        attributes = dsg.ObjectNodeAttributes()
        attributes.semantic_label = label
        attributes.position = np.array(centre)
        attributes.bounding_box = dsg.BoundingBox(dsg.BoundingBoxType.AABB, np.array(size, np.float32),
                                                  np.array(centre, np.float32), np.eye(3, dtype=np.float32))
        attributes.last_update_time_ns = 5_000_000_000
        if label == 7:
            attributes.mesh_connections = list(range(50))
        graph.add_node(dsg.DsgLayers.OBJECTS, dsg.NodeSymbol("O", index), attributes)
    for index, position in enumerate([[1.0, 3.0, 0.0], [4.0, 3.0, 0.0]]):
        attributes = dsg.PlaceNodeAttributes()
        attributes.position = np.array(position)
        graph.add_node(dsg.DsgLayers.PLACES, dsg.NodeSymbol("p", index), attributes)
    room = dsg.RoomNodeAttributes()
    room.position = np.array([2.5, 3.0, 0.0])
    room.name = "kitchen"
    graph.add_node(dsg.DsgLayers.ROOMS, dsg.NodeSymbol("R", 0), room)
    graph.insert_edge(dsg.NodeSymbol("p", 0), dsg.NodeSymbol("p", 1))
    for place in (0, 1):
        graph.insert_edge(dsg.NodeSymbol("R", 0), dsg.NodeSymbol("p", place))
    for index in (0, 1):
        graph.insert_edge(dsg.NodeSymbol("p", 0), dsg.NodeSymbol("O", index))
    graph.save(str(path))
    return mug_points


def test_a_hydra_map_seeds_the_memory_and_later_sightings_update_its_objects(tmp_path):
    mug_points = hydra_like_graph(tmp_path / "hydra.json")
    memory = SpatialMemory(SpatialConfig())
    memory.restore(*load_spark_dsg(tmp_path / "hydra.json"))
    mug = memory.where_is("mug")[0][0]
    assert mug.label == "mug" and np.allclose(mug.position, [2.0, 3.0, 0.8])
    assert np.allclose(mug.points, mug_points, atol=1e-5) and mug.counted
    assert memory.room_of(mug.place_id) == "room-kitchen"
    assert memory.where_is("the mug in the kitchen")[0][0].id == mug.id
    assert {o.label for o in memory.objects()} == {"mug", "table"}
    # The memory goes on from the map: the mug seen again where Hydra had it is the same object.
    for stamp in (10.0, 10.5):
        memory.integrate([Observation("mug", Pose(np.array([2.01, 3.0, 0.8])), np.full(3, 0.1),
                                      points=mug_points + np.array([0.01, 0, 0]))], stamp)
    mugs = [o for o in memory.objects(include_tentative=True) if o.label == "mug"]
    assert [o.id for o in mugs] == [mug.id] and mugs[0].observation_count == 3 and mugs[0].last_seen == 10.5


def test_a_graph_from_a_newer_format_or_not_a_graph_is_refused(tmp_path):
    path = save_spark_dsg(*flat_memory().snapshot(), tmp_path / "graph.json")
    graph = dsg.DynamicSceneGraph.load(str(path))
    metadata = dict(graph.metadata.get())
    metadata["memory_nodes"] = {**metadata["memory_nodes"], "format_version": 99}
    graph.metadata.set(metadata)
    graph.save(str(path))
    with pytest.raises(SnapshotError, match="newer"):
        load_spark_dsg(path)
    (tmp_path / "junk.json").write_text('{"nodes": 3}')
    with pytest.raises(SnapshotError, match="not a Spark-DSG"):
        load_spark_dsg(tmp_path / "junk.json")


def test_command_line_exports_journals_to_spark_dsg_and_imports_back(tmp_path):
    memory = journaled_flat_scenario(tmp_path / "memory")
    tools = install_prefix() / "lib" / "memory_nodes"
    graph_file = tmp_path / "scene.sparkdsg"
    exported = subprocess.run([str(tools / "memory_export"), "--format", "spark-dsg", str(tmp_path / "memory"),
                               str(graph_file)], capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0 and graph_file.is_file(), exported.stderr
    assert dsg.DynamicSceneGraph.load(str(graph_file)).get_layer(dsg.DsgLayers.OBJECTS).num_nodes() == \
        len(memory.objects(include_tentative=True))
    imported = subprocess.run([str(tools / "memory_import"), "--format", "spark-dsg", str(graph_file),
                               str(tmp_path / "other")], capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    # memory_export replays the journal with the default configuration (no room polygons), as the
    # portable export does: the graph holds what that replay holds.
    replayed = SpatialMemory()
    Journal(replayed, "spatial", SqliteEventStore(tmp_path / "memory" / "spatial.sqlite3", "spatial")).restore()
    rebuilt = SpatialMemory()
    Journal(rebuilt, "spatial", SqliteEventStore(tmp_path / "other" / "spatial.sqlite3", "spatial")).restore()
    assert summary(rebuilt) == summary(replayed) and len(summary(rebuilt)) == len(summary(memory))
