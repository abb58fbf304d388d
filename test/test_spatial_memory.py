"""Spatial memory: association, re-identification, negative evidence, merge, split, layers, relations."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.apps.synthetic_scene import ROOMS, flat_scenario
from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.geometry import CameraView, Pose, gravity_aligned_box, look_at
from memory_nodes.core.spatial import RELATION_KINDS, ChangeKind, ObjectStatus, Observation, SpatialConfig, SpatialMemory

RED = np.array([1.0, 0.0, 0.0, 0.1])
GREEN = np.array([0.0, 1.0, 0.0, 0.1])
BLUE = np.array([0.0, 0.0, 1.0, 0.1])


def obs(label, x, y, z=0.8, appearance=RED, extent=(0.1, 0.1, 0.12), state="", points=None):
    return Observation(label, Pose(np.array([x, y, z])), np.array(extent), appearance=appearance, state=state,
                       points=points)


def camera_at(eye, target, depth=None):
    return CameraView(look_at(np.array(eye, float), np.array(target, float)), (320.0, 320.0, 320.0, 240.0), 640, 480,
                      6.0, depth)


def one_view(**settings) -> SpatialConfig:
    """A configuration in which one full-score detection confirms an object: the tests of
    association, fusion and queries need no second frame (tentative objects are tested apart)."""
    return SpatialConfig(confirm_evidence=1.0, **settings)


@pytest.fixture
def memory():
    return SpatialMemory(one_view(rooms=ROOMS))


def test_repeated_observations_of_one_object_make_one_node(memory):
    rng = np.random.default_rng(0)
    for k in range(10):
        noise = rng.normal(0, 0.02, 3)
        memory.integrate([obs("mug", 1 + noise[0], 1 + noise[1]), obs("apple", 1.5, 1, appearance=GREEN)], float(k))
    assert len(memory) == 2
    mug = next(o for o in memory.objects() if o.label == "mug")
    assert mug.observation_count == 10
    assert np.linalg.norm(mug.position - [1, 1, 0.8]) < 0.05


def test_two_nearby_objects_with_different_labels_stay_apart(memory):
    for k in range(3):
        memory.integrate([obs("mug", 1.0, 1.0), obs("bowl", 1.12, 1.0, appearance=BLUE)], float(k))
    assert sorted(o.label for o in memory.objects()) == ["bowl", "mug"]


def test_label_histogram_keeps_the_majority_label(memory):
    memory.integrate([obs("mug", 1, 1)], 0.0)
    memory.integrate([obs("cup", 1, 1)], 1.0)
    memory.integrate([obs("mug", 1, 1)], 2.0)
    (node,) = memory.objects()
    assert node.label == "mug"
    assert node.label_confidence == pytest.approx(2 / 3)


def test_point_clouds_are_fused_and_bounded():
    memory = SpatialMemory(one_view(max_points_per_object=300, voxel_size=0.01))
    rng = np.random.default_rng(1)
    for k in range(5):
        points = rng.uniform([0.95, 0.95, 0.74], [1.05, 1.05, 0.86], size=(400, 3))
        memory.integrate([obs("mug", 1, 1, points=points)], float(k))
    (node,) = memory.objects()
    assert 0 < len(node.points) <= 300
    assert np.allclose(node.position, [1, 1, 0.8], atol=0.02)
    assert np.all(node.box.extent < 0.15)


def test_a_settled_object_fuses_sightings_inside_its_box_only_every_period_and_new_surface_at_once():
    memory = SpatialMemory(one_view(settled_fusion_period=4, voxel_size=0.01))
    rng = np.random.default_rng(2)

    def sighting(low, high):
        points = rng.uniform(low, high, size=(400, 3))
        box = gravity_aligned_box(points)
        return Observation("box", box.pose, box.extent, points=points)

    whole = ([0.9, 0.9, 0.7], [1.1, 1.1, 0.9])
    for k in range(3):  # not settled yet: every sighting fuses
        memory.integrate([sighting(*whole)], float(k))
    (node,) = memory.objects()
    assert memory.counters["fusions_settled"] == 0
    fused_cloud = node.points
    memory.integrate([sighting(*whole)], 3.0)  # the fourth sighting: its turn to fuse
    assert node.points is not fused_cloud and memory.counters["fusions_settled"] == 0
    fused_cloud = node.points
    memory.integrate([sighting([0.92, 0.92, 0.72], [1.08, 1.08, 0.88])], 4.0)  # inside the box: waits
    assert node.points is fused_cloud and memory.counters["fusions_settled"] == 1
    assert node.observation_count == 5  # the sighting still counts as evidence
    # A sighting that shows more of the object (its back, 10 cm further) fuses at once.
    memory.integrate([sighting([0.95, 0.95, 0.7], [1.2, 1.1, 0.9])], 5.0)
    assert memory.counters["fusions_settled"] == 1
    assert node.bounds()[1][0] > 1.15


def test_every_sighting_fuses_with_a_settled_fusion_period_of_one():
    memory = SpatialMemory(one_view(settled_fusion_period=1, voxel_size=0.01))
    rng = np.random.default_rng(3)
    for k in range(6):
        points = rng.uniform([0.9, 0.9, 0.7], [1.1, 1.1, 0.9], size=(400, 3))
        box = gravity_aligned_box(points)
        memory.integrate([Observation("box", box.pose, box.extent, points=points)], float(k))
    assert memory.counters["fusions_settled"] == 0


def test_negative_evidence_marks_an_unseen_object_absent(memory):
    memory.integrate([obs("mug", 1, 1), obs("table", 1, 1, 0.37, BLUE, (1, 1, 0.74))], 0.0)
    camera = camera_at((1, -1, 1.2), (1, 1, 0.8))
    changes = []
    for k in range(1, 10):
        changes += memory.integrate([obs("table", 1, 1, 0.37, BLUE, (1, 1, 0.74))], float(k), view=camera).changes
    mug = next(o for o in memory.objects() if o.label == "mug")
    assert mug.status is ObjectStatus.ABSENT
    assert [c.kind for c in changes if c.object_id == mug.id] == ["disappeared"]


def test_no_negative_evidence_outside_the_frustum_or_behind_an_occluder(memory):
    memory.integrate([obs("mug", 1, 1)], 0.0)
    away = camera_at((1, -1, 1.2), (1, -5, 1.2))  # looking away
    depth = np.full((480, 640), 0.5, np.float32)  # a wall 0.5 m in front of the camera
    occluded = camera_at((1, -1, 1.2), (1, 1, 0.8), depth)
    for k in range(1, 15):
        memory.integrate([], float(k), view=away if k % 2 else occluded)
    (mug,) = memory.objects()
    assert mug.status is ObjectStatus.PRESENT


def test_an_absent_object_seen_again_at_its_place_reappears_under_its_id(memory):
    memory.integrate([obs("mug", 1, 1), obs("table", 1, 1, 0.37, BLUE, (1, 1, 0.74))], 0.0)
    mug_id = next(o.id for o in memory.objects() if o.label == "mug")
    camera = camera_at((1, -1, 1.2), (1, 1, 0.8))
    for k in range(1, 8):  # missed by the detector: declared absent
        memory.integrate([obs("table", 1, 1, 0.37, BLUE, (1, 1, 0.74))], float(k), view=camera)
    assert memory.get(mug_id).status is ObjectStatus.ABSENT
    # Seen again where it was, looking different under other light: the same mug, not a new one.
    result = memory.integrate([obs("mug", 1.03, 1.0, appearance=GREEN)], 9.0)
    assert result.object_ids == [mug_id]
    assert [c.kind for c in result.changes] == ["reappeared"]
    assert memory.get(mug_id).status is ObjectStatus.PRESENT and len(memory) == 2


def test_a_fragment_inside_an_object_seen_in_the_same_frame_is_part_of_it():
    memory = SpatialMemory(one_view())
    monitor = obs("unknown_object", 1.0, 1.0, 1.0, extent=(0.6, 0.1, 0.4))
    memory.integrate([monitor], 0.0)
    (monitor_id,) = [o.id for o in memory.objects()]
    # Next frame the segmentation splits it: the whole, and a corner piece inside it.
    piece = obs("unknown_object", 1.2, 1.0, 1.1, extent=(0.15, 0.08, 0.15))
    result = memory.integrate([monitor, piece], 1.0)
    assert result.object_ids == [monitor_id, monitor_id] and len(memory) == 1
    # A mug standing in front of it is another object, whatever the boxes.
    result = memory.integrate([monitor, obs("mug", 1.2, 0.9, 0.85)], 2.0)
    assert len(memory) == 2 and result.object_ids[1] != monitor_id


def test_a_different_looking_neighbour_does_not_take_over_an_objects_id(memory):
    memory.integrate([obs("unknown_object", 1.0, 1.0, appearance=RED)], 0.0)
    (first_id,) = [o.id for o in memory.objects()]
    # Next frame only a blue thing 35 cm away is segmented: not the red one having moved.
    result = memory.integrate([obs("unknown_object", 1.35, 1.0, appearance=BLUE)], 1.0)
    assert result.object_ids != [first_id] and not [c for c in result.changes if c.kind == "moved"]
    assert np.allclose(memory.get(first_id).position, [1.0, 1.0, 0.8])
    # Nor is an unlabelled segment of the same colour: nothing says it is the same thing.
    result = memory.integrate([obs("unknown_object", 1.0, 1.35, appearance=RED)], 2.0)
    assert result.object_ids != [first_id] and not [c for c in result.changes if c.kind == "moved"]
    # A red mug seen 35 cm from where the red mug was, while watched, is a tracked move.
    memory.integrate([obs("mug", 3.0, 3.0, appearance=RED)], 3.0)
    mug_id = next(o.id for o in memory.objects() if o.label == "mug")
    result = memory.integrate([obs("mug", 3.0, 3.35, appearance=RED)], 4.0)
    assert result.object_ids == [mug_id] and [c.kind for c in result.changes] == ["moved"]


def test_moved_object_is_reidentified_not_duplicated(memory):
    memory.integrate([obs("mug", 1, 1), obs("table", 1, 1, 0.37, BLUE, (1, 1, 0.74))], 0.0)
    mug_id = next(o.id for o in memory.objects() if o.label == "mug")
    camera = camera_at((1, -1, 1.2), (1, 1, 0.8))
    for k in range(1, 8):  # the mug is gone from the table
        memory.integrate([obs("table", 1, 1, 0.37, BLUE, (1, 1, 0.74))], float(k), view=camera)
    # The camera looked at the office desk earlier: what shows up there later was put there.
    for stamp in (10.0, 10.5):
        memory.integrate([], stamp, view=camera_at((7, 0, 1.2), (7, 2, 0.8), depth=np.full((480, 640), 2.05, np.float32)))
    result = memory.integrate([obs("mug", 7, 2)], 20.0)  # and shows up in the office
    assert result.object_ids == [mug_id]
    assert [c.kind for c in result.changes] == ["moved"]
    assert memory.get(mug_id).status is ObjectStatus.PRESENT
    assert memory.room_of(memory.get(mug_id).place_id) == "room-office"
    assert sum(o.label == "mug" for o in memory.objects()) == 1


def test_a_different_looking_object_of_the_same_label_is_not_reidentified(memory):
    memory.integrate([obs("mug", 1, 1, appearance=RED)], 0.0)
    camera = camera_at((1, -1, 1.2), (1, 1, 0.8))
    for k in range(1, 8):
        memory.integrate([], float(k), view=camera)
    result = memory.integrate([obs("mug", 7, 2, appearance=BLUE)], 20.0)
    assert [c.kind for c in result.changes] == ["appeared"]
    assert sum(o.label == "mug" for o in memory.objects()) == 2


def test_duplicate_found_later_is_merged_into_the_older_node_as_a_move():
    """The flat scenario: the mug is first seen again in the office (a new node, since its old place
    was not in view), then its absence from the kitchen table is noticed: the two are merged."""
    scenario = flat_scenario()
    memory = SpatialMemory(one_view(rooms=ROOMS))
    first_mug_id, all_changes = None, []
    for frame in scenario.frames:
        result = memory.integrate(frame.observations, frame.stamp, frame.view, frame.robot_position)
        all_changes += result.changes
        if first_mug_id is None and "mug" in frame.truth:
            first_mug_id = result.object_ids[frame.truth.index("mug")]
    mugs = [o for o in memory.objects() if o.label == "mug"]
    assert len(mugs) == 1 and mugs[0].id == first_mug_id
    assert np.linalg.norm(mugs[0].position - scenario.objects["mug"].position) < 0.05
    assert mugs[0].status is ObjectStatus.PRESENT
    kinds = [(c.kind, c.object_id) for c in all_changes]
    assert ("moved", first_mug_id) in kinds and ("merged", first_mug_id) in kinds
    (merge,) = [c for c in all_changes if c.kind is ChangeKind.MERGED]
    assert merge.merged_id not in memory and merge.merged_id.startswith("obj-") and merge.merged_id != first_mug_id
    # every ground-truth object is exactly one node with the right label and position
    assert len(memory) == len(scenario.objects)
    for truth in scenario.objects.values():
        (node,) = [o for o in memory.objects() if o.label == truth.label]
        assert np.linalg.norm(node.position - truth.position) < 0.05


def test_overlapping_same_label_nodes_are_merged():
    memory = SpatialMemory(one_view(association_distance=0.05, min_association_score=0.99))
    memory.integrate([obs("box", 1, 1, extent=(0.5, 0.5, 0.5))], 0.0)
    memory.integrate([obs("box", 1.06, 1, extent=(0.5, 0.5, 0.5))], 1.0)
    assert len(memory) == 1


def test_node_alternating_between_two_places_is_split():
    # A large gate and reach let two identical-looking mugs 1.2 m apart be associated with one node
    # (as a localisation error that large would); the split repairs it.
    memory = SpatialMemory(one_view(association_distance=2.0, move_threshold=2.0, position_noise=1.5,
                                    alignment_max_offset=0.0, split_window=8))
    changes = []
    for k in range(12):
        x = 1.0 if k % 2 == 0 else 2.2
        changes += memory.integrate([obs("mug", x, 1)], float(k)).changes
    assert [c.kind for c in changes].count("split") == 1
    positions = sorted(round(float(o.position[0]), 1) for o in memory.objects())
    assert len(positions) == 2 and positions[0] < 1.5 < positions[1]


def test_state_change_is_reported(memory):
    memory.integrate([obs("drawer", 1, 4.5, state="closed")], 0.0)
    result = memory.integrate([obs("drawer", 1, 4.5, state="open")], 1.0)
    assert [(c.kind, c.detail) for c in result.changes] == [("state_changed", "closed -> open")]


def test_places_follow_the_trajectory_and_rooms_come_from_polygons(memory):
    for x in np.arange(0.5, 9.5, 0.5):
        memory.observe_robot(np.array([x, 1.0, 0.0]), float(x))
    places = [p for p in memory.places() if p.layer == "place"]
    assert 5 <= len(places) <= 8  # 9 m at 1.5 m spacing
    for place in places:
        expected = "room-kitchen" if place.position[0] < 5 else "room-office"
        assert place.parent_id == expected
    adjacent = [(u, v) for u, v, k in memory.graph.edges(keys=True) if k == "adjacent"]
    assert len(adjacent) == 2 * (len(places) - 1)


def test_rooms_by_clustering_without_polygons():
    memory = SpatialMemory(one_view(room_cluster_distance=3.0))
    for x in [0.0, 1.5, 3.0, 20.0, 21.5]:
        memory.observe_robot(np.array([x, 0.0, 0.0]), x)
    rooms = {p.parent_id for p in memory.places() if p.layer == "place"}
    assert len(rooms) == 2


def test_entering_a_room_is_a_change(memory):
    _, first = memory.observe_robot(np.array([1.0, 1.0, 0.0]), 0.0)
    _, same = memory.observe_robot(np.array([1.2, 1.0, 0.0]), 1.0)
    _, second = memory.observe_robot(np.array([7.0, 1.0, 0.0]), 2.0)
    assert [c.object_id for c in first + same + second] == ["room-kitchen", "room-office"]


def test_relations_on_next_to_near(memory):
    memory.integrate([
        obs("table", 1, 1, 0.375, BLUE, (1.2, 0.8, 0.75)),
        obs("mug", 1.2, 1.1, 0.81, RED, (0.09, 0.09, 0.12)),
        obs("chair", 1.0, 1.55, 0.45, GREEN, (0.4, 0.3, 0.9)),
        obs("lamp", 2.3, 1.0, 0.5, GREEN * 0.5 + BLUE, (0.2, 0.2, 1.0)),
    ], 0.0)
    ids = {o.label: o.id for o in memory.objects()}
    relations = {(s, p, o) for s, p, o, _ in memory.relations()}
    assert (ids["mug"], "on", ids["table"]) in relations
    assert (ids["table"], "next_to", ids["mug"]) not in relations
    assert (ids["chair"], "next_to", ids["table"]) in relations
    assert (ids["lamp"], "near", ids["table"]) not in relations  # 1.3 m > near_distance
    # mug and chair: 0.26 m apart horizontally (next_to), 0.45 m between centres
    assert (ids["mug"], "next_to", ids["chair"]) in relations
    assert (ids["lamp"], "near", ids["chair"]) not in relations


def test_relations_follow_a_moved_object_and_keep_the_ones_that_still_hold(memory):
    """Only the moved mug is updated: its edge to the table it left goes (though the table was not
    seen again), its edge to the shelf it was put on comes, and an edge between two objects seen
    again stays, with the confidence of the later frame."""
    table, shelf = obs("table", 1, 1, 0.375, BLUE, (1.2, 0.8, 0.75)), obs("shelf", 1.9, 1.1, 0.3, GREEN, (0.4, 0.4, 0.6))
    chair = obs("chair", 1.0, 1.55, 0.45, GREEN, (0.4, 0.3, 0.9))
    memory.integrate([table, shelf, obs("mug", 1.2, 1.1, 0.81), chair], 0.0)
    ids = {o.label: o.id for o in memory.objects()}
    relations = {(s, p, o): c for s, p, o, c in memory.relations()}
    assert (ids["mug"], "on", ids["table"]) in relations and (ids["chair"], "next_to", ids["table"]) in relations
    first_confidence = relations[(ids["chair"], "next_to", ids["table"])]

    moved = memory.integrate([obs("mug", 1.75, 1.1, 0.66), shelf], 1.0)  # off the table, onto the shelf
    assert moved.object_ids[0] == ids["mug"] and [c.kind for c in moved.changes] == ["moved"]
    relations = {(s, p, o): c for s, p, o, c in memory.relations()}
    assert (ids["mug"], "on", ids["shelf"]) in relations and (ids["mug"], "on", ids["table"]) not in relations

    memory.integrate([table, chair], 2.0)
    relations = {(s, p, o): c for s, p, o, c in memory.relations()}
    assert relations[(ids["chair"], "next_to", ids["table"])] == min(memory.get(ids["chair"]).confidence,
                                                                      memory.get(ids["table"]).confidence)
    assert relations[(ids["chair"], "next_to", ids["table"])] > first_confidence  # both seen twice now


def test_a_static_object_seen_again_keeps_its_relations_and_reports_the_confidence_of_now(memory):
    """Relations are recomputed for an object whose box moved more than relation_refresh_distance,
    not at every sighting; the confidence of a relation is read from its two objects when asked,
    so a mug that lost existence since reports less, though its relations were not recomputed."""
    table, mug = obs("table", 1, 1, 0.375, BLUE, (1.2, 0.8, 0.75)), obs("mug", 1.2, 1.1, 0.81)
    memory.integrate([table, mug], 0.0)
    ids = {o.label: o.id for o in memory.objects()}
    assert memory.counters["relations_recomputed"] == 2
    for stamp in (1.0, 2.0, 3.0):
        memory.integrate([table, mug], stamp)
    assert memory.counters["relations_recomputed"] == 2  # both stood still
    memory.get(ids["mug"]).existence_log_odds = -0.5  # as after misses in view
    relations = {(s, p, o): c for s, p, o, c in memory.relations({ids["mug"]})}
    assert relations[(ids["mug"], "on", ids["table"])] == pytest.approx(memory.get(ids["mug"]).confidence)
    memory.integrate([table, obs("mug", 1.2, 1.2, 0.81)], 4.0)
    assert memory.counters["relations_recomputed"] == 3  # the mug slid: its own are recomputed
    memory.integrate([table, obs("mug", 1.75, 1.1, 0.81)], 5.0)  # off the table
    assert (ids["mug"], "on", ids["table"]) not in {(s, p, o) for s, p, o, _ in memory.relations()}


def test_in_relation_holds_when_only_one_side_is_seen_again_and_goes_with_the_object(memory):
    memory.integrate([obs("cabinet", 1, 1, 0.5, BLUE, (0.6, 0.5, 1.0)),
                      obs("toy", 1.05, 1.0, 0.4, RED, (0.15, 0.15, 0.15))], 0.0)
    ids = {o.label: o.id for o in memory.objects()}
    assert (ids["toy"], "in", ids["cabinet"]) in {(s, p, o) for s, p, o, _ in memory.relations()}
    memory.integrate([obs("cabinet", 1, 1, 0.5, BLUE, (0.6, 0.5, 1.0))], 1.0)  # the toy is not observed
    relations = {(s, p, o) for s, p, o, _ in memory.relations()}
    assert (ids["toy"], "in", ids["cabinet"]) in relations
    assert (ids["cabinet"], "next_to", ids["toy"]) not in relations  # "in" wins over the reverse pair
    memory.forget([ids["toy"]])
    assert not [r for r in memory.relations() if r[1] in RELATION_KINDS]


def test_queries_filter_by_label_text_region_and_room(memory, encoder):
    memory = SpatialMemory(one_view(rooms=ROOMS), encoder)
    memory.integrate([obs("mug", 1, 1), obs("laptop", 7, 2, appearance=BLUE)], 0.0)
    assert [o.label for o, _ in memory.query_objects(label="mug")] == ["mug"]
    assert [o.label for o, _ in memory.query_objects(place_id="room-office")] == ["laptop"]
    assert [o.label for o, _ in memory.query_objects(center=np.array([7, 2, 0.8]), radius=0.5)] == ["laptop"]
    assert memory.query_objects(text="coffee cup")[0][0].label == "mug"
    assert memory.query_objects(text="notebook computer")[0][0].label == "laptop"
    best = memory.where_is("where is my coffee cup?")[0]
    assert best[0].label == "mug" and set(best[2]) == {"label_match", "existence", "recency", "retention"}
    with pytest.raises(UnknownItemError):
        memory.query_objects(place_id="room-garage")
    with pytest.raises(InvalidInputError):
        memory.query_objects(limit=-1)


def test_capacity_evicts_the_weakest_and_keeps_a_summary():
    memory = SpatialMemory(one_view(capacity=5))
    for k in range(8):
        memory.integrate([obs(f"thing{k}", 3.0 * k, 0)], float(k))
    assert len(memory) == 5
    assert sum(memory.evicted_summary.values()) == 3
    assert {o.label for o in memory.objects()} == {f"thing{k}" for k in range(3, 8)}  # the oldest went first


def test_capacity_drops_unconfirmed_hypotheses_first_and_without_trace():
    """Five confirmed objects and three one-off detections with room for six: the hypotheses go,
    however recent, and the summary of what was forgotten does not name them."""
    memory = SpatialMemory(SpatialConfig(capacity=6))
    for k in range(5):
        for repeat in range(3):
            memory.integrate([obs(f"thing{k}", 3.0 * k, 0)], float(k) + 0.1 * repeat)
    for k in range(3):
        memory.integrate([obs(f"ghost{k}", 3.0 * k, 9.0)], 10.0 + k)  # one detection: not yet an object
    assert {o.label for o in memory.objects()} == {f"thing{k}" for k in range(5)}
    assert sum(memory.evicted_summary.values()) == 0
    assert len(memory.objects(include_tentative=True)) <= 6


def test_bad_observations_are_rejected_without_touching_memory(memory):
    memory.integrate([obs("mug", 1, 1)], 0.0)
    with pytest.raises(InvalidInputError):
        obs("mug", float("nan"), 1)
    with pytest.raises(InvalidInputError):
        Observation("", Pose(np.zeros(3)), np.ones(3))
    with pytest.raises(InvalidInputError):
        Observation("mug", Pose(np.zeros(3)), np.array([-1.0, 1.0, 1.0]))
    with pytest.raises(InvalidInputError):
        memory.integrate([obs("mug", 1, 1)], float("nan"))
    with pytest.raises(InvalidInputError):
        CameraView(Pose(np.zeros(3)), (320.0, 320.0, 320.0, 240.0), 640, 480, 6.0, np.zeros((10, 10), np.float32))
    (node,) = memory.objects()
    assert node.observation_count == 1


def test_may_show_keeps_every_sphere_with_a_point_in_view_and_drops_those_beside_or_behind():
    """The negative evidence skips objects whose bounding sphere lies outside the frustum: it must
    never skip one with any point in view (a missed removal), and it does skip those beside or
    behind the camera."""
    view = camera_at((0, 0, 1.2), (3, 0, 0.8))
    rng = np.random.default_rng(3)
    centres = rng.uniform([-6.0, -6.0, 0.0], [6.0, 6.0, 2.0], (3000, 3))
    radii = rng.uniform(0.02, 0.6, 3000)
    possible = view.may_show(centres, radii)
    directions = rng.normal(size=(3000, 40, 3))
    directions /= np.linalg.norm(directions, axis=2, keepdims=True)
    surface = centres[:, None, :] + directions * radii[:, None, None]
    any_in_view = np.array([view.expected_visible(points, 0.0, 0.0).any() or view.expected_visible(c[None], 0.0, 0.0)[0]
                            for points, c in zip(surface, centres)])
    assert not (any_in_view & ~possible).any()
    assert (~possible).sum() > 1500  # most of the house around the camera is out of view
    assert not view.may_show(np.array([[-2.0, 0.0, 1.0], [1.0, 4.0, 1.0]]), np.array([0.3, 0.3])).any()
    assert view.may_show(np.array([[2.0, 0.0, 0.8], [8.0, 0.0, 0.8]]), np.array([0.1, 2.5])).all()


def test_forget_by_id_age_and_region(memory):
    memory.integrate([obs("mug", 1, 1)], 0.0)
    memory.integrate([obs("apple", 3, 1, appearance=GREEN)], 100.0)
    memory.integrate([obs("laptop", 7, 2, appearance=BLUE)], 200.0)
    apple_id = next(o.id for o in memory.objects() if o.label == "apple")
    assert len(memory.forget(older_than_s=150.0)) == 1
    assert memory.forget(center=np.array([3.0, 1.0, 0.8]), radius=0.5) == [apple_id]
    assert {o.label for o in memory.objects()} == {"laptop"}
    with pytest.raises(UnknownItemError):
        memory.forget(ids=["obj-999"])


def test_subgraph_around_an_object(memory):
    memory.integrate([obs("table", 1, 1, 0.375, BLUE, (1.2, 0.8, 0.75)), obs("mug", 1.2, 1.1, 0.81)], 0.0)
    mug = next(o for o in memory.objects() if o.label == "mug")
    sub = memory.subgraph(mug.id, 1)
    assert mug.id in sub and mug.place_id in sub
    with pytest.raises(UnknownItemError):
        memory.subgraph("obj-404")


def test_huge_and_tiny_query_regions(memory):
    memory.integrate([obs("mug", 1, 1), obs("laptop", 7, 2, appearance=BLUE)], 0.0)
    assert {o.label for o, _ in memory.query_objects(center=np.array([0.0, 0.0, 0.0]), radius=1e30)} == {"mug", "laptop"}
    assert memory.query_objects(center=np.array([50.0, 50.0, 0.0]), radius=1e-9) == []


def test_snapshots_change_nothing_and_reset_keeps_the_configured_rooms():
    """A snapshot is a pure read (ids continue where they were); a reset empties the graph but the
    rooms of the configuration stay."""
    memory = SpatialMemory(one_view(rooms=ROOMS))
    memory.integrate([obs("mug", 1, 1)], 0.0, robot_position=np.array([1.0, 1.0, 0.0]))
    before = memory.snapshot()
    assert memory.snapshot()[0] == before[0]
    assert memory.integrate([obs("book", 3, 1)], 1.0).object_ids == ["obj-2"]
    memory.reset()
    assert len(memory) == 0 and {p.id for p in memory.places()} == {f"room-{name}" for name, _ in ROOMS}
    assert memory.integrate([obs("mug", 1, 1)], 2.0).object_ids == ["obj-1"]


def test_where_is_with_a_limit_answers_the_head_of_the_full_ranking(encoder):
    """A free-text question matches many labels a little; where_is stops scoring labels whose best
    possible score cannot reach the answer. The answer is still the head of the full ranking, in
    the same order (two equal memories: an answer reinforces what it returns)."""
    labels = ["mug", "cup", "glass", "kettle", "plate", "bowl", "book", "laptop", "plant", "towel", "bottle",
              "keys", "remote control", "apple", "banana", "candle"]

    def filled() -> SpatialMemory:
        memory = SpatialMemory(one_view(), encoder)
        rng = np.random.default_rng(4)
        for stamp in range(30):
            memory.integrate([obs(labels[int(rng.integers(len(labels)))], float(rng.uniform(0, 40)),
                                  float(rng.uniform(0, 40))) for _ in range(12)], float(stamp))
        return memory

    for question in ("something to drink from", "something to eat", "a thing for the kitchen"):
        ranking = filled().where_is(question, limit=1000)
        assert len({o.label for o, _, _ in ranking}) >= 4  # several labels, each a little like the question
        full = [(o.id, score) for o, score, _ in ranking]
        for limit in (1, 3, 5):
            head = [(o.id, score) for o, score, _ in filled().where_is(question, limit=limit)]
            assert head == full[:limit]
