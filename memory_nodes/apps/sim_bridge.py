"""The simulator bridge node: publishes a ``HouseholdSim`` frame as a robot's camera would.

Publishes   rgb (Image bgr8), depth (Image 32FC1 metres), camera_info (CameraInfo), camera_pose
            (PoseStamped of the optical frame in map), robot_pose (PoseStamped in map) and
            detections (Detection2DArray with masks), all stamped with the simulation clock, on the
            topics the perception and spatial nodes read (sensor-data QoS).
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from memory_nodes.apps.household_sim import HouseholdSim, SimFrame
from memory_nodes.msg import Detection2D, Detection2DArray
from memory_nodes.ros import conversions as cv
from memory_nodes.ros.node_support import SENSOR_QOS


def mask_in_box(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part of an image-sized ``mask`` inside ``box`` (x0, y0, x1, y1), zero where the box
    leaves the image."""
    x0, y0, x1, y1 = box
    crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
    height, width = mask.shape
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 > cx0 and cy1 > cy0:
        crop[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = mask[cy0:cy1, cx0:cx1]
    return crop


class SimBridge(Node):
    def __init__(self, sim: HouseholdSim, namespace: str = "memory", **kwargs) -> None:
        super().__init__("sim_bridge", namespace=namespace, **kwargs)
        self.sim = sim
        self.frame_id = "camera_color_optical_frame"
        self.rgb = self.create_publisher(Image, "rgb", SENSOR_QOS)
        self.depth = self.create_publisher(Image, "depth", SENSOR_QOS)
        self.camera_info = self.create_publisher(CameraInfo, "camera_info", SENSOR_QOS)
        self.camera_pose = self.create_publisher(PoseStamped, "camera_pose", SENSOR_QOS)
        self.robot_pose = self.create_publisher(PoseStamped, "robot_pose", SENSOR_QOS)
        self.detections = self.create_publisher(Detection2DArray, "detections", SENSOR_QOS)

    def subscribers_ready(self) -> bool:
        return all(p.get_subscription_count() > 0 for p in (self.rgb, self.depth, self.camera_info, self.camera_pose,
                                                           self.detections))

    def publish(self, frame: SimFrame) -> None:
        stamp = cv.seconds_to_stamp(frame.stamp)
        info = CameraInfo(width=self.sim.width, height=self.sim.height, distortion_model="plumb_bob")
        fx, fy, cx, cy = self.sim.intrinsics
        info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        info.header.stamp, info.header.frame_id = stamp, self.frame_id
        self.camera_info.publish(info)
        camera = PoseStamped(pose=cv.pose_to_msg(frame.camera))
        camera.header.stamp, camera.header.frame_id = stamp, "map"
        self.camera_pose.publish(camera)
        robot = PoseStamped()
        robot.header.stamp, robot.header.frame_id = stamp, "map"
        robot.pose.position = cv.point_to_msg(frame.robot_position)
        robot.pose.orientation.w = 1.0
        self.robot_pose.publish(robot)
        self.rgb.publish(cv.array_to_image(frame.rgb, "bgr8", frame.stamp, self.frame_id))
        self.depth.publish(cv.array_to_image(frame.depth, "32FC1", frame.stamp, self.frame_id))
        detections = Detection2DArray()
        detections.header.stamp, detections.header.frame_id = stamp, self.frame_id
        for d in frame.detections:
            x0, y0, x1, y1 = d.box
            detection = Detection2D(label=d.label, score=d.score, x_min=x0, y_min=y0, x_max=x1, y_max=y1)
            # Cropped to the box, as instance segmenters send masks: full-image masks would make a
            # detection array of ten objects 3 MB.
            if x1 > x0 and y1 > y0:
                detection.mask = cv.array_to_image(mask_in_box(d.mask, d.box), "mono8", frame.stamp, self.frame_id)
            detections.detections.append(detection)
        self.detections.publish(detections)
