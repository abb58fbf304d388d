"""What the detections of a run allow at best: an upper bound for the count and recall figures,
so the memory's figures can be read against what the camera made knowable.

The observer knows which real object every detection shows (it never makes a duplicate, never
keeps a false positive) and sees at once that a spot it remembers is empty when a frame shows
that spot and the object is no longer there (no detector miss, depth noise or occlusion misleads
it). It believes each real object present where it was last detected. What still leaves it
wrong leaves any memory fed the same detections wrong: an object never detected where it stands
now (counted at its old place, or not at all if that place was seen empty), a removal whose spot
no frame showed again. It counts each object under its true label, or, as a memory that learns
labels from the detector must, only objects that at least one detection named right: a mug the
detector called "cup" at every sighting cannot be counted as a mug by any such memory, and
counted as a cup it would only make the cups wrong too.

No ROS here: the scenario runner feeds it each frame's detections and a test, built on the
simulator's ground truth, of whether the frame shows a remembered spot empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass
class _Belief:
    label: str
    position: np.ndarray


class IdentityObserver:
    """Beliefs about real objects from detections whose real object is known."""

    def __init__(self) -> None:
        self._beliefs: dict[str, _Belief] = {}
        self._detections: dict[str, int] = {}
        self._named_as: dict[str, set[str]] = {}  # real object -> the labels its detections gave

    def observe(self, detected: Mapping[str, tuple[str, np.ndarray]],
                shows_gone: Callable[[str, np.ndarray], bool],
                shown_as: Mapping[str, str] | None = None) -> None:
        """One frame: ``detected`` maps each real object a detection showed to its true label and
        where it stood (map); ``shown_as`` maps them to the label the detection gave (the true one
        where it is left out); ``shows_gone(name, spot)`` says whether the frame shows ``spot`` and
        the real object ``name`` is no longer there."""
        shown_as = shown_as or {}
        for name, (label, position) in detected.items():
            self._detections[name] = self._detections.get(name, 0) + 1
            self._named_as.setdefault(name, set()).add(shown_as.get(name, label))
            self._beliefs[name] = _Belief(label, np.asarray(position, dtype=float).copy())
        for name, belief in list(self._beliefs.items()):
            if name not in detected and shows_gone(name, belief.position):
                del self._beliefs[name]

    def believed(self, min_detections: int = 1) -> dict[str, np.ndarray]:
        """Real object -> where the observer believes it is, for those detected ``min_detections``
        times or more (2: a single detection cannot be told from a false positive by what it shows)."""
        return {name: belief.position for name, belief in self._beliefs.items()
                if self._detections[name] >= min_detections}

    def counts_exact(self, truth: Mapping[str, tuple[str, np.ndarray]], min_detections: int = 1,
                     named_right_once: bool = False) -> list[bool]:
        """Per label of ``truth`` (real name -> (label, position)), in label order: whether the
        observer's count of that label is the real one; with ``named_right_once`` only objects that
        a detection named by their own label count."""
        real: dict[str, int] = {}
        for label, _ in truth.values():
            real[label] = real.get(label, 0) + 1
        counted = dict.fromkeys(real, 0)
        for name in self.believed(min_detections):
            label = self._beliefs[name].label  # also for one removed unseen: believed, so counted
            if named_right_once and label not in self._named_as[name]:
                continue
            if label in counted:
                counted[label] += 1
        return [counted[label] == real[label] for label in sorted(real)]

    def recall(self, truth: Mapping[str, tuple[str, np.ndarray]], gate_m: float, min_detections: int = 1) -> float:
        """Share of ``truth`` the observer believes within ``gate_m`` of where it really is."""
        if not truth:
            return float("nan")
        believed = self.believed(min_detections)
        found = sum(1 for name, (_, position) in truth.items()
                    if name in believed and float(np.linalg.norm(believed[name] - position)) <= gate_m)
        return found / len(truth)
