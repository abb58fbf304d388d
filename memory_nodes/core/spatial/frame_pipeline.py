"""The frame pipeline: one camera frame's observations fused into the scene graph.

The steps, in the order ``FramePipeline.integrate`` runs them:

0. alignment: the frame is moved by the offset its unambiguous observations agree on against the
   remembered objects (``frame_alignment``: localisation differs between visits);
1. places: the robot's position extends the place layer (and may enter a room);
2. association: observations are paired with present objects (or absent ones seen again at their
   place) by a score of geometric overlap, nearness on the scale of ``position_noise``, label
   agreement and appearance, one-to-one by the Hungarian algorithm (``associate``); a pair must be
   within reach (either centre inside the other's box grown by ``position_noise``, or overlapping
   boxes) or be a move, and a move is refused while the frame still shows the object at its place;
3. fusion: each matched object absorbs its observation (labels, appearance, points, box), or is
   relocated when the observation lies outside it and looks like it (``update``, ``relocate``);
   one found gone and seen at its place again was put back, and a look-alike first seen
   elsewhere meanwhile may be where it was (``link_possible_return``);
4. negative evidence: detections the frame could not place in 3D (``CameraView.unplaced``)
   sight the objects of their label that project into their boxes (``sightings_in_image``); the
   other present objects the camera should have seen, unoccluded, but did not detect lose
   existence confidence and are marked absent below ``absent_log_odds``; an unconfirmed one
   dropped because its place was seen changed leaves a ``LostSighting`` (seen once, perhaps moved
   before a second look);
5. unmatched observations: a fragment of an object matched in this frame is absorbed by it; one
   that looks like an object gone from its place re-identifies it (a move); otherwise it is a new
   object, which takes the evidence of a lost sighting it looks like (``claim_lost_sighting``);
6. merge: same-label objects that overlap are one object seen twice, and an absent object with a
   later twin elsewhere is one object that moved (the older id survives);
7. split: an object whose recent sightings alternate between two distant clusters is two objects;
8. the touched objects are attached to places and their relations recomputed (those whose box
   moved or whose standing changed since; ``relations``);
9. capacity: beyond ``capacity`` objects, the weakest on the forgetting curve are evicted.

Every function takes the ``SceneGraphState`` it changes; none takes a lock (``SpatialMemory``
does). Times are message stamps in seconds; positions are in ``map``.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from memory_nodes.core.appearance import colour_histogram, main_colour_share
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.geometry import (
    CameraView,
    OrientedBox,
    Pose,
    aabb_containment,
    aabb_iou,
    gravity_aligned_box,
    vector_length,
)
from memory_nodes.core.point_clouds import downsample
from memory_nodes.core.retention import Retention
from memory_nodes.core.spatial.frame_alignment import frame_offset, shift_observation, shift_view
from memory_nodes.core.spatial.index import FEW_CANDIDATES
from memory_nodes.core.spatial.labels import break_tie
from memory_nodes.core.spatial.relations import drop_relations, update_relations
from memory_nodes.core.spatial.state import LOST_SIGHTINGS_KEPT, SceneGraphState
from memory_nodes.core.spatial.types import (
    UNKNOWN_LABEL,
    ChangeKind,
    ChangeRecord,
    FrameResult,
    LostSighting,
    ObjectNode,
    ObjectStatus,
    Observation,
    RecentSighting,
    cosine,
)

_INFEASIBLE = -1e6
_SPLIT_ITERATIONS = 5  # 2-means on a dozen centres settles in two or three
_MIN_PATCH_PIXELS = 4  # fewer colour pixels than this say nothing about what is there
_SURFACE_SAMPLES = 24  # object points tested against the depth for negative evidence
_MIN_SURFACE_POINTS = 8  # below this, the box's inner points are tested instead


def centre_inside(centre: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], margin: float) -> bool:
    """``centre`` lies inside the axis-aligned ``bounds`` (min, max) grown by ``margin``."""
    low, high = bounds
    return bool(np.all(centre >= low - margin) and np.all(centre <= high + margin))


def either_centre_inside(centre_a: np.ndarray, bounds_a: tuple[np.ndarray, np.ndarray], centre_b: np.ndarray,
                         bounds_b: tuple[np.ndarray, np.ndarray], margin: float) -> bool:
    """Either centre lies inside the other's axis-aligned bounds grown by ``margin``."""
    return centre_inside(centre_b, bounds_a, margin) or centre_inside(centre_a, bounds_b, margin)


def seen_together(a: ObjectNode, b: ObjectNode) -> bool:
    """``a`` and ``b`` were detected in one frame (among their recent sightings): a detector's
    two detections of a frame are two things (one split in two is a fragment, absorbed first)."""
    return not {sighting.stamp for sighting in a.recent}.isdisjoint(sighting.stamp for sighting in b.recent)


class FramePipeline:
    """Fuses frames into ``state`` (see the module's steps)."""

    def __init__(self, state: SceneGraphState) -> None:
        self.state = state
        self.config = state.config
        self._view: CameraView | None = None  # the frame being integrated
        self._confirmed: list[str] = []  # objects confirmed in the frame being integrated
        self._last_evidence_stamp = -math.inf  # the previous frame that weighed negative evidence

    # ----------------------------------------------------------------- the pipeline
    def integrate(self, observations: list[Observation], stamp: float, view: CameraView | None,
                  robot_position: np.ndarray | None) -> FrameResult:
        state = self.state
        state.latest_stamp = max(state.latest_stamp, stamp)
        offset = frame_offset(state, observations)
        if offset is not None:
            observations = [shift_observation(obs, offset) for obs in observations]
            view = None if view is None else shift_view(view, offset)
            state.counters["frames_aligned"] += 1
        self._view = view
        changes: list[ChangeRecord] = []
        if robot_position is not None:
            changes += state.places.observe_robot(robot_position, stamp)[1]
        assignment = self.associate(observations)
        ids: list[str | None] = [None] * len(observations)
        matched: set[str] = set()
        for obs_index, node in assignment.items():
            obs = observations[obs_index]
            if node.tentative and not self.confirms(node, obs):
                # Too far from the unconfirmed one to confirm it: another object beside a ghost, or
                # the same one seen with the localisation error of another visit. The ghost must not
                # absorb it, so it starts a tentative object of its own; the next sightings confirm
                # whichever of the two they agree with, and views of the other's place drop it.
                continue
            changes += self.update(node, obs, stamp)
            ids[obs_index] = node.id
            matched.add(node.id)
        # Asked before negative evidence, which may drop a namesake that stood there unconfirmed.
        stood_here = {index for index, obs in enumerate(observations)
                      if ids[index] is None and self.namesake_was_here(obs, exclude=matched)}
        if view is not None:
            sighted, confirmed = self.sightings_in_image(view, stamp, exclude=matched)
            changes += confirmed
            occupants = [(obs, assignment.get(index)) for index, obs in enumerate(observations)]
            changes += self.negative_evidence(view, stamp, exclude=matched | sighted, occupants=occupants)
            matched |= {c.object_id for c in changes if c.kind is ChangeKind.DISAPPEARED}
        self.expire_tentative(stamp)
        matched_nodes = {node.id: node for node in assignment.values() if node.id in matched}
        for obs_index, obs in enumerate(observations):
            if ids[obs_index] is not None:
                continue
            whole = self.fragment_of(obs, matched_nodes)
            if whole is not None:
                self.absorb(whole, obs, stamp, fuse_geometry=True)
                changes += self.confirm_if_ready(whole)
                state.counters["fragments_absorbed"] += 1
                ids[obs_index] = whole.id
                continue
            found = None if obs_index in stood_here else self.reidentify(obs, stamp, exclude=matched)
            if found is not None:
                node = found
                changes += self.relocate(node, obs, stamp, reason="re-identified")
            else:
                node = self.create(obs, stamp, appeared=obs_index not in stood_here)
                self.claim_lost_sighting(node)
                changes += self.confirm_if_ready(node)
            ids[obs_index] = node.id
            matched.add(node.id)
        changes += self.merge_duplicates(matched, stamp)
        changes += self.split_inconsistent(matched, stamp)
        dropped = self.drop_rivals_of_confirmed()
        ids = [None if i in dropped else i for i in ids]
        changes = [c for c in changes if c.object_id not in dropped]
        # An object found elsewhere in the frame that emptied its place moved; it did not vanish.
        moved = {c.object_id for c in changes if c.kind is ChangeKind.MOVED}
        changes = [c for c in changes if not (c.kind is ChangeKind.DISAPPEARED and c.object_id in moved)]
        touched = {i for i in ids if i in state.objects} | {c.object_id for c in changes if c.object_id in state.objects}
        touched -= state.tentative_ids
        if view is not None:
            state.observed.observe(view, stamp)  # after creation: this frame's look does not make its objects appear
        viewpoint = state.places.last_place_id if robot_position is not None else ""
        for object_id in sorted(touched):  # in a fixed order: the first may found a place the next joins
            state.places.attach(state.objects[object_id], viewpoint)
        update_relations(state, touched)
        self.enforce_capacity()
        state.counters["frames"] += 1
        state.counters["observations"] += len(observations)
        return FrameResult([i for i in ids if i is not None], changes)

    # ----------------------------------------------------------------- tentative objects
    def confirms(self, node: ObjectNode, obs: Observation) -> bool:
        """``obs`` is consistent with the tentative ``node``: centred within ``tentative_consistency``
        of its size (at least ``position_noise`` and two voxels), ``position_noise`` more when the
        robot has travelled ``revisit_travel`` since the node was last seen. Labels may differ: detectors
        confuse similar classes, and the label histogram settles it."""
        c = self.config
        size = max(node.size, obs.size)
        reach = max(2.0 * c.voxel_size, c.position_noise, c.tentative_consistency * size)
        if self.state.places.travelled - node.travelled_at_last_seen >= c.revisit_travel:
            reach += c.position_noise  # another visit: each sighting carries its own localisation error
        return float(np.linalg.norm(obs.pose.position - node.position)) <= reach

    def confirm_if_ready(self, node: ObjectNode) -> list[ChangeRecord]:
        """Confirm a tentative ``node`` whose evidence reached ``confirm_evidence``: it appeared when
        it was first seen."""
        if not node.tentative or node.evidence < self.config.confirm_evidence:
            return []
        node.tentative = False
        self.state.tentative_ids.discard(node.id)
        self.state.counters["objects_confirmed"] += 1
        self._confirmed.append(node.id)
        self.link_possible_move(node)
        return [ChangeRecord(ChangeKind.APPEARED, node.id, node.label, node.first_seen, np.zeros(3),
                             node.position.copy(), f"confirmed by {node.observation_count} detections")]

    def drop_rivals_of_confirmed(self) -> set[str]:
        """Drop the rivals of the objects this frame confirmed, once all its observations are
        assigned (a rival dropped earlier could still be assigned a detection of this frame and be
        updated after it left the graph). Returns the dropped ids."""
        confirmed, self._confirmed = self._confirmed, []
        dropped: set[str] = set()
        for object_id in confirmed:
            node = self.state.objects.get(object_id)
            if node is not None and not node.tentative:
                dropped |= self.drop_rival_hypotheses(node)
        return dropped

    def drop_rival_hypotheses(self, confirmed: ObjectNode) -> set[str]:
        """Unconfirmed namesakes within reach of a just-confirmed object: the detection that did
        not confirm one of them started the other (a ghost beside a real object, or one object seen
        with two visits' localisation errors). The evidence chose ``confirmed``; the rival would
        otherwise be confirmed by a later sighting as a duplicate of it. Returns the dropped ids."""
        state, noise = self.state, self.config.position_noise
        reach = confirmed.size + noise
        bounds = confirmed.bounds()
        dropped: set[str] = set()
        for other_id in sorted(state.index.near(confirmed.position, reach) & state.index.with_label(confirmed.label)):
            other = state.objects[other_id]
            if not other.tentative:
                continue
            # Two detections in one frame are two things, however near.
            if (either_centre_inside(confirmed.position, bounds, other.position, other.bounds(), noise)
                    and not seen_together(confirmed, other)):
                self.drop_tentative(other)
                dropped.add(other_id)
        return dropped

    def link_possible_move(self, newcomer: ObjectNode) -> None:
        """A confirmed ``newcomer`` that appeared (was put where the camera had looked) and looks
        like a remembered object (appearance and size) whose place is out of view may be that object, moved: the
        remembered one becomes MAYBE_MOVED with ``moved_to`` the newcomer, so the two count as one
        until either place is seen again (``update``, ``negative_evidence``, ``merge_duplicates``
        resolve it). When the house holds other objects like it (which one moved?), only the one
        whose recent sightings stood where the newcomer is (put back: a sighting's centre within the
        newcomer's box grown by ``position_noise``; a look-alike put down beside the spot is
        another one), if there is just one."""
        if not newcomer.appeared or newcomer.label == UNKNOWN_LABEL:
            return  # an unlabelled segment has no identity beyond its place: it cannot have moved
        state, c = self.state, self.config
        best, best_similarity = None, c.reid_min_appearance
        alike: list[ObjectNode] = []
        for object_id in sorted(state.index.with_label(newcomer.label)):
            node = state.objects[object_id]
            if node.id == newcomer.id or not node.counted or node.last_seen >= newcomer.first_seen:
                continue
            if float(np.linalg.norm(node.position - newcomer.position)) <= c.move_threshold:
                continue
            if self.place_in_view(node):
                continue  # negative evidence decides, not a guess
            similarity = cosine(node.appearance, newcomer.appearance)
            if similarity is None or similarity < c.reid_min_appearance or not self.alike_in_size(newcomer, node):
                continue
            alike.append(node)
            if similarity >= best_similarity:
                best, best_similarity = node, similarity
        if best is None:
            return
        if self.twins_of(best, {newcomer.id}) > 0:
            # Which of several look-alikes moved? The one that stood here before, if only one did: put back.
            bounds = newcomer.bounds()
            stood_here = [node for node in alike
                          if any(centre_inside(r.position, bounds, c.position_noise) for r in node.recent)]
            if len(stood_here) != 1:
                return
            best = stood_here[0]
        self.link_maybe_moved(best, newcomer.id, "possible_moves_linked")

    def place_in_view(self, node: ObjectNode) -> bool:
        """The frame being integrated shows ``node``'s place, unoccluded."""
        view = self._view
        return view is not None and bool(view.expected_visible(node.position[None, :], self.config.occlusion_margin,
                                                               0.0)[0])

    def link_maybe_moved(self, node: ObjectNode, moved_to: str, counter: str) -> None:
        """``node`` may have moved to where the object ``moved_to`` was seen: the two count as one."""
        node.status, node.moved_to = ObjectStatus.MAYBE_MOVED, moved_to
        drop_relations(self.state, node.id)
        self.state.counters[counter] += 1

    def lose_sighting(self, node: ObjectNode) -> list[ChangeRecord]:
        """The tentative ``node``, just dropped because a view showed its place changed, may have
        been moved before a second look: a look-alike tentative first seen elsewhere after it takes
        its evidence now (``carry_lost_sighting``), or the first one seen later will
        (``claim_lost_sighting``). Not when a counted object is centred where it was (within its box
        grown by ``position_noise``): then it was a misnamed sighting of that object (the table it
        stood on is centred elsewhere)."""
        if node.label == UNKNOWN_LABEL:
            return []  # an unlabelled segment has no identity beyond its place: it cannot have moved
        state, noise = self.state, self.config.position_noise
        bounds = node.bounds()
        for other_id in sorted(state.index.near(node.position, node.size + noise)):
            other = state.objects[other_id]
            if other.counted and centre_inside(other.position, bounds, noise):
                return []  # a known thing is centred there: it was that one misnamed (a phone seen as a remote)
        lost = LostSighting(node.label, node.position.copy(), node.appearance, node.size, node.evidence,
                            node.observation_count, node.last_seen, tuple(r.stamp for r in node.recent))
        best = self.like_lost_sighting(lost, [state.objects[i] for i in sorted(state.tentative_ids)
                                              if state.objects[i].label == lost.label])
        if best is not None:
            self.carry_lost_sighting(lost, best)
            return self.confirm_if_ready(best)
        lost_sightings = state.lost_sightings
        lost_sightings.append(lost)
        oldest = state.latest_stamp - self.config.tentative_max_age_s
        state.lost_sightings = [s for s in lost_sightings[-LOST_SIGHTINGS_KEPT:] if s.last_seen >= oldest]
        return []

    def like_lost_sighting(self, lost: LostSighting, candidates: Sequence[ObjectNode]) -> ObjectNode | None:
        """Of the tentative ``candidates``, the one ``lost`` most likely is, moved: its label, its
        appearance (``reid_min_appearance``) and size (``reid_max_size_ratio``), first seen after
        it farther than ``move_threshold`` away, never detected in one frame with it."""
        c = self.config
        best, best_similarity = None, c.reid_min_appearance
        for node in candidates:
            if not node.tentative or node.label != lost.label or node.first_seen <= lost.last_seen:
                continue
            if not {r.stamp for r in node.recent}.isdisjoint(lost.sighting_stamps):
                continue
            if vector_length(node.position - lost.position) <= c.move_threshold:
                continue
            similarity = cosine(lost.appearance, node.appearance)
            if similarity is not None and similarity >= best_similarity and self.alike_in_size(lost, node):
                best, best_similarity = node, similarity
        return best

    def claim_lost_sighting(self, node: ObjectNode) -> None:
        """The new tentative ``node`` takes the evidence of the latest lost sighting it is like (see
        ``like_lost_sighting``), which is then no longer waiting."""
        lost_sightings = self.state.lost_sightings
        for index in range(len(lost_sightings) - 1, -1, -1):  # the latest first: the likeliest to be this one moved
            if self.like_lost_sighting(lost_sightings[index], [node]) is node:
                self.carry_lost_sighting(lost_sightings.pop(index), node)
                return

    def carry_lost_sighting(self, lost: LostSighting, node: ObjectNode) -> None:
        """``node`` is ``lost`` seen again after a move: its detections count towards confirming it
        (the caller confirms it when they suffice)."""
        node.evidence += lost.evidence
        node.observation_count += lost.observation_count
        self.state.counters["lost_sightings_carried"] += 1

    def link_possible_return(self, node: ObjectNode, stamp: float) -> None:
        """``node``, found gone from its place, is seen there again: put back. A counted look-alike
        (label, appearance, size) first seen elsewhere after it was found gone, not seen since,
        whose place is out of view, may be where it was meanwhile: that sighting becomes
        MAYBE_MOVED with ``moved_to`` ``node`` (the newest sighting first, the older place an
        alternative), so the two count as one until a view of that place tells (seen there: two
        objects; its place seen empty: it is marked absent). Not one that stands among look-alikes
        seen before it: it may have stood hidden among them all along."""
        state, c = self.state, self.config
        if node.marked_absent_at is None:
            return
        namesakes = [state.objects[i] for i in sorted(state.index.with_label(node.label))]
        linked = {other.moved_to for other in namesakes if other.moved_to}
        best, best_similarity = None, c.reid_min_appearance
        for other in namesakes:
            if other.id == node.id or not other.counted or other.id in linked:
                continue
            if not node.marked_absent_at <= other.first_seen or other.last_seen >= stamp:
                continue
            if vector_length(other.position - node.position) <= c.move_threshold:
                continue
            if self.place_in_view(other):
                continue
            similarity = cosine(other.appearance, node.appearance)
            if similarity is None or similarity < best_similarity or not self.alike_in_size(other, node):
                continue
            if self.among_look_alikes(other, exclude={node.id}):
                continue
            best, best_similarity = other, similarity
        if best is None:
            return
        self.link_maybe_moved(best, node.id, "possible_returns_linked")

    def among_look_alikes(self, node: ObjectNode, exclude: set[str]) -> bool:
        """Another counted object like ``node`` (label, appearance), not in ``exclude``, stands
        within ``move_threshold`` of it."""
        state = self.state
        for other_id in state.index.near(node.position, self.config.move_threshold) & state.index.with_label(node.label):
            other = state.objects[other_id]
            if other_id != node.id and other_id not in exclude and other.counted and self.look_alike(other, node):
                return True
        return False

    def drop_tentative(self, node: ObjectNode) -> None:
        """Forget an unconfirmed object without trace (no change is reported)."""
        self.state.remove_object(node.id)
        self.state.counters["tentative_dropped"] += 1

    def expire_tentative(self, stamp: float) -> None:
        """Drop the tentative objects not seen for ``tentative_max_age_s``. Age counts from the last
        sighting: one seen again when the robot comes back an hour later is confirmed, not dropped
        and made anew (views of its place drop a ghost long before that)."""
        state, max_age = self.state, self.config.tentative_max_age_s
        if stamp <= state.tentative_expiry_due:
            return
        for object_id in sorted(i for i in state.tentative_ids if stamp - state.objects[i].last_seen > max_age):
            self.drop_tentative(state.objects[object_id])
        state.tentative_expiry_due = min((state.objects[i].last_seen + max_age for i in state.tentative_ids),
                                         default=math.inf)

    # ----------------------------------------------------------------- association
    def at_its_place(self, obs: Observation, node: ObjectNode) -> bool:
        """``obs`` is centred within ``move_threshold`` of where ``node`` was last seen: an absent
        object seen there again came back into view (it was occluded or missed), it is not new."""
        return vector_length(obs.pose.position - node.position) <= self.config.move_threshold

    def is_move(self, obs: Observation, node: ObjectNode) -> bool:
        """``obs`` of ``node`` would move it: centred farther than ``move_threshold`` from it and
        its box clear of the object's (a partial view of a large object overlaps the rest of it).
        A view cut by the image border never moves an object: its centre is the visible part's."""
        if obs.partial or self.at_its_place(obs, node):
            return False
        low, high = node.bounds()
        obs_low, obs_high = obs.bounds()
        return not bool((obs_high >= low).all() and (obs_low <= high).all())

    def within_reach(self, obs: Observation, obs_bounds: tuple[np.ndarray, np.ndarray], node: ObjectNode,
                     iou: float) -> bool:
        """``obs`` can be a re-observation of ``node`` where it stands: either centre lies inside the
        other's box grown by ``position_noise``, or the boxes overlap (a partial view of a large
        object). A look-alike standing beside it, clear of its box, is another object (twins)."""
        if iou > 0.0:
            return True
        return either_centre_inside(node.position, node.bounds(), obs.pose.position, obs_bounds,
                                    self.config.position_noise)

    def still_there(self, node: ObjectNode) -> bool:
        """This frame shows ``node`` at its place: its place is in view, unoccluded, the depth does
        not look through it and its colours are still its own. Then a look-alike elsewhere is not
        ``node`` moved but another one like it."""
        view, c = self._view, self.config
        if view is None:
            return False
        inner = self.inner_samples(node)
        in_view, empty_share = self.look_through(view, inner)
        if in_view < c.visible_fraction or empty_share > 0.5:
            return False
        return node.label == UNKNOWN_LABEL or not self.looks_different(view, inner, node)

    def look_through(self, view: CameraView, samples: np.ndarray) -> tuple[float, float]:
        """(share of ``samples`` in view, share of those the depth looks through) of an object's
        place. The remembered place may be off by the localisation error, so the place counts as
        looked through only as far as it is at the object's position shifted by ``position_noise``
        either way on the floor plane too: the least share over those positions (a thing a few
        centimetres from where it was remembered still stands there)."""
        c = self.config
        seen, empty = view.look_through(samples, c.occlusion_margin, c.border_px, c.free_space_margin,
                                        c.free_space_margin_per_m2)
        in_view = float(seen.mean())
        empty_share = float(empty.sum()) / max(1, int(seen.sum()))
        if empty_share <= 0.5 or in_view < c.visible_fraction:
            return in_view, empty_share
        for shift in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            offset = np.array([shift[0], shift[1], 0.0]) * c.position_noise
            seen_here, empty_here = view.look_through(samples + offset, c.occlusion_margin, c.border_px,
                                                      c.free_space_margin, c.free_space_margin_per_m2)
            if seen_here.any():
                empty_share = min(empty_share, float(empty_here.sum()) / int(seen_here.sum()))
        return in_view, empty_share

    def association_score(self, obs: Observation, obs_bounds: tuple[np.ndarray, np.ndarray], node: ObjectNode,
                          distance: float) -> float | None:
        """Combined score of pairing ``obs`` with ``node`` (centres ``distance`` apart, inside the
        size-scaled gate of ``associate``), or None when they cannot be one object: ``obs`` is
        beside ``node`` (not within reach, not far enough to be a move), or a move is implausible."""
        c = self.config
        min_a, max_a = obs_bounds
        min_b, max_b = node.bounds()
        iou = aabb_iou(min_a, max_a, min_b, max_b)
        appearance = cosine(obs.appearance, node.appearance)
        if self.is_move(obs, node):
            if appearance is None or appearance < c.reid_min_appearance or obs.label == UNKNOWN_LABEL:
                # A move must look like the object that moved, or it is another object nearby; an
                # unlabelled segment is not evidence enough that the thing in view moved.
                return None
            if self.still_there(node):
                return None  # the frame shows it where it was: the one in view elsewhere is a twin
        elif not self.within_reach(obs, obs_bounds, node, iou):
            return None
        # Nearness counts on the scale of the re-observation error (or of a large object's size),
        # so that of two look-alikes side by side the nearer one wins the assignment.
        spread = max(c.position_noise, 0.25 * node.size)
        geometry = 0.5 * iou + 0.5 * math.exp(-0.5 * (distance / spread) ** 2)
        label = node.label_counts.get(obs.label, 0) / max(1, sum(node.label_counts.values()))
        look = 0.5 if appearance is None else max(0.0, appearance)
        return c.weight_geometry * geometry + c.weight_label * label + c.weight_appearance * look

    def associate(self, observations: list[Observation]) -> dict[int, ObjectNode]:
        """Observation index -> present object: the assignment maximising the summed score
        (Hungarian) among pairs inside the gate and above ``min_association_score``."""
        state, c = self.state, self.config
        scores: list[dict[str, float]] = [{} for _ in observations]
        if not observations:
            return {}
        obs_sizes = np.array([obs.size for obs in observations])
        # No gate below reaches beyond half the larger of the two sizes (or the base distance).
        gate_bounds = np.maximum(c.association_distance, 0.5 * np.maximum(obs_sizes, state.index.largest_size))
        reaches = np.minimum(np.maximum(c.association_distance, obs_sizes + c.association_reach), gate_bounds)
        near_ids = sorted(set().union(*(state.index.near(obs.pose.position, reach)
                                        for obs, reach in zip(observations, reaches.tolist()))))
        if not near_ids:
            return {}
        boxes = state.index.boxes(near_ids)
        offsets = boxes.centres[None, :, :] - np.array([obs.pose.position for obs in observations])[:, None, :]
        distances = np.sqrt((offsets * offsets).sum(axis=2))
        gates = np.maximum(c.association_distance, 0.5 * np.maximum(obs_sizes[:, None], boxes.sizes[None, :]))
        for i, k in zip(*(axis.tolist() for axis in np.nonzero(distances <= gates))):
            obs, node, distance = observations[i], state.objects[near_ids[k]], float(distances[i, k])
            if node.gone and distance > c.move_threshold:
                continue  # absent, and not seen again at its place (``at_its_place``)
            value = self.association_score(obs, obs.bounds(), node, distance)
            if value is not None and value >= c.min_association_score:
                scores[i][node.id] = value
        ids = sorted(set().union(*scores))
        if not ids:
            return {}
        column = {object_id: j for j, object_id in enumerate(ids)}
        score = np.full((len(observations), len(ids)), _INFEASIBLE)
        for i, row in enumerate(scores):
            for object_id, value in row.items():
                score[i, column[object_id]] = value
        rows, cols = linear_sum_assignment(-score)
        return {int(i): state.objects[ids[j]] for i, j in zip(rows, cols) if score[i, j] > _INFEASIBLE}

    def fragment_of(self, obs: Observation, matched: dict[str, ObjectNode]) -> ObjectNode | None:
        """The object matched in this frame whose box holds most of ``obs``'s box, when one holds at
        least ``fragment_containment`` of it: a segmentation that split one object in two this
        frame, not a second object (same label, or either unlabelled)."""
        low, high = obs.bounds()
        best, best_fraction = None, self.config.fragment_containment
        for node in matched.values():
            if node.label != obs.label and UNKNOWN_LABEL not in (node.label, obs.label):
                continue
            fraction = float(aabb_containment(low, high, *node.bounds()))
            if fraction >= best_fraction:
                best, best_fraction = node, fraction
        return best

    def appeared_at(self, position: np.ndarray, extent: np.ndarray | None = None) -> bool:
        """Something (of size ``extent``) first seen at ``position`` appeared there: earlier frames
        showed that place at least ``appeared_min_looks`` times from near enough to have detected
        it (see ``observed_space``)."""
        within = None
        view = self._view
        if view is not None and extent is not None:
            # The range at which the object fills twice min_detectable_fraction of the image.
            fx, fy, _, _ = view.intrinsics
            radius = float(np.mean(extent)) / 2.0
            within = radius * math.sqrt(math.pi * fx * fy / (2.0 * self.config.min_detectable_fraction
                                                             * view.width * view.height))
        return self.state.observed.looks(position, within) >= self.config.appeared_min_looks

    def namesake_was_here(self, obs: Observation, exclude: set[str]) -> bool:
        """A look-alike of ``obs`` with its label, not found gone and not one of the ids in
        ``exclude`` (matched in this frame: another thing beside it), stands within
        ``move_threshold`` of it: one detected there before but not confirmed yet, or one the
        association could not pair with ``obs`` across another visit's localisation error. Then
        ``obs`` did not appear there (the place did not show it empty before): it is no sign of a
        move from elsewhere."""
        if obs.label == UNKNOWN_LABEL:
            return False
        state, c = self.state, self.config
        for object_id in sorted(state.index.near(obs.pose.position, c.move_threshold) & state.index.with_label(obs.label)):
            node = state.objects[object_id]
            if node.id in exclude or node.gone or not self.at_its_place(obs, node):
                continue
            if self.look_alike(obs, node):
                return True
        return False

    def reidentify(self, obs: Observation, stamp: float, exclude: set[str]) -> ObjectNode | None:
        """The object ``obs`` most likely is after a move: same label, similar appearance and size, no
        longer at its old place (absent, or just missed by the camera), and ``obs`` stands where
        the camera had looked before (it appeared; a first look at a new place may show a twin)."""
        state = self.state
        if obs.label == UNKNOWN_LABEL:
            return None  # an unlabelled segment is a piece of geometry, not an object that can move
        best, best_similarity = None, self.config.reid_min_appearance
        for object_id in sorted(state.index.with_label(obs.label)):
            node = state.objects[object_id]
            if node.id in exclude or node.tentative or stamp - node.last_seen > self.config.reid_max_age_s:
                continue
            gone = node.gone or (node.present and node.existence_log_odds < 0.0)
            similarity = cosine(obs.appearance, node.appearance)
            if gone and similarity is not None and similarity >= best_similarity and self.alike_in_size(obs, node):
                best, best_similarity = node, similarity
        # Something first seen in a place never looked at may have stood there all along: a twin.
        if best is not None and not self.appeared_at(obs.pose.position, obs.extent):
            return None
        return best

    # ----------------------------------------------------------------- fusion
    def create(self, obs: Observation, stamp: float, appeared: bool = True) -> ObjectNode:
        """A tentative object of ``obs``; ``appeared`` False when it cannot have appeared whatever
        the camera showed of its place before (``namesake_was_here``)."""
        state = self.state
        node = ObjectNode(
            id=state.new_object_id(),
            label_counts=Counter({obs.label: 1}),
            box=obs.box(),
            points=self._downsample(obs.points),
            appearance=obs.appearance,
            first_seen=stamp,
            last_seen=stamp,
            observation_count=1,
            existence_log_odds=self.config.existence_hit,
            retention=Retention.new(self.config.retention, stamp),
            state=obs.state,
            tentative=True,
            evidence=obs.score,
            partial=obs.partial,
            appeared=appeared and self.appeared_at(obs.pose.position, obs.extent),
            travelled_at_last_seen=state.places.travelled,
        )
        node.recent.append(RecentSighting(stamp, obs.pose.position.copy(), obs.appearance))
        state.add_object(node)
        state.counters["objects_created"] += 1
        return node

    def _downsample(self, points: np.ndarray | None) -> np.ndarray:
        if points is None:
            return np.zeros((0, 3), np.float32)
        return downsample(points, self.config.voxel_size, self.config.max_points_per_object)

    def update(self, node: ObjectNode, obs: Observation, stamp: float) -> list[ChangeRecord]:
        """Fuse ``obs`` into the object it was associated with (or move the object to it)."""
        if self.is_move(obs, node):
            return self.relocate(node, obs, stamp, reason="tracked")
        changes: list[ChangeRecord] = []
        if node.gone and not node.tentative:
            self.link_possible_return(node, stamp)  # before it is PRESENT: while it was gone is what counts
        if node.status is ObjectStatus.MAYBE_MOVED:  # seen at its place: the newer sighting is another one
            node.status, node.moved_to = ObjectStatus.PRESENT, ""
            self.state.counters["moves_ruled_out"] += 1
        if node.gone:
            node.status = ObjectStatus.PRESENT
            self.state.counters["objects_reappeared"] += 1
            changes.append(ChangeRecord(ChangeKind.REAPPEARED, node.id, node.label, stamp, node.position.copy(),
                                        node.position.copy(), "seen again where it was"))
        self.absorb(node, obs, stamp, fuse_geometry=True)
        if obs.state and node.state and obs.state != node.state:
            changes.append(ChangeRecord(ChangeKind.STATE_CHANGED, node.id, node.label, stamp, node.position.copy(),
                                        node.position.copy(), f"{node.state} -> {obs.state}"))
        if obs.state:
            node.state = obs.state
        return changes + self.confirm_if_ready(node)

    def reinforce(self, node: ObjectNode, score: float, stamp: float) -> None:
        """``node`` was detected at ``stamp`` with ``score``: its evidence and existence grow, it was
        seen then (and from where the robot had travelled to), its memory is strengthened."""
        c = self.config
        node.evidence += score
        node.last_seen = max(node.last_seen, stamp)
        node.travelled_at_last_seen = self.state.places.travelled
        node.existence_log_odds = min(c.existence_max, max(node.existence_log_odds, 0.0) + c.existence_hit)
        node.retention.reinforce(c.retention, stamp)

    def absorb(self, node: ObjectNode, obs: Observation, stamp: float, fuse_geometry: bool) -> None:
        """Add ``obs`` to ``node``'s evidence; its geometry is fused, or replaced (a move)."""
        c = self.config
        node.label_counts[obs.label] += 1
        node.observation_count += 1
        node.partial = node.partial and obs.partial
        self.reinforce(node, obs.score, stamp)
        if obs.appearance is not None:
            if node.appearance is None or node.appearance.shape != obs.appearance.shape:
                node.appearance = obs.appearance
            else:
                mixed = (1.0 - c.appearance_update_rate) * node.appearance + c.appearance_update_rate * obs.appearance
                node.appearance = mixed / max(float(np.linalg.norm(mixed)), 1e-9)
        node.recent.append(RecentSighting(stamp, obs.pose.position.copy(), obs.appearance))
        if fuse_geometry and obs.partial and obs.points is None and not node.partial:
            pass  # a box cut by the border says less about the object than the whole ones it has
        elif fuse_geometry and obs.points is not None and len(node.points):
            if self.adds_nothing(node, obs):
                self.state.counters["fusions_settled"] += 1
            else:
                # Both clouds are clean already (the node's since creation, the observation's from
                # perception): fusing only needs the voxel grid, not the outlier filter's neighbour search.
                merged = downsample(np.vstack([node.points, obs.points]), c.voxel_size, c.max_points_per_object,
                                    remove_outliers=False)
                node.points = merged
                node.box = gravity_aligned_box(merged) if len(merged) >= 4 else obs.box()
        elif fuse_geometry:
            weight = 1.0 / min(node.observation_count, c.fusion_window)
            centre = (1 - weight) * node.position + weight * obs.pose.position
            extent = (1 - weight) * node.box.extent + weight * obs.extent
            node.box = OrientedBox(Pose(centre, obs.pose.orientation), extent)
            if obs.points is not None:
                node.points = self._downsample(obs.points)
        else:
            node.box = obs.box()
            node.points = self._downsample(obs.points)
        self.settle_label(node)  # after its look and size took this sighting in
        self.state.index.update(node)

    def adds_nothing(self, node: ObjectNode, obs: Observation) -> bool:
        """Whether fusing the points of ``obs`` into the cloud of a settled ``node`` can wait: the
        node has been seen ``settled_fusion_period`` times or more, this is not its turn to fuse, and
        the sighting lies within the node's box grown by a voxel (it shows no surface the node lacks).
        Every period-th sighting still fuses, so the cloud keeps averaging the noise of new views (a
        period of 1 fuses every one)."""
        period = self.config.settled_fusion_period
        if node.observation_count < period or node.observation_count % period == 0:
            return False
        (node_low, node_high), (obs_low, obs_high) = node.bounds(), obs.bounds()
        grown = self.config.voxel_size
        return bool(np.all(obs_low >= node_low - grown) and np.all(obs_high <= node_high + grown))

    def settle_label(self, node: ObjectNode) -> None:
        """Decide a tie between ``node``'s labels by the remembered instances of each (see
        ``spatial/labels.py``); the index files the node under its label when its caller updates it."""
        node.label_tiebreak = break_tie(self.state, node, self.config.label_tie_margin,
                                        self.config.label_instance_confidence)

    def relocate(self, node: ObjectNode, obs: Observation, stamp: float, reason: str) -> list[ChangeRecord]:
        """``node`` is now where ``obs`` is: a move (its geometry is replaced, not fused)."""
        old_position, old_place = node.position.copy(), node.place_id
        was_absent = node.gone
        left_by = node.left_by(stamp)
        node.status, node.moved_to = ObjectStatus.PRESENT, ""
        self.absorb(node, obs, stamp, fuse_geometry=False)
        if obs.state:
            node.state = obs.state
        distance = float(np.linalg.norm(node.position - old_position))
        self.state.places.attach(node)
        kind = ChangeKind.MOVED if distance > self.config.move_threshold else ChangeKind.REAPPEARED
        if not was_absent and kind is ChangeKind.REAPPEARED:
            return []
        detail = f"{reason}; {kind.value} {distance:.2f} m"
        if old_place or node.place_id:
            detail += f" from {old_place or '?'} to {node.place_id or '?'}"
        self.state.counters[f"objects_{kind.value}"] += 1
        return [ChangeRecord(kind, node.id, node.label, left_by if kind is ChangeKind.MOVED else stamp, old_position,
                             node.position.copy(), detail)]

    # ----------------------------------------------------------------- negative evidence
    def objects_in_range(self, view: CameraView, exclude: set[str]) -> list[ObjectNode]:
        """The objects not gone and not in ``exclude`` within ``view``'s range (by grid cells, in id
        order): those the frame may show."""
        state = self.state
        nearby = (state.objects[i] for i in sorted(state.index.near(view.pose.position, view.max_range)))
        return [n for n in nearby if not n.gone and n.id not in exclude]

    def sightings_in_image(self, view: CameraView, stamp: float,
                           exclude: set[str]) -> tuple[set[str], list[ChangeRecord]]:
        """The remembered objects the frame's unplaced detections (``CameraView.unplaced``: too few
        depth pixels to place them in 3D) show, and the changes that makes. A detection of an
        object's label whose box holds the object's projected centre (within ``position_noise`` of
        it: the remembered place may be off by the localisation error) spares the one whose centre
        is nearest the box's a miss; when no other of that label projects there, it is a sighting:
        its existence and evidence grow, but where it is and how it looks stay; a tentative one it
        confirms appears."""
        if not view.unplaced:
            return set(), []
        state, c = self.state, self.config
        labels = {detection.label for detection in view.unplaced}
        candidates = [n for n in self.objects_in_range(view, exclude) if n.label in labels]
        if not candidates:
            return set(), []
        u, v, z = view.project(np.array([n.position for n in candidates]))
        fx, fy, _, _ = view.intrinsics
        sighted: set[str] = set()
        changes: list[ChangeRecord] = []
        for detection in sorted(view.unplaced, key=lambda d: -d.score):
            x0, y0, x1, y1 = detection.box
            inside: list[tuple[float, ObjectNode]] = []
            for node, node_u, node_v, depth in zip(candidates, u.tolist(), v.tolist(), z.tolist()):
                if node.label != detection.label or node.id in sighted or not 0.05 < depth <= view.max_range:
                    continue
                reach_u, reach_v = fx * c.position_noise / depth, fy * c.position_noise / depth
                if x0 - reach_u <= node_u <= x1 + reach_u and y0 - reach_v <= node_v <= y1 + reach_v:
                    inside.append((math.hypot(node_u - 0.5 * (x0 + x1), node_v - 0.5 * (y0 + y1)), node))
            if not inside:
                continue
            _, nearest = min(inside, key=lambda item: item[0])
            sighted.add(nearest.id)
            if len(inside) > 1:
                # Look-alikes side by side: the box is one of them, not which one, so it spares the
                # nearest a miss but is no sighting of it (a duplicate beside it must not be confirmed).
                state.counters["sightings_without_geometry_ambiguous"] += 1
                continue
            state.counters["sightings_without_geometry"] += 1
            self.reinforce(nearest, detection.score, stamp)
            changes += self.confirm_if_ready(nearest)
        return sighted, changes

    def negative_evidence(self, view: CameraView, stamp: float, exclude: set[str],
                          occupants: Sequence[tuple[Observation, ObjectNode | None]]) -> list[ChangeRecord]:
        """Lower the existence of present objects that ``view`` should have shown but that no
        observation matched, by how clearly it should have shown them; mark absent those that
        fall to ``absent_log_odds``; tentative ones that fall so far are dropped without trace.

        Three cues add up, each weighed by how clearly it applies: the detector missed it
        (``existence_miss``, scaled by the share of the object in view and by its size in the image
        against ``min_detectable_fraction``: detectors miss small things and now and then anything);
        the depth looks through its place at what stands behind (``CameraView.look_through``;
        ``free_space_miss`` times the share of its points looked through, when that is more than
        half of them or when the colours differ too, or all of it when another
        thing put there since stands in its place: ``occupied_by`` among this frame's ``occupants``,
        each observation with the object it was associated with or None); its place shows other
        colours (``appearance_change_miss``; thin objects do not stand out of the depth). A detector
        miss alone takes a few frames; an emptied place seen clearly takes one or two."""
        state, c = self.state, self.config
        changes: list[ChangeRecord] = []
        # At 30 Hz one glance is a dozen frames of the same view with the same misses: the evidence
        # is per time, not per frame, once frames come faster than ``evidence_interval_s``.
        since = stamp - self._last_evidence_stamp
        weight = 1.0 if since < 0.0 or c.evidence_interval_s == 0.0 else min(1.0, since / c.evidence_interval_s)
        self._last_evidence_stamp = stamp
        candidates = [n for n in self.objects_in_range(view, exclude) if n.last_seen < stamp]
        if candidates:  # most objects in range are beside or behind the camera
            in_frustum = view.may_show(np.array([n.position for n in candidates]),
                                       np.array([0.5 * n.size + c.position_noise for n in candidates]))
            candidates = [n for n, possible in zip(candidates, in_frustum.tolist()) if possible]
        for node in candidates:
            inner = self.inner_samples(node)
            # An unlabelled segment is tested on its own surface points (the centre of an irregular
            # segment's box may be air); a detected object on its box's inside (its points carry the
            # depth noise of every view, spread towards the camera where they would look like air).
            samples = self.surface_samples(node) if node.label == UNKNOWN_LABEL else None
            if samples is None:
                samples = inner
            in_view, empty_share = self.look_through(view, samples)
            if in_view < c.visible_fraction:
                continue
            occupant = self.occupied_by(node, occupants)
            if occupant is not None:
                empty_share = 1.0  # the depth shows the newcomer's surface, which stands where it was
                state.counters["negative_evidence_occupied"] += 1
            looked_through = empty_share > 0.5
            # Colours are compared inside a labelled object's box; an unlabelled segment's box is
            # not its silhouette.
            looks_different = node.label != UNKNOWN_LABEL and self.looks_different(view, inner, node)
            footprint = view.footprint_fraction(node.position, node.box.extent) / c.min_detectable_fraction
            miss = c.existence_miss * in_view * min(1.0, footprint / 4.0) if footprint >= 1.0 else 0.0
            # Seen a moment ago, it is most likely still there: a depth or colour cue against that
            # is more often the object's box (a grazing view past a thin thing) than a removal.
            settled = min(1.0, (stamp - node.last_seen) / c.recent_sighting_s)
            # Less than half looked through is, alone, as likely a grazing view past the object's
            # box; with other colours at its place it is the second cue of the same removal (a thin
            # thing, or one against a wall the localisation error puts it into).
            if looked_through or (looks_different and empty_share > 0.0):
                miss += c.free_space_miss * empty_share * settled
                state.counters["negative_evidence_free_space"] += 1
            if looks_different:
                miss += c.appearance_change_miss * settled
                state.counters["negative_evidence_appearance"] += 1
            if miss <= 0.0:
                continue  # too small in the image to expect a detection, and nothing says it is gone
            state.counters["negative_evidence"] += 1
            node.existence_log_odds -= miss * weight
            if node.tentative and node.existence_log_odds <= c.absent_log_odds:
                self.drop_tentative(node)  # a ghost, or too little seen to tell: nobody was told of it
                if looked_through or looks_different or occupant is not None:
                    changes += self.lose_sighting(node)  # its place changed: perhaps moved before a second look
                continue
            if node.existence_log_odds <= c.absent_log_odds:
                node.status = ObjectStatus.ABSENT  # ``moved_to`` stays: merge_duplicates prefers that sighting
                node.marked_absent_at = stamp
                state.release_moves_to(node.id)  # a sighting that is gone was nobody's new place
                state.counters["objects_disappeared"] += 1
                reason = (f"a {occupant.label} stands in its place" if occupant is not None else
                          "the depth looks through its place" if looked_through else
                          "its place looks different" if looks_different else "expected in view but not detected")
                changes.append(ChangeRecord(ChangeKind.DISAPPEARED, node.id, node.label, stamp, node.position.copy(),
                                            node.position.copy(), f"{reason}; last seen at t={node.last_seen:.2f}"))
                drop_relations(state, node.id)
        return changes

    def occupied_by(self, node: ObjectNode,
                    occupants: Sequence[tuple[Observation, ObjectNode | None]]) -> Observation | None:
        """The detection of this frame that stands where ``node`` was: at least
        ``occupied_containment`` of ``node``'s box inside its box, another label and other colours
        (a mislabelled sighting of ``node`` itself has its colours), and put there after ``node`` was
        last seen (a bowl that held the apple all along does not take the apple's place); None if
        there is none."""
        c = self.config
        low, high = node.bounds()
        for obs, owner in occupants:
            if obs.label == node.label or (owner is not None and owner.id == node.id):
                continue
            if aabb_containment(low, high, *obs.bounds()) < c.occupied_containment:
                continue
            similarity = cosine(obs.appearance, node.appearance)
            if similarity is None or similarity >= c.appearance_change_similarity:
                continue
            if owner is not None and self.arrived_at(owner) <= node.last_seen:
                continue
            return obs
        return None

    def arrived_at(self, node: ObjectNode) -> float:
        """When ``node`` came to where it is now: the first of its latest run of sightings within
        ``position_noise`` (or half its size) of its position; its first sighting if all are."""
        reach = max(self.config.position_noise, 0.5 * node.size)
        arrived = node.first_seen
        for sighting in reversed(node.recent):
            if vector_length(sighting.position - node.position) > reach:
                break
            arrived = sighting.stamp
        else:
            return node.first_seen if len(node.recent) < (node.recent.maxlen or 0) else arrived
        return arrived

    @staticmethod
    def inner_samples(node: ObjectNode) -> np.ndarray:
        """``node``'s centre and the corners of its box shrunk by half: inside it, not on its
        silhouette edge."""
        return np.vstack([node.position[None, :], node.box.corners() * 0.5 + node.position * 0.5])

    @staticmethod
    def surface_samples(node: ObjectNode) -> np.ndarray | None:
        """Up to ``_SURFACE_SAMPLES`` of ``node``'s points, evenly spread; None with too few."""
        if len(node.points) < _MIN_SURFACE_POINTS:
            return None
        step = max(1, len(node.points) // _SURFACE_SAMPLES)
        return np.asarray(node.points[::step][:_SURFACE_SAMPLES], dtype=np.float64)

    def looks_different(self, view: CameraView, points: np.ndarray, node: ObjectNode) -> bool:
        """The colours where ``points`` of ``node`` project, and around there within
        ``position_noise``, are not ``node``'s: its appearance cosine with each is below
        ``appearance_change_similarity``, and at the remembered place less than
        ``appearance_presence_share`` of the pixels show its main colours (a small object fills
        little of its place in the view); False without colours. Pixels whose depth is in front of
        the points by more than ``occlusion_margin`` are left out: they show what stands before the
        place, as ``look_through`` counts such points as occluded, not seen."""
        if node.appearance is None:
            return False
        # The remembered place may be off by the localisation error: the object's colours anywhere
        # within ``position_noise`` of it mean it is still there.
        _, _, z = view.project(node.position[None, :])
        if not z[0] > 0.05:
            return False
        fx, fy, _, _ = view.intrinsics
        reach_u = round(fx * self.config.position_noise / float(z[0]))
        reach_v = round(fy * self.config.position_noise / float(z[0]))
        compared = False
        # The remembered place first: an object still standing there answers at the first patch.
        shifts = sorted({(du, dv) for du in (-reach_u, 0, reach_u) for dv in (-reach_v, 0, reach_v)},
                        key=lambda shift: abs(shift[0]) + abs(shift[1]))
        for du, dv in shifts:
            patch = view.color_patch(points, (du, dv), self.config.occlusion_margin)
            if patch is None:
                continue
            pixels, not_in_front = patch
            if int(not_in_front.sum()) < _MIN_PATCH_PIXELS:
                continue
            try:
                seen = colour_histogram(np.ascontiguousarray(pixels), not_in_front)
            except InvalidInputError:
                continue
            similarity = cosine(seen, node.appearance)
            if similarity is None:
                continue
            if similarity >= self.config.appearance_change_similarity:
                return False
            # At the remembered place only: shifted, the patch of a large object takes in its edges.
            if (du, dv) == (0, 0) and main_colour_share(seen, node.appearance) >= self.config.appearance_presence_share:
                return False
            compared = True
        return compared

    # ----------------------------------------------------------------- merge and split
    def merge_duplicates(self, touched: set[str], stamp: float) -> list[ChangeRecord]:
        """Two present nodes with the same label that overlap are one object seen twice (the older id
        survives); an absent node and a present twin (same label, similar appearance and size) that first
        appeared after the absent one was last seen are one object that moved (the absent, older
        id survives and the move is reported)."""
        state, c = self.state, self.config
        changes: list[ChangeRecord] = []
        for object_id in sorted(touched):
            node = state.objects.get(object_id)
            if node is None:
                continue
            namesakes = state.index.with_label(node.label)
            if not node.gone:  # overlapping twins are neighbours; absent twins may be anywhere
                # Overlapping boxes have their centres within half the sum of their sizes.
                size = node.size
                reach = min(size + c.merge_reach, 0.5 * (size + state.index.largest_size))
                nearby = sorted(namesakes if len(namesakes) <= FEW_CANDIDATES
                                else state.index.near(node.position, reach) & namesakes)
                if nearby:
                    # Present namesakes merge only when their boxes meet (IoU, or a centre inside the
                    # other's box): one vectorised test leaves out the many beside it (a geometric
                    # frame's dozens of unlabelled segments were 2,000 pair tests a frame).
                    low, high = node.bounds()
                    table = state.index.boxes(nearby)
                    offsets = table.centres[:, :2] - node.position[:2]
                    meets = (((table.lows <= high) & (table.highs >= low)).all(axis=1)
                             & ((offsets * offsets).sum(axis=1) <= reach * reach))
                    nearby = [i for i, meet in zip(nearby, meets.tolist()) if meet]
                absent = {i for i in namesakes if state.objects[i].gone}
                namesakes = set(nearby) | absent
            for other_id in sorted(namesakes):
                other = state.objects.get(other_id)
                if other is None or other.id == node.id or node.id not in state.objects:
                    continue
                if not node.gone and not other.gone:
                    min_a, max_a = node.bounds()
                    min_b, max_b = other.bounds()
                    if aabb_iou(min_a, max_a, min_b, max_b) < c.merge_iou and not self.one_inside_the_other(node, other):
                        continue
                    if node.tentative != other.tentative:
                        # An unconfirmed twin of a confirmed object is a second look at it.
                        self.drop_tentative(node if node.tentative else other)
                        continue
                    keep, drop = (other, node) if other.first_seen <= node.first_seen else (node, other)
                    changes += self.merge(keep, drop, stamp, "duplicate: overlapping nodes with the same label")
                elif node.gone != other.gone and node.label != UNKNOWN_LABEL:  # segments do not move
                    gone, present = (node, other) if node.gone else (other, node)
                    if present.status is not ObjectStatus.PRESENT:
                        continue
                    if gone.moved_to in state.objects and present.id != gone.moved_to:
                        continue  # it was linked to another sighting: that one is where it went
                    if not self.look_alike(gone, present) or not self.alike_in_size(present, gone):
                        continue
                    if present.first_seen < gone.last_seen:
                        continue  # both existed at once: two objects
                    if not present.appeared:
                        continue  # discovered, not put there: it may have stood there all along (a twin)
                    changes += self.merge(gone, present, stamp, "duplicate: absent object re-found elsewhere")
                if node.id not in state.objects:
                    break
        return changes

    def one_inside_the_other(self, a: ObjectNode, b: ObjectNode) -> bool:
        """Present objects alike (label, appearance), never detected in one frame, with either
        centre inside the other's box: one thing remembered twice (two visits, each with its own
        localisation error, whose sightings overlapped too little to be merged by their IoU). Two
        detections in one frame are two things, however their boxes overlap: look-alikes side by
        side, one seen as a sliver inside the other's box grown by a partial view."""
        # The box test first: it rules out nearly every pair merge_duplicates asks about.
        return (either_centre_inside(a.position, a.bounds(), b.position, b.bounds(), 0.0)
                and self.look_alike(a, b) and not seen_together(a, b))

    def look_alike(self, a: ObjectNode | Observation, b: ObjectNode) -> bool:
        """The appearances of ``a`` (an object, or a detection) and ``b`` agree as far as
        re-identification asks (``reid_min_appearance``); False when either has none."""
        similarity = cosine(a.appearance, b.appearance)
        return similarity is not None and similarity >= self.config.reid_min_appearance

    def alike_in_size(self, a: ObjectNode | Observation | LostSighting, b: ObjectNode) -> bool:
        """The box diagonals of ``a`` and ``b`` differ by at most ``reid_max_size_ratio``."""
        smaller, larger = sorted((a.size, b.size))
        return larger <= self.config.reid_max_size_ratio * smaller

    def twins_of(self, gone: ObjectNode, exclude: set[str]) -> int:
        """How many other objects like ``gone`` (label, appearance) the memory holds, besides the
        ids in ``exclude``: where the house has several, a thing first seen in a place seen for
        the first time is more likely one more of them than the missing one moved."""
        count = 0
        for object_id in self.state.index.with_label(gone.label):
            other = self.state.objects[object_id]
            if other.id in exclude or other.id == gone.id or other.tentative:
                continue
            if self.look_alike(other, gone):
                count += 1
        return count

    def merge(self, keep: ObjectNode, drop: ObjectNode, stamp: float, detail: str) -> list[ChangeRecord]:
        """Fold ``drop`` into ``keep``; a ``MERGED`` change names the dropped id in ``merged_id``
        (none when ``drop`` was tentative: nobody was told of it). When ``keep`` was gone and
        ``drop`` stands elsewhere, ``keep`` moved there when ``drop`` was first seen, or by the time
        it was found gone if that came first, but not before it was last seen in place."""
        old_position, gone_since, left_by = keep.position.copy(), keep.last_seen, keep.left_by(stamp)
        moved = keep.gone and float(np.linalg.norm(drop.position - keep.position)) > self.config.move_threshold
        keep.label_counts.update(drop.label_counts)
        keep.observation_count += drop.observation_count
        keep.evidence += drop.evidence
        keep.partial = keep.partial and drop.partial
        keep.first_seen = min(keep.first_seen, drop.first_seen)
        if drop.last_seen >= keep.last_seen or keep.gone:
            keep.box, keep.points, keep.status = drop.box, drop.points, drop.status
            keep.marked_absent_at = drop.marked_absent_at
            keep.state = drop.state or keep.state
            keep.existence_log_odds = max(keep.existence_log_odds, drop.existence_log_odds)
        keep.last_seen = max(keep.last_seen, drop.last_seen)
        keep.recent.extend(drop.recent)
        keep.recent = deque(sorted(keep.recent, key=lambda r: r.stamp), maxlen=keep.recent.maxlen)
        keep.moved_to = ""
        was_tentative = drop.tentative
        if keep.tentative and not drop.tentative:
            keep.tentative = False
            self.state.tentative_ids.discard(keep.id)
        self.state.remove_object(drop.id)
        self.settle_label(keep)
        self.state.index.update(keep)
        self.state.counters["objects_merged"] += 1
        changes = [] if was_tentative else [
            ChangeRecord(ChangeKind.MERGED, keep.id, keep.label, stamp, drop.position.copy(), keep.position.copy(),
                         f"{drop.id} merged into {keep.id} ({detail})", merged_id=drop.id)]
        if moved:
            distance = float(np.linalg.norm(keep.position - old_position))
            moved_at = min(left_by, max(drop.first_seen, gone_since))
            changes.append(ChangeRecord(ChangeKind.MOVED, keep.id, keep.label, moved_at, old_position,
                                        keep.position.copy(), f"re-identified after merge; moved {distance:.2f} m"))
        return changes + self.confirm_if_ready(keep)

    def split_inconsistent(self, touched: set[str], stamp: float) -> list[ChangeRecord]:
        """A node whose recent observations alternate between two distant clusters is two objects."""
        state, c = self.state, self.config
        changes: list[ChangeRecord] = []
        window = c.split_window
        for object_id in sorted(touched):
            node = state.objects.get(object_id)
            if node is None or len(node.recent) < window:
                continue
            recent = list(node.recent)[-window:]
            centres = np.array([r.position for r in recent])
            # 2-means seeded with the two farthest-apart centres
            distances = np.linalg.norm(centres[:, None] - centres[None], axis=2)
            a, b = np.unravel_index(int(np.argmax(distances)), distances.shape)
            if distances[a, b] < c.split_min_separation:
                continue
            seeds = centres[[a, b]]
            assign = np.zeros(len(centres), dtype=np.int64)
            for _ in range(_SPLIT_ITERATIONS):
                assign = np.argmin(np.linalg.norm(centres[:, None] - seeds[None], axis=2), axis=1)
                if assign.min() == assign.max():
                    break
                seeds = np.array([centres[assign == k].mean(axis=0) for k in (0, 1)])
            sizes = np.bincount(assign, minlength=2)
            if sizes.min() < window // 4 or np.linalg.norm(seeds[0] - seeds[1]) < c.split_min_separation:
                continue
            if int(np.count_nonzero(np.diff(assign))) < c.split_min_switches:
                continue
            current = int(np.argmin(np.linalg.norm(seeds - node.position, axis=1)))
            other = 1 - current
            members = [r for r, k in zip(recent, assign) if k == other]
            new_obs = Observation(node.label, Pose(seeds[other]), node.box.extent, appearance=members[-1].appearance)
            twin = self.create(new_obs, members[-1].stamp)
            twin.first_seen = members[0].stamp
            twin.observation_count = len(members)
            twin.label_counts = Counter({node.label: len(members)})
            twin.recent = deque(members, maxlen=node.recent.maxlen)
            node.recent = deque([r for r, k in zip(recent, assign) if k == current], maxlen=node.recent.maxlen)
            node.observation_count = max(1, node.observation_count - len(members))
            state.index.update(twin)
            state.counters["objects_split"] += 1
            changes.append(ChangeRecord(ChangeKind.SPLIT, twin.id, twin.label, stamp, node.position.copy(),
                                        twin.position.copy(),
                                        f"{node.id} held two objects {np.linalg.norm(seeds[0] - seeds[1]):.2f} m apart"))
        return changes

    # ----------------------------------------------------------------- capacity
    def enforce_capacity(self) -> None:
        state = self.state
        excess = len(state.objects) - self.config.capacity
        if excess <= 0:
            return
        now = state.latest_stamp
        # Unconfirmed hypotheses go first and without trace (they were never objects); then the
        # weakest confirmed ones, counted in the summary of what was forgotten.
        weakest = heapq.nsmallest(excess, state.objects.values(),
                                  key=lambda o: (not o.tentative, o.retention.value(now) * o.confidence))
        for node in weakest:
            if node.tentative:
                self.drop_tentative(node)
                continue
            state.evicted_summary[node.label] += 1
            state.remove_object(node.id)
            state.counters["objects_evicted"] += 1
