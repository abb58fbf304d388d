"""One question, four memories queried in parallel, one ranked list of evidence (RoboMemory).

Each memory turns a free-text question into scored evidence (``*_evidence`` below). ``fan_out``
sends the question to every memory at once, waits until all answered or the deadline passed, and
merges what came back in time; memories that missed the deadline are left out and named. The ask
node runs ``fan_out`` with its ROS service calls as the pending answers; ``InProcessAsk`` runs the
same ``fan_out`` with the providers on a thread pool (one process, no transport).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from memory_nodes.core.changes import ChangeKind
from memory_nodes.core.episodic import EpisodicMemory
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import MEMORY_PRIOR, EvidenceItem, validate_question, with_prior
from memory_nodes.core.semantic import SemanticMemory
from memory_nodes.core.spatial import SpatialMemory
from memory_nodes.core.temporal import TemporalMemory
from memory_nodes.core.text_embedding import TextEncoder, label_similarity

# Identity bookkeeping, not something that happened to a thing.
BOOKKEEPING_CHANGES = frozenset({ChangeKind.MERGED})
CHANGES_SEARCHED = 5000  # the latest changes the temporal memory matches a question against

Provider = Callable[[str, int], list[EvidenceItem]]


def spatial_evidence(memory: SpatialMemory, question: str, limit: int) -> list[EvidenceItem]:
    """Objects whose label matches the question, scored by label match, existence and recency."""
    return [
        with_prior("spatial", node.id, memory.describe(node), score, components)
        for node, score, components in memory.where_is(question, limit)
    ]


def temporal_evidence(memory: TemporalMemory, encoder: TextEncoder | None, question: str, limit: int,
                      min_label_match: float = 0.35, recency_scale_s: float = 3600.0) -> list[EvidenceItem]:
    """Recent changes of things the question names, scored by label match and recency: changes
    whose label matches the question less than ``min_label_match`` are left out; recency falls to
    1/e over ``recency_scale_s`` seconds."""
    changes = memory.changes(limit=CHANGES_SEARCHED)
    if not changes:
        return []
    match = label_similarity(encoder, question, [c.label or c.entity for c in changes])
    now = memory.latest_stamp
    items = []
    for change, label_match in zip(changes, match):
        if label_match < min_label_match or change.kind in BOOKKEEPING_CHANGES:
            continue
        components = {"label_match": float(label_match),
                      "recency": math.exp(-max(0.0, now - change.stamp) / recency_scale_s),
                      "memory_prior": MEMORY_PRIOR["temporal"]}
        x, y, z = change.to_position
        text = (f"{change.label or change.entity} {change.entity} {change.kind.value} at t={change.stamp:.1f}s, "
                f"now at ({x:.2f}, {y:.2f}, {z:.2f})")
        if change.detail:
            text += f" ({change.detail})"
        score = components["memory_prior"] * components["label_match"] * (0.5 + 0.5 * components["recency"])
        items.append(EvidenceItem("temporal", change.id, text, score, components))
    items.sort(key=lambda e: -e.score)
    return items[:limit]


def episodic_evidence(memory: EpisodicMemory, question: str, limit: int) -> list[EvidenceItem]:
    return [
        with_prior("episodic", episode.id, episode.summary, score, components)
        for episode, score, components in memory.recall(text=question, limit=limit)
    ]


def semantic_evidence(memory: SemanticMemory, question: str, limit: int) -> list[EvidenceItem]:
    return [
        with_prior("semantic", fact.id,
                   f"{memory.describe(fact)} (confidence {fact.confidence:.2f}, from {', '.join(fact.sources)})",
                   score, components)
        for fact, score, components in memory.query(text=question, limit=limit)
    ]


class PendingAnswer(Protocol):
    """A memory's answer on its way: a ``concurrent.futures.Future`` or an rclpy service future."""

    def done(self) -> bool: ...

    def add_done_callback(self, callback: Callable[[Any], None]) -> None: ...

    def cancel(self) -> Any: ...


AnswerStarter = Callable[[str, int], PendingAnswer]  # (question, limit) -> the answer on its way
AnswerReader = Callable[[Any], "list[EvidenceItem] | None"]  # a done answer -> its evidence, None if it failed


@dataclass(frozen=True)
class AskResult:
    """Evidence best first (at most the limit), the memories that answered in time (in the order
    asked), those that did not, and the time the fan-out took."""

    evidence: list[EvidenceItem]
    answered: list[str]
    missing: list[str]
    elapsed_ms: float


def fan_out(question: str, limit: int, starters: dict[str, AnswerStarter], read: AnswerReader,
            timeout_s: float) -> AskResult:
    """Start every memory's answer to ``question`` at once, wait until all are done or
    ``timeout_s`` has passed, and merge the evidence of those that answered by score. ``limit``
    must be > 0 (the caller applies its default); ``InvalidInputError`` when no memory is asked."""
    started = time.perf_counter()
    question = validate_question(question, limit)
    if limit <= 0:
        raise InvalidInputError(f"limit must be > 0 here, got {limit}")
    if not starters:
        raise InvalidInputError("no memory is available to answer")
    pending = {memory: start(question, limit) for memory, start in starters.items()}
    remaining = threading.Semaphore(0)
    for answer in pending.values():
        answer.add_done_callback(lambda _answer: remaining.release())
    deadline = started + timeout_s
    for _ in pending:
        if not remaining.acquire(timeout=max(0.0, deadline - time.perf_counter())):
            break
    answered: list[str] = []
    evidence: list[EvidenceItem] = []
    for memory, answer in pending.items():
        items = read(answer) if answer.done() else None
        if items is None:
            answer.cancel()
            continue
        answered.append(memory)
        evidence.extend(items)
    evidence.sort(key=lambda e: -e.score)
    missing = [memory for memory in pending if memory not in answered]
    return AskResult(evidence[:limit], answered, missing, (time.perf_counter() - started) * 1000.0)


def _read_future(answer: Future[list[EvidenceItem]]) -> list[EvidenceItem] | None:
    return None if answer.cancelled() or answer.exception() is not None else answer.result()


class InProcessAsk:
    """``fan_out`` over in-process providers (memory name -> provider) run on a thread pool."""

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

    def ask(self, question: str, limit: int = 10, memories: tuple[str, ...] = ()) -> AskResult:
        """The evidence of the chosen ``memories`` (all if empty) for ``question``."""
        limit = limit or 10
        if self._prepare is not None:
            self._prepare(validate_question(question, limit))
        chosen = [m for m in (memories or tuple(self._providers)) if m in self._providers]
        starters = {memory: self._starter(self._providers[memory]) for memory in chosen}
        return fan_out(question, limit, starters, _read_future, self._timeout_s)

    def _starter(self, provider: Provider) -> AnswerStarter:
        def start(question: str, limit: int) -> Future[list[EvidenceItem]]:
            return self._pool.submit(provider, question, limit)
        return start

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
