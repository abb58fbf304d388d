"""Scoring remembered objects against ground truth one-to-one, so the score sees every error.

At a scoring time, each real object may be matched to at most one remembered ``present`` object
and each remembered object to at most one real one: the assignment (Hungarian) minimises the summed
distance among pairs of the same label within ``gate_m``. Every remembered present object left
without a partner is a false positive (a stale copy left at an old place, a one-frame ghost, a
duplicate), wherever it is; every real object left without one is missed. A remembered object
that was first matched to a real one keeps its identity if the same real object is matched to it
again later (after a revisit or a move).

No ROS here: the scenario runner feeds it what the services answered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

DEFAULT_GATE_M = 0.35  # a remembered object farther than this from a real one is not that object


@dataclass(frozen=True)
class RealObject:
    """A real object at the scoring time: its name in the scenario, label and centre (map, m)."""

    name: str
    label: str
    position: tuple[float, float, float]


@dataclass(frozen=True)
class RememberedObject:
    """A remembered object as the services report it (``present`` ones are scored)."""

    id: str
    label: str
    position: tuple[float, float, float]
    present: bool = True


@dataclass
class ObjectScore:
    """The outcome of one scoring time."""

    pairs: dict[str, str]  # real name -> remembered id
    errors_m: dict[str, float]  # real name -> distance to its partner
    false_positives: list[RememberedObject]
    missed: list[RealObject]
    remembered_present: int
    real: int
    ids_kept: int = 0  # real objects matched again to the id they were first matched to
    ids_checked: int = 0  # real objects matched now that had been matched before
    changed_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (first id, id now)
    # name -> the look-alike whose first id it holds now: identical twins that changed places unseen
    # keep their ids with the places (nothing tells them apart), which counts as kept.
    swapped_twins: dict[str, str] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return len(self.pairs) / self.remembered_present if self.remembered_present else 1.0

    @property
    def recall(self) -> float:
        return len(self.pairs) / self.real if self.real else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def ids_kept_ratio(self) -> float:
        return self.ids_kept / self.ids_checked if self.ids_checked else 1.0

    def position_error_m(self, percentile: float) -> float:
        """The ``percentile`` (0-100) of the matched pairs' distances; NaN with no pair."""
        values = list(self.errors_m.values())
        return float(np.percentile(values, percentile)) if values else float("nan")


def remembered_objects(objects: Iterable[Any]) -> list[RememberedObject]:
    """What the services answered (objects with id, label, position, status) as scorer input."""
    return [RememberedObject(o.id, o.label, (float(o.position[0]), float(o.position[1]), float(o.position[2])),
                             o.status == "present") for o in objects]


def match_objects(real: Iterable[RealObject], remembered: Iterable[RememberedObject],
                  gate_m: float = DEFAULT_GATE_M) -> ObjectScore:
    """The one-to-one assignment of ``remembered`` present objects to ``real`` ones (same label,
    within ``gate_m``, least summed distance) and what is left over on either side."""
    if not gate_m > 0:
        raise ValueError(f"gate_m must be > 0, got {gate_m}")
    real = list(real)
    present = [r for r in remembered if r.present]
    pairs: dict[str, str] = {}
    errors: dict[str, float] = {}
    if real and present:
        truth = np.array([r.position for r in real], dtype=float)
        memory = np.array([m.position for m in present], dtype=float)
        distances = np.linalg.norm(truth[:, None, :] - memory[None, :, :], axis=2)
        same_label = np.array([[t.label == m.label for m in present] for t in real])
        feasible = same_label & (distances <= gate_m)
        # Infeasible pairs cost more than any set of feasible ones, so they are only chosen where
        # nothing feasible is left, and then dropped.
        infeasible_cost = 1.0 + gate_m * (len(real) + len(present))
        cost = np.where(feasible, distances, infeasible_cost)
        for i, j in zip(*linear_sum_assignment(cost)):
            if feasible[i, j]:
                pairs[real[i].name] = present[j].id
                errors[real[i].name] = float(distances[i, j])
    matched_ids = set(pairs.values())
    return ObjectScore(
        pairs=pairs, errors_m=errors,
        false_positives=[m for m in present if m.id not in matched_ids],
        missed=[r for r in real if r.name not in pairs],
        remembered_present=len(present), real=len(real))


class IdentityTracker:
    """Remembers which id each real object was first matched to, and scores ids kept since.

    ``look_alike(a, b)``: the real objects ``a`` and ``b`` cannot be told apart (same class, shape,
    size and colours). When one holds the id first matched to its look-alike, the two changed
    places where no camera could tell them apart, and a memory that keeps ids with places is right
    to: that counts as kept, not changed."""

    def __init__(self, look_alike: Callable[[str, str], bool] | None = None) -> None:
        self.first_ids: dict[str, str] = {}
        self.first_matched_at: dict[str, float] = {}  # real object -> stamp of its first match
        self.look_alike = look_alike

    def update(self, score: ObjectScore, stamp: float = math.nan) -> ObjectScore:
        """Fill ``score``'s id figures from the ids seen before; remember new first matches (made
        at ``stamp``, the frame's). A first match at no given stamp (NaN: the end-of-run score) is
        before no change (``known_before``)."""
        first_owner = {object_id: name for name, object_id in self.first_ids.items()}
        for name, object_id in score.pairs.items():
            first = self.first_ids.get(name)
            if first is None:
                self.first_ids[name] = object_id
                self.first_matched_at[name] = stamp
                continue
            score.ids_checked += 1
            twin = first_owner.get(object_id)
            if first == object_id:
                score.ids_kept += 1
            elif twin is not None and self.look_alike is not None and self.look_alike(name, twin):
                score.ids_kept += 1
                score.swapped_twins[name] = twin
            else:
                score.changed_ids[name] = (first, object_id)
        return score

    def first_id(self, name: str) -> str | None:
        return self.first_ids.get(name)

    def known_before(self, name: str, stamp: float) -> bool:
        """``name`` had been matched to a remembered object before ``stamp``: a change to it then
        is one the memory could notice (a move of a thing first seen at its new place is not)."""
        return self.first_matched_at.get(name, math.inf) < stamp


def score_objects(truth: Mapping[str, tuple[str, np.ndarray]], remembered: Iterable[RememberedObject],
                  tracker: IdentityTracker | None = None, gate_m: float = DEFAULT_GATE_M) -> ObjectScore:
    """``match_objects`` for ``truth`` given as name -> (label, position), with ids tracked."""
    real = [RealObject(name, label, (float(p[0]), float(p[1]), float(p[2]))) for name, (label, p) in truth.items()]
    score = match_objects(real, remembered, gate_m)
    return tracker.update(score) if tracker is not None else score
