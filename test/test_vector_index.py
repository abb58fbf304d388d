"""The text index: graph search against an exact scan, removal, replacement, rebuild, dump/restore."""

import numpy as np
import pytest

from memory_nodes.core import vector_index
from memory_nodes.core.vector_index import VectorIndex

DIM = 32


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    # Clustered like sentence embeddings of related facts (the same 20 topics for every seed).
    centres = np.random.default_rng(0).normal(size=(20, DIM))
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, 20, count)] + 0.4 * rng.normal(size=(count, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1)[:, None]).astype(np.float32)


def exact_top(vectors: np.ndarray, keys: list[str], query: np.ndarray, k: int) -> list[str]:
    return [keys[i] for i in np.argsort(-(vectors @ query))[:k]]


def test_graph_search_finds_the_exact_neighbours():
    vectors = unit_vectors(5000)
    keys = [f"k{i}" for i in range(len(vectors))]
    index = VectorIndex(DIM)
    index.add(keys, vectors)
    queries = unit_vectors(40, seed=1)
    found = [len({key for key, _ in index.search(q, 10)} & set(exact_top(vectors, keys, q, 10))) / 10 for q in queries]
    assert np.mean(found) >= 0.95
    key, similarity = index.search(vectors[17], 1)[0]
    assert key == "k17" and similarity == pytest.approx(1.0, abs=1e-3)


def test_removed_and_replaced_vectors_never_come_back():
    vectors = unit_vectors(300)
    keys = [f"k{i}" for i in range(300)]
    index = VectorIndex(DIM)
    index.add(keys, vectors)
    index.remove(["k5", "k6", "unknown"])
    assert len(index) == 298 and "k5" not in index and index.tombstone_count == 2
    assert "k5" not in {key for key, _ in index.search(vectors[5], 50)}
    index.add(["k7"], vectors[100:101])  # k7 now points where k100 does
    hits = dict(index.search(vectors[7], 300))
    assert hits.get("k7", 0.0) < 0.999 and len(hits) == 298
    np.testing.assert_allclose(index.vector("k7"), vectors[100], atol=1e-3)
    assert index.search(vectors[0], 0) == [] and len(index.search(vectors[0], 10_000)) == 298


def test_many_removals_rebuild_the_graph_with_the_live_vectors(monkeypatch):
    monkeypatch.setattr(vector_index, "MIN_TOMBSTONES_BEFORE_REBUILD", 10)
    vectors = unit_vectors(200)
    keys = [f"k{i}" for i in range(200)]
    index = VectorIndex(DIM)
    index.add(keys, vectors)
    index.remove(keys[:150])
    assert index.tombstone_count == 0 and len(index) == 50  # rebuilt: no tombstones left
    assert [key for key, _ in index.search(vectors[160], 1)] == ["k160"]
    np.testing.assert_allclose(index.vectors(["k199", "k150"]), vectors[[199, 150]], atol=1e-3)


def test_dump_restores_the_same_answers_and_falls_back_to_the_vectors():
    vectors = unit_vectors(400)
    keys = [f"k{i}" for i in range(400)]
    index = VectorIndex(DIM)
    index.add(keys, vectors)
    index.remove(["k3"])
    live = [key for key in keys if key != "k3"]
    slot_keys, data = index.dump()
    restored = VectorIndex(DIM)
    restored.restore(live, index.vectors(live), slot_keys, data)
    assert restored.tombstone_count == 1  # the graph came from the dump, not rebuilt
    assert restored.search(vectors[9], 5) == index.search(vectors[9], 5)
    # A dump that does not hold exactly the keys (an edited export, a truncated file) is not used.
    rebuilt = VectorIndex(DIM)
    rebuilt.restore(live[:-1], index.vectors(live[:-1]), slot_keys, data)
    assert len(rebuilt) == 398 and rebuilt.tombstone_count == 0
    garbled = VectorIndex(DIM)
    garbled.restore(live, index.vectors(live), slot_keys, np.frombuffer(b"not a faiss index", dtype=np.uint8))
    assert len(garbled) == 399 and garbled.search(vectors[9], 1)[0][0] == "k9"


def test_bad_adds_are_refused():
    index = VectorIndex(DIM)
    with pytest.raises(ValueError):
        index.add(["a", "b"], unit_vectors(1))
    with pytest.raises(ValueError):
        index.add(["a", "a"], unit_vectors(2))
    assert len(index) == 0
