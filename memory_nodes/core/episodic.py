"""Episodic memory: events segmented into episodes, recalled by text, time, place or object.

Events come from the stream (object appeared/moved/disappeared/state changed, robot entered a
room) and from the planner (task_started / task_succeeded / task_failed, notes). The open episode
closes when the gap since its last event exceeds ``episode_gap_s``, when the robot's room changes,
or at a task boundary (a task start opens a new episode; its success or failure closes it). Each
episode has a time span, a place, the objects involved, a text summary and a sentence embedding
(faiss) for recall. Times are message stamps in seconds.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memory_nodes.core.changes import Change, ChangeKind
from memory_nodes.core.errors import InvalidInputError, UnknownItemError
from memory_nodes.core.retention import Retention, RetentionPolicy
from memory_nodes.core.settings import setting, validate
from memory_nodes.core.text_embedding import TextEncoder
from memory_nodes.core.vector_index import VectorIndex

TASK_KINDS = ("task_started", "task_succeeded", "task_failed")
PLANNER_KINDS = (*TASK_KINDS, "note")


@dataclass(frozen=True)
class EpisodicConfig:
    """``episode_gap_s``: seconds of silence that end an episode. ``max_events_per_episode``:
    events kept in detail per episode (the count is kept beyond). ``capacity``: episodes kept."""

    episode_gap_s: float = setting(120.0, "silence that ends an episode", "s", above=0)
    max_events_per_episode: int = setting(200, "events kept in detail per episode (the count is kept beyond)", low=1)
    capacity: int = setting(10_000, "items kept before the weakest (forgetting curve) are evicted", low=1)
    retention: RetentionPolicy = setting(description="forgetting curve", default_factory=RetentionPolicy)

    def __post_init__(self) -> None:
        validate(self, "episodic ")


@dataclass
class Event:
    """Something that happened at ``stamp`` (seconds)."""

    kind: str
    stamp: float
    text: str = ""
    task: str = ""
    place_id: str = ""
    object_ids: tuple[str, ...] = ()
    id: str = ""


@dataclass
class EpisodeRecord:
    """An episode: [start, end] seconds, where, which objects, what happened."""

    id: str
    start: float
    end: float
    place_counts: Counter[str] = field(default_factory=Counter)
    object_ids: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    event_count: int = 0
    task: str = ""
    outcome: str = ""
    closed: bool = False
    summary: str = ""
    retention: Retention | None = None

    @property
    def place_id(self) -> str:
        return self.place_counts.most_common(1)[0][0] if self.place_counts else ""


_OUTCOME_WORDS = {
    "failed": {"fail", "failed", "fails", "failure", "failing", "unsuccessful", "went wrong"},
    "succeeded": {"succeed", "succeeded", "success", "successful", "succeeds", "completed", "accomplished"},
}


def _outcome_named(text: str) -> str:
    """"failed" or "succeeded" when ``text`` asks about that outcome, else ""."""
    lowered = text.lower()
    words = set(lowered.replace("?", " ").replace(",", " ").replace(".", " ").split())
    for outcome, markers in _OUTCOME_WORDS.items():
        if words & markers or any(" " in m and m in lowered for m in markers):
            return outcome
    return ""


def summarize(episode: EpisodeRecord) -> str:
    """A readable text of what happened in ``episode``, used for display and for its embedding."""
    parts = []
    if episode.task:
        outcome = episode.outcome or "in progress"
        parts.append(f"task '{episode.task}' ({outcome})")
    where = f" at {episode.place_id}" if episode.place_id else ""
    kinds = Counter(e.kind for e in episode.events)
    texts = [e.text for e in episode.events if e.text][:12]
    body = "; ".join(texts) if texts else ", ".join(f"{n} {k}" for k, n in kinds.most_common())
    span = f"from t={episode.start:.1f}s to t={episode.end:.1f}s"
    head = f"Episode {span}{where}"
    if parts:
        head += ": " + ", ".join(parts)
    more = f" (+{episode.event_count - len(texts)} more events)" if episode.event_count > len(texts) else ""
    return f"{head}. {body}{more}".strip()


def embedding_text(episode: EpisodeRecord) -> str:
    """What an episode's sentence embedding is computed from: its summary without the time span and
    the event counts. Those change with every event of the open episode, carry no meaning for a
    text search, and would make every question re-embed the open episode."""
    parts = [f"task '{episode.task}' ({episode.outcome or 'in progress'})"] if episode.task else []
    where = f" at {episode.place_id}" if episode.place_id else ""
    texts = list(dict.fromkeys(e.text for e in episode.events if e.text))[:12]
    body = "; ".join(texts) if texts else ", ".join(sorted({e.kind for e in episode.events}))
    head = f"Episode{where}" + (": " + ", ".join(parts) if parts else "")
    return f"{head}. {body}".strip()


class EpisodicMemory:
    """Episodes and their events. Thread-safe."""

    def __init__(self, config: EpisodicConfig | None = None, text_encoder: TextEncoder | None = None) -> None:
        self.config = config or EpisodicConfig()
        self._encoder = text_encoder
        self._lock = threading.RLock()
        self._clear()

    def _clear(self) -> None:
        self._episodes: dict[str, EpisodeRecord] = {}
        self._open: EpisodeRecord | None = None
        self._index = VectorIndex()
        self._next_episode = 1
        self._next_event = 1
        self._current_room = ""
        self._open_embedding: tuple[str, np.ndarray] | None = None  # (embedding_text, vector) of the open episode
        self.latest_stamp = -math.inf
        self.evicted_summary: Counter[str] = Counter()  # place -> episodes dropped at the capacity bound

    # ----------------------------------------------------------------- ingestion
    @property
    def current_room(self) -> str:
        """The room the robot was last known to be in ("" if unknown)."""
        return self._current_room

    def note_change(self, change: Change) -> tuple[str, str]:
        """Narrate a change the spatial memory noticed as an event of the current episode (the
        robot entering a room moves it there). Returns (event id, episode id)."""
        with self._lock:
            if change.kind is ChangeKind.ENTERED_ROOM:
                event = Event(change.kind.value, change.stamp, f"robot entered {change.entity}", place_id=change.entity)
                return self.add_event(event, room_id=change.entity)
            text = f"{change.label} {change.entity} {change.kind.value}" + (f" ({change.detail})" if change.detail else "")
            event = Event(change.kind.value, change.stamp, text, place_id=self._current_room,
                          object_ids=(change.entity,))
            return self.add_event(event, room_id=self._current_room)

    def add_event(self, event: Event, room_id: str = "") -> tuple[str, str]:
        """Record ``event``; ``room_id`` is the robot's room at that time ("" if unknown). Returns
        (event id, episode id)."""
        if not math.isfinite(event.stamp):
            raise InvalidInputError("event stamp must be finite")
        if not event.kind:
            raise InvalidInputError("event kind is empty")
        if event.kind in TASK_KINDS and not event.task.strip():
            raise InvalidInputError(f"{event.kind} needs a task name")
        with self._lock:
            if not event.id:
                event.id = f"evt-{self._next_event}"
                self._next_event += 1
            self.latest_stamp = max(self.latest_stamp, event.stamp)
            episode = self._open
            boundary = (
                episode is None
                or event.stamp - episode.end > self.config.episode_gap_s
                or (room_id and self._current_room and room_id != self._current_room and not episode.task)
                or event.kind == "task_started"
            )
            if episode is None or boundary:
                if episode is not None:
                    self._close(episode)
                episode = self._start(event.stamp)
            if room_id:
                self._current_room = room_id
            self._append(episode, event)
            if event.kind == "task_started":
                episode.task = event.task
                episode.outcome = "in_progress"
            elif event.kind in ("task_succeeded", "task_failed"):
                if episode.task and episode.task != event.task:
                    event.text = event.text or f"task '{event.task}' {event.kind[5:]}"
                episode.task = episode.task or event.task
                episode.outcome = event.kind[5:]
                self._close(episode)
            return event.id, episode.id

    def _start(self, stamp: float) -> EpisodeRecord:
        self._next_episode += 1
        episode = EpisodeRecord(f"ep-{self._next_episode - 1}", stamp, stamp,
                                retention=Retention.new(self.config.retention, stamp))
        self._episodes[episode.id] = episode
        self._open = episode
        self._enforce_capacity()
        return episode

    def _append(self, episode: EpisodeRecord, event: Event) -> None:
        episode.start = min(episode.start, event.stamp)
        episode.end = max(episode.end, event.stamp)
        episode.event_count += 1
        if len(episode.events) < self.config.max_events_per_episode:
            episode.events.append(event)
        if event.place_id:
            episode.place_counts[event.place_id] += 1
        for object_id in event.object_ids:
            if object_id not in episode.object_ids:
                episode.object_ids.append(object_id)

    def _close(self, episode: EpisodeRecord) -> None:
        episode.closed = True
        episode.summary = summarize(episode)
        if self._encoder is not None:
            self._index.add([episode.id], self._encoder.encode(embedding_text(episode))[None, :])
        if self._open is episode:
            self._open = None

    def _open_vector(self, episode: EpisodeRecord) -> np.ndarray:
        text = embedding_text(episode)
        if self._encoder is None:
            raise InvalidInputError("episodes are compared by text only with a text encoder")
        if self._open_embedding is None or self._open_embedding[0] != text:
            self._open_embedding = (text, self._encoder.encode(text))
        return self._open_embedding[1]

    def close_open_episode(self) -> str:
        """Close the current episode (e.g. at shutdown); returns its id or ""."""
        with self._lock:
            if self._open is None:
                return ""
            episode_id = self._open.id
            self._close(self._open)
            return episode_id

    def _enforce_capacity(self) -> None:
        excess = len(self._episodes) - self.config.capacity
        if excess <= 0:
            return
        now = self.latest_stamp
        closed = [e for e in self._episodes.values() if e.closed]
        closed.sort(key=lambda e: e.retention.value(now) if e.retention else 0.0)
        for episode in closed[:excess]:
            self.evicted_summary[episode.place_id or "unknown place"] += 1
            del self._episodes[episode.id]
            self._index.remove([episode.id])

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._episodes)

    def get(self, episode_id: str) -> EpisodeRecord:
        with self._lock:
            try:
                episode = self._episodes[episode_id]
            except KeyError:
                raise UnknownItemError(f"no episode {episode_id!r}") from None
            if not episode.closed:
                episode.summary = summarize(episode)
            return episode

    def episodes(self) -> list[EpisodeRecord]:
        with self._lock:
            for episode in self._episodes.values():
                if not episode.closed:
                    episode.summary = summarize(episode)
            return sorted(self._episodes.values(), key=lambda e: e.start)

    def recall(self, text: str = "", start: float = -math.inf, end: float = math.inf, place_ids: set[str] | None = None,
               object_id: str = "", limit: int = 5) -> list[tuple[EpisodeRecord, float, dict[str, float]]]:
        """Episodes overlapping [start, end] seconds, at one of ``place_ids``, involving
        ``object_id``, ranked by sentence similarity to ``text`` (if given) and recency; each with
        its score and score components. Recalled episodes are reinforced (forgetting curve)."""
        if limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        if start > end:
            raise InvalidInputError(f"start {start} is after end {end}")
        def wanted(e: EpisodeRecord) -> bool:
            return (e.end >= start and e.start <= end
                    and (place_ids is None or e.place_id in place_ids or bool(set(e.place_counts) & place_ids))
                    and (not object_id or object_id in e.object_ids))

        unfiltered = math.isinf(start) and math.isinf(end) and place_ids is None and not object_id
        with self._lock:
            similarity: dict[str, float] = {}
            query = self._encoder.encode_cached(text) if text and self._encoder is not None else None
            if query is not None and unfiltered:
                # Free text alone: the nearest closed episodes and the open one are the candidates.
                hits = self._index.search(query, min(len(self._index), max(64, 8 * (limit or 1))))
                similarity = dict(hits)
                candidates = [self._episodes[key] for key, _ in hits if key in self._episodes]
                if self._open is not None and self._open.id not in similarity:
                    candidates.append(self._open)
            else:
                candidates = [e for e in self._episodes.values() if wanted(e)]
            if not candidates:
                return []
            now = self.latest_stamp
            if query is not None:
                for episode in candidates:
                    if episode.id in similarity:
                        continue
                    if episode.closed and episode.id in self._index:
                        similarity[episode.id] = float(self._index.vector(episode.id) @ query)
                    else:
                        similarity[episode.id] = float(self._open_vector(episode) @ query)
            results = []
            wanted_outcome = _outcome_named(text)
            for episode in candidates:
                components = {
                    "recency": math.exp(-max(0.0, now - episode.end) / 86400.0),
                    "retention": episode.retention.value(now) if episode.retention else 1.0,
                }
                if text:
                    components["text_similarity"] = max(0.0, similarity.get(episode.id, 0.0))
                    score = 0.8 * components["text_similarity"] + 0.1 * components["recency"] + 0.1 * components["retention"]
                    if wanted_outcome:
                        # Sentence embeddings barely tell "failed" from "succeeded": the outcome is a field.
                        components["outcome_match"] = float(episode.outcome == wanted_outcome)
                        score = 0.7 * score + 0.3 * components["outcome_match"]
                else:
                    score = 0.7 * components["recency"] + 0.3 * components["retention"]
                results.append((episode, score, components))
            results.sort(key=lambda r: -r[1])
            for episode, _, _ in results[:limit]:
                if episode.retention:
                    episode.retention.reinforce(self.config.retention, now)
                if not episode.closed:
                    episode.summary = summarize(episode)
            return results[:limit]

    def events(self, start: float = -math.inf, end: float = math.inf, kind: str = "") -> list[Event]:
        """Events kept in detail in [start, end] seconds, oldest first."""
        with self._lock:
            found = [ev for e in self._episodes.values() for ev in e.events
                     if start <= ev.stamp <= end and (not kind or ev.kind == kind)]
        return sorted(found, key=lambda ev: ev.stamp)

    def forget(self, episode_ids: list[str] | None = None, older_than_s: float = 0.0) -> list[str]:
        with self._lock:
            chosen = set()
            for episode_id in episode_ids or []:
                if episode_id not in self._episodes:
                    raise UnknownItemError(f"no episode {episode_id!r}")
                chosen.add(episode_id)
            if older_than_s > 0:
                chosen |= {e.id for e in self._episodes.values() if self.latest_stamp - e.end > older_than_s}
            for episode_id in chosen:
                episode = self._episodes.pop(episode_id)
                if self._open is episode:
                    self._open = None
                self._index.remove([episode_id])
            return sorted(chosen)

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able state, arrays) of every episode, its events and its embedding."""
        with self._lock:
            episodes = []
            for e in self._episodes.values():
                episodes.append({
                    "id": e.id, "start": e.start, "end": e.end, "place_counts": dict(e.place_counts),
                    "object_ids": e.object_ids, "event_count": e.event_count, "task": e.task, "outcome": e.outcome,
                    "closed": e.closed, "summary": e.summary,
                    "retention": [e.retention.strength_s, e.retention.reinforced_at] if e.retention else None,
                    "events": [[ev.kind, ev.stamp, ev.text, ev.task, ev.place_id, list(ev.object_ids), ev.id]
                               for ev in e.events],
                })
            indexed = [e.id for e in self._episodes.values() if e.id in self._index]
            vectors = self._index.vectors(indexed)
            state = {
                "episodes": episodes, "indexed": indexed, "open": self._open.id if self._open else "",
                "next_episode": self._next_episode, "next_event": self._next_event,
                "current_room": self._current_room,
                "latest_stamp": self.latest_stamp if math.isfinite(self.latest_stamp) else None,
                "evicted_summary": dict(self.evicted_summary),
            }
            state["index_slots"], graph = self._index.dump()
            return state, {"vectors": vectors, "vector_index": graph}

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Replace every episode with a ``snapshot``."""
        with self._lock:
            self.reset()
            for item in state["episodes"]:
                episode = EpisodeRecord(
                    item["id"], item["start"], item["end"], Counter(item["place_counts"]), list(item["object_ids"]),
                    [Event(k, st, tx, tk, pl, tuple(ob), i) for k, st, tx, tk, pl, ob, i in item["events"]],
                    item["event_count"], item["task"], item["outcome"], item["closed"], item["summary"],
                    Retention(*item["retention"]) if item["retention"] else None)
                self._episodes[episode.id] = episode
            if state["indexed"]:
                self._index.restore(list(state["indexed"]), arrays["vectors"], state.get("index_slots"),
                                    arrays.get("vector_index"))
            self._open = self._episodes.get(state["open"]) if state["open"] else None
            self._next_episode = int(state["next_episode"])
            self._next_event = int(state["next_event"])
            self._current_room = state["current_room"]
            self.latest_stamp = -math.inf if state["latest_stamp"] is None else state["latest_stamp"]
            self.evicted_summary = Counter(state["evicted_summary"])

    def reset(self) -> None:
        with self._lock:
            self._clear()
