"""Which label an object takes when its detections are split evenly between two classes.

A detector that mistakes a mug for a cup now and then leaves an object seen twice with one vote
each. Taking the label seen first is a coin toss, and a wrong one costs twice: a spurious cup and a
missing mug. The memory knows better: it holds other mugs and other cups, confirmed by many
detections. The tied label whose remembered instances look most like the object (colour
histogram, and size as sorted box sides) wins, provided it wins clearly; otherwise the first label
seen stays. Only ties are decided this way: a majority of detections always names the object.
No rclpy; sizes in metres.
"""

from __future__ import annotations

import itertools

import numpy as np

from memory_nodes.core.spatial.state import SceneGraphState
from memory_nodes.core.spatial.types import ObjectNode, cosine

_MIN_SIDE_M = 0.01  # sides below a centimetre are noise: compare them as one centimetre
# A label the memory holds no confirmed instance of counts as this alike: an object unlike every
# instance of the other label (a light-blue "can" among red cans) is more likely the unknown one.
_UNKNOWN_LIKENESS = 0.5
_MAX_INSTANCES = 256  # of a label, compared against the object (ties are rare; labels can be common)


def tied_labels(node: ObjectNode) -> list[str]:
    """The labels sharing the most votes of ``node``, in the order first seen; one when there is no tie."""
    counts = node.label_counts
    top = max(counts.values())
    return [label for label, votes in counts.items() if votes == top]


def size_agreement(extent_a: np.ndarray, extent_b: np.ndarray) -> float:
    """In (0, 1]: the geometric mean of the ratios of the sorted box sides (orientation free)."""
    sides_a = np.sort(np.maximum(np.asarray(extent_a, dtype=np.float64), _MIN_SIDE_M))
    sides_b = np.sort(np.maximum(np.asarray(extent_b, dtype=np.float64), _MIN_SIDE_M))
    return float(np.prod(np.minimum(sides_a, sides_b) / np.maximum(sides_a, sides_b)) ** (1.0 / 3.0))


def likeness(node: ObjectNode, other: ObjectNode) -> float:
    """How much ``other`` looks like ``node``: colour cosine (1 when either has no colours) times
    size agreement (a partial view's size says less: counted at half weight)."""
    colour = cosine(node.appearance, other.appearance)
    size = size_agreement(node.box.extent, other.box.extent)
    if node.partial or other.partial:
        size = 0.5 + 0.5 * size
    return (1.0 if colour is None else max(colour, 0.0)) * size


def label_likeness(state: SceneGraphState, node: ObjectNode, label: str, min_confidence: float) -> float | None:
    """How much the best-matching confirmed instance of ``label`` (other than ``node``, its label
    held by at least ``min_confidence`` of its votes and by two of them) looks like ``node``; None
    when the memory holds none (nothing to compare with). The best, not the mean: a class can come
    in several colours."""
    best = None
    for object_id in itertools.islice(state.index.with_label(label), _MAX_INSTANCES):
        other = state.objects.get(object_id)
        if other is None or other.id == node.id or other.tentative:
            continue
        votes = other.label_counts.get(label, 0)
        if votes < 2 or votes < min_confidence * sum(other.label_counts.values()):
            continue
        score = likeness(node, other)
        best = score if best is None else max(best, score)
    return best


def break_tie(state: SceneGraphState, node: ObjectNode, margin: float, min_confidence: float) -> str:
    """The label ``node`` should take among its tied labels: the one whose instances it resembles
    by ``margin`` more than every other tied label's (a label without confirmed instances counts as
    half alike); "" when there is no tie, when no tied label has instances, or when none wins clearly."""
    labels = tied_labels(node)
    if len(labels) < 2:
        return ""
    scores = []
    for label in labels:
        score = label_likeness(state, node, label, min_confidence)
        scores.append((_UNKNOWN_LIKENESS if score is None else score, label))
    if all(score == _UNKNOWN_LIKENESS for score, _ in scores):
        return ""
    scores.sort(key=lambda scored: -scored[0])  # stable: equal scores keep the order first seen
    if scores[0][0] - scores[1][0] < margin:
        return ""
    return scores[0][1]
