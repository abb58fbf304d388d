"""Real sensor data from ../shared/data replayed through the real nodes, checked against ground truth."""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time

import numpy as np
import pytest
import rclpy
from conftest import SOURCE_DIR
from geometry_msgs.msg import PoseStamped
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from memory_nodes.apps.replay import Replayer
from memory_nodes.apps.tum_dataset import FREIBURG1_INTRINSICS, read_tum
from memory_nodes.ros.memory_system import create_memory_nodes

DATA = SOURCE_DIR.resolve().parent / "shared" / "data"  # the repository may sit behind a symlink
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared data is not at {DATA}")


class Pipeline:
    """Every memory node plus the perception node in one process, and a replayer."""

    def __init__(self, **parameters) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[])
        overrides = [Parameter(k, value=v) for k, v in {"persistence": False, "text_search": False, **parameters}.items()]
        self.nodes = {n.get_name(): n for n in create_memory_nodes(context=self.context, parameter_overrides=overrides)}
        self.feeder = rclpy.create_node("replay", context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=8, context=self.context)
        for node in [*self.nodes.values(), self.feeder]:
            self.executor.add_node(node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()
        self.replayer = Replayer(self.feeder, rate=0.0, progress=False)

    def close(self) -> None:
        self.executor.shutdown()
        self.spinner.join(timeout=5)
        for node in [*self.nodes.values(), self.feeder]:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def test_fr3_cabinet_is_one_object_at_its_true_place():
    folder = DATA / "tum_fr3_cabinet_objects"
    frames = read_tum(folder, folder / "bbox_2d_yolov2")
    assert len(frames) == 58 and all(f.box is not None for f in frames)
    pipeline = Pipeline(mode="detections")  # the package defaults otherwise
    try:
        started = time.perf_counter()
        pipeline.replayer.replay_tum(frames, (535.4, 539.2, 320.1, 247.6), 1 / 5000.0, label="cabinet")
        fps = len(frames) / (time.perf_counter() - started)
        objects = [o for o in pipeline.nodes["spatial_memory"].memory.objects() if o.label == "cabinet"]
    finally:
        pipeline.close()
    x, y, z, _yaw, half_l, half_w, half_h = (float(v) for v in (folder / "truth_objects.txt").read_text().split()[:7])
    assert len(objects) == 1, [(o.id, o.position) for o in objects]
    cabinet = objects[0]
    error = float(np.linalg.norm(cabinet.position - [x, y, z]))
    assert error < 0.15, error
    truth = np.array([2 * half_l, 2 * half_w, 2 * half_h])
    measured = cabinet.box.extent
    horizontal = np.sort(measured[:2]) / np.sort(truth[:2])  # the box's yaw may differ by 90 degrees
    assert np.all(np.abs(horizontal - 1) <= 0.3) and abs(measured[2] / truth[2] - 1) <= 0.3, (measured, truth)
    print(f"\nfr3/cabinet: centre error {error:.3f} m, extent {np.round(measured, 3)} vs {np.round(truth, 3)}, "
          f"{fps:.1f} frames/s through the pipeline")


def test_fr3_cabinet_lifted_from_one_box_alone_lands_near_its_true_centre():
    """Issue 18's single-frame lifting from boxes without masks, on real data: each keyframe's
    YOLOv2 box lifted on its own (whatever its score) with the package defaults; the frames whose
    box the image border cuts are left out. One view shows the cabinet's front, not its back: the
    lifted box is shallower than the cabinet and its centre nearer the camera."""
    import cv2

    from memory_nodes.core.geometry import Pose
    from memory_nodes.core.perception import Detection, PerceptionConfig, RgbdFrame, depth_to_metres, lift_detection

    folder = DATA / "tum_fr3_cabinet_objects"
    truth = np.array([float(v) for v in (folder / "truth_objects.txt").read_text().split()[:3]])
    errors, partial = [], 0
    for frame in read_tum(folder, folder / "bbox_2d_yolov2"):
        metres = depth_to_metres(cv2.imread(str(frame.depth_path), cv2.IMREAD_UNCHANGED), "16UC1", 1 / 5000.0)
        camera = Pose(np.array(frame.pose[:3]), np.array(frame.pose[3:]))
        rgbd = RgbdFrame(metres, (535.4, 539.2, 320.1, 247.6), camera, cv2.imread(str(frame.rgb_path)))
        x, y, w, h, _score = frame.box
        lifted = lift_detection(rgbd, Detection("cabinet", 1.0, (int(x), int(y), int(x + w), int(y + h))),
                                PerceptionConfig())
        assert lifted is not None
        if lifted.partial:
            partial += 1
            continue
        errors.append(float(np.linalg.norm(lifted.pose.position - truth)))
    assert len(errors) >= 50 and partial <= 5, (len(errors), partial)
    print(f"\nfr3/cabinet, one box at a time: centre error median {np.median(errors):.3f} m, "
          f"p90 {np.percentile(errors, 90):.3f} m over {len(errors)} frames ({partial} cut by the border)")
    assert np.median(errors) <= 0.15, np.median(errors)


def test_fr1_desk_objects_found_from_depth_alone_are_stable_over_a_second_pass():
    """No detector: perception in geometric mode finds the desk's objects from depth; replaying
    the sequence again (later stamps, as when the robot comes back) finds the same objects."""
    folder = DATA / "tum_fr1_rpy"
    frames = read_tum(folder)
    assert len(frames) == 87
    pipeline = Pipeline(mode="geometric")  # no detector; the package defaults otherwise
    try:
        spatial = pipeline.nodes["spatial_memory"].memory
        started = time.perf_counter()
        pipeline.replayer.replay_tum(frames, FREIBURG1_INTRINSICS, 1 / 5000.0)
        fps = len(frames) / (time.perf_counter() - started)
        first = {o.id: o.observation_count for o in spatial.objects()}
        offset = frames[-1].stamp - frames[0].stamp + 60.0
        pipeline.replayer.replay_tum([dataclasses.replace(f, stamp=f.stamp + offset) for f in frames],
                                     FREIBURG1_INTRINSICS, 1 / 5000.0)
        after = {o.id: o.observation_count for o in spatial.objects()}
        # A tentative object of pass 1 confirmed in pass 2 is the same object, not a duplicate: what
        # pass 2 created is what it saw first.
        second_pass_starts = frames[0].stamp + offset
        created_in_pass_two = {o.id for o in spatial.objects(include_tentative=True)
                               if o.id in after and o.first_seen >= second_pass_starts}
        frames_integrated = pipeline.nodes["spatial_memory"].counters.counts["observations.accepted"]
    finally:
        pipeline.close()
    # Discovery runs once per geometric_period_s (1 s) of stamps: 22 of the 87 frames of a pass.
    discoveries, last = 0, -math.inf
    for frame in frames:
        if frame.stamp - last >= 1.0:
            discoveries, last = discoveries + 1, frame.stamp
    assert frames_integrated >= 0.9 * 2 * discoveries, (frames_integrated, discoveries)  # not vacuous
    assert len(first) >= 20, len(first)  # a desk with monitors, keyboard, books, cups: many objects
    new = created_in_pass_two
    assert new <= set(after) - set(first)
    reobserved = [i for i in first if after.get(i, 0) > first[i]]
    assert len(new) <= 0.10 * len(first), (len(new), len(first), frames_integrated)
    assert len(reobserved) >= 0.9 * len(first), (len(reobserved), len(first))
    print(f"\nfr1/rpy geometric: {len(first)} objects after pass 1; pass 2 created {len(new)} "
          f"({100 * len(new) / len(first):.1f}%), re-observed {len(reobserved)} under their ids "
          f"({100 * len(reobserved) / len(first):.0f}%), {len(set(first) - set(after))} merged away; "
          f"{fps:.1f} frames/s through the pipeline")


def test_husky_odometry_becomes_places_and_a_queryable_trail():
    from rosbags.highlevel import AnyReader

    bag = DATA / "husky_odom_bag" / "test1.bag"
    truth = {}
    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections if c.topic == "/husky_velocity_controller/odom"]
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp = round(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, 6)
            truth[stamp] = np.array([msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z])
    pipeline = Pipeline(place_spacing=2.0)
    try:
        pipeline.replayer.wait_for_subscribers([(PoseStamped, "robot_pose")])
        # 395 s of odometry in 79 s: the sensor QoS keeps only the newest few. At 10x this machine
        # lost up to two thirds of the poses in stalls of up to 7 s (four of five runs failed the 80th
        # percentile below); at 5x all five passed, one with a single 6 s stall.
        pipeline.replayer.rate = 5.0
        sent = pipeline.replayer.replay_bag(bag, {"/husky_velocity_controller/odom": "robot_pose"}, odom_as_map=True)
        time.sleep(1.0)
        temporal = pipeline.nodes["temporal_memory"].memory
        spatial = pipeline.nodes["spatial_memory"].memory
        stamps = sorted(truth)
        history = temporal.history("robot")
        received = len(history)
        exact, near, gaps = [], [], []
        for t in np.linspace(history[0, 0], stamps[-1], 25):
            found = temporal.pose_at("robot", float(t))
            assert found is not None
            stamp, position = found
            assert stamp <= t
            exact.append(np.linalg.norm(position - truth[round(stamp, 6)]))
            recorded = stamps[int(np.searchsorted(stamps, t, side="right")) - 1]  # the bag's own answer
            near.append(np.linalg.norm(position[:2] - truth[recorded][:2]))
            gaps.append(t - stamp)
        places = [p for p in spatial.places() if p.layer == "place"]
    finally:
        pipeline.close()
    assert sent == len(truth) == 3952
    # Sensor QoS keeps the newest few messages: under load some odometry is dropped, by design.
    assert received >= 0.25 * sent, f"only {received} of {sent} odometry messages arrived"
    assert max(exact) < 1e-6  # the answer is the recorded pose at the stamp it names
    # Where the memory says the robot was agrees with the bag's own answer at that time (drops come
    # in bursts under load, so a single answer may be a few seconds old; the bulk is not).
    assert float(np.median(gaps)) < 1.0 and float(np.median(near)) < 0.5, (np.median(gaps), np.median(near))
    assert float(np.percentile(near, 80)) < 2.0, np.percentile(near, 80)
    path_length = sum(np.linalg.norm(truth[b][:2] - truth[a][:2]) for a, b in itertools.pairwise(stamps))
    assert len(places) >= 0.3 * path_length / 2.0, (len(places), path_length)
    print(f"\nhusky: {received}/{sent} poses stored, {len(places)} places along {path_length:.0f} m")
