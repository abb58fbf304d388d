"""Households generated from a seed and a difficulty level, in the shipped scenario schema (YAML).

Each household has 2-5 rooms in a row, furniture along the walls of each room, 10-40 movable
objects on the furniture with at least three identical instances of one class and one cluttered
surface (8+ objects 5-10 cm apart), a camera route that visits every piece of furniture, then the
world changes and the route goes on. The changes are the ones a memory finds hard: objects moved
to a place the camera sees before it sees their old place again, brief glances (1-3 frames) at
changed places, swaps of two objects, removals, additions, and objects put back where they were.

Levels:

- ``easy``: 2 rooms, 10-14 objects, a near-perfect detector, long looks (the shipped scenarios'
  conditions);
- ``medium``: 3 rooms, 15-25 objects, 10% missed detections, some label confusion, 2-3 frame looks;
- ``hard``: 2-5 rooms, 25-40 objects, 10-20% missed detections, label confusion between similar
  classes, false positives whose scores overlap the true ones, eroded or dilated masks, depth
  noise growing with the square of the range, camera pose noise and the error of a localised
  robot's pose in ``map`` (3 cm per axis, wandering with the distance travelled; unbounded
  odometry drift, ``drift_per_m``, is a detector option but not a level: poses in ``map`` come
  from a localisation that bounds it, REP-105), and 1-3 frame glances.

``generate_household(seed, level)`` returns the scenario as a dict; ``write_household`` writes it
as YAML for inspection or for ``memory_sim_demo --scenario <file>``. The same seed and level give
the same household.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

LEVELS = ("easy", "medium", "hard")


@dataclass(frozen=True)
class ObjectClass:
    label: str
    shape: str
    size: tuple[float, float, float]
    colour: tuple[float, float, float]


CLASSES = (
    ObjectClass("mug", "mug", (0.1, 0.1, 0.1), (0.8, 0.2, 0.2)),
    ObjectClass("cup", "cylinder", (0.07, 0.07, 0.09), (0.2, 0.6, 0.9)),
    ObjectClass("bottle", "cylinder", (0.07, 0.07, 0.24), (0.1, 0.6, 0.2)),
    ObjectClass("can", "cylinder", (0.066, 0.066, 0.12), (0.85, 0.1, 0.1)),
    ObjectClass("bowl", "cylinder", (0.16, 0.16, 0.06), (0.95, 0.9, 0.8)),
    ObjectClass("plate", "cylinder", (0.22, 0.22, 0.02), (0.95, 0.95, 0.95)),
    ObjectClass("book", "box", (0.22, 0.15, 0.04), (0.7, 0.15, 0.15)),
    ObjectClass("laptop", "box", (0.33, 0.23, 0.02), (0.3, 0.3, 0.32)),
    ObjectClass("remote control", "box", (0.16, 0.05, 0.02), (0.1, 0.1, 0.1)),
    ObjectClass("phone", "box", (0.15, 0.075, 0.01), (0.05, 0.05, 0.08)),
    ObjectClass("apple", "sphere", (0.08, 0.08, 0.08), (0.8, 0.1, 0.1)),
    ObjectClass("orange", "sphere", (0.08, 0.08, 0.08), (0.95, 0.55, 0.1)),
    ObjectClass("banana", "box", (0.18, 0.05, 0.04), (0.95, 0.85, 0.1)),
    ObjectClass("lamp", "cylinder", (0.12, 0.12, 0.35), (0.9, 0.8, 0.5)),
    ObjectClass("vase", "cylinder", (0.1, 0.1, 0.28), (0.2, 0.4, 0.8)),
    ObjectClass("kettle", "cylinder", (0.16, 0.16, 0.22), (0.75, 0.75, 0.8)),
    ObjectClass("teddy bear", "teddy", (0.2, 0.2, 0.25), (0.6, 0.4, 0.2)),
    ObjectClass("rubber duck", "duck", (0.1, 0.1, 0.1), (0.95, 0.9, 0.1)),
    ObjectClass("ball", "ball", (0.15, 0.15, 0.15), (0.9, 0.9, 0.9)),
    ObjectClass("box", "box", (0.2, 0.2, 0.15), (0.6, 0.5, 0.35)),
    ObjectClass("candle", "cylinder", (0.06, 0.06, 0.1), (0.95, 0.95, 0.85)),
    ObjectClass("glasses case", "box", (0.16, 0.06, 0.04), (0.2, 0.2, 0.6)),
)
# Classes a detector confuses (a hard-level detector mislabels one as the other).
CONFUSABLE = (("mug", "cup"), ("cup", "can"), ("apple", "orange"), ("book", "box"), ("phone", "remote control"),
              ("bottle", "vase"), ("bowl", "plate"))
# Colours a person names, for the pair of same-class objects that only colour tells apart.
COLOURS = {"red": (0.85, 0.1, 0.1), "blue": (0.1, 0.25, 0.85), "green": (0.1, 0.65, 0.2), "yellow": (0.95, 0.85, 0.1)}
# Objects small enough to crowd a surface 5-10 cm apart.
SMALL = ("cup", "can", "apple", "orange", "candle", "mug", "rubber duck")

ROOM_FURNITURE = {
    "kitchen": (("counter", (2.4, 0.6, 0.9)), ("kitchen_table", (1.4, 0.9, 0.75)), ("shelf", (1.2, 0.4, 1.1))),
    "living": (("coffee_table", (1.2, 0.6, 0.45)), ("sideboard", (1.6, 0.5, 0.8)), ("shelf", (1.2, 0.4, 1.1))),
    "bedroom": (("night_stand", (0.5, 0.45, 0.55)), ("dresser", (1.2, 0.5, 0.85))),
    "office": (("desk", (1.4, 0.7, 0.75)), ("shelf", (1.0, 0.4, 1.1))),
    "dining": (("dining_table", (1.8, 1.0, 0.75)), ("sideboard", (1.6, 0.5, 0.8))),
    "hall": (("console_table", (1.2, 0.4, 0.8)),),
}
FURNITURE_COLOUR = (0.55, 0.4, 0.25)
DETECTORS = {
    "easy": {"box_noise_px": 2.0, "drop_rate": 0.05, "false_positive_rate": 0.02, "min_pixels": 60},
    "medium": {"box_noise_px": 3.0, "drop_rate": 0.10, "false_positive_rate": 0.05, "min_pixels": 60,
               "confusion_rate": 0.03, "false_positive_scores": [0.3, 0.8], "furniture": True},
    "hard": {"box_noise_px": 4.0, "drop_rate": 0.15, "false_positive_rate": 0.1, "min_pixels": 60,
             "confusion_rate": 0.08, "false_positive_scores": [0.4, 0.95], "mask_jitter_px": 2,
             "depth_noise_at_1m": 0.005, "pose_noise_m": 0.01, "localization_error_m": 0.03, "furniture": True},
}
# Frames per stop on the first tour (objects are learnt) and on later looks at unchanged places.
LOOK_FRAMES = {"easy": (4, 4), "medium": (3, 2), "hard": (3, 2)}
OBJECT_COUNTS = {"easy": (10, 14), "medium": (15, 25), "hard": (25, 40)}


@dataclass
class _Furniture:
    name: str
    room: str
    position: tuple[float, float]
    size: tuple[float, float, float]
    front: tuple[float, float]  # unit vector from the furniture into the room
    slots: list[tuple[float, float]]  # free offsets on its top


def _slots(size: tuple[float, float, float], spacing: float) -> list[tuple[float, float]]:
    sx, sy, _ = size
    xs = np.arange(-sx / 2 + spacing / 2 + 0.03, sx / 2 - spacing / 2 - 0.03 + 1e-9, spacing)
    ys = np.arange(-sy / 2 + spacing / 2 + 0.03, sy / 2 - spacing / 2 - 0.03 + 1e-9, spacing)
    return [(round(float(x), 3), round(float(y), 3)) for x in xs for y in ys]


def generate_household(seed: int, level: str = "medium") -> dict[str, Any]:
    """A household scenario (the YAML schema of ``config/scenarios/``) from ``seed`` and ``level``."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    rng = np.random.default_rng([seed, LEVELS.index(level)])
    room_count = {"easy": 2, "medium": 3}.get(level) or int(rng.integers(2, 6))
    kinds = ["kitchen", "living", *rng.permutation(["bedroom", "office", "dining", "hall"]).tolist()][:room_count]
    rooms, walls, furniture = [], [], []
    x0 = 0.0
    for kind in kinds:
        width, depth = float(rng.uniform(4.5, 6.0)), float(rng.uniform(4.5, 5.5))
        x1 = x0 + width
        rooms.append({"name": kind, "polygon": [[x0, 0.0], [x1, 0.0], [x1, depth], [x0, depth]]})
        walls += [[x0, 0.0, x1, 0.0], [x1, 0.0, x1, depth], [x1, depth, x0, depth], [x0, depth, x0, 0.0]]
        # Furniture against the north and south walls, facing into the room.
        sides = [(x0 + width * 0.3, (0.0, -1.0)), (x0 + width * 0.7, (0.0, 1.0)), (x0 + width * 0.75, (0.0, -1.0))]
        for (name, size), (x, front) in zip(ROOM_FURNITURE[kind], sides):
            y = depth - size[1] / 2 - 0.06 if front[1] < 0 else size[1] / 2 + 0.06  # back against the wall
            furniture.append(_Furniture(f"{kind}_{name}", kind, (round(x, 3), round(y, 3)), size, front,
                                        _slots(size, 0.22)))
        x0 = x1
    objects: list[dict[str, Any]] = []
    low, high = OBJECT_COUNTS[level]
    target = int(rng.integers(low, high + 1))
    classes = list(CLASSES)

    def place(spec: ObjectClass, item: _Furniture, offset: tuple[float, float], name: str) -> None:
        objects.append({"name": name, "label": spec.label, "shape": spec.shape, "size": list(spec.size),
                        "colour": list(spec.colour), "stands_on": item.name, "offset": list(offset)})

    # A cluttered surface: 8+ small objects 5-10 cm apart (centre spacing 0.12-0.17 m) on the
    # largest top, and three identical instances of one class among them.
    largest = max(furniture, key=lambda f: f.size[0] * f.size[1])
    spacing = float(rng.uniform(0.12, 0.15))
    crowd = sorted(_slots(largest.size, spacing), key=lambda s: (abs(s[0]) + abs(s[1]), s))
    clutter = crowd[: max(8, min(12, target // 3))]
    largest.slots = [s for s in largest.slots if min(np.hypot(s[0] - c[0], s[1] - c[1]) for c in clutter) > 0.15]
    small = [c for c in CLASSES if c.label in SMALL]
    twin_class = small[int(rng.integers(len(small)))]
    for k, offset in enumerate(clutter):
        spec = twin_class if k < 2 else small[int(rng.integers(len(small)))]
        place(spec, largest, offset, f"{spec.label.replace(' ', '_')}_{len(objects) + 1}")
    # The third twin stands in another room, so "the <twin> in the <room>" names one of them.
    elsewhere = [f for f in furniture if f.room != largest.room and f.slots] or [f for f in furniture if f.slots]
    item = elsewhere[int(rng.integers(len(elsewhere)))]
    place(twin_class, item, item.slots.pop(int(rng.integers(len(item.slots)))),
          f"{twin_class.label.replace(' ', '_')}_{len(objects) + 1}")
    # Two objects of one class that differ only in colour, on different furniture ("the red cup").
    plain = [c for c in CLASSES if c.shape in ("box", "cylinder", "sphere") and c != twin_class]
    paired = plain[int(rng.integers(len(plain)))]
    colours = rng.permutation(sorted(COLOURS)).tolist()[:2]
    for colour in colours:
        free = [f for f in furniture if f.slots]
        if not free:
            break
        item = free[int(rng.integers(len(free)))]
        spec = ObjectClass(paired.label, paired.shape, paired.size, COLOURS[colour])
        place(spec, item, item.slots.pop(int(rng.integers(len(item.slots)))),
              f"{colour}_{paired.label.replace(' ', '_')}_{len(objects) + 1}")
    while len(objects) < target:
        candidates = [f for f in furniture if f.slots]
        if not candidates:
            break
        item = candidates[int(rng.integers(len(candidates)))]
        offset = item.slots.pop(int(rng.integers(len(item.slots))))
        spec = classes[int(rng.integers(len(classes)))]
        place(spec, item, offset, f"{spec.label.replace(' ', '_')}_{len(objects) + 1}")

    def stop(item: _Furniture, frames: int) -> dict[str, Any]:
        distance = 1.4 + item.size[1] / 2
        at = [round(item.position[0] + item.front[0] * distance, 3), round(item.position[1] + item.front[1] * distance, 3)]
        return {"at": at, "look": item.name, "frames": frames}

    first_look, later_look = LOOK_FRAMES[level]
    route = [stop(f, first_look) for f in furniture]
    step_after_tour = sum(s["frames"] for s in route)
    events: list[dict[str, Any]] = []
    # Changes are made to objects off the cluttered surface (plenty of them at every level).
    movable = [o for o in objects if o["stands_on"] != largest.name] or objects
    order = rng.permutation(len(movable)).tolist()
    by_name = {f.name: f for f in furniture}

    def free_slot(item: _Furniture) -> tuple[float, float] | None:
        return item.slots.pop(int(rng.integers(len(item.slots)))) if item.slots else None

    second_pass: list[_Furniture] = []  # places whose content changed: new places
    old_places: list[_Furniture] = []  # the places things left
    change_count = {"easy": 3, "medium": 5, "hard": 8}[level]
    kinds_of_change = ["move_far", "remove", "add", "move_far", "swap", "return", "remove", "move_far"]
    picks = iter(order + order)  # a small household may need an object twice
    for kind in kinds_of_change[:change_count]:
        step = step_after_tour
        if kind == "add":
            with_room = [f for f in furniture if f.slots]
            if not with_room:
                continue
            item = with_room[int(rng.integers(len(with_room)))]
            offset = free_slot(item)
            assert offset is not None
            spec = classes[int(rng.integers(len(classes)))]
            events.append({"at_step": step, "add": {"name": f"new_{spec.label.replace(' ', '_')}_{len(events)}",
                                                    "label": spec.label, "shape": spec.shape, "size": list(spec.size),
                                                    "colour": list(spec.colour), "stands_on": item.name,
                                                    "offset": list(offset)}})
            second_pass.append(item)
            continue
        name = movable[next(picks)]["name"]
        source = by_name[next(o["stands_on"] for o in objects if o["name"] == name)]
        if kind == "remove":
            events.append({"at_step": step, "remove": name})
            old_places.append(source)
        elif kind in ("move_far", "return"):
            others = [f for f in furniture if f.room != source.room and f.slots] or [f for f in furniture if f.slots]
            if not others:
                continue
            target_item = others[int(rng.integers(len(others)))]
            offset = free_slot(target_item)
            assert offset is not None
            events.append({"at_step": step, "move": name, "to": target_item.name, "offset": list(offset)})
            # the new place is seen first, then the old one
            second_pass.append(target_item)
            old_places.append(source)
            if kind == "return":
                back = next(o for o in objects if o["name"] == name)
                events.append({"at_step": step + 1000, "move": name, "to": source.name, "offset": back["offset"]})
        elif kind == "swap":
            other_name = movable[next(picks)]["name"]
            other = next(o for o in objects if o["name"] == other_name)
            mine = next(o for o in objects if o["name"] == name)
            events.append({"at_step": step, "move": name, "to": other["stands_on"], "offset": other["offset"]})
            events.append({"at_step": step, "move": other_name, "to": mine["stands_on"], "offset": mine["offset"]})
            second_pass.append(by_name[other["stands_on"]])
            old_places.append(source)
    # Second tour: the changed places (new places first), briefly; then everything else.
    seen_again = list(dict.fromkeys(item.name for item in second_pass + old_places))
    glance = {"easy": (7, 7), "medium": (2, 3), "hard": (1, 3)}[level]
    route += [stop(by_name[n], int(rng.integers(glance[0], glance[1] + 1))) for n in seen_again]
    route += [stop(f, later_look) for f in furniture if f.name not in seen_again]
    total = sum(s["frames"] for s in route)
    # "return" events were parked far ahead: put them back half way through the second tour, and
    # look at the old place once more at the end.
    for event in events:
        if event["at_step"] >= 1000:
            event["at_step"] = step_after_tour + (total - step_after_tour) // 2
            route.append(stop(by_name[event["to"]], later_look))
    planner = [
        {"at_step": 0, "kind": "task_started", "task": "tidy up", "text": "put things back where they belong"},
        {"at_step": max(1, step_after_tour - 1), "kind": "task_succeeded", "task": "tidy up", "text": "all tidy"},
        {"at_step": step_after_tour, "kind": "task_started", "task": "find the keys", "text": "look for the keys"},
        {"at_step": step_after_tour + 2, "kind": "task_failed", "task": "find the keys", "text": "keys not found"},
    ]
    return {
        "name": f"generated_{level}_{seed}",
        "rooms": rooms,
        "walls": walls,
        "furniture": [{"name": f.name, "position": list(f.position), "size": list(f.size), "colour": list(FURNITURE_COLOUR),
                       "label": f.name.split("_", 1)[1].replace("_", " ")} for f in furniture],
        "objects": objects,
        "camera": {"width": 640, "height": 480, "fov_deg": 60, "height_m": 1.3, "frame_period_s": 0.5,
                   "travel_s": 6.0, "start_s": 1000.0},
        "detector": dict(DETECTORS[level]),
        "stops": route,
        "events": sorted(events, key=lambda e: e["at_step"]),
        "planner": planner,
        "questions": [{"type": "recall", "text": "which task failed?", "expect_task": "find the keys"}],
        "level": level,
        "seed": seed,
    }


def write_household(seed: int, level: str, directory: Path) -> Path:
    """Write ``generate_household(seed, level)`` as ``<directory>/generated_<level>_<seed>.yaml``."""
    scenario = generate_household(seed, level)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scenario['name']}.yaml"
    path.write_text(f"# Generated by memory_nodes.apps.household_generator (seed {seed}, level {level}).\n"
                    + yaml.safe_dump(scenario, sort_keys=False, default_flow_style=None, width=120))
    return path
