"""Qualified object questions: "the mug on the kitchen table", "the cup in the living room", "the
red cup", "the book next to the lamp", "the other mug".

``parse_query`` splits a question into the thing asked for (its head, matched against labels) and
its qualifiers: relations to other objects (on, in, next to, near), a room, a colour, "other".
``qualifier_scores`` says, for one candidate object, how well it satisfies each qualifier, in
[0, 1], so that answers rank by them and tell the planner which part of the question each
candidate satisfied. No rclpy; positions in ``map``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from memory_nodes.core.appearance import HUE_BINS, SATURATION_BINS, colour_histogram
from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import ObjectNode, RelationKind

# Phrase -> relation, longest first so "on top of" wins over "on".
RELATION_PHRASES: tuple[tuple[str, RelationKind], ...] = (
    ("on top of", RelationKind.ON), ("next to", RelationKind.NEXT_TO), ("close to", RelationKind.NEAR),
    ("inside", RelationKind.IN), ("beside", RelationKind.NEXT_TO), ("near", RelationKind.NEAR),
    ("by", RelationKind.NEXT_TO), ("on", RelationKind.ON), ("in", RelationKind.IN), ("at", RelationKind.NEAR),
)
# Colour words -> BGR of a typical shade. The descriptors are hue-saturation histograms, so white,
# grey and black (unsaturated) are one colour to them.
COLOUR_WORDS: dict[str, tuple[int, int, int]] = {
    "red": (30, 30, 210), "orange": (20, 130, 240), "yellow": (30, 215, 240), "green": (50, 165, 30),
    "blue": (215, 65, 25), "purple": (160, 40, 120), "pink": (180, 120, 240), "brown": (40, 80, 140),
    "white": (240, 240, 240), "grey": (128, 128, 128), "gray": (128, 128, 128), "black": (20, 20, 20),
}
_ARTICLES = {"the", "a", "an", "my", "our", "your", "that", "this", "some", "any"}
_FILLER = re.compile(r"^(where is|where's|where are|find|show me|look for|is there|are there|how many)\s+")
_NOT_MATCHED = 0.15  # factor for a qualifier a candidate does not satisfy: ranked below, not dropped
# An unconfirmed relation scores below this, by how near the candidate is to the named object.
_UNCONFIRMED_RELATION = 0.45
# Qualifier values from this up are satisfied (1) or say nothing (0.5: the named object is unknown).
SATISFIED = 0.5


@dataclass
class ParsedQuery:
    """A question split into what is asked for and how it is qualified."""

    head: str  # the thing asked for, e.g. "mug"
    colour: str = ""
    other: bool = False  # "the other mug": not the one answered last
    room: str = ""  # room id ("room-kitchen"), when a room is named
    relations: list[tuple[RelationKind, str]] = field(default_factory=list)  # (relation, target text)

    @property
    def qualified(self) -> bool:
        return bool(self.colour or self.other or self.room or self.relations)


def _strip(words: list[str]) -> list[str]:
    while words and words[0] in _ARTICLES:
        words = words[1:]
    return words


def parse_query(text: str, room_names: dict[str, str]) -> ParsedQuery:
    """Split ``text`` into head and qualifiers. ``room_names``: lower-case name -> room id (a room
    named in a relation's target, as in "on the kitchen table" or "in the kitchen", is a room
    qualifier)."""
    text = _FILLER.sub("", " ".join(text.strip().lower().replace("?", " ").replace(",", " ").split()))
    pattern = r"\b(" + "|".join(re.escape(phrase) for phrase, _ in RELATION_PHRASES) + r")\b"
    parts = re.split(pattern, text)
    kinds = dict(RELATION_PHRASES)
    head_words = _strip(parts[0].split())
    parsed = ParsedQuery(head="")
    if "other" in head_words:
        parsed.other = True
        head_words = [w for w in head_words if w != "other"]
    # A colour word names a colour before the thing it qualifies ("the orange mug"); as the last
    # word it is the thing ("the orange on the table" is the fruit).
    colours = [w for w in head_words[:-1] if w in COLOUR_WORDS]
    if colours:
        parsed.colour = colours[0]
        head_words = [w for w in head_words[:-1] if w not in COLOUR_WORDS] + head_words[-1:]
    for index in range(1, len(parts) - 1, 2):
        kind, target_words = kinds[parts[index]], _strip(parts[index + 1].split())
        target = " ".join(target_words)
        if not target:
            continue
        rooms = [name for name in room_names if re.search(rf"\b{re.escape(name)}\b", target)]
        if rooms:
            parsed.room = room_names[rooms[0]]
            rest = " ".join(re.sub(rf"\b{re.escape(rooms[0])}\b", " ", target).split())
            # "in the kitchen" names a room only; "on the dining table" a room and a piece of furniture
            # whose name holds the room's ("dining table" among the tables, not "table": every one).
            target = target if re.sub(r"^(room|area)\b", "", rest).strip() else ""
        if target:
            parsed.relations.append((kind, target))
    if head_words:
        head_words[-1] = singular(head_words[-1])
    parsed.head = " ".join(head_words) or text
    return parsed


def singular(word: str) -> str:
    """"mugs" -> "mug", "boxes" -> "box" ("glass" and "bus" stay): labels are singular."""
    if len(word) > 3 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def room_names(state: SceneGraphState) -> dict[str, str]:
    """Lower-case room name (and id) -> room id, for ``parse_query``."""
    names: dict[str, str] = {}
    for room in state.places.rooms():
        names[room.id.lower()] = room.id
        if room.name:
            names[room.name.lower()] = room.id
            names[room.name.lower().replace("_", " ")] = room.id
    return names


def _relation_holds(state: SceneGraphState, node: ObjectNode, kind: RelationKind, target: ObjectNode) -> bool:
    """The scene graph has the edge, or the boxes show it (relations are recomputed only for the
    objects a frame touched, so a loose geometric test backs the edge up)."""
    if state.graph.has_edge(node.id, target.id, key=kind.value):
        return True
    low, high = target.bounds()
    position = node.position
    config = state.config
    inside_xy = bool(np.all(position[:2] >= low[:2] - 0.05) and np.all(position[:2] <= high[:2] + 0.05))
    if kind is RelationKind.ON:
        bottom = node.bounds()[0][2]
        return inside_xy and abs(bottom - high[2]) <= 3.0 * config.on_tolerance
    if kind is RelationKind.IN:
        return inside_xy and low[2] - 0.05 <= position[2] <= high[2] + 0.05
    gap = float(np.linalg.norm(np.maximum(0.0, np.maximum(low[:2] - position[:2], position[:2] - high[:2]))))
    if kind is RelationKind.NEXT_TO:
        return gap <= config.next_to_distance + 0.5 * float(np.linalg.norm(node.box.extent[:2]))
    return float(np.linalg.norm(position - target.position)) <= config.near_distance + 0.5 * float(
        np.linalg.norm(target.box.extent))


def _gap_to_box(target: ObjectNode, position: np.ndarray) -> float:
    """Metres from ``position`` to ``target``'s box (0 inside it)."""
    low, high = target.bounds()
    return float(np.linalg.norm(np.maximum(0.0, np.maximum(low - position, position - high))))


def relation_score(state: SceneGraphState, node: ObjectNode, kind: RelationKind, named: list[ObjectNode]) -> float:
    """How well ``node`` stands in relation ``kind`` to one of the ``named`` objects: 1 when the
    scene graph or the boxes show it; otherwise below ``SATISFIED``, falling with the distance to
    the nearest of them over ``near_distance``. Furniture is mostly seen from one side, its box as
    thin as the face in view: a mug on a shelf's lower board is not on that box's top nor inside
    it, yet of the mugs in the house it is the one by the shelf, and answers rank so."""
    if any(_relation_holds(state, node, kind, target) for target in named):
        return 1.0
    gap = min(_gap_to_box(target, node.position) for target in named)
    return _UNCONFIRMED_RELATION * math.exp(-gap / state.config.near_distance)


@functools.cache
def _colour_bins(colour: str) -> tuple[int, int]:
    """The (hue, saturation) bin of a colour word's shade in ``colour_histogram``'s grid (once per
    word, not once per candidate of every question)."""
    swatch = colour_histogram(np.full((4, 4, 3), COLOUR_WORDS[colour], dtype=np.uint8))
    hue, saturation = np.unravel_index(int(np.argmax(swatch)), (HUE_BINS, SATURATION_BINS))
    return int(hue), int(saturation)


def colour_match(node: ObjectNode, colour: str) -> float:
    """How much of ``node``'s appearance is ``colour``, in [0, 1] (0.5 when it has none): the
    share of its pixels of that hue (the neighbouring hue bins at half weight) and saturated at
    all, whatever the saturation, since shading moves a dark-blue case and a bright-blue swatch
    apart in saturation, not in hue; for white, grey and black, the share of unsaturated pixels."""
    if node.appearance is None:
        return 0.5
    shares = np.asarray(node.appearance, dtype=np.float64).reshape(HUE_BINS, SATURATION_BINS)
    total = float(shares.sum())
    if not total > 0.0:
        return 0.5
    shares = shares / total
    hue, saturation = _colour_bins(colour)
    if saturation == 0:
        return float(shares[:, 0].sum())
    by_hue = shares[:, 1:].sum(axis=1)
    near = by_hue[hue] + 0.5 * (by_hue[(hue - 1) % HUE_BINS] + by_hue[(hue + 1) % HUE_BINS])
    return float(min(1.0, near))


def qualifier_scores(state: SceneGraphState, node: ObjectNode, parsed: ParsedQuery,
                     targets: Callable[[str], list[ObjectNode]], last_answer: str = "") -> dict[str, float]:
    """Qualifier -> how well ``node`` satisfies it, in [0, 1]: ``SATISFIED`` or more when it does.
    ``targets(text)``: the objects a relation's target text names. A relation whose target the
    memory does not know says nothing (0.5): the question names something never seen; one the
    memory cannot confirm scores by nearness (``relation_score``)."""
    scores: dict[str, float] = {}
    if parsed.room:
        scores[f"in {parsed.room}"] = 1.0 if state.places.room_of(node.place_id) == parsed.room else 0.0
    for kind, text in parsed.relations:
        named = [t for t in targets(text) if t.id != node.id]
        if not named:
            scores[f"{kind.value} {text}"] = 0.5
            continue
        scores[f"{kind.value} {text}"] = relation_score(state, node, kind, named)
    if parsed.colour:
        scores[parsed.colour] = colour_match(node, parsed.colour)
    if parsed.other:
        scores["other"] = 0.0 if node.id == last_answer else 1.0
    return scores


def qualifier_factor(scores: dict[str, float]) -> float:
    """The factor a candidate's score is multiplied by: 1 when it satisfies every qualifier, low
    (never 0: the memory may be wrong about a relation) for each one it does not."""
    factor = 1.0
    for value in scores.values():
        factor *= _NOT_MATCHED + (1.0 - _NOT_MATCHED) * value
    return factor
