"""A headless pybullet household for the memory: rooms, furniture, movable objects, a camera
carried through the rooms, scripted events, and ground truth.

A scenario (YAML, see ``config/scenarios/``) gives the rooms (polygons), wall segments, furniture
(boxes: tables, counters, shelves), movable objects (meshes from ``pybullet_data`` or simple
shapes) standing on furniture, the camera's stops, events (move, remove, add) and planner events,
and the questions to score. ``HouseholdSim`` builds the world in a DIRECT (no GUI) pybullet client,
renders RGB, depth and segmentation with the TinyRenderer, and derives 2D detections (label, box,
mask) from the segmentation, with configurable box noise, dropped detections and false positives.
Time is the simulation clock (``stamp``, seconds), advanced per frame. No rclpy here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.geometry import Pose, look_at

MESHES = {"mug": ("objects/mug.urdf", 1.0), "duck": ("duck_vhacd.urdf", 1.0), "teddy": ("teddy_vhacd.urdf", 1.0),
          "ball": ("soccerball.urdf", 0.15)}
SHAPES = ("box", "cylinder", "sphere")


@dataclass
class ObjectSpec:
    name: str
    label: str
    shape: str  # a key of MESHES, or box/cylinder/sphere
    size: tuple[float, float, float]
    colour: tuple[float, float, float]
    on: str
    offset: tuple[float, float]


@dataclass
class Scenario:
    name: str
    rooms: list[tuple[str, list[tuple[float, float]]]]
    walls: list[tuple[float, float, float, float]]
    furniture: dict[str, dict[str, Any]]
    objects: list[ObjectSpec]
    stops: list[dict[str, Any]]
    events: list[dict[str, Any]]
    planner: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    camera: dict[str, Any] = field(default_factory=dict)
    detector: dict[str, Any] = field(default_factory=dict)

    @property
    def frame_count(self) -> int:
        return sum(int(stop.get("frames", 3)) for stop in self.stops)

    def map_parameters(self) -> dict[str, list[Any]]:
        """The spatial memory's parameters for what a robot's map of this household knows: the room
        polygons and the furniture (its label and box, standing on the floor)."""
        labels, boxes = [], []
        for name, item in self.furniture.items():
            (x, y), (sx, sy, sz) = item["position"], item["size"]
            labels.append(str(item.get("label", name.replace("_", " "))))
            boxes += [x - sx / 2.0, y - sy / 2.0, 0.0, x + sx / 2.0, y + sy / 2.0, float(sz)]
        return {"rooms.names": [name for name, _ in self.rooms],
                "rooms.vertex_counts": [len(polygon) for _, polygon in self.rooms],
                "rooms.vertices": [float(c) for _, polygon in self.rooms for vertex in polygon for c in vertex],
                "furniture.labels": labels, "furniture.boxes": [float(v) for v in boxes]}


def _object_spec(item: dict[str, Any]) -> ObjectSpec:
    shape = item.get("shape", "box")
    if shape not in MESHES and shape not in SHAPES:
        raise ConfigError(f"object {item.get('name')!r}: shape {shape!r} is none of {sorted(MESHES) + list(SHAPES)}")
    return ObjectSpec(item["name"], item["label"], shape, tuple(item.get("size", (0.1, 0.1, 0.1))),
                      tuple(item.get("colour", (0.8, 0.2, 0.2))), item["stands_on"], tuple(item.get("offset", (0.0, 0.0))))


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; a missing field or an unknown reference raises ConfigError."""
    try:
        data = yaml.safe_load(Path(path).read_text())
        scenario = Scenario(
            name=data["name"],
            rooms=[(r["name"], [tuple(v) for v in r["polygon"]]) for r in data["rooms"]],
            walls=[tuple(w) for w in data.get("walls", [])],
            furniture={f["name"]: f for f in data["furniture"]},
            objects=[_object_spec(o) for o in data["objects"]],
            stops=data["stops"], events=data.get("events", []), planner=data.get("planner", []),
            questions=data.get("questions", []), camera=data.get("camera", {}), detector=data.get("detector", {}),
        )
    except (KeyError, TypeError, yaml.YAMLError, OSError) as error:
        raise ConfigError(f"scenario {path}: {type(error).__name__}: {error}") from error
    names = {o.name for o in scenario.objects} | {e["add"]["name"] for e in scenario.events if "add" in e}
    for spec in scenario.objects + [_object_spec(e["add"]) for e in scenario.events if "add" in e]:
        if spec.on not in scenario.furniture:
            raise ConfigError(f"scenario {scenario.name}: object {spec.name} stands on unknown furniture {spec.on!r}")
    for event in scenario.events:
        target = event.get("move") or event.get("remove")
        if target is not None and target not in names:
            raise ConfigError(f"scenario {scenario.name}: event names unknown object {target!r}")
        if "move" in event and event.get("to") not in scenario.furniture:
            raise ConfigError(f"scenario {scenario.name}: move to unknown furniture {event.get('to')!r}")
    for stop in scenario.stops:
        if stop["look"] not in scenario.furniture:
            raise ConfigError(f"scenario {scenario.name}: stop looks at unknown furniture {stop['look']!r}")
    return scenario


def _confused(label: str, rng: np.random.Generator) -> str:
    """The class a detector mistakes ``label`` for (itself when it has no look-alike)."""
    from memory_nodes.apps.household_generator import CONFUSABLE

    partners = [b for a, b in CONFUSABLE if a == label] + [a for a, b in CONFUSABLE if b == label]
    return str(rng.choice(partners)) if partners else label


@dataclass
class Detection2DResult:
    label: str
    score: float
    box: tuple[int, int, int, int]
    mask: np.ndarray
    truth: str  # ground-truth object name, "" for a false positive


@dataclass
class SimFrame:
    stamp: float
    step: int
    camera: Pose  # optical frame in map
    robot_position: np.ndarray
    rgb: np.ndarray  # (H, W, 3) uint8 BGR
    depth: np.ndarray  # (H, W) float32 metres, NaN where nothing
    detections: list[Detection2DResult]
    visible: list[str]


class HouseholdSim:
    """The pybullet world of one scenario. ``frames()`` yields the run frame by frame."""

    def __init__(self, scenario: Scenario, seed: int = 0) -> None:
        import pybullet as p
        import pybullet_data

        self.p = p
        self.scenario = scenario
        self.rng = np.random.default_rng(seed)
        self.client = p.connect(p.DIRECT)
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        camera = scenario.camera
        self.width, self.height = int(camera.get("width", 640)), int(camera.get("height", 480))
        self.fov_deg = float(camera.get("fov_deg", 60.0))
        self.camera_height = float(camera.get("height_m", 1.3))
        self.frame_period_s = float(camera.get("frame_period_s", 0.5))
        self.travel_s = float(camera.get("travel_s", 10.0))
        focal = (self.height / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)
        self.intrinsics = (focal, focal, self.width / 2.0, self.height / 2.0)
        self.near, self.far = 0.05, 12.0
        detector = scenario.detector
        self.box_noise_px = float(detector.get("box_noise_px", 2.0))
        self.drop_rate = float(detector.get("drop_rate", 0.05))
        self.false_positive_rate = float(detector.get("false_positive_rate", 0.02))
        self.min_pixels = int(detector.get("min_pixels", 60))
        # The hard detector and sensor model (all off by default, as in the shipped scenarios).
        self.confusion_rate = float(detector.get("confusion_rate", 0.0))
        self.false_positive_scores = tuple(detector.get("false_positive_scores", (0.3, 0.6)))
        self.mask_jitter_px = int(detector.get("mask_jitter_px", 0))
        self.detect_furniture = bool(detector.get("furniture", False))
        self.depth_noise_at_1m = float(detector.get("depth_noise_at_1m", 0.0))  # sigma = this * depth^2, m
        self.pose_noise_m = float(detector.get("pose_noise_m", 0.0))
        self.drift_per_m = float(detector.get("drift_per_m", 0.0))  # odometry drift per metre travelled
        # Error of a localised robot's pose in map (REP-105: map does not drift; localisation keeps
        # the error bounded): an offset that wanders with the distance travelled around zero, with
        # this standard deviation per axis, decorrelating over localization_correlation_m.
        self.localization_error_m = float(detector.get("localization_error_m", 0.0))
        self.localization_correlation_m = float(detector.get("localization_correlation_m", 5.0))
        self._drift = np.zeros(3)
        self._last_eye: np.ndarray | None = None
        self.labels = sorted({o.label for o in scenario.objects})
        self.furniture_bodies: dict[str, int] = {}  # furniture name -> body id
        self.true_cameras: list[Pose] = []  # where the camera really was, frame by frame
        self.last_true_depth: np.ndarray | None = None  # the last frame's depth before sensor noise
        self.bodies: dict[str, int] = {}  # object name -> body id
        self.names: dict[int, str] = {}
        self.specs: dict[str, ObjectSpec] = {}
        self.removed: dict[str, float] = {}  # name -> stamp of removal
        self.moves: list[tuple[str, float, np.ndarray, np.ndarray]] = []  # name, stamp, from, to
        self.added: dict[str, float] = {}
        self.stamp = 0.0
        self._build()

    # ----------------------------------------------------------------- world
    def _box(self, centre, size, colour, mass=0.0) -> int:
        p = self.p
        half = [s / 2.0 for s in size]
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=self.client)
        visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[*colour, 1.0], physicsClientId=self.client)
        return p.createMultiBody(mass, shape, visual, list(centre), physicsClientId=self.client)

    def _build(self) -> None:
        p = self.p
        p.loadURDF("plane.urdf", physicsClientId=self.client)
        for x0, y0, x1, y1 in self.scenario.walls:
            length = math.hypot(x1 - x0, y1 - y0)
            yaw = math.atan2(y1 - y0, x1 - x0)
            half = [length / 2.0, 0.05, 1.1]
            shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=self.client)
            visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[0.85, 0.85, 0.8, 1.0],
                                         physicsClientId=self.client)
            p.createMultiBody(0, shape, visual, [(x0 + x1) / 2, (y0 + y1) / 2, 1.1],
                              p.getQuaternionFromEuler([0, 0, yaw]), physicsClientId=self.client)
        for name, item in self.scenario.furniture.items():
            sx, sy, sz = item["size"]
            x, y = item["position"]
            self.furniture_bodies[name] = self._box((x, y, sz / 2.0), (sx, sy, sz), item.get("colour", (0.55, 0.4, 0.25)))
        for spec in self.scenario.objects:
            self._place(spec)

    def furniture_top(self, name: str) -> np.ndarray:
        item = self.scenario.furniture[name]
        x, y = item["position"]
        return np.array([x, y, item["size"][2]])

    def _place(self, spec: ObjectSpec, furniture: str | None = None, offset: tuple[float, float] | None = None) -> int:
        p = self.p
        top = self.furniture_top(furniture or spec.on)
        dx, dy = offset if offset is not None else spec.offset
        if spec.shape in MESHES:
            urdf, scale = MESHES[spec.shape]
            body = p.loadURDF(urdf, [0, 0, 5], useFixedBase=True, globalScaling=scale, physicsClientId=self.client)
            low, _high = p.getAABB(body, physicsClientId=self.client)
            lift = 5 - low[2]
            p.resetBasePositionAndOrientation(body, [top[0] + dx, top[1] + dy, top[2] + lift + 0.001], [0, 0, 0, 1],
                                              physicsClientId=self.client)
        else:
            sx, sy, sz = spec.size
            if spec.shape == "box":
                visual = p.createVisualShape(p.GEOM_BOX, halfExtents=[sx / 2, sy / 2, sz / 2], rgbaColor=[*spec.colour, 1],
                                             physicsClientId=self.client)
            elif spec.shape == "cylinder":
                visual = p.createVisualShape(p.GEOM_CYLINDER, radius=sx / 2, length=sz, rgbaColor=[*spec.colour, 1],
                                             physicsClientId=self.client)
            else:
                visual = p.createVisualShape(p.GEOM_SPHERE, radius=sx / 2, rgbaColor=[*spec.colour, 1],
                                             physicsClientId=self.client)
            body = p.createMultiBody(0, -1, visual, [top[0] + dx, top[1] + dy, top[2] + sz / 2 + 0.001],
                                     physicsClientId=self.client)
        self.bodies[spec.name] = body
        self.names[body] = spec.name
        self.specs[spec.name] = spec
        return body

    def position(self, name: str) -> np.ndarray:
        """Centre of the object's axis-aligned box in ``map``, metres."""
        low, high = self.p.getAABB(self.bodies[name], physicsClientId=self.client)
        return (np.array(low) + np.array(high)) / 2.0

    def true_box(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(min (3,), max (3,)) of the object's axis-aligned box in ``map``, metres. A primitive
        shape has no collision shape, so pybullet's box of it is its centre alone: its size says."""
        low, high = (np.array(bound) for bound in self.p.getAABB(self.bodies[name], physicsClientId=self.client))
        spec = self.specs[name]
        if spec.shape in MESHES:
            return low, high
        sx, sy, sz = spec.size  # a sphere's and a cylinder's diameter is sx, as _place builds them
        half = np.array({"sphere": (sx, sx, sx), "cylinder": (sx, sx, sz)}.get(spec.shape, (sx, sy, sz))) / 2.0
        centre = (low + high) / 2.0
        return centre - half, centre + half

    def furniture_label(self, name: str) -> str:
        return str(self.scenario.furniture[name].get("label", name.replace("_", " ")))

    def furniture_box_centre(self, name: str) -> np.ndarray:
        item = self.scenario.furniture[name]
        return np.array([item["position"][0], item["position"][1], item["size"][2] / 2.0])

    def in_view(self, point: np.ndarray, max_range: float = 5.0, margin: float = 0.15) -> bool:
        """``point`` (map) is inside the last frame's image, within ``max_range`` and not hidden
        behind something nearer than itself by more than ``margin`` (from the true depth)."""
        if not self.true_cameras or self.last_true_depth is None:
            return False
        local = self.true_cameras[-1].inverse_transform(np.asarray(point, dtype=float).reshape(1, 3))[0]
        if not 0.1 < local[2] <= max_range:
            return False
        fx, fy, cx, cy = self.intrinsics
        u, v = int(fx * local[0] / local[2] + cx), int(fy * local[1] / local[2] + cy)
        if not (0 <= u < self.width and 0 <= v < self.height):
            return False
        surface = float(self.last_true_depth[v, u])
        return not math.isfinite(surface) or surface >= local[2] - margin

    def present(self) -> list[str]:
        return [name for name in self.bodies if name not in self.removed]

    # ----------------------------------------------------------------- events
    def _apply_event(self, event: dict[str, Any]) -> str:
        p = self.p
        if "move" in event:
            name = event["move"]
            before = self.position(name)
            p.removeBody(self.bodies[name], physicsClientId=self.client)
            self._place(self.specs[name], event["to"], tuple(event.get("offset", (0.0, 0.0))))
            self.moves.append((name, self.stamp, before, self.position(name)))
            return f"moved {name} to {event['to']}"
        if "remove" in event:
            name = event["remove"]
            p.resetBasePositionAndOrientation(self.bodies[name], [0, 0, -50], [0, 0, 0, 1], physicsClientId=self.client)
            self.removed[name] = self.stamp
            return f"removed {name}"
        if "add" in event:
            spec = _object_spec(event["add"])
            self._place(spec)
            self.added[spec.name] = self.stamp
            return f"added {spec.name}"
        raise ConfigError(f"unknown event {event}")

    # ----------------------------------------------------------------- camera
    def render(self, camera: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(BGR (H, W, 3) uint8, depth (H, W) float32 metres with NaN for nothing, body ids (H, W))."""
        p = self.p
        eye = camera.position
        forward = camera.rotation()[:, 2]
        view = p.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), [0, 0, 1])
        projection = p.computeProjectionMatrixFOV(self.fov_deg, self.width / self.height, self.near, self.far)
        _, _, rgba, buffer, segmentation = p.getCameraImage(self.width, self.height, view, projection,
                                                            renderer=p.ER_TINY_RENDERER, physicsClientId=self.client)
        rgba = np.reshape(np.asarray(rgba, dtype=np.uint8), (self.height, self.width, 4))
        buffer = np.reshape(np.asarray(buffer, dtype=np.float64), (self.height, self.width))
        depth = (self.far * self.near / (self.far - (self.far - self.near) * buffer)).astype(np.float32)
        depth[buffer >= 1.0] = np.nan
        segmentation = np.reshape(np.asarray(segmentation), (self.height, self.width))
        return np.ascontiguousarray(rgba[:, :, 2::-1]), depth, segmentation

    def detect(self, segmentation: np.ndarray) -> tuple[list[Detection2DResult], list[str]]:
        """Detections from the segmentation: one per visible object (unless dropped), box jittered,
        plus the occasional false positive on the background. With the hard model: labels confused
        between similar classes, masks eroded or dilated, false positives scored like true ones,
        furniture detected too."""
        detections, visible = [], []
        targets = [(name, self.bodies[name], self.specs[name].label) for name in self.present()]
        if self.detect_furniture:
            targets += [(name, body, self.furniture_label(name)) for name, body in self.furniture_bodies.items()]
        for name, body, label in targets:
            mask = segmentation == body
            pixels = int(np.count_nonzero(mask))
            if pixels < self.min_pixels:
                continue
            if name in self.bodies:
                visible.append(name)
            if self.rng.random() < self.drop_rate:
                continue
            if self.mask_jitter_px:
                mask = self._jitter_mask(mask)
                if not mask.any():
                    continue
            v, u = np.nonzero(mask)
            # A detector's box error grows with the object's size in the image, up to box_noise_px:
            # it does not turn a sliver 3 pixels wide into a box that misses it.
            sides = np.array([u.max() + 1 - u.min(), v.max() + 1 - v.min()] * 2, dtype=float)
            jitter = self.rng.normal(0.0, 1.0, 4) * np.minimum(self.box_noise_px, 0.1 * sides)
            box = (int(u.min() + jitter[0]), int(v.min() + jitter[1]), int(u.max() + 1 + jitter[2]),
                   int(v.max() + 1 + jitter[3]))
            if self.confusion_rate and self.rng.random() < self.confusion_rate:
                label = _confused(label, self.rng)
            detections.append(Detection2DResult(label, float(self.rng.uniform(0.6, 0.99)), box,
                                                mask.astype(np.uint8) * 255, name))
        if self.rng.random() < self.false_positive_rate:
            w, h = int(self.rng.integers(20, 60)), int(self.rng.integers(20, 60))
            x, y = int(self.rng.integers(0, self.width - w)), int(self.rng.integers(0, self.height - h))
            mask = np.zeros((self.height, self.width), np.uint8)
            mask[y:y + h, x:x + w] = 255
            low, high = self.false_positive_scores
            detections.append(Detection2DResult(str(self.rng.choice(self.labels)), float(self.rng.uniform(low, high)),
                                                (x, y, x + w, y + h), mask, ""))
        return detections, visible

    def _jitter_mask(self, mask: np.ndarray) -> np.ndarray:
        """The mask eroded or dilated by up to ``mask_jitter_px`` pixels, as a segmenter's edges."""
        import cv2

        radius = int(self.rng.integers(1, self.mask_jitter_px + 1))
        kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        operation = cv2.erode if self.rng.random() < 0.5 else cv2.dilate
        return operation(mask.astype(np.uint8), kernel).astype(bool)

    def _sensed(self, camera: Pose, depth: np.ndarray) -> tuple[Pose, np.ndarray]:
        """The camera pose and depth as the robot's sensors report them: odometry drift growing with
        the distance travelled plus pose noise; depth noise growing with the square of the range."""
        if self.depth_noise_at_1m:
            depth = depth + self.rng.normal(0.0, 1.0, depth.shape).astype(np.float32) * (
                self.depth_noise_at_1m * depth * depth)
        if self.drift_per_m or self.pose_noise_m or self.localization_error_m:
            if self._last_eye is not None:
                travelled = float(np.linalg.norm(camera.position[:2] - self._last_eye[:2]))
                self._drift[:2] += self.rng.normal(0.0, self.drift_per_m * max(travelled, 0.0) + 1e-12, 2)
                if self.localization_error_m:
                    # Ornstein-Uhlenbeck in distance: pulled back to zero, stationary sigma as configured.
                    keep = math.exp(-travelled / self.localization_correlation_m)
                    self._drift[:2] = keep * self._drift[:2] + self.rng.normal(
                        0.0, self.localization_error_m * math.sqrt(max(1.0 - keep * keep, 0.0)) + 1e-12, 2)
            self._last_eye = camera.position.copy()
            noise = self.rng.normal(0.0, self.pose_noise_m, 3) * np.array([1.0, 1.0, 0.3])
            camera = Pose(camera.position + self._drift + noise, camera.orientation)
        return camera, depth

    def frames(self):
        """Yield ``SimFrame`` for every camera frame of the scenario, applying the events on the way;
        also yields ("event", text, stamp) and ("planner", event dict, stamp) tuples in order."""
        step = 0
        self.stamp = float(self.scenario.camera.get("start_s", 100.0))
        events = sorted(self.scenario.events, key=lambda e: e["at_step"])
        planner = sorted(self.scenario.planner, key=lambda e: e["at_step"])
        for index, stop in enumerate(self.scenario.stops):
            if index:
                self.stamp += self.travel_s
            target = self.furniture_top(stop["look"])
            x, y = stop["at"]
            for _ in range(int(stop.get("frames", 3))):
                while events and events[0]["at_step"] <= step:
                    yield ("event", self._apply_event(events.pop(0)), self.stamp)
                while planner and planner[0]["at_step"] <= step:
                    yield ("planner", planner.pop(0), self.stamp)
                jitter = self.rng.normal(0.0, 0.03, 2)
                eye = np.array([x + jitter[0], y + jitter[1], self.camera_height])
                camera = look_at(eye, target)
                rgb, depth, segmentation = self.render(camera)
                self.last_true_depth = depth
                detections, visible = self.detect(segmentation)
                sensed, depth = self._sensed(camera, depth)
                self.true_cameras.append(camera)
                robot = np.array([sensed.position[0], sensed.position[1], 0.0])
                yield SimFrame(self.stamp, step, sensed, robot, rgb, depth, detections, visible)
                step += 1
                self.stamp += self.frame_period_s
        for event in planner:
            yield ("planner", event, self.stamp)

    def close(self) -> None:
        self.p.disconnect(physicsClientId=self.client)
