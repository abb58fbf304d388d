"""The identity-knowing observer that the evaluation reports as a ceiling (apps/observer_ceiling.py)."""

import numpy as np
import pytest

from memory_nodes.apps.observer_ceiling import IdentityObserver
from memory_nodes.core.errors import ConfigError

MUG_SPOT = np.array([1.0, 0.0, 0.8])
SHELF = np.array([4.0, 2.0, 1.2])


def looking_at(*spots):
    return lambda point: any(np.allclose(point, spot) for spot in spots)


def test_a_present_object_missed_once_in_view_is_still_believed_and_twice_is_forgotten():
    observer = IdentityObserver(misses_to_forget=2)
    observer.observe({"mug_1": ("mug", MUG_SPOT)}, looking_at(MUG_SPOT))
    observer.observe({}, looking_at(MUG_SPOT))
    assert set(observer.believed()) == {"mug_1"}
    observer.observe({}, looking_at(SHELF))  # elsewhere: no evidence either way
    assert set(observer.believed()) == {"mug_1"}
    observer.observe({}, looking_at(MUG_SPOT))
    assert observer.believed() == {}


def test_a_removal_no_camera_saw_keeps_the_count_of_its_label_wrong():
    observer = IdentityObserver()
    observer.observe({"mug_1": ("mug", MUG_SPOT), "mug_2": ("mug", SHELF)}, looking_at(MUG_SPOT, SHELF))
    truth = {"mug_1": ("mug", MUG_SPOT)}  # mug_2 was removed and its shelf never seen again
    assert observer.counts_exact(truth) == [False]
    observer.observe({}, looking_at(SHELF))
    observer.observe({}, looking_at(SHELF))
    assert observer.counts_exact(truth) == [True]


def test_a_move_detected_at_the_new_place_is_recalled_there_and_a_single_detection_can_be_left_out():
    observer = IdentityObserver()
    observer.observe({"mug_1": ("mug", MUG_SPOT)}, looking_at(MUG_SPOT))
    truth = {"mug_1": ("mug", SHELF)}
    assert observer.recall(truth, gate_m=0.35) == 0.0  # believed at the old place
    observer.observe({"mug_1": ("mug", SHELF)}, looking_at(SHELF))
    assert observer.recall(truth, gate_m=0.35) == 1.0
    observer.observe({"cup_1": ("cup", MUG_SPOT)}, looking_at(MUG_SPOT))
    both = {**truth, "cup_1": ("cup", MUG_SPOT)}
    assert observer.counts_exact(both) == [True, True]  # cup, mug
    assert observer.counts_exact(both, min_detections=2) == [False, True]
    assert observer.recall(both, gate_m=0.35, min_detections=2) == 0.5


def test_forgetting_needs_at_least_one_miss():
    with pytest.raises(ConfigError):
        IdentityObserver(misses_to_forget=0)
