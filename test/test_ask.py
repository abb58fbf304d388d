"""Parallel ask: providers run concurrently, late ones are left out and named, ranking is explained."""

from __future__ import annotations

import threading
import time

import pytest

from memory_nodes.ask import EvidenceItem, ParallelAsk, spatial_evidence, semantic_evidence
from memory_nodes.errors import InvalidInputError


def slow_provider(name, delay_s, started):
    def provide(question, limit):
        started.append((name, time.perf_counter(), threading.get_ident()))
        time.sleep(delay_s)
        return [EvidenceItem(name, f"{name}-1", f"{name} knows", 0.5 if name != "semantic" else 0.9, {"x": 1.0})]
    return provide


def test_providers_are_queried_concurrently_and_merged_by_score():
    started = []
    ask = ParallelAsk({m: slow_provider(m, 0.3, started) for m in ("spatial", "temporal", "episodic", "semantic")},
                      timeout_s=5.0)
    answers, answered, elapsed_ms = ask.ask("where is the mug?", limit=10)
    assert answered == ["spatial", "temporal", "episodic", "semantic"]
    assert len({thread for _, _, thread in started}) == 4  # four threads at once
    first, last = min(t for _, t, _ in started), max(t for _, t, _ in started)
    assert last - first < 0.25  # all began before the first one finished its 0.3 s
    assert answers[0].memory == "semantic" and answers[0].components == {"x": 1.0}
    ask.close()


def test_a_memory_missing_the_deadline_is_left_out():
    started = []
    ask = ParallelAsk({"spatial": slow_provider("spatial", 0.0, started),
                       "episodic": slow_provider("episodic", 2.0, started)}, timeout_s=0.3)
    answers, answered, _ = ask.ask("anything", limit=5)
    assert answered == ["spatial"] and [a.memory for a in answers] == ["spatial"]
    ask.close()


def test_a_failing_memory_does_not_sink_the_answer():
    def broken(question, limit):
        raise RuntimeError("index corrupt")
    ask = ParallelAsk({"spatial": slow_provider("spatial", 0.0, []), "semantic": broken}, timeout_s=1.0)
    _, answered, _ = ask.ask("anything")
    assert answered == ["spatial"]
    ask.close()


@pytest.mark.parametrize("question,limit", [("", 5), ("   ", 5), ("x" * 3000, 5), ("ok", -1)])
def test_malformed_questions_are_refused(question, limit):
    ask = ParallelAsk({"spatial": slow_provider("spatial", 0.0, [])})
    with pytest.raises(InvalidInputError):
        ask.ask(question, limit)
    ask.close()


def test_real_memories_give_explained_evidence(encoder):
    import numpy as np

    from memory_nodes.geometry import Pose
    from memory_nodes.semantic_memory import SemanticMemory
    from memory_nodes.spatial_memory import Observation, SpatialMemory

    spatial = SpatialMemory(text_encoder=encoder)
    spatial.integrate([Observation("mug", Pose(np.array([1.0, 1.0, 0.8])), np.array([0.1, 0.1, 0.1]))], 0.0)
    semantic = SemanticMemory(text_encoder=encoder)
    semantic.add_fact("mug", "belongs_to", "alice", stamp=0.0)
    items = spatial_evidence(spatial, "where is the mug", 3) + semantic_evidence(semantic, "whose mug is it", 3)
    assert {i.memory for i in items} == {"spatial", "semantic"}
    for item in items:
        assert "memory_prior" in item.components and "memory_score" in item.components
        assert item.score == pytest.approx(item.components["memory_score"] * item.components["memory_prior"])
