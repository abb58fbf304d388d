"""Objects whose detections split evenly between two labels (a detector confusing mugs and cups)
take the label whose remembered instances they look like (spatial/labels.py)."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.appearance import colour_histogram
from memory_nodes.core.errors import ConfigError
from memory_nodes.core.geometry import Pose
from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory
from memory_nodes.core.spatial.labels import size_agreement


def swatch(bgr) -> np.ndarray:
    return colour_histogram(np.full((8, 8, 3), bgr, dtype=np.uint8))


RED = swatch((30, 30, 210))
LIGHT_BLUE = swatch((230, 150, 50))
MUG_SIZE, CUP_SIZE = (0.1, 0.1, 0.1), (0.07, 0.07, 0.09)


def sighting(label, x, appearance, extent, y=0.0):
    return Observation(label, Pose(np.array([x, y, 0.8])), np.array(extent), score=0.9, appearance=appearance)


def memory_with_mugs_and_cups(mug_colour=RED, cups=True) -> SpatialMemory:
    """Two red mugs and (optionally) two light-blue cups, each seen three times, a metre apart."""
    memory = SpatialMemory()
    for step in range(3):
        frame = [sighting("mug", 0.0, mug_colour, MUG_SIZE), sighting("mug", 1.0, mug_colour, MUG_SIZE)]
        if cups:
            frame += [sighting("cup", 2.0, LIGHT_BLUE, CUP_SIZE), sighting("cup", 3.0, LIGHT_BLUE, CUP_SIZE)]
        memory.integrate(frame, float(step))
    return memory


def count(memory: SpatialMemory, label: str) -> int:
    """How many ``label`` the memory answers (as "how many mugs?" does)."""
    return len(memory.query_objects(label=label, limit=100))


def seen_as(memory: SpatialMemory, labels: list[str], appearance, extent, x=5.0, start=10.0) -> str:
    """The id of one object at ``x`` seen once under each of ``labels``."""
    for step, label in enumerate(labels):
        memory.integrate([sighting(label, x, appearance, extent)], start + step)
    (node,) = [o for o in memory.objects(include_tentative=True) if abs(o.position[0] - x) < 0.05]
    return node.id


@pytest.mark.parametrize("labels", [["cup", "mug"], ["mug", "cup"]])
def test_a_red_mug_seen_once_as_a_cup_and_once_as_a_mug_is_a_mug_whichever_came_first(labels):
    memory = memory_with_mugs_and_cups()
    object_id = seen_as(memory, labels, RED, MUG_SIZE)
    assert dict(memory.get(object_id).label_counts) == {labels[0]: 1, labels[1]: 1}
    assert memory.get(object_id).label == "mug"
    assert count(memory, "mug") == 3 and count(memory, "cup") == 2


def test_a_light_blue_cup_seen_as_mug_then_cup_is_a_cup():
    memory = memory_with_mugs_and_cups()
    assert memory.get(seen_as(memory, ["mug", "cup"], LIGHT_BLUE, CUP_SIZE)).label == "cup"


def test_an_object_unlike_every_instance_of_one_label_takes_the_other_unknown_one():
    memory = memory_with_mugs_and_cups(cups=False)  # no cup in memory to compare with
    assert memory.get(seen_as(memory, ["mug", "cup"], LIGHT_BLUE, CUP_SIZE)).label == "cup"
    assert memory.get(seen_as(memory, ["cup", "mug"], RED, MUG_SIZE, x=6.0, start=20.0)).label == "mug"


def test_a_majority_of_detections_always_names_the_object():
    memory = memory_with_mugs_and_cups()
    object_id = seen_as(memory, ["cup", "cup", "mug"], RED, MUG_SIZE)
    assert memory.get(object_id).label == "cup"


def test_a_tie_the_instances_cannot_decide_keeps_the_first_label():
    grey = swatch((128, 128, 128))
    memory = memory_with_mugs_and_cups(mug_colour=LIGHT_BLUE)  # mugs and cups look alike, sizes differ little
    object_id = seen_as(memory, ["cup", "mug"], grey, (0.085, 0.085, 0.095))
    assert memory.get(object_id).label == "cup"
    assert memory.get(object_id).label_tiebreak == ""


def test_without_any_instance_of_either_label_the_first_label_stays():
    memory = SpatialMemory()
    object_id = seen_as(memory, ["cup", "mug"], RED, MUG_SIZE)
    assert memory.get(object_id).label == "cup"


def test_the_decided_label_survives_a_snapshot():
    memory = memory_with_mugs_and_cups()
    object_id = seen_as(memory, ["cup", "mug"], RED, MUG_SIZE)
    restored = SpatialMemory()
    restored.restore(*memory.snapshot())
    assert restored.get(object_id).label == "mug"
    assert object_id in {node.id for node, _ in restored.query_objects(label="mug", limit=100)}


def test_size_agreement_ignores_orientation_and_falls_with_the_size_ratio():
    assert size_agreement(np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.1, 0.2])) == pytest.approx(1.0)
    assert size_agreement(np.array([0.1, 0.1, 0.1]), np.array([0.2, 0.2, 0.2])) == pytest.approx(0.5)
    assert size_agreement(np.zeros(3), np.array([0.01, 0.01, 0.01])) == pytest.approx(1.0)  # below a centimetre


@pytest.mark.parametrize("field, value", [("label_tie_margin", -0.1), ("label_instance_confidence", 0.4)])
def test_bad_tie_settings_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        SpatialConfig(**{field: value})
