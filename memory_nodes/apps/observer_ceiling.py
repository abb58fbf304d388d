"""What the detections of a run allow at best: an observer that knows which real object every
detection shows, so the figures of the memory can be read against what the camera made knowable.

The observer never makes a duplicate, never keeps a false positive and never confuses a label: it
believes a real object present where it was last detected, and stops believing it after
``misses_to_forget`` frames in which that spot was in view and the object was not detected (a
detector misses a present object now and then, so one such frame is not enough). An object never
detected where it stands now, a removal whose spot no camera saw again, or a move whose new place
was seen but not detected leave it wrong, as they leave any memory fed the same detections wrong.

It is a ceiling for the count and recall figures only in that sense: a memory that had to tell
real objects from false positives and look-alikes by what it saw does no better on the evidence
it got. No ROS here: the scenario runner feeds it each frame's detections and the simulator's
visibility test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from memory_nodes.core.errors import ConfigError


@dataclass
class _Belief:
    label: str
    position: np.ndarray
    misses_in_view: int = 0


class IdentityObserver:
    """Beliefs about real objects from detections whose real object is known."""

    def __init__(self, misses_to_forget: int = 2) -> None:
        if misses_to_forget < 1:
            raise ConfigError(f"misses_to_forget must be >= 1, got {misses_to_forget}")
        self.misses_to_forget = misses_to_forget
        self._beliefs: dict[str, _Belief] = {}
        self._detections: dict[str, int] = {}

    def observe(self, detected: Mapping[str, tuple[str, np.ndarray]], in_view: Callable[[np.ndarray], bool]) -> None:
        """One frame: ``detected`` maps each real object a detection showed to its true label and
        where it stood (map); ``in_view(point)`` says whether the frame showed ``point`` (in the
        image, in range, not hidden behind something nearer)."""
        for name, (label, position) in detected.items():
            self._detections[name] = self._detections.get(name, 0) + 1
            self._beliefs[name] = _Belief(label, np.asarray(position, dtype=float).copy())
        for name, belief in list(self._beliefs.items()):
            if name in detected or not in_view(belief.position):
                continue
            belief.misses_in_view += 1
            if belief.misses_in_view >= self.misses_to_forget:
                del self._beliefs[name]

    def believed(self, min_detections: int = 1) -> dict[str, np.ndarray]:
        """Real object -> where the observer believes it is, for those detected ``min_detections``
        times or more (2: a single detection cannot be told from a false positive by what it shows)."""
        return {name: belief.position for name, belief in self._beliefs.items()
                if self._detections[name] >= min_detections}

    def counts_exact(self, truth: Mapping[str, tuple[str, np.ndarray]], min_detections: int = 1) -> list[bool]:
        """Per label of ``truth`` (real name -> (label, position)): whether the observer's count of
        that label is the real one."""
        believed = self.believed(min_detections)
        real: dict[str, int] = {}
        for label, _ in truth.values():
            real[label] = real.get(label, 0) + 1
        counted = dict.fromkeys(real, 0)
        for name in believed:
            label = self._beliefs[name].label  # also for one removed unseen: believed, so counted
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
