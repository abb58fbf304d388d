"""The scene graph's object index and its box table: what association, merging and relations
read instead of each object, so it must follow every update, move and removal exactly; and a
frame's result must not depend on the interpreter's hash seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from memory_nodes.core.geometry import OrientedBox, Pose, aabb_of, yaw_quaternion
from memory_nodes.core.retention import Retention, RetentionPolicy
from memory_nodes.core.spatial.index import ObjectIndex
from memory_nodes.core.spatial.types import ObjectNode

ROOT = Path(__file__).resolve().parents[1]


def node(object_id: str, label: str, centre: tuple[float, float, float], extent: tuple[float, float, float],
         yaw: float = 0.0) -> ObjectNode:
    return ObjectNode(object_id, Counter({label: 1}), OrientedBox(Pose(np.array(centre), yaw_quaternion(yaw)),
                                                                  np.array(extent)),
                      np.zeros((0, 3), np.float32), None, 0.0, 0.0, 1, 1.0, Retention.new(RetentionPolicy(), 0.0))


def test_box_rows_follow_updates_moves_and_removals():
    index = ObjectIndex(cell_size=1.0)
    mug, table = node("obj-1", "mug", (1.0, 1.0, 0.8), (0.1, 0.1, 0.12)), node("obj-2", "table", (1.0, 1.2, 0.4),
                                                                                  (1.2, 0.8, 0.75), yaw=0.5)
    index.update(mug)
    index.update(table)
    boxes = index.boxes(["obj-2", "obj-1"])  # in the order asked
    np.testing.assert_allclose(boxes.centres, [[1.0, 1.2, 0.4], [1.0, 1.0, 0.8]])
    np.testing.assert_allclose(boxes.lows[0], table.bounds()[0])
    np.testing.assert_allclose(boxes.highs[0], table.bounds()[1])
    np.testing.assert_allclose(boxes.sizes, [np.linalg.norm([1.2, 0.8, 0.75]), np.linalg.norm([0.1, 0.1, 0.12])])
    assert index.largest_size >= boxes.sizes.max()

    mug.box = OrientedBox(Pose(np.array([5.5, 3.0, 0.9])), np.array([0.2, 0.1, 0.1]))  # moved to another cell
    index.update(mug)
    np.testing.assert_allclose(index.boxes(["obj-1"]).centres, [[5.5, 3.0, 0.9]])
    assert index.near(np.array([1.0, 1.0, 0.8]), 0.5) == {"obj-2"}
    assert index.near(np.array([5.5, 3.0, 0.9]), 0.5) == {"obj-1"}

    index.remove("obj-2")
    assert index.near(np.array([1.0, 1.2, 0.4]), 1.0) == set() and index.with_label("table") == set()
    book = node("obj-3", "book", (2.0, 2.0, 0.3), (0.2, 0.15, 0.03))
    index.update(book)  # takes the freed row; the mug's row is untouched
    np.testing.assert_allclose(index.boxes(["obj-3", "obj-1"]).centres, [[2.0, 2.0, 0.3], [5.5, 3.0, 0.9]])


def test_the_table_grows_past_its_first_allocation_without_losing_rows():
    index = ObjectIndex()
    nodes = [node(f"obj-{k}", "cup", (0.1 * k, 0.0, 0.5), (0.08, 0.08, 0.1)) for k in range(300)]
    for item in nodes:
        index.update(item)
    np.testing.assert_allclose(index.boxes([item.id for item in nodes]).centres[:, 0], 0.1 * np.arange(300))


def test_axis_aligned_bounds_enclose_the_rotated_corners_exactly():
    rng = np.random.default_rng(3)
    for _ in range(50):
        quaternion = rng.normal(size=4)
        box = OrientedBox(Pose(rng.uniform(-5, 5, 3), quaternion), rng.uniform(0.0, 2.0, 3))
        corners = box.corners()
        low, high = aabb_of(box.pose, box.extent)
        np.testing.assert_allclose(low, corners.min(axis=0), atol=1e-12)
        np.testing.assert_allclose(high, corners.max(axis=0), atol=1e-12)


_RUN_FRAMES = """
import json
import numpy as np
from memory_nodes.core.geometry import Pose
from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory
rng = np.random.default_rng(5)
things = rng.uniform(0.0, 20.0, (40, 3)) * [1.0, 1.0, 0.05]
memory = SpatialMemory(SpatialConfig())
for stamp in range(60):  # no robot path: the objects found places of their own
    seen = rng.choice(40, 6, replace=False)
    memory.integrate([Observation(f"thing {k % 7}", Pose(things[k] + rng.normal(0.0, 0.01, 3)), np.full(3, 0.1))
                      for k in seen], float(stamp))
document, _ = memory.snapshot()
print(json.dumps([document["objects"], document["places"], document["edges"]]))
"""


def test_a_run_gives_the_same_graph_whatever_the_hash_seed():
    """Ids of objects and places, and the place each object is at, follow the frames alone (sets of
    ids are iterated in a fixed order: the first object of a frame to need a place founds it, the
    next joins it), so a replay reproduces the graph and its ids."""
    graphs = []
    for seed in ("1", "2", "3"):
        environment = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        output = subprocess.run([sys.executable, "-c", _RUN_FRAMES], capture_output=True, text=True, check=True,
                                env=environment, timeout=300)
        graphs.append(json.loads(output.stdout))
    assert graphs[0][0], "the scenario made no object"
    assert graphs[0] == graphs[1] == graphs[2]
