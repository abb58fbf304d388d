"""The upper bound the evaluation reports beside the memory's counts and recall (apps/observer_ceiling.py)."""

import numpy as np

from memory_nodes.apps.observer_ceiling import IdentityObserver

MUG_SPOT = np.array([1.0, 0.0, 0.8])
SHELF = np.array([4.0, 2.0, 1.2])


class World:
    """Where each real object is (None: removed) and which spots the current frame shows."""

    def __init__(self, **where):
        self.where = where
        self.shown: tuple[np.ndarray, ...] = ()

    def shows_gone(self, name, spot):
        now = self.where[name]
        return any(np.allclose(spot, s) for s in self.shown) and (now is None or not np.allclose(now, spot))


def test_a_present_object_the_detector_misses_is_still_believed_and_an_emptied_spot_shown_once_is_not():
    world, observer = World(mug_1=MUG_SPOT), IdentityObserver()
    world.shown = (MUG_SPOT,)
    observer.observe({"mug_1": ("mug", MUG_SPOT)}, world.shows_gone)
    for _ in range(3):
        observer.observe({}, world.shows_gone)  # in view, not detected, still there
    assert set(observer.believed()) == {"mug_1"}
    world.where["mug_1"] = None  # removed while the camera looked at the shelf
    world.shown = (SHELF,)
    observer.observe({}, world.shows_gone)
    assert set(observer.believed()) == {"mug_1"}
    world.shown = (MUG_SPOT,)
    observer.observe({}, world.shows_gone)
    assert observer.believed() == {}


def test_a_removal_no_frame_showed_keeps_the_count_of_its_label_wrong():
    world, observer = World(mug_1=MUG_SPOT, mug_2=SHELF), IdentityObserver()
    world.shown = (MUG_SPOT, SHELF)
    observer.observe({"mug_1": ("mug", MUG_SPOT), "mug_2": ("mug", SHELF)}, world.shows_gone)
    world.where["mug_2"], world.shown = None, (MUG_SPOT,)
    observer.observe({"mug_1": ("mug", MUG_SPOT)}, world.shows_gone)
    truth = {"mug_1": ("mug", MUG_SPOT)}
    assert observer.counts_exact(truth) == [False]
    world.shown = (SHELF,)
    observer.observe({}, world.shows_gone)
    assert observer.counts_exact(truth) == [True]


def test_a_move_detected_at_the_new_place_is_recalled_there_and_a_single_detection_can_be_left_out():
    world, observer = World(mug_1=MUG_SPOT, cup_1=SHELF + 0.5), IdentityObserver()
    observer.observe({"mug_1": ("mug", MUG_SPOT)}, world.shows_gone)
    world.where["mug_1"] = SHELF
    truth = {"mug_1": ("mug", SHELF)}
    assert observer.recall(truth, gate_m=0.35) == 0.0  # believed at the old place
    observer.observe({"mug_1": ("mug", SHELF)}, world.shows_gone)
    assert observer.recall(truth, gate_m=0.35) == 1.0
    observer.observe({"cup_1": ("cup", SHELF + 0.5)}, world.shows_gone)
    both = {**truth, "cup_1": ("cup", SHELF + 0.5)}
    assert observer.counts_exact(both) == [True, True]  # cup, mug
    assert observer.counts_exact(both, min_detections=2) == [False, True]
    assert observer.recall(both, gate_m=0.35, min_detections=2) == 0.5


def test_an_object_no_detection_named_right_is_left_out_when_labels_come_from_the_detections():
    world, observer = World(mug_1=MUG_SPOT, mug_2=SHELF, cup_1=SHELF + 0.5), IdentityObserver()
    truth = {"mug_1": ("mug", MUG_SPOT), "mug_2": ("mug", SHELF), "cup_1": ("cup", SHELF + 0.5)}
    for _ in range(2):  # mug_1 called a cup at both sightings
        observer.observe({"mug_1": ("mug", MUG_SPOT), "mug_2": ("mug", SHELF), "cup_1": ("cup", SHELF + 0.5)},
                         world.shows_gone, {"mug_1": "cup"})
    assert observer.counts_exact(truth, 2) == [True, True]  # cup, mug: under their true labels
    # No memory learning labels from these detections can count two mugs; the cups stay right.
    assert observer.counts_exact(truth, 2, named_right_once=True) == [True, False]
    observer.observe({"mug_1": ("mug", MUG_SPOT)}, world.shows_gone)  # named right once
    assert observer.counts_exact(truth, 2, named_right_once=True) == [True, True]
