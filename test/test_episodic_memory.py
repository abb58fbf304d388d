"""Episodic memory: segmentation into episodes and recall by text, time, place and object."""

from __future__ import annotations

import pytest

from memory_nodes.core.changes import Change
from memory_nodes.core.episodic import EpisodicConfig, EpisodicMemory, Event
from memory_nodes.core.errors import InvalidInputError, UnknownItemError


@pytest.fixture
def memory(encoder):
    return EpisodicMemory(EpisodicConfig(episode_gap_s=60.0), encoder)


def test_time_gap_starts_a_new_episode(memory):
    _, first = memory.add_event(Event("appeared", 0.0, "mug appeared", object_ids=("obj-1",)))
    _, same = memory.add_event(Event("moved", 30.0, "mug moved", object_ids=("obj-1",)))
    _, later = memory.add_event(Event("appeared", 200.0, "apple appeared", object_ids=("obj-2",)))
    assert first == same != later
    assert memory.get(first).closed and memory.get(first).event_count == 2


def test_task_boundaries_open_and_close_episodes(memory):
    _, before = memory.add_event(Event("note", 0.0, "idle"))
    _, task = memory.add_event(Event("task_started", 5.0, "fetch the mug", task="fetch mug"))
    _, inside = memory.add_event(Event("moved", 8.0, "mug moved", object_ids=("obj-1",)))
    _, done = memory.add_event(Event("task_succeeded", 12.0, "", task="fetch mug"))
    _, after = memory.add_event(Event("note", 13.0, "idle again"))
    assert before != task and task == inside == done and after != task
    episode = memory.get(task)
    assert episode.task == "fetch mug" and episode.outcome == "succeeded" and episode.closed
    assert episode.object_ids == ["obj-1"]
    with pytest.raises(InvalidInputError):
        memory.add_event(Event("task_started", 20.0, "no name"))


def test_room_change_ends_an_episode_outside_a_task(memory):
    _, kitchen = memory.add_event(Event("appeared", 0.0, "mug appeared"), room_id="room-kitchen")
    _, office = memory.add_event(Event("appeared", 5.0, "laptop appeared"), room_id="room-office")
    assert kitchen != office


def test_recall_by_text_time_place_and_object(memory):
    memory.add_event(Event("task_started", 0.0, "make coffee", task="coffee", place_id="room-kitchen"))
    memory.add_event(Event("state_changed", 3.0, "coffee machine turned on", place_id="room-kitchen",
                           object_ids=("obj-3",)))
    memory.add_event(Event("task_succeeded", 9.0, "coffee is ready", task="coffee"))
    memory.add_event(Event("task_started", 500.0, "charge the laptop", task="charge", place_id="room-office"))
    memory.add_event(Event("task_failed", 510.0, "the charger is missing", task="charge", object_ids=("obj-7",)))
    best, _score, components = memory.recall("when did I make a hot drink?")[0]
    assert best.task == "coffee" and components["text_similarity"] > 0.2
    assert memory.recall("charger problem")[0][0].task == "charge"
    assert [e.task for e, _, _ in memory.recall(start=400.0)] == ["charge"]
    assert [e.task for e, _, _ in memory.recall(place_ids={"room-kitchen"})] == ["coffee"]
    assert [e.task for e, _, _ in memory.recall(object_id="obj-7")] == ["charge"]
    assert "charger is missing" in memory.recall(object_id="obj-7")[0][0].summary


def test_capacity_keeps_the_most_retained_episodes(encoder):
    memory = EpisodicMemory(EpisodicConfig(episode_gap_s=1.0, capacity=3), encoder)
    for k in range(6):
        memory.add_event(Event("note", 10.0 * k, f"note {k}"))
    assert len(memory) <= 3 + 1  # the open episode is never evicted
    assert sum(memory.evicted_summary.values()) >= 2


def test_forget_and_unknown_ids(memory):
    _, episode = memory.add_event(Event("note", 0.0, "something"))
    assert memory.forget([episode]) == [episode]
    with pytest.raises(UnknownItemError):
        memory.get(episode)


def test_the_open_episode_is_embedded_once_per_meaning_not_per_question(encoder):
    class CountingEncoder:
        def __init__(self):
            self.texts = []

        def encode(self, text):
            self.texts.append(text)
            return encoder.encode(text)

        def encode_cached(self, text):
            return encoder.encode_cached(text)

    counting = CountingEncoder()
    memory = EpisodicMemory(EpisodicConfig(episode_gap_s=60.0), counting)
    for k in range(5):
        memory.add_event(Event("seen", float(k), "mug on the table"))  # only the span and count change
        assert memory.recall("where was the mug?")[0][0].summary.startswith("Episode from t=0.0s")
    assert len(counting.texts) == 1
    memory.add_event(Event("moved", 6.0, "the mug went to the sink"))
    hits = memory.recall("what went to the sink?")
    assert len(counting.texts) == 2 and "sink" in counting.texts[-1]
    assert hits[0][2]["text_similarity"] > 0.4


def test_changes_are_narrated_in_the_room_the_robot_entered_which_survives_a_restart(memory, encoder):
    memory.note_change(Change(10.0, "entered_room", "room-kitchen", "robot", (0, 0, 0), (0, 0, 0)))
    _, episode_id = memory.note_change(Change(11.0, "moved", "obj-3", "mug", (0, 0, 0), (1, 0, 0), "tracked"))
    assert memory.current_room == "room-kitchen"
    event = memory.get(episode_id).events[-1]
    assert event.place_id == "room-kitchen" and event.object_ids == ("obj-3",) and "mug obj-3 moved" in event.text
    restored = EpisodicMemory(text_encoder=encoder)
    restored.restore(*memory.snapshot())
    assert restored.current_room == "room-kitchen"
