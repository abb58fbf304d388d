"""Semantic memory: facts, contradictions, confirmations, text search, consolidation."""

from __future__ import annotations

import pytest

from memory_nodes.core.changes import Change
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.semantic import SemanticConfig, SemanticMemory


@pytest.fixture
def memory(encoder):
    return SemanticMemory(SemanticConfig(), encoder)


def test_newer_fact_supersedes_a_contradicting_one_and_keeps_provenance(memory):
    old, _ = memory.add_fact("mug", "is_in", "kitchen", 0.8, "perception", stamp=10.0)
    new, superseded = memory.add_fact("mug", "is_in", "office", 0.8, "planner", stamp=20.0)
    assert superseded == [old.id]
    assert old.superseded and old.superseded_by == new.id and old.sources == ["perception"]
    assert [f.object for f, _, _ in memory.query(subject="mug", predicate="is_in")] == ["office"]
    assert {f.object for f, _, _ in memory.query(subject="mug", include_superseded=True)} == {"kitchen", "office"}
    assert [f.object for f in memory.history("mug", "is_in")] == ["kitchen", "office"]


def test_better_supported_older_fact_wins(memory):
    for k in range(6):
        memory.add_fact("sky", "color", "blue", 0.9, f"observer{k}", stamp=float(k))
    weak, superseded = memory.add_fact("sky", "color", "green", 0.3, "rumour", stamp=100.0)
    assert superseded == [] and weak.superseded
    assert [f.object for f, _, _ in memory.query(subject="sky")] == ["blue"]


def test_non_exclusive_predicates_do_not_contradict(memory):
    memory.add_fact("alice", "likes", "tea", stamp=1.0)
    memory.add_fact("alice", "likes", "coffee", stamp=2.0)
    assert len(memory.query(subject="alice")) == 2


def test_repeating_a_fact_confirms_it(memory):
    first, _ = memory.add_fact("mug", "is_a", "container", 0.5, "a", stamp=1.0)
    again, _ = memory.add_fact("mug", "is_a", "container", 0.5, "b", stamp=2.0)
    assert again is first and first.support == 2 and first.confidence == pytest.approx(0.75)
    assert first.sources == ["a", "b"]


def test_text_search_finds_facts_by_meaning(memory):
    memory.add_fact("mug", "usually_in", "kitchen cupboard", stamp=1.0)
    memory.add_fact("laptop", "belongs_to", "alice", stamp=1.0)
    memory.add_fact("plant", "needs", "water every monday", stamp=1.0)
    best, _score, components = memory.query(text="where are cups kept?")[0]
    assert best.subject == "mug" and components["text_similarity"] > 0.3
    assert memory.query(text="whose computer is this")[0][0].subject == "laptop"
    assert memory.query(text="watering schedule")[0][0].subject == "plant"


def test_invalid_facts_are_rejected(memory):
    for bad in [("", "is_in", "x", 1.0), ("a", "", "x", 1.0), ("a", "is_in", "x", 0.0), ("a", "is_in", "x", float("nan"))]:
        with pytest.raises(InvalidInputError):
            memory.add_fact(*bad)
    assert len(memory) == 0


def test_perception_keeps_object_rooms_current(memory):
    memory.observe_object("obj-2", "mug", "room-kitchen", 10.0)
    superseded = memory.observe_object("obj-2", "mug", "room-office", 20.0)
    assert len(superseded) == 1
    assert [f.object for f, _, _ in memory.query(subject="obj-2", predicate="is_in")] == ["room-office"]
    assert "mug obj-2" in memory.describe(memory.query(subject="obj-2", predicate="is_in")[0][0])


def test_consolidation_learns_where_things_usually_are_and_daily_counts(memory):
    for k in range(4):
        memory.observe_object(f"obj-{k}", "mug", "room-kitchen", float(k))
    memory.observe_object("obj-9", "mug", "room-office", 5.0)
    for stamp, detail in ((100.0, "closed -> open"), (200.0, "open -> closed"), (300.0, "closed -> open")):
        memory.note_change(Change(stamp, "state_changed", "obj-3", "drawer", (1, 4, 0), (1, 4, 0), detail))
    learned = memory.consolidate(stamp=400.0)
    texts = {(f.subject, f.predicate, f.object) for f, _ in learned}
    assert ("mug", "usually_in", "room-kitchen") in texts
    assert ("drawer", "became_open_count_today", "2") in texts
    assert all(f.sources == ["consolidation"] for f, _ in learned)
    assert dict(((f.subject, f.predicate), c) for f, c in learned)[("mug", "usually_in")] == pytest.approx(0.8)


def test_the_consolidation_buffer_survives_a_snapshot(memory, encoder):
    """What consolidation counts is memory state, not node state: a restart keeps it."""
    for stamp in (100.0, 200.0):
        memory.note_change(Change(stamp, "moved", "obj-3", "kettle", (0, 0, 0), (1, 0, 0)))
    restored = SemanticMemory(text_encoder=encoder)
    restored.restore(*memory.snapshot())
    assert ("kettle", "moved_count_today", "2") in {(f.subject, f.predicate, f.object)
                                                     for f, _ in restored.consolidate(stamp=300.0)}


def test_a_merge_change_folds_the_duplicate_in(memory):
    memory.observe_object("obj-5", "mug", "room-office", 5.0)
    memory.note_change(Change(6.0, "merged", "obj-2", "mug", (0, 0, 0), (0, 0, 0), "", merged_id="obj-5"))
    assert memory.query(subject="obj-5") == []
    assert memory.latest_stamp == 6.0


def test_merged_objects_drop_the_duplicate_facts(memory):
    memory.observe_object("obj-5", "mug", "room-office", 5.0)
    memory.merge_entities("obj-2", "obj-5")
    assert memory.query(subject="obj-5") == []


def test_capacity_evicts_superseded_first(encoder):
    memory = SemanticMemory(SemanticConfig(capacity=3), encoder)
    memory.add_fact("mug", "is_in", "kitchen", stamp=1.0)
    memory.add_fact("mug", "is_in", "office", stamp=2.0)
    memory.add_fact("a", "likes", "b", stamp=3.0)
    memory.add_fact("c", "likes", "d", stamp=4.0)
    assert len(memory) == 3
    assert all(not f.superseded for f in memory.all_facts())
