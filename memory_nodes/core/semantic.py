"""Semantic memory: a knowledge graph of facts with confidence, provenance and time.

A fact is (subject, predicate, object). Predicates listed as exclusive (``is_in``, ``on``,
``state``, ``usually_in``... see ``SemanticConfig``) allow one object per subject: a new fact
that disagrees with an active one is a contradiction, resolved for the newer fact unless the
older one is clearly better supported (confidence and confirmations); the loser is kept as
superseded, with the id of the fact that replaced it. Repeating a fact confirms it (its support
and confidence grow). Facts are found by filters and by open-vocabulary text through sentence
embeddings in a faiss index. ``consolidate`` learns regularities from the other memories
("mug usually_in kitchen", "drawer opened_count_today 2"). Times are stamps in seconds.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from memory_nodes.core.changes import Change, ChangeKind
from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.retention import Retention, RetentionPolicy
from memory_nodes.core.settings import setting, validate
from memory_nodes.core.text_embedding import TextEncoder
from memory_nodes.core.vector_index import VectorIndex


@dataclass(frozen=True)
class SemanticConfig:
    """``exclusive_predicates``: predicates with one object per subject. ``support_margin``: how
    much better supported (confidence x (1 + log support)) an older fact must be to win a
    contradiction. ``usually_min_share``/``usually_min_support``: evidence a "usually" regularity
    needs. ``capacity``: facts kept."""

    exclusive_predicates: tuple[str, ...] = setting(
        ("is_in", "on", "in", "at", "state", "usually_in", "usually_on", "color"),
        "predicates that allow one object per subject (contradictions)")
    support_margin: float = setting(0.5, "how much better supported an older fact must be to beat a newer one",
                                    low=0)
    usually_min_share: float = setting(
        0.6, "share of sightings in one room needed for a 'usually_in' fact", above=0, high=1)
    usually_min_support: int = setting(3, "sightings needed for a 'usually_in' fact", low=1)
    change_buffer: int = setting(10_000, "latest changes kept for consolidation (journaled, survive a restart)",
                                 low=1)
    count_window_s: float = setting(86400.0, "window of the '<kind>_count_today' facts", "s", above=0)
    min_daily_count: int = setting(2, "changes of one kind to a label within the window that make a count fact",
                                   low=1)
    capacity: int = setting(50_000, "items kept before the weakest (forgetting curve) are evicted", low=1)
    retention: RetentionPolicy = setting(description="forgetting curve", default_factory=RetentionPolicy)

    def __post_init__(self) -> None:
        validate(self, "semantic ")


@dataclass
class FactRecord:
    id: str
    subject: str
    predicate: str
    object: str
    confidence: float
    sources: list[str]
    stamp: float
    support: int = 1
    superseded_by: str = ""
    retention: Retention = field(default_factory=lambda: Retention(86400.0, 0.0))

    @property
    def superseded(self) -> bool:
        return bool(self.superseded_by)

    @property
    def text(self) -> str:
        return f"{self.subject} {self.predicate.replace('_', ' ')} {self.object}"

    def strength(self) -> float:
        return self.confidence * (1.0 + math.log(self.support))


def _normalise(term: str, what: str) -> str:
    term = " ".join(term.strip().lower().split())
    if not term:
        raise InvalidInputError(f"fact {what} is empty")
    if len(term) > 256:
        raise InvalidInputError(f"fact {what} is longer than 256 characters")
    return term


class SemanticMemory:
    """Facts as a networkx multigraph (subject -> object, keyed by fact id). Thread-safe."""

    def __init__(self, config: SemanticConfig | None = None, text_encoder: TextEncoder | None = None) -> None:
        self.config = config or SemanticConfig()
        self._encoder = text_encoder
        self._lock = threading.RLock()
        self._clear()

    def _clear(self) -> None:
        self._facts: dict[str, FactRecord] = {}
        self._active: dict[tuple[str, str, str], str] = {}
        self._by_subject_predicate: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.graph = nx.MultiDiGraph()
        self._index = VectorIndex()
        self._next_fact = 1
        self.latest_stamp = -math.inf
        self.evicted_count = 0
        self._sightings: set[tuple[str, str, str]] = set()  # (label, room, object id)
        self._labels: dict[str, str] = {}  # object id -> label, to phrase facts about ids
        # (stamp s, kind, label, detail) of the latest changes, for the daily counts of consolidation
        self._recent_changes: deque[tuple[float, str, str, str]] = deque(maxlen=self.config.change_buffer)

    def add_fact(self, subject: str, predicate: str, obj: str, confidence: float = 1.0, source: str = "",
                 stamp: float = 0.0) -> tuple[FactRecord, list[str]]:
        """Assert a fact at ``stamp`` (seconds) from ``source``. Returns the fact (new, or the
        confirmed existing one) and the ids of facts it superseded. A fact that loses a
        contradiction is stored already superseded."""
        subject, predicate, obj = _normalise(subject, "subject"), _normalise(predicate, "predicate"), _normalise(obj, "object")
        predicate = predicate.replace(" ", "_")
        if not (math.isfinite(confidence) and 0.0 < confidence <= 1.0):
            raise InvalidInputError(f"confidence must be in (0, 1], got {confidence}")
        if not math.isfinite(stamp):
            raise InvalidInputError("stamp must be finite")
        source = source.strip() or "unknown"
        with self._lock:
            self.latest_stamp = max(self.latest_stamp, stamp)
            existing_id = self._active.get((subject, predicate, obj))
            if existing_id is not None:
                fact = self._facts[existing_id]
                fact.support += 1
                fact.confidence = 1.0 - (1.0 - fact.confidence) * (1.0 - confidence)
                fact.stamp = max(fact.stamp, stamp)
                if source not in fact.sources:
                    fact.sources.append(source)
                fact.retention.reinforce(self.config.retention, stamp)
                return fact, []
            self._next_fact += 1
            fact = FactRecord(f"fact-{self._next_fact - 1}", subject, predicate, obj, confidence, [source], stamp,
                              retention=Retention.new(self.config.retention, stamp))
            superseded: list[str] = []
            if predicate in self.config.exclusive_predicates:
                for rival_id in list(self._by_subject_predicate[(subject, predicate)]):
                    rival = self._facts[rival_id]
                    older_better = rival.strength() > fact.strength() + self.config.support_margin
                    if stamp >= rival.stamp and not older_better:
                        self._supersede(rival, fact.id)
                        superseded.append(rival.id)
                    else:
                        fact.superseded_by = rival.id
                        break
            self._facts[fact.id] = fact
            self.graph.add_edge(subject, obj, key=fact.id, predicate=predicate)
            if not fact.superseded:
                self._active[(subject, predicate, obj)] = fact.id
                self._by_subject_predicate[(subject, predicate)].add(fact.id)
            if self._encoder is not None:
                self._index.add([fact.id], self._encoder.encode(self.describe(fact))[None, :])
            self._enforce_capacity()
            return fact, superseded

    def describe(self, fact: FactRecord) -> str:
        """The fact as a sentence, with the label of an object id ("mug obj-2 is in room-office")."""
        subject = f"{self._labels[fact.subject]} {fact.subject}" if fact.subject in self._labels else fact.subject
        obj = f"{self._labels[fact.object]} {fact.object}" if fact.object in self._labels else fact.object
        return f"{subject} {fact.predicate.replace('_', ' ')} {obj}"

    def _supersede(self, fact: FactRecord, by: str) -> None:
        fact.superseded_by = by
        self._active.pop((fact.subject, fact.predicate, fact.object), None)
        self._by_subject_predicate[(fact.subject, fact.predicate)].discard(fact.id)

    def _enforce_capacity(self) -> None:
        excess = len(self._facts) - self.config.capacity
        if excess <= 0:
            return
        now = self.latest_stamp
        # Superseded facts go first, then the least retained.
        ranked = sorted(self._facts.values(), key=lambda f: (not f.superseded, f.retention.value(now) * f.confidence))
        for fact in ranked[:excess]:
            self._remove(fact.id)
            self.evicted_count += 1

    def _remove(self, fact_id: str) -> None:
        fact = self._facts.pop(fact_id)
        if self._active.get((fact.subject, fact.predicate, fact.object)) == fact_id:
            del self._active[(fact.subject, fact.predicate, fact.object)]
        self._by_subject_predicate[(fact.subject, fact.predicate)].discard(fact_id)
        if self.graph.has_edge(fact.subject, fact.object, key=fact_id):
            self.graph.remove_edge(fact.subject, fact.object, key=fact_id)
        self._index.remove([fact_id])

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._facts)

    def get(self, fact_id: str) -> FactRecord:
        with self._lock:
            try:
                return self._facts[fact_id]
            except KeyError:
                raise UnknownItemError(f"no fact {fact_id!r}") from None

    def query(self, subject: str = "", predicate: str = "", obj: str = "", text: str = "", min_confidence: float = 0.0,
              include_superseded: bool = False, limit: int = 20) -> list[tuple[FactRecord, float, dict[str, float]]]:
        """Facts matching the filters (exact, case-insensitive), ranked by text similarity (when
        ``text`` is given) times confidence; each with its score and score components."""
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        if not (math.isfinite(min_confidence) and 0.0 <= min_confidence <= 1.0):
            raise InvalidInputError(f"min_confidence must be in [0, 1], got {min_confidence}")
        subject, obj = subject.strip().lower(), obj.strip().lower()
        predicate = predicate.strip().lower().replace(" ", "_")
        def wanted(f: FactRecord) -> bool:
            return ((not subject or f.subject == subject) and (not predicate or f.predicate == predicate)
                    and (not obj or f.object == obj) and f.confidence >= min_confidence
                    and (include_superseded or not f.superseded))

        with self._lock:
            now = self.latest_stamp
            similarity: dict[str, float] = {}
            if text and self._encoder is not None and not (subject or predicate or obj):
                # Free text alone: the nearest neighbours are the candidates (no scan of every fact).
                query = self._encoder.encode_cached(text)
                hits = self._index.search(query, min(len(self._facts), max(64, 8 * (limit or 1))))
                similarity = dict(hits)
                candidates = [self._facts[key] for key, _ in hits if wanted(self._facts[key])]
            else:
                candidates = [f for f in self._facts.values() if wanted(f)]
                if text and self._encoder is not None:
                    query = self._encoder.encode_cached(text)
                    similarity = {f.id: float(self._index.vector(f.id) @ query) for f in candidates if f.id in self._index}
            results = []
            for fact in candidates:
                components = {"confidence": fact.confidence, "retention": fact.retention.value(now)}
                if text:
                    if fact.id not in similarity:
                        continue
                    components["text_similarity"] = max(0.0, similarity[fact.id])
                    score = components["text_similarity"] * (0.7 + 0.3 * fact.confidence)
                else:
                    score = fact.confidence * (0.8 + 0.2 * components["retention"])
                if fact.superseded:
                    score *= 0.5
                results.append((fact, score, components))
            results.sort(key=lambda r: -r[1])
            for fact, _, _ in results[:limit]:
                fact.retention.reinforce(self.config.retention, now)
            return results[:limit]

    def history(self, subject: str, predicate: str) -> list[FactRecord]:
        """Every fact (active and superseded) about ``subject``'s ``predicate``, oldest first."""
        subject, predicate = subject.strip().lower(), predicate.strip().lower().replace(" ", "_")
        with self._lock:
            return sorted((f for f in self._facts.values() if f.subject == subject and f.predicate == predicate),
                          key=lambda f: (f.stamp, f.id))

    # ----------------------------------------------------------------- perception and consolidation
    def observe_object(self, object_id: str, label: str, room_id: str, stamp: float) -> list[str]:
        """The scene graph saw ``object_id`` (a ``label``) in ``room_id`` at ``stamp`` (seconds):
        keep "<id> is_a <label>" and "<id> is_in <room>" current (a move supersedes the old room)
        and remember the sighting for consolidation. Returns ids of facts superseded."""
        superseded: list[str] = []
        with self._lock:
            self.latest_stamp = max(self.latest_stamp, stamp)
            if label:
                self._labels[object_id] = label
            if label and self._active.get((object_id, "is_a", label)) is None:
                superseded += self.add_fact(object_id, "is_a", label, 0.9, "perception", stamp)[1]
            if room_id:
                if self._active.get((object_id, "is_in", room_id)) is None:
                    superseded += self.add_fact(object_id, "is_in", room_id, 0.9, "perception", stamp)[1]
                if label and len(self._sightings) < self.config.capacity:
                    self._sightings.add((label, room_id, object_id))
        return superseded

    def note_change(self, change: Change) -> list[str]:
        """Take a change the spatial memory noticed: a merge folds the merged object's facts into
        the survivor (``merge_entities``, returns the removed fact ids); a change of an object is
        kept for the daily counts of ``consolidate``."""
        with self._lock:
            self.latest_stamp = max(self.latest_stamp, change.stamp)
            if change.kind is ChangeKind.MERGED:
                return self.merge_entities(change.entity, change.merged_id)
            if change.kind is not ChangeKind.ENTERED_ROOM:
                self._recent_changes.append((change.stamp, change.kind.value, change.label, change.detail))
            return []

    def consolidate(self, stamp: float | None = None,
                    object_rooms: tuple[tuple[str, str], ...] = ()) -> list[tuple[FactRecord, float]]:
        """Learn regularities at ``stamp`` (seconds; default the latest stamp seen): "<label>
        usually_in <room>" from the objects seen per room (``observe_object`` sightings, one per
        distinct object and room, plus ``object_rooms`` (label, room) pairs), and "<label>
        <kind>_count_today <n>" from the changes (``note_change``) of the last ``count_window_s``
        seconds. Returns the facts added or confirmed, each with the confidence it was asserted
        with; the add_fact calls they stand for are what a journal replays."""
        learned: list[tuple[FactRecord, float]] = []
        by_label: dict[str, Counter[str]] = defaultdict(Counter)
        with self._lock:
            if stamp is None:
                stamp = self.latest_stamp if math.isfinite(self.latest_stamp) else 0.0
            pairs = [(label, room) for label, room, _ in self._sightings] + list(object_rooms)
            events = list(self._recent_changes)
        for label, room in pairs:
            if label and room:
                by_label[label][room] += 1
        for label, rooms in by_label.items():
            room, count = rooms.most_common(1)[0]
            total = sum(rooms.values())
            if count >= self.config.usually_min_support and count / total >= self.config.usually_min_share:
                confidence = min(0.95, count / total)
                fact, _ = self.add_fact(label, "usually_in", room, confidence=confidence, source="consolidation",
                                        stamp=stamp)
                learned.append((fact, confidence))
        day_start = stamp - self.config.count_window_s
        counts: Counter[tuple[str, str]] = Counter()
        for event_stamp, kind, label, detail in events:
            if day_start <= event_stamp <= stamp and label:
                verb = kind
                if kind == "state_changed" and "->" in detail:
                    verb = "became " + detail.split("->")[-1].strip()
                counts[(label, verb)] += 1
        for (label, verb), count in counts.items():
            if count >= self.config.min_daily_count:
                fact, _ = self.add_fact(label, f"{verb.replace(' ', '_')}_count_today", str(count), confidence=0.9,
                                        source="consolidation", stamp=stamp)
                learned.append((fact, 0.9))
        return learned

    def merge_entities(self, keep: str, drop: str) -> list[str]:
        """``drop`` turned out to be ``keep`` (a merged duplicate object): facts whose subject is
        ``drop`` are removed and its sightings count for ``keep``. Returns the removed fact ids."""
        with self._lock:
            removed = [f.id for f in self._facts.values() if f.subject == drop]
            for fact_id in removed:
                self._remove(fact_id)
            self._sightings = {(label, room, keep if oid == drop else oid) for label, room, oid in self._sightings}
            self._labels.pop(drop, None)
            return removed

    def forget(self, fact_ids: list[str]) -> list[str]:
        with self._lock:
            for fact_id in fact_ids:
                if fact_id not in self._facts:
                    raise UnknownItemError(f"no fact {fact_id!r}")
            for fact_id in fact_ids:
                self._remove(fact_id)
            return list(fact_ids)

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able state, arrays) of every fact (active and superseded) and its embedding."""
        with self._lock:
            facts = [[f.id, f.subject, f.predicate, f.object, f.confidence, f.sources, f.stamp, f.support,
                      f.superseded_by, [f.retention.strength_s, f.retention.reinforced_at]]
                     for f in self.all_facts()]
            indexed = [f.id for f in self.all_facts() if f.id in self._index]
            vectors = self._index.vectors(indexed)
            state = {
                "facts": facts, "indexed": indexed, "next_fact": self._next_fact,
                "sightings": [list(s) for s in sorted(self._sightings)], "labels": self._labels,
                "latest_stamp": self.latest_stamp if math.isfinite(self.latest_stamp) else None,
                "evicted_count": self.evicted_count,
                "recent_changes": [list(c) for c in self._recent_changes],
            }
            state["index_slots"], graph = self._index.dump()
            return state, {"vectors": vectors, "vector_index": graph}

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Replace every fact with a ``snapshot``."""
        with self._lock:
            self.reset()
            for fact_id, subject, predicate, obj, confidence, sources, stamp, support, by, retention in state["facts"]:
                fact = FactRecord(fact_id, subject, predicate, obj, confidence, list(sources), stamp, support, by,
                                  Retention(*retention))
                self._facts[fact_id] = fact
                self.graph.add_edge(subject, obj, key=fact_id, predicate=predicate)
                if not fact.superseded:
                    self._active[(subject, predicate, obj)] = fact_id
                    self._by_subject_predicate[(subject, predicate)].add(fact_id)
            if state["indexed"]:
                self._index.restore(list(state["indexed"]), arrays["vectors"], state.get("index_slots"),
                                    arrays.get("vector_index"))
            self._next_fact = int(state["next_fact"])
            self._sightings = {tuple(s) for s in state["sightings"]}
            self._labels = dict(state["labels"])
            self.latest_stamp = -math.inf if state["latest_stamp"] is None else state["latest_stamp"]
            self.evicted_count = state["evicted_count"]
            self._recent_changes.extend(tuple(c) for c in state.get("recent_changes", []))

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def all_facts(self) -> list[FactRecord]:
        with self._lock:
            return sorted(self._facts.values(), key=lambda f: int(f.id.split("-")[1]))

