"""Every threshold of the scene graph, each declared once with its unit, meaning and range."""

from __future__ import annotations

import math
from dataclasses import dataclass

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.retention import RetentionPolicy
from memory_nodes.core.settings import setting, validate

RoomPolygon = tuple[str, tuple[tuple[float, float], ...]]  # name, (x, y) vertices in map
# label, (min x, min y, min z, max x, max y, max z) in map: a piece of furniture the robot's map knows
FurniturePiece = tuple[str, tuple[float, float, float, float, float, float]]


@dataclass(frozen=True)
class SpatialConfig:
    """Thresholds of the scene graph. Distances in metres, times in seconds."""

    voxel_size: float = setting(0.02, "voxel size of the object point clouds", "m", above=0)
    max_points_per_object: int = setting(1500, "points kept per object after downsampling", low=1)
    association_distance: float = setting(
        0.6, "base distance gate for associating an observation with an object (grows with object size)", "m",
        above=0)
    position_noise: float = setting(
        0.06, "expected error of a re-observed object's centre (localisation, depth, segmentation): an "
        "observation is this object only if its centre lies within the object's box grown by this much (or the "
        "object's within the observation's), or their boxes overlap, or it is a move", "m", above=0)
    alignment_max_offset: float = setting(
        0.15, "largest horizontal offset by which a frame is re-registered on the remembered objects (the "
        "localisation error between visits); 0 turns frame alignment off", "m", low=0)
    alignment_min_matches: int = setting(
        2, "unambiguous observations that must agree on a frame's offset (within position_noise / 2) before "
        "it is applied", low=1)
    association_reach: float = setting(
        2.0, "margin added to an observation's size when looking for association candidates", "m", low=0)
    min_association_score: float = setting(
        0.45, "least combined score (geometry, label, appearance) to associate", low=0, high=1)
    weight_geometry: float = setting(0.45, "weight of geometric overlap in the association score", low=0)
    weight_label: float = setting(0.35, "weight of label agreement in the association score", low=0)
    weight_appearance: float = setting(0.20, "weight of appearance similarity in the association score", low=0)
    appearance_update_rate: float = setting(
        0.2, "share of a new sighting's appearance blended into the object's", low=0, high=1)
    fusion_window: int = setting(
        10, "sightings over which an object without points averages its box (later ones weigh 1/window)", low=1)
    settled_fusion_period: int = setting(
        5, "an object seen at least this many times fuses a sighting that lies within its box (grown by a voxel) "
        "only every this many sightings: such a sighting adds points where the object has them, and re-voxelising "
        "the merged cloud was the largest cost of an update; 1 fuses every sighting", low=1)
    move_threshold: float = setting(
        0.25, "displacement (to outside its box) above which an associated object counts as moved; a move "
        "needs reid_min_appearance", "m", above=0)
    reid_min_appearance: float = setting(
        0.75, "appearance cosine needed to re-identify a missing object elsewhere", low=0, high=1)
    reid_max_size_ratio: float = setting(
        2.0, "a sighting elsewhere can be a remembered object that moved only when their sizes (box diagonals) "
        "differ by at most this factor: a partial view makes a box smaller, a ghost on a wall is another size",
        above=1)
    reid_max_age_s: float = setting(3600.0, "objects last seen longer ago than this are not re-identified", "s",
                                    low=0)
    label_tie_margin: float = setting(
        0.1, "an object whose detections split evenly between labels takes the one whose confirmed instances "
        "look like it (colours times size) by this much more than the other's; below, the first label seen",
        low=0, high=1)
    label_instance_confidence: float = setting(
        0.75, "share of its votes an object's label needs for the object to stand for that label when ties "
        "are broken", low=0.5, high=1)
    existence_hit: float = setting(0.85, "log-odds added to existence per detection", above=0)
    existence_miss: float = setting(
        0.8, "log-odds removed per frame in which a visible object is not detected", above=0)
    existence_max: float = setting(3.0, "upper bound of the existence log-odds", above=0)
    free_space_miss: float = setting(
        2.5, "log-odds removed per frame in which the depth image looks through where a visible object should "
        "be, times the share of its points looked through", low=0)
    free_space_margin: float = setting(
        0.03, "depth beyond an object point that shows the camera looked through it (plus the range term)", "m",
        above=0)
    free_space_margin_per_m2: float = setting(
        0.015, "part of the look-through margin that grows with the square of the range (depth noise)", "m/m^2",
        low=0)
    appearance_change_miss: float = setting(
        2.0, "log-odds removed per frame in which the place of an undetected object shows other colours", low=0)
    appearance_change_similarity: float = setting(
        0.5, "appearance cosine below which the pixels where an undetected object should be show something else "
        "(thin objects do not stand out of the depth)", low=0, high=1)
    appearance_presence_share: float = setting(
        0.2, "share of the pixels at an undetected object's place that show its main colours (the fewest hue-"
        "saturation bins holding half of its pixels, greys left out) from which its place does not look "
        "different, whatever the cosine: a small object's place in the view mixes it with what is around it",
        low=0, high=1)
    occupied_containment: float = setting(
        0.5, "share of an undetected object's box inside the box of a detection of another label and other colours, "
        "placed there after the object was last seen, above which its place is taken: it counts as looked "
        "through (free_space_miss)", low=0, high=1)
    evidence_interval_s: float = setting(
        0.2, "frames closer together than this share one frame's negative evidence, in proportion to the time "
        "between them: consecutive camera frames show the same view and the detector's same misses", "s", low=0)
    recent_sighting_s: float = setting(
        2.0, "the depth and colour cues against an object seen less than this long ago count in proportion (a "
        "thing seen a moment ago is most likely still there)", "s", above=0)
    min_detectable_fraction: float = setting(
        2e-4, "share of the image below which an object is too small to be expected in the detections (a miss "
        "counts fully from four times this size)", above=0, below=1)
    confirm_evidence: float = setting(
        1.2, "summed detection scores that turn a tentative object into a counted one (two good views)",
        above=0)
    tentative_consistency: float = setting(
        0.35, "largest centre offset, as a share of its size, of a detection confirming a tentative object; a "
        "farther one is another object", above=0)
    revisit_travel: float = setting(
        1.0, "distance the robot travels between two sightings after which the second carries a localisation "
        "error of its own (another visit): it then confirms a tentative object up to position_noise farther", "m",
        above=0)
    tentative_max_age_s: float = setting(
        86_400.0, "tentative objects not seen again within this time are dropped (in view, the frames confirm or "
        "drop them much sooner)", "s", above=0)
    absent_log_odds: float = setting(-1.0, "existence log-odds at or below which an object is marked absent")
    occlusion_margin: float = setting(0.1, "depth in front of an object point that counts as occluding it", "m",
                                      low=0)
    border_px: float = setting(10.0, "image border ignored for negative evidence", "px", low=0)
    visible_fraction: float = setting(
        0.5, "share of an object's sample points that must be in view and unoccluded for a missed detection "
        "to count against it", above=0, high=1)
    observed_cell_size: float = setting(
        0.25, "cell size of the record of where the camera has looked (tells appeared objects from discovered "
        "ones)", "m", above=0)
    observed_range: float = setting(
        3.0, "range within which the camera's depth counts as having looked at a place", "m", above=0)
    appeared_min_looks: int = setting(
        2, "an object appeared (was put or moved there) when earlier frames had shown its place this many times "
        "from near enough to detect it (a detector misses a thing now and then, rarely twice) and no look-alike "
        "of its label stood there unmatched; only such an object can be a remembered one that moved", low=1)
    merge_iou: float = setting(0.5, "3D IoU above which two same-label objects are merged", low=0, high=1)
    merge_reach: float = setting(
        1.0, "margin added to an object's size when looking for its duplicates", "m", low=0)
    fragment_containment: float = setting(
        0.6, "share of an unmatched observation's box inside an object matched in the same frame above which "
        "it is a fragment of that object", low=0, high=1)
    split_min_separation: float = setting(
        1.0, "distance between alternating observation clusters that splits an object", "m", above=0)
    split_window: int = setting(12, "recent observations examined for a split", low=4)
    split_min_switches: int = setting(
        3, "alternations between the two clusters that make two objects (one switch is a move)", low=2)
    place_spacing: float = setting(1.5, "distance along the robot path between places", "m", above=0)
    own_place_factor: float = setting(
        2.0, "objects farther than this multiple of place_spacing from every place get a place of their own",
        above=0)
    room_cluster_distance: float = setting(
        4.0, "without room polygons, places within this distance of a room centre join it", "m", above=0)
    rooms: tuple[RoomPolygon, ...] = setting((), "room polygons in map (parameters rooms.names, "
                                             "rooms.vertex_counts, rooms.vertices: x0 y0 x1 y1 ...)", "m")
    furniture: tuple[FurniturePiece, ...] = setting(
        (), "furniture the robot's map knows, as labelled axis-aligned boxes in map (parameters furniture.labels, "
        "furniture.boxes: min x y z max x y z of each): qualifiers name it ('the mug on the kitchen table') "
        "whether or not the detector reports furniture", "m")
    near_distance: float = setting(1.0, "centre distance for the 'near' relation", "m", above=0)
    next_to_distance: float = setting(0.3, "horizontal gap for the 'next_to' relation", "m", low=0)
    on_tolerance: float = setting(0.06, "vertical gap allowed for the 'on' relation", "m", low=0)
    in_fraction: float = setting(0.8, "share of an object's box inside another for the 'in' relation", low=0,
                                 high=1)
    relation_refresh_distance: float = setting(
        0.01, "an object seen again keeps its relations until its box has moved this far since they were computed",
        "m", low=0)
    min_label_match: float = setting(
        0.35, "least similarity of a query's text to a label for objects of that label to match", low=0, high=1)
    min_target_match: float = setting(
        0.6, "least similarity of the thing a qualifier names ('on the counter') to a label for objects of that "
        "label to be it; below, the memory does not know it and the qualifier says nothing", low=0, high=1)
    recency_scale_s: float = setting(3600.0, "time over which recency in query scores falls to 1/e", "s", above=0)
    where_weight_existence: float = setting(0.6, "weight of existence confidence in where_is scores", low=0)
    where_weight_recency: float = setting(0.25, "weight of recency in where_is scores", low=0)
    where_weight_retention: float = setting(0.15, "weight of retention (forgetting curve) in where_is scores",
                                            low=0)
    absent_score_factor: float = setting(
        0.5, "factor on the existence of an absent object in where_is scores", low=0, high=1)
    index_cell_size: float = setting(1.0, "cell size of the horizontal grid that indexes object centres", "m",
                                     above=0)
    capacity: int = setting(5000, "items kept before the weakest (forgetting curve) are evicted", low=1)
    retention: RetentionPolicy = setting(description="forgetting curve", default_factory=RetentionPolicy)

    def __post_init__(self) -> None:
        validate(self, "spatial ")
        for name, polygon in self.rooms:
            if len(polygon) < 3:
                raise ConfigError(f"room {name!r} needs a polygon of at least 3 vertices")
        for label, box in self.furniture:
            if not label.strip():
                raise ConfigError("every piece of furniture needs a label")
            if len(box) != 6 or not all(math.isfinite(v) for v in box):
                raise ConfigError(f"furniture {label!r}: its box needs 6 finite numbers (min x y z max x y z), "
                                  f"got {list(box)}")
            if any(box[axis] >= box[axis + 3] for axis in range(3)):
                raise ConfigError(f"furniture {label!r}: each minimum must lie below its maximum, got {list(box)}")
