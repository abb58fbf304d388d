"""A short built-in sensor sequence with ground truth: a robot in a two-room flat.

Used by ``memory_demo`` and by the tests. The kitchen (x 0-5 m) and the office (x 5-10 m) hold a
table, a mug on it, an apple and a drawer; the office a desk and a laptop. The robot looks at the
kitchen table, opens the drawer, glances at the office desk, and while it is away the mug is
carried to the desk; it sees the mug there, comes back and finds the table without the mug. Detections are
what a pinhole camera at the robot would see (frustum test), with seeded position noise and a
colour-histogram appearance per object. Nothing here imports rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memory_nodes.core.appearance import colour_histogram
from memory_nodes.core.geometry import CameraView, Pose, look_at, yaw_quaternion
from memory_nodes.core.spatial import Observation

KITCHEN = ((0.0, 0.0), (5.0, 0.0), (5.0, 5.0), (0.0, 5.0))
OFFICE = ((5.0, 0.0), (10.0, 0.0), (10.0, 5.0), (5.0, 5.0))
ROOMS = (("kitchen", KITCHEN), ("office", OFFICE))
INTRINSICS = (320.0, 320.0, 320.0, 240.0)
IMAGE_SIZE = (640, 480)


@dataclass
class SceneObject:
    """Ground truth of one object: ``position`` of its box centre in ``map`` (m), full ``extent``."""

    name: str
    label: str
    position: np.ndarray
    extent: np.ndarray
    colour: np.ndarray
    state: str = ""


@dataclass
class Frame:
    stamp: float
    robot_position: np.ndarray
    view: CameraView
    observations: list[Observation]
    truth: list[str]  # ground-truth name of each observation
    note: str = ""


@dataclass
class Scenario:
    frames: list[Frame]
    objects: dict[str, SceneObject]
    planner_events: list[tuple[float, str, str, str]] = field(default_factory=list)  # stamp, kind, task, text


def _appearance(colour_rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The hue-saturation histogram of a 16x16 image patch of ``colour_rgb`` with pixel noise,
    as a detector would compute it from the object's pixels."""
    patch = np.clip(colour_rgb[::-1][None, None, :] + rng.normal(0, 12, size=(16, 16, 3)), 0, 255).astype(np.uint8)
    return colour_histogram(patch)


def _world() -> dict[str, SceneObject]:
    def obj(name, label, position, extent, colour, state=""):
        return SceneObject(name, label, np.array(position, float), np.array(extent, float), np.array(colour, float), state)

    return {
        "table": obj("table", "table", (2.0, 2.5, 0.375), (1.2, 0.8, 0.75), (120, 80, 40)),
        "mug": obj("mug", "mug", (1.8, 2.4, 0.81), (0.09, 0.09, 0.12), (200, 30, 30)),
        "apple": obj("apple", "apple", (2.3, 2.6, 0.79), (0.08, 0.08, 0.08), (40, 180, 40)),
        "drawer": obj("drawer", "drawer", (1.0, 4.5, 0.6), (0.5, 0.4, 0.2), (200, 200, 200), "closed"),
        "desk": obj("desk", "desk", (7.5, 2.5, 0.375), (1.4, 0.7, 0.75), (60, 60, 60)),
        "laptop": obj("laptop", "laptop", (7.3, 2.5, 0.76), (0.33, 0.23, 0.02), (30, 30, 160)),
    }


def _frame(stamp: float, robot: tuple[float, float], target: np.ndarray, objects: dict[str, SceneObject],
           rng: np.random.Generator, note: str = "") -> Frame:
    robot_position = np.array([robot[0], robot[1], 0.0])
    eye = robot_position + np.array([0.0, 0.0, 1.2])
    view = CameraView(look_at(eye, target), INTRINSICS, IMAGE_SIZE[0], IMAGE_SIZE[1], max_range=6.0)
    observations, truth = [], []
    for name, obj in objects.items():
        if not view.expected_visible(obj.position[None, :], occlusion_margin=0.1, border_px=20.0)[0]:
            continue
        noisy = obj.position + rng.normal(0.0, 0.01, 3)
        observations.append(Observation(obj.label, Pose(noisy, yaw_quaternion(0.0)), obj.extent * rng.uniform(0.95, 1.05, 3),
                                        score=0.9, appearance=_appearance(obj.colour, rng), state=obj.state,
                                        source_id=name))
        truth.append(name)
    return Frame(stamp, robot_position, view, observations, truth, note)


def flat_scenario(seed: int = 7, start_stamp: float = 1000.0) -> Scenario:
    """The sequence described in the module docstring: 21 frames over ~200 s of stamp time."""
    rng = np.random.default_rng(seed)
    objects = _world()
    frames: list[Frame] = []
    t = start_stamp
    table = objects["table"].position
    for k in range(4):  # kitchen: look at the table
        frames.append(_frame(t, (2.0 + 0.1 * k, 0.6), table, objects, rng, "kitchen table"))
        t += 2.0
    for k in range(3):  # the drawer, closed then opened by the robot
        if k == 2:
            objects["drawer"].state = "open"
        frames.append(_frame(t, (1.0, 3.0), objects["drawer"].position, objects, rng, "drawer"))
        t += 2.0
    t += 20.0
    for _ in range(2):  # a look into the office: the desk with the laptop only
        frames.append(_frame(t, (7.5, 0.8), objects["desk"].position, objects, rng, "office desk, first look"))
        t += 2.0
    t += 40.0
    objects["mug"].position = np.array([7.8, 2.6, 0.81])  # carried to the desk while the robot drives
    for k in range(5):  # office: the desk, now with the mug
        frames.append(_frame(t, (7.5 - 0.1 * k, 0.8), objects["desk"].position, objects, rng, "office desk"))
        t += 2.0
    t += 60.0
    for k in range(6):  # back in the kitchen: the table without the mug
        frames.append(_frame(t, (2.0, 0.6 + 0.05 * k), table, objects, rng, "kitchen table again"))
        t += 2.0
    events = [
        (start_stamp + 0.5, "task_started", "inspect kitchen", "look at the kitchen table and the drawer"),
        (start_stamp + 13.0, "task_succeeded", "inspect kitchen", "kitchen inspected"),
        (start_stamp + 74.0, "task_started", "tidy office", "check the office desk"),
        (start_stamp + 84.0, "task_failed", "tidy office", "desk too cluttered to tidy"),
    ]
    return Scenario(frames, objects, events)
