"""The ask fan-out (the one the ask node runs, here over in-process providers): memories answer
concurrently, late or failing ones are left out and named, ranking is explained."""

from __future__ import annotations

import threading
import time

import pytest

from memory_nodes.core.ask import InProcessAsk, fan_out, semantic_evidence, spatial_evidence
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.evidence import EvidenceItem


def slow_provider(name, delay_s, started):
    def provide(question, limit):
        started.append((name, time.perf_counter(), threading.get_ident()))
        time.sleep(delay_s)
        return [EvidenceItem(name, f"{name}-1", f"{name} knows", 0.5 if name != "semantic" else 0.9, {"x": 1.0})]
    return provide


def test_providers_are_queried_concurrently_and_merged_by_score():
    started = []
    ask = InProcessAsk({m: slow_provider(m, 0.3, started) for m in ("spatial", "temporal", "episodic", "semantic")},
                      timeout_s=5.0)
    result = ask.ask("where is the mug?", limit=10)
    answers, answered = result.evidence, result.answered
    assert result.missing == [] and result.elapsed_ms >= 300.0
    assert answered == ["spatial", "temporal", "episodic", "semantic"]
    assert len({thread for _, _, thread in started}) == 4  # four threads at once
    first, last = min(t for _, t, _ in started), max(t for _, t, _ in started)
    assert last - first < 0.25  # all began before the first one finished its 0.3 s
    assert answers[0].memory == "semantic" and answers[0].components == {"x": 1.0}
    ask.close()


def test_a_memory_missing_the_deadline_is_left_out():
    started = []
    ask = InProcessAsk({"spatial": slow_provider("spatial", 0.0, started),
                       "episodic": slow_provider("episodic", 2.0, started)}, timeout_s=0.3)
    result = ask.ask("anything", limit=5)
    assert result.answered == ["spatial"] and [a.memory for a in result.evidence] == ["spatial"]
    assert result.missing == ["episodic"]
    ask.close()


def test_a_failing_memory_does_not_sink_the_answer():
    def broken(question, limit):
        raise RuntimeError("index corrupt")
    ask = InProcessAsk({"spatial": slow_provider("spatial", 0.0, []), "semantic": broken}, timeout_s=1.0)
    assert ask.ask("anything").answered == ["spatial"]
    ask.close()


@pytest.mark.parametrize("question,limit", [("", 5), ("   ", 5), ("x" * 3000, 5), ("ok", -1)])
def test_malformed_questions_are_refused(question, limit):
    ask = InProcessAsk({"spatial": slow_provider("spatial", 0.0, [])})
    with pytest.raises(InvalidInputError):
        ask.ask(question, limit)
    ask.close()


def test_fan_out_reads_each_done_answer_once_and_cancels_the_late_ones():
    """The contract the ask node relies on with rclpy futures: ``read`` sees only done answers,
    a reader that returns None marks the memory as not answered, late answers are cancelled."""
    from concurrent.futures import Future

    futures = {name: Future() for name in ("spatial", "temporal", "semantic")}
    futures["spatial"].set_result([EvidenceItem("spatial", "obj-1", "a mug", 0.4, {})])
    futures["semantic"].set_result(None)  # the memory answered success=false
    result = fan_out("where is the mug?", 5, {m: (lambda q, n, f=f: f) for m, f in futures.items()},
                     lambda future: future.result(), timeout_s=0.2)
    assert result.answered == ["spatial"] and result.missing == ["temporal", "semantic"]
    assert [e.item_id for e in result.evidence] == ["obj-1"]
    assert futures["temporal"].cancelled()
    with pytest.raises(InvalidInputError):
        fan_out("where?", 5, {}, lambda future: [], timeout_s=0.2)


def test_real_memories_give_explained_evidence(encoder):
    import numpy as np

    from memory_nodes.core.geometry import Pose
    from memory_nodes.core.semantic import SemanticMemory
    from memory_nodes.core.spatial import Observation, SpatialConfig, SpatialMemory

    spatial = SpatialMemory(SpatialConfig(confirm_evidence=1.0), text_encoder=encoder)
    spatial.integrate([Observation("mug", Pose(np.array([1.0, 1.0, 0.8])), np.array([0.1, 0.1, 0.1]))], 0.0)
    semantic = SemanticMemory(text_encoder=encoder)
    semantic.add_fact("mug", "belongs_to", "alice", stamp=0.0)
    items = spatial_evidence(spatial, "where is the mug", 3) + semantic_evidence(semantic, "whose mug is it", 3)
    assert {i.memory for i in items} == {"spatial", "semantic"}
    for item in items:
        assert "memory_prior" in item.components and "memory_score" in item.components
        assert item.score == pytest.approx(item.components["memory_score"] * item.components["memory_prior"])
