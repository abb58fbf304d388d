"""The evaluation: generated households have what makes memory hard, the change metrics count what
they claim on hand-made frames, and a fixed subset of households runs through the real nodes with
every metric held to a floor (the figures EVALUATION.md reports for these seeds, with a margin), so
a regression fails here."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from conftest import install_prefix

from memory_nodes.apps.evaluation import RealChange, change_metrics, colour_name, frame_record, new_place_seen
from memory_nodes.apps.household_generator import LEVELS, generate_household, write_household
from memory_nodes.apps.household_sim import load_scenario


@pytest.mark.parametrize("level", LEVELS)
def test_generated_households_have_what_makes_memory_hard(level, tmp_path):
    for seed in range(5):
        household = generate_household(seed, level)
        assert household == generate_household(seed, level)  # reproducible from its seed
        assert 2 <= len(household["rooms"]) <= 5
        objects = household["objects"]
        assert 10 <= len(objects) <= 40
        looks = Counter((o["label"], o["shape"], tuple(o["colour"])) for o in objects)
        assert max(looks.values()) >= 3, "three identical instances of one class"
        by_support = Counter(o["stands_on"] for o in objects)
        crowded, count = by_support.most_common(1)[0]
        assert count >= 8
        offsets = np.array([o["offset"] for o in objects if o["stands_on"] == crowded])
        gaps = np.sort(np.linalg.norm(offsets[:, None] - offsets[None], axis=2), axis=1)[:, 1]
        assert np.sum(gaps <= 0.16) >= 8, "a cluttered surface: 8+ neighbours 5-10 cm apart (centres < 16 cm)"
        kinds = Counter(next(k for k in ("move", "remove", "add") if k in e) for e in household["events"])
        assert kinds["move"] >= 1 and kinds["remove"] >= 1 and kinds["add"] >= 1
        stops = household["stops"]
        targets = [e["to"] for e in household["events"] if "move" in e]
        targets += [e["add"]["stands_on"] for e in household["events"] if "add" in e]
        for event in household["events"]:
            first_tour = sum(s["frames"] for s in stops[: len(household["furniture"])])
            if "move" in event and event["at_step"] == first_tour:
                # the new place is looked at after the move, before the old one again (unless the
                # old place is also where something else went or appeared, as in a swap)
                source = next(o["stands_on"] for o in objects if o["name"] == event["move"])
                step, later = 0, []
                for stop in stops:
                    if step >= event["at_step"]:
                        later.append(stop["look"])
                    step += stop["frames"]
                assert event["to"] in later and source in later
                if source not in targets:
                    assert later.index(event["to"]) < later.index(source)
        if level == "hard":
            assert household["detector"]["drop_rate"] >= 0.1 and household["detector"]["depth_noise_at_1m"] > 0
            assert min(s["frames"] for s in stops) == 1, "brief glances"
        assert load_scenario(write_household(seed, level, tmp_path)).frame_count == sum(s["frames"] for s in stops)


class _Object:
    def __init__(self, object_id, label, position, status="present"):
        self.id, self.label, self.position, self.status = object_id, label, position, status


def test_change_metrics_on_hand_made_frames():
    """A book removed at t=10 and a mug moved at t=10: the memory drops the book on the second
    frame in view and never lets go of the mug's stale copy; a third object, never moved, is
    reported moved (a false change)."""
    book_at, mug_from, mug_to = np.array([0.0, 0, 0.8]), np.array([2.0, 0, 0.8]), np.array([5.0, 0, 0.8])
    changes = [RealChange("disappeared", "book", "book", 10.0, book_at, None),
               RealChange("moved", "mug", "mug", 10.0, mug_from, mug_to)]
    truth = {"mug": ("mug", mug_to), "lamp": ("lamp", np.array([9.0, 0, 1]))}
    frames = []
    for k, stamp in enumerate([9.0, 11.0, 12.0, 13.0]):
        book = _Object("obj-1", "book", tuple(book_at), "present" if stamp < 12.0 else "absent")
        objects = [book, _Object("obj-2", "mug", tuple(mug_from)), _Object("obj-9", "mug", tuple(mug_to)),
                   _Object("obj-3", "lamp", (9.0, 0, 1))]
        spots = {changes[0].spot_id("old"), *changes[1].spot_ids()} if stamp > 10.0 else set()
        frames.append(frame_record(k, stamp, objects, truth, spots, set(), 0.35))
    names = {"obj-1": "book", "obj-2": "mug", "obj-3": "lamp"}
    metrics = change_metrics(changes, frames, [(12.0, "disappeared", "obj-1"), (12.5, "moved", "obj-3")], names.get,
                             0.35)
    book, mug = changes
    assert book.observable_frame == 1 and book.reflected_frame == 2 and book.frames_in_view == 2
    assert book.delay_s == pytest.approx(1.0)
    assert mug.observable_frame == 1 and mug.reflected_frame is None and math.isnan(mug.delay_s)
    assert metrics.per_kind["disappeared"]["true_positives"] == 1 and metrics.per_kind["moved"]["missed"] == 1
    assert metrics.false_changes == 1 and metrics.false_change_reports == ["moved lamp at 12.5"]


def test_a_copy_where_the_object_was_put_back_is_not_stale():
    """A mug moved away at t=10 and put back at t=20: its copy at the shelf is stale in the frames
    between (two of them), not in those after it came back (a second copy there then is a
    duplicate, which precision counts)."""
    shelf, desk = np.array([2.0, 0, 0.8]), np.array([5.0, 0, 0.8])
    changes = [RealChange("moved", "mug", "mug", 10.0, shelf, desk), RealChange("moved", "mug", "mug", 20.0, desk, shelf)]
    frames = []
    for k, stamp in enumerate([11.0, 12.0, 21.0, 22.0]):
        truth = {"mug": ("mug", desk if stamp < 20.0 else shelf)}
        objects = [_Object("obj-2", "mug", tuple(shelf)), _Object("obj-9", "mug", tuple(desk))]
        if stamp > 20.0:
            objects = [objects[0], _Object("obj-10", "mug", tuple(shelf + np.array([0.05, 0.0, 0.0])))]
        # The camera looks at the shelf: the first move's old spot, and the second's new one.
        frames.append(frame_record(k, stamp, objects, truth, {changes[0].spot_id("old"), changes[1].spot_id("new")},
                                   set(), 0.35))
    change_metrics(changes, frames, [], {"obj-2": "mug"}.get, 0.35)
    assert changes[0].stale_frames == 2


def test_a_copy_left_where_the_camera_never_looks_again_is_not_counted_stale_at_another_place():
    """A mug carried from the shelf to the desk and back: the copy left on the desk is stale only
    in frames that show the desk. Frames of the shelf show the first move's old spot; they must not
    count against the second move, whose old spot is the desk (both moves' old spots once shared one
    id, so every later look at the shelf counted the desk's copy as stale)."""
    shelf, desk = np.array([2.0, 0, 0.8]), np.array([5.0, 0, 0.8])
    changes = [RealChange("moved", "mug", "mug", 10.0, shelf, desk), RealChange("moved", "mug", "mug", 20.0, desk, shelf)]
    assert changes[0].spot_id("old") != changes[1].spot_id("old")
    frames = []
    for k, stamp in enumerate([21.0, 22.0]):
        objects = [_Object("obj-2", "mug", tuple(shelf)), _Object("obj-9", "mug", tuple(desk))]
        frames.append(frame_record(k, stamp, objects, {"mug": ("mug", shelf)},
                                   {changes[0].spot_id("old"), changes[1].spot_id("new")}, set(), 0.35))
    change_metrics(changes, frames, [], {"obj-2": "mug"}.get, 0.35)
    assert changes[1].stale_frames == 0


def test_a_colour_is_named_by_the_named_colour_it_looks_like():
    """A default green bottle looks as green as the generator's green one, so "the green bottle"
    names neither; orange is not yellow, white and black are no named colour."""
    assert colour_name((0.1, 0.65, 0.2)) == colour_name((0.1, 0.6, 0.2)) == "green"
    assert colour_name((0.95, 0.55, 0.1)) == "" and colour_name((0.95, 0.85, 0.1)) == "yellow"
    assert colour_name((0.95, 0.95, 0.95)) == colour_name((0.05, 0.05, 0.08)) == ""


def test_a_moves_new_place_counts_as_seen_only_between_it_and_the_objects_next_change():
    """A mug moved from the shelf to the desk at t=10 and back at t=20: a frame of the desk at t=25
    shows the second move's old place, not the first move's new one."""
    shelf, desk = np.array([2.0, 0, 0.8]), np.array([5.0, 0, 0.8])
    first, back = RealChange("moved", "mug", "mug", 10.0, shelf, desk), RealChange("moved", "mug", "mug", 20.0, desk, shelf)
    later = [frame_record(0, 25.0, [], {}, {back.spot_id("old")}, set(), 0.35)]
    assert not new_place_seen(first, [first, back], later)
    between = [frame_record(0, 15.0, [], {}, {first.spot_id("new")}, set(), 0.35)]
    assert new_place_seen(first, [first, back], between)
    assert new_place_seen(first, [first, back], [frame_record(0, 12.0, [], {}, set(), {"mug"}, 0.35)])


# The subset the suite runs through the real nodes: every metric of these households as `make eval`
# measured it (EVALUATION.md), held to that figure with a margin for the machine's timing: a ratio
# may fall by 0.15, an error, delay or count of false alarms may grow by half plus a little.
MEASURED = {
    ('easy', 0): {
        'one memory object per real object': 1.0,
        'object precision': 1.0,
        'object recall': 1.0,
        'spurious remembered objects': 0.0,
        'ids stable across revisits and moves': 1.0,
        'position error, median (m)': 0.019,
        'lifting from boxes without masks: centre error, median (m)': 0.028,
        'moves and removals noticed': 1.0,
        'pose at a past time (before the move)': 1.0,
        "'which task failed?'": 1.0,
        'appeared: detected': 1.0,
        'appeared: frames in view until reflected, median': 2.0,
        'appeared: frames in view until reflected, p90': 2.0,
        'disappeared: detected': 1.0,
        'disappeared: frames in view until reflected, median': 1.0,
        'disappeared: frames in view until reflected, p90': 1.0,
        'moved: detected': 1.0,
        'moved: frames in view until reflected, median': 2.0,
        'moved: frames in view until reflected, p90': 2.0,
        'stale copy: frames in view of the old place, max': 0.0,
        'false changes per 100 frames': 0.0,
        'is there a <label> in the <room>?': 1.0,
        'object reported in the right room': 1.0,
        'where was <object> at t (before its move), median error (m)': 0.029,
        'when did <object> leave its place? error beyond the observed interval (s)': 0.0,
        'when was <object> last seen? median error (s)': 0.0,
        'how many <label>? exact': 1.0,
        'top-1 is the instance the qualifier names': 0.75,
        'top-1 label fits the description': 1.0,
    },
    ('hard', 0): {
        'one memory object per real object': 0.933,
        'object precision': 0.933,
        'object recall': 0.933,
        'spurious remembered objects': 2.0,
        'ids stable across revisits and moves': 0.964,
        'position error, median (m)': 0.043,
        'lifting from boxes without masks: centre error, median (m)': 0.031,
        'moves and removals noticed': 0.556,
        'pose at a past time (before the move)': 0.714,
        "'which task failed?'": 1.0,
        'appeared: detected': 1.0,
        'appeared: frames in view until reflected, median': 2.0,
        'appeared: frames in view until reflected, p90': 2.0,
        'disappeared: detected': 1.0,
        'disappeared: frames in view until reflected, median': 1.0,
        'disappeared: frames in view until reflected, p90': 1.0,
        'moved: detected': 0.714,
        'moved: frames in view until reflected, median': 3.0,
        'moved: frames in view until reflected, p90': 4.0,
        'stale copy: frames in view of the old place, max': 5.0,
        'false changes per 100 frames': 1.667,
        'is there a <label> in the <room>?': 1.0,
        'object reported in the right room': 1.0,
        'where was <object> at t (before its move), median error (m)': 0.08,
        'when did <object> leave its place? error beyond the observed interval (s)': 0.0,
        'when was <object> last seen? median error (s)': 0.0,
        'how many <label>? exact': 0.8,
        'top-1 is the instance the qualifier names': 0.844,
        'top-1 label fits the description': 1.0,
    },
}
SLACK = {"(m)": 0.05, "frames": 2.0, "(s)": 10.0, "per 100 frames": 1.0, "spurious": 1.0}


def holds(measure: str, value: float, measured: float) -> bool:
    from memory_nodes.apps.evaluate import lower_is_better

    if math.isnan(measured):
        return True
    if lower_is_better(measure):
        slack = next((s for key, s in SLACK.items() if key in measure), 0.0)
        return value <= 1.5 * measured + slack
    return value >= measured - 0.15


def test_an_object_moved_and_removed_in_one_step_was_removed_from_its_old_place(tmp_path):
    """The generator may pick one object for two changes of one step: moved, then removed. No frame
    showed it at the new place, so the world saw a removal from the old one, not a move the memory
    could have detected; a removal at a later step leaves the move a move."""
    from memory_nodes.apps.scenario_runner import ScenarioRun

    run = ScenarioRun(write_household(0, "easy", tmp_path), tmp_path / "out", 0, progress=False)
    first, second = run.scenario.objects[:2]
    elsewhere = next(name for name in run.scenario.furniture if name not in (first.on, second.on))
    for spec in (first, second):
        run.last_positions[spec.name] = run.sim.position(spec.name)

    def world_change(event: dict, stamp: float) -> None:
        run.sim.stamp = stamp
        run._note_world_change(run.sim._apply_event(event), stamp)

    world_change({"move": first.name, "to": elsewhere, "offset": [0.0, 0.0]}, 5.0)
    world_change({"move": second.name, "to": elsewhere, "offset": [0.3, 0.0]}, 5.0)
    world_change({"remove": first.name}, 5.0)
    world_change({"remove": second.name}, 9.0)
    assert [(c.kind, c.name, c.stamp) for c in run.real_changes] == [
        ("moved", second.name, 5.0), ("disappeared", first.name, 5.0), ("disappeared", second.name, 9.0)]
    np.testing.assert_allclose(run.real_changes[1].old, run.last_positions[first.name])
    run.sim.close()


def test_boxes_without_masks_are_lifted_near_the_true_centres(tmp_path):
    """Issue 18's single-frame lifting from boxes alone (no mask), on a hard household's frames with
    its depth noise: the median centre error of the objects fully in view is at most 0.15 m."""
    from memory_nodes.apps.box_lifting import BoxLiftingProbe
    from memory_nodes.apps.household_sim import HouseholdSim, SimFrame

    sim = HouseholdSim(load_scenario(write_household(0, "hard", tmp_path)), 0)
    probe = BoxLiftingProbe(sim)
    frames, detections = 0, 0
    try:
        for item in sim.frames():
            if isinstance(item, SimFrame):
                probe.observe(item)
                frames += 1
                detections += sum(1 for d in item.detections if d.truth in sim.bodies)
                if frames == 40:
                    break
    finally:
        sim.close()
    summary = probe.summary()
    assert 30 <= summary["measured"] < detections, (summary, detections)  # some are cut by the border or hidden
    assert summary["centre_error_median_m"] <= 0.15, summary
    assert summary["iou_median"] >= 0.1, summary
    assert summary["not_lifted"] <= 0.05 * summary["measured"], summary


def test_the_margin_fails_a_regression():
    assert holds("object recall", 0.9, 1.0) and not holds("object recall", 0.8, 1.0)
    assert holds("position error, median (m)", 0.07, 0.019) and not holds("position error, median (m)", 0.2, 0.019)
    assert not holds("false changes per 100 frames", 2.5, 0.0)


@pytest.mark.parametrize("level,seed", sorted(MEASURED))
def test_generated_household_through_the_nodes_holds_its_figures(level, seed, tmp_path):
    from memory_nodes.apps.scenario_runner import ScenarioRun, format_scorecard

    assert install_prefix().exists()
    path = write_household(seed, level, tmp_path)
    scores = ScenarioRun(path, tmp_path / "out", seed, progress=False).run()
    card = format_scorecard(scores)
    by_measure = {s.measure: s.value for s in scores}
    failed = [f"{measure}: {by_measure.get(measure)} against {measured}"
              for measure, measured in MEASURED[(level, seed)].items()
              if measure not in by_measure or not holds(measure, by_measure[measure], measured)]
    assert not failed, "\n".join(failed) + "\n" + card
    categories = {s.category for s in scores}
    assert {"changes", "questions: binary", "questions: position", "questions: time", "questions: counts",
            "questions: open vocabulary", "perception"} <= categories, card
    assert (tmp_path / "out" / f"generated_{level}_{seed}_map.png").is_file()


def test_the_readme_summary_judges_the_hard_level_on_its_unrounded_mean():
    from memory_nodes.apps.evaluate import summary_table

    def household(recall, precision):
        return {"object recall": {"category": "entity consistency", "value": recall},
                "object precision": {"category": "entity consistency", "value": precision}}

    table = summary_table({"hard": {"a": household(0.946, 0.98), "b": household(0.950, 0.96)}})
    recall = next(line for line in table.splitlines() if line.startswith("| recall |"))
    precision = next(line for line in table.splitlines() if line.startswith("| precision |"))
    assert "| 0.95 (0.95) |" in recall and recall.endswith("| >= 0.95 | no (0.948) |")  # shown 0.95, not met
    assert precision.endswith("| >= 0.97 | yes |")
