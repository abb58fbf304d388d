"""Frame alignment: a frame's observations re-registered on the remembered objects.

A robot's localisation is off by a few centimetres, differently at each visit of a place. Two
identical mugs 12 cm apart cannot be told apart once their remembered places and the new
sightings disagree by that much. So, before association, the frame is moved by the horizontal
offset most of its unambiguous observations agree on: each labelled, whole observation whose
label has exactly one remembered present object within reach gives a displacement; when at least
``alignment_min_matches`` of them agree within ``position_noise / 2`` (and they are most of the
displacements: a few objects moved together do not drag the frame), their mean is the frame's
offset. Observations, their points and the camera view are all moved by it, so the frame and the
memory share one map again. No ROS here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from memory_nodes.core.geometry import CameraView, Pose
from memory_nodes.core.spatial.index import FEW_CANDIDATES
from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import UNKNOWN_LABEL, Observation

_LANDMARK_MAX_SIZE_M = 1.0  # a larger object's centre moves with the part of it in view


def frame_offset(state: SceneGraphState, observations: list[Observation]) -> np.ndarray | None:
    """The (3,) horizontal offset (z = 0) that moves ``observations`` onto the remembered objects,
    or None when too few unambiguous observations agree on one, when it is below a quarter of
    ``position_noise`` (nothing to correct) or when alignment is off."""
    c = state.config
    if c.alignment_max_offset <= 0.0:
        return None
    reach = c.alignment_max_offset + c.position_noise
    displacements = []
    for obs in observations:
        if obs.label == UNKNOWN_LABEL or obs.partial or obs.size > _LANDMARK_MAX_SIZE_M:
            continue
        candidates = state.index.with_label(obs.label)
        if len(candidates) > FEW_CANDIDATES:
            candidates = candidates & state.index.near(obs.pose.position, reach)
        ids = list(candidates)
        offsets = state.index.boxes(ids).centres[:, :2] - obs.pose.position[:2]
        within = np.flatnonzero(np.sqrt((offsets * offsets).sum(axis=1)) <= reach).tolist()
        namesakes = [node for node in (state.objects[ids[k]] for k in within) if node.present and not node.tentative]
        if len(namesakes) != 1:
            continue  # none, or twins: which one it is, is what alignment should settle, not assume
        shift = namesakes[0].position - obs.pose.position
        displacements.append(np.array([shift[0], shift[1], 0.0]))
    if len(displacements) < c.alignment_min_matches:
        return None
    shifts = np.array(displacements)
    # The per-axis median (as np.median, whose overhead is most of the cost for a few rows).
    ordered, middle = np.sort(shifts, axis=0), len(shifts) // 2
    centre = ordered[middle] if len(shifts) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0
    inliers = np.linalg.norm(shifts - centre, axis=1) <= 0.5 * c.position_noise
    if int(inliers.sum()) < c.alignment_min_matches or 2 * int(inliers.sum()) <= len(shifts):
        return None
    offset: np.ndarray = shifts[inliers].mean(axis=0)
    # An offset within the centroid noise of a sighting is no localisation error worth correcting.
    if not 0.25 * c.position_noise < float(np.linalg.norm(offset)) <= c.alignment_max_offset:
        return None
    return offset


def shift_observation(obs: Observation, offset: np.ndarray) -> Observation:
    """``obs`` moved by ``offset`` (metres, ``map``)."""
    points = None if obs.points is None else (obs.points + offset.astype(np.float32))
    return dataclasses.replace(obs, pose=Pose(obs.pose.position + offset, obs.pose.orientation), points=points)


def shift_view(view: CameraView, offset: np.ndarray) -> CameraView:
    """``view`` with its camera moved by ``offset``: what it saw is then where the memory has it."""
    return dataclasses.replace(view, pose=Pose(view.pose.position + offset, view.pose.orientation))
