"""How well a detection given as a box alone (no mask, as most detectors send it) is lifted to 3D,
measured on the simulator's frames against its ground truth.

Each frame of a household run, every detection of a real object that is fully in view (its box's
eight corners inside the image, its centre not hidden behind something nearer) is lifted again,
on its own, from its box only, with the package's default ``PerceptionConfig``, the frame's depth
(with the sensor's noise) and the true camera pose (so that localisation error is not counted as
lifting error). The lifted centre is compared with the centre of the object's true box, and the
lifted box with it by the IoU of the two axis-aligned boxes. ``scenario_runner`` reports the
figures; ``make eval`` sums them up per level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memory_nodes.apps.household_sim import HouseholdSim, SimFrame
from memory_nodes.core.geometry import CameraView, OrientedBox, Pose, aabb_iou, aabb_of
from memory_nodes.core.perception import Detection, PerceptionConfig, RgbdFrame, lift_detection


@dataclass
class BoxLiftingProbe:
    """Collects, frame by frame, the centre error (m) and box IoU of objects lifted from boxes."""

    sim: HouseholdSim
    config: PerceptionConfig = field(default_factory=PerceptionConfig)
    centre_errors_m: list[float] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)
    not_lifted: int = 0  # fully in view, yet too few depth pixels survived the lifting

    def observe(self, frame: SimFrame) -> None:
        """Lift the boxes of ``frame`` (the frame the simulator yielded last)."""
        rgbd = RgbdFrame(frame.depth, self.sim.intrinsics, self.sim.true_cameras[-1], frame.rgb)
        for detection in frame.detections:
            if detection.truth not in self.sim.bodies:
                continue  # a false positive or furniture
            low, high = self.sim.true_box(detection.truth)
            if not self.fully_in_view(rgbd.view, low, high):
                continue  # cut by the image border, or hidden
            lifted = lift_detection(rgbd, Detection(detection.label, detection.score, detection.box, None), self.config)
            if lifted is None:
                self.not_lifted += 1
                continue
            self.centre_errors_m.append(float(np.linalg.norm(lifted.pose.position - (low + high) / 2.0)))
            self.ious.append(float(aabb_iou(*aabb_of(lifted.pose, lifted.extent), low, high)))

    def fully_in_view(self, view: CameraView, low: np.ndarray, high: np.ndarray) -> bool:
        """All eight corners of the true box ``low``..``high`` project into ``view``'s image, at
        least ``border_px`` inside it, and its centre is not hidden behind something nearer."""
        u, v, z = view.project(OrientedBox(Pose((low + high) / 2.0), high - low).corners())
        margin = self.config.border_px + 1
        inside = (z > 0.1) & (u >= margin) & (u < view.width - margin) & (v >= margin) & (v < view.height - margin)
        return bool(inside.all()) and self.sim.in_view((low + high) / 2.0)

    def summary(self) -> dict[str, float]:
        """Median and 90th percentile of the centre error (m), median IoU, and the counts."""
        if not self.centre_errors_m:
            return {"measured": 0.0, "not_lifted": float(self.not_lifted)}
        return {"centre_error_median_m": float(np.median(self.centre_errors_m)),
                "centre_error_p90_m": float(np.percentile(self.centre_errors_m, 90)),
                "iou_median": float(np.median(self.ious)), "measured": float(len(self.centre_errors_m)),
                "not_lifted": float(self.not_lifted)}
