"""Evidence: one scored item that one memory gives in answer to a question, with the score
components that put it where it ranks. Light on purpose (no numpy): the planner client imports it."""

from __future__ import annotations

from dataclasses import dataclass

from memory_nodes.core.errors import InvalidInputError

MEMORIES = ("spatial", "temporal", "episodic", "semantic")
# How much an item of each memory is worth when scores tie: the current scene graph answers
# "where" first; a past change explains it.
MEMORY_PRIOR = {"spatial": 1.0, "semantic": 0.9, "episodic": 0.85, "temporal": 0.8}
MAX_QUESTION_CHARACTERS = 2000


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence: ``score`` (higher is better) = a combination of ``components``."""

    memory: str
    item_id: str
    text: str
    score: float
    components: dict[str, float]


def validate_question(question: str, limit: int) -> str:
    """The question with its white space normalised; ``InvalidInputError`` when it is empty, too
    long, or ``limit`` is negative."""
    question = " ".join(question.split())
    if not question:
        raise InvalidInputError("the question is empty")
    if len(question) > MAX_QUESTION_CHARACTERS:
        raise InvalidInputError(f"the question is {len(question)} characters; at most {MAX_QUESTION_CHARACTERS}")
    if limit < 0:
        raise InvalidInputError(f"limit must be >= 0, got {limit}")
    return question


def with_prior(memory: str, item_id: str, text: str, score: float, components: dict[str, float]) -> EvidenceItem:
    """Evidence whose score is the memory's own score times the memory's prior (both shown)."""
    components = {**components, "memory_score": float(score), "memory_prior": MEMORY_PRIOR[memory]}
    return EvidenceItem(memory, item_id, text, float(score) * MEMORY_PRIOR[memory], components)
