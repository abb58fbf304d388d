"""The one-to-one scorer sees what the old same-label-within-0.35-m check could not: three identical
cups a few centimetres apart are three correct objects, and a stale copy is a false positive
wherever it is left."""

from __future__ import annotations

import pytest

from memory_nodes.apps.object_scoring import (
    IdentityTracker,
    RealObject,
    RememberedObject,
    match_objects,
    score_objects,
)


def cups(xs, prefix="cup"):
    return [RealObject(f"{prefix}{k}", "cup", (x, 0.0, 0.8)) for k, x in enumerate(xs)]


def test_three_identical_cups_close_together_are_three_correct_objects():
    real = cups([0.00, 0.07, 0.15])
    remembered = [RememberedObject(f"obj-{k}", "cup", (x + 0.004, 0.002, 0.8))
                  for k, x in enumerate([0.00, 0.07, 0.15])]
    score = match_objects(real, remembered)
    assert score.pairs == {"cup0": "obj-0", "cup1": "obj-1", "cup2": "obj-2"}
    assert score.false_positives == [] and score.missed == []
    assert score.precision == score.recall == score.f1 == 1.0
    assert score.position_error_m(50) < 0.006


def test_the_assignment_is_one_to_one_not_nearest_for_each():
    """Two real cups, two remembered: greedy nearest would give both real cups the same memory
    object (and call the other spurious); the assignment pairs each once at least total distance."""
    real = cups([0.0, 0.10])
    remembered = [RememberedObject("a", "cup", (0.06, 0, 0.8)), RememberedObject("b", "cup", (0.13, 0, 0.8))]
    score = match_objects(real, remembered)
    assert score.pairs == {"cup0": "a", "cup1": "b"} and not score.false_positives


def test_a_stale_copy_is_a_false_positive_wherever_it_is():
    real = [RealObject("mug", "mug", (5.0, 2.0, 0.8))]
    remembered = [RememberedObject("obj-1", "mug", (0.5, 0.5, 0.9)),  # the old place, 4.8 m away
                  RememberedObject("obj-9", "mug", (5.01, 2.0, 0.8))]
    score = match_objects(real, remembered)
    assert score.pairs == {"mug": "obj-9"}
    assert [o.id for o in score.false_positives] == ["obj-1"]
    assert score.precision == 0.5 and score.recall == 1.0 and score.f1 == pytest.approx(2 / 3)


def test_absent_objects_are_not_scored_and_a_near_duplicate_is_one_too_many():
    real = [RealObject("book", "book", (1.0, 1.0, 0.5))]
    remembered = [RememberedObject("obj-2", "book", (1.0, 1.0, 0.5)),
                  RememberedObject("obj-3", "book", (1.05, 1.0, 0.5)),  # a duplicate next to it
                  RememberedObject("obj-4", "book", (3.0, 1.0, 0.5), present=False)]  # marked absent: fine
    score = match_objects(real, remembered)
    assert [o.id for o in score.false_positives] == ["obj-3"] and score.remembered_present == 2


def test_labels_must_agree_and_the_gate_holds():
    real = [RealObject("apple", "apple", (0.0, 0.0, 0.0)), RealObject("pear", "pear", (2.0, 0.0, 0.0))]
    remembered = [RememberedObject("obj-1", "pear", (0.0, 0.0, 0.0)), RememberedObject("obj-2", "pear", (2.5, 0, 0))]
    score = match_objects(real, remembered, gate_m=0.35)
    assert score.pairs == {} and len(score.missed) == 2 and len(score.false_positives) == 2
    with pytest.raises(ValueError):
        match_objects(real, remembered, gate_m=0.0)


def test_ids_are_tracked_across_scoring_times():
    tracker = IdentityTracker()
    first = score_objects({"mug": ("mug", (0.0, 0.0, 0.8)), "cup": ("cup", (1.0, 0, 0.8))},
                          [RememberedObject("obj-1", "mug", (0, 0, 0.8)), RememberedObject("obj-2", "cup", (1, 0, 0.8))],
                          tracker)
    assert first.ids_checked == 0 and first.ids_kept_ratio == 1.0
    # the mug moved and kept its id; the cup is now remembered under a new id
    later = score_objects({"mug": ("mug", (4.0, 0.0, 0.8)), "cup": ("cup", (1.0, 0, 0.8))},
                          [RememberedObject("obj-1", "mug", (4, 0, 0.8)), RememberedObject("obj-7", "cup", (1, 0, 0.8))],
                          tracker)
    assert later.ids_checked == 2 and later.ids_kept == 1 and later.changed_ids == {"cup": ("obj-2", "obj-7")}
    assert tracker.first_id("cup") == "obj-2"


def test_a_change_counts_as_noticeable_only_for_objects_matched_before_it():
    """The mug was matched at t=5; the cup, first seen at t=30, moved at t=20 before anyone saw it."""
    tracker = IdentityTracker()
    tracker.update(score_objects({"mug": ("mug", (0.0, 0.0, 0.8))}, [RememberedObject("obj-1", "mug", (0, 0, 0.8))]),
                   5.0)
    tracker.update(score_objects({"cup": ("cup", (1.0, 0.0, 0.8))}, [RememberedObject("obj-2", "cup", (1, 0, 0.8))]),
                   30.0)
    assert tracker.known_before("mug", 20.0) and not tracker.known_before("cup", 20.0)
    assert tracker.known_before("cup", 31.0) and not tracker.known_before("plate", 100.0)


def _two_bowls_swapped(look_alike):
    """Two bowls remembered as obj-1 (at x=0) and obj-2 (at x=2), then exchanged out of view:
    the memory keeps each id with its place."""
    tracker = IdentityTracker(look_alike=look_alike)
    remembered = [RememberedObject("obj-1", "bowl", (0, 0, 0.8)), RememberedObject("obj-2", "bowl", (2, 0, 0.8))]
    score_objects({"bowl_a": ("bowl", (0.0, 0, 0.8)), "bowl_b": ("bowl", (2.0, 0, 0.8))}, remembered, tracker)
    return score_objects({"bowl_a": ("bowl", (2.0, 0, 0.8)), "bowl_b": ("bowl", (0.0, 0, 0.8))}, remembered, tracker)


def test_identical_twins_that_changed_places_unseen_keep_the_ids_of_the_places():
    later = _two_bowls_swapped(lambda a, b: True)
    assert later.ids_checked == 2 and later.ids_kept == 2 and later.changed_ids == {}
    assert later.swapped_twins == {"bowl_a": "bowl_b", "bowl_b": "bowl_a"}


def test_objects_a_camera_tells_apart_that_swapped_ids_changed_them():
    later = _two_bowls_swapped(lambda a, b: False)  # e.g. a red and a blue bowl
    assert later.ids_kept == 0 and set(later.changed_ids) == {"bowl_a", "bowl_b"}
    assert _two_bowls_swapped(None).ids_kept == 0  # without knowing what looks alike, as before
