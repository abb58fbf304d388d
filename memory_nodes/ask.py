"""One question, four memories queried in parallel, one ranked list of evidence (RoboMemory).

Each memory turns a free-text question into scored evidence items whose score components say
why they rank where they do. ``ParallelAsk`` runs the providers concurrently with a deadline and
merges what came back in time; memories that missed the deadline are left out and named.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass


from .episodic_memory import EpisodicMemory
from .errors import InvalidInputError
from .semantic_memory import SemanticMemory
from .spatial_memory import SpatialMemory
from .temporal_memory import TemporalMemory
from .text_embedding import TextEncoder, label_similarity

MEMORIES = ("spatial", "temporal", "episodic", "semantic")
# How much an item of each memory is worth when scores tie: the current scene graph answers
# "where" first; a past change explains it.
MEMORY_PRIOR = {"spatial": 1.0, "semantic": 0.9, "episodic": 0.85, "temporal": 0.8}
BOOKKEEPING_CHANGES = ("merged",)


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence: ``score`` (higher is better) = a combination of ``components``."""

    memory: str
    item_id: str
    text: str
    score: float
    components: dict[str, float]


Provider = Callable[[str, int], list[EvidenceItem]]


def validate_question(question: str, limit: int) -> str:
    question = " ".join(question.split())
    if not question:
        raise InvalidInputError("the question is empty")
    if len(question) > 2000:
        raise InvalidInputError(f"the question is {len(question)} characters; at most 2000")
    if limit < 0:
        raise InvalidInputError(f"limit must be >= 0, got {limit}")
    return question


def _item(memory: str, item_id: str, text: str, score: float, components: dict[str, float]) -> EvidenceItem:
    """Evidence whose score is the memory's own score times the memory's prior (both shown)."""
    components = {**components, "memory_score": float(score), "memory_prior": MEMORY_PRIOR[memory]}
    return EvidenceItem(memory, item_id, text, float(score) * MEMORY_PRIOR[memory], components)


def spatial_evidence(memory: SpatialMemory, question: str, limit: int) -> list[EvidenceItem]:
    """Objects whose label matches the question, scored by label match, existence and recency."""
    return [
        _item("spatial", node.id, memory.describe(node), score, components)
        for node, score, components in memory.where_is(question, limit)
    ]


def temporal_evidence(memory: TemporalMemory, encoder: TextEncoder | None, question: str,
                      limit: int) -> list[EvidenceItem]:
    """Recent changes of things the question names, scored by label match and recency."""
    changes = memory.changes(limit=5000)
    if not changes:
        return []
    match = label_similarity(encoder, question, [c.label or c.entity for c in changes])
    now = memory.latest_stamp
    items = []
    for change, label_match in zip(changes, match):
        if label_match < 0.35 or change.kind in BOOKKEEPING_CHANGES:
            continue
        components = {"label_match": float(label_match), "recency": math.exp(-max(0.0, now - change.stamp) / 3600.0),
                      "memory_prior": MEMORY_PRIOR["temporal"]}
        x, y, z = change.to_position
        text = f"{change.label or change.entity} {change.entity} {change.kind} at t={change.stamp:.1f}s, now at ({x:.2f}, {y:.2f}, {z:.2f})"
        if change.detail:
            text += f" ({change.detail})"
        score = components["memory_prior"] * components["label_match"] * (0.5 + 0.5 * components["recency"])
        items.append(EvidenceItem("temporal", change.id, text, score, components))
    items.sort(key=lambda e: -e.score)
    return items[:limit]


def episodic_evidence(memory: EpisodicMemory, question: str, limit: int) -> list[EvidenceItem]:
    return [
        _item("episodic", episode.id, episode.summary, score, components)
        for episode, score, components in memory.recall(text=question, limit=limit)
    ]


def semantic_evidence(memory: SemanticMemory, question: str, limit: int) -> list[EvidenceItem]:
    return [
        _item("semantic", fact.id, f"{memory.describe(fact)} (confidence {fact.confidence:.2f}, from {', '.join(fact.sources)})",
              score, components)
        for fact, score, components in memory.query(text=question, limit=limit)
    ]


class ParallelAsk:
    """Fans a question out to ``providers`` (memory name -> provider) on a thread pool."""

    def __init__(self, providers: dict[str, Provider], timeout_s: float = 1.0, max_workers: int = 4,
                 prepare: Callable[[str], object] | None = None) -> None:
        """``prepare(question)`` runs once before the fan-out, e.g. the text encoder's
        ``encode_cached``, so the providers find the question's embedding cached instead of each
        computing it."""
        if not timeout_s > 0:
            raise InvalidInputError(f"timeout_s must be > 0, got {timeout_s}")
        self._providers = providers
        self._prepare = prepare
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ask")

    def ask(self, question: str, limit: int = 10, memories: tuple[str, ...] = ()) -> tuple[list[EvidenceItem], list[str], float]:
        """(evidence best first, names of the memories that answered in time, elapsed ms)."""
        question = validate_question(question, limit)
        limit = limit or 10
        chosen = [m for m in (memories or tuple(self._providers)) if m in self._providers]
        started = time.perf_counter()
        if self._prepare is not None:
            self._prepare(question)
        futures = {self._pool.submit(self._providers[m], question, limit): m for m in chosen}
        done, _ = wait(futures, timeout=self._timeout_s)
        answered, evidence = [], []
        for future in done:
            if future.exception() is None:
                answered.append(futures[future])
                evidence.extend(future.result())
        evidence.sort(key=lambda e: -e.score)
        ordered = [m for m in chosen if m in answered]
        return evidence[:limit], ordered, (time.perf_counter() - started) * 1000.0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

