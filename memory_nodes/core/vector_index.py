"""A faiss HNSW inner-product index over unit vectors keyed by string ids, with removal.

Why HNSW and not an exact scan: a scan reads every vector for every question. At 100,000 facts
that is 77 MB of float16 per search, 4 ms when the vectors sit in the CPU cache and twice that
after the text encoder has pushed them out, which it does on every question. A graph search
touches a few thousand vectors (under 1 ms) and, with the search breadth below, finds the exact
top ten for sentence embeddings (measured: 4,000 fact sentences among 96,000 random vectors, 100
questions: recall@10 0.98 at breadth 64, 0.993 at 128, 1.000 at 256; the benchmark prints it).
Small indices are searched exhaustively anyway: the breadth exceeds
their size.

Vectors are stored as float16 (faiss scalar quantizer): half the memory of float32 for a
similarity error below 1e-3. HNSW cannot delete, so removed or replaced vectors become tombstones
filtered out of results; when they outnumber the live ones the graph is rebuilt from the live
vectors. Searches use one OpenMP thread: the memories already run in parallel, and two threads
per search on a 2-core machine made a search three times slower under load.
"""

from __future__ import annotations

import threading
from typing import Any

import faiss
import numpy as np

from memory_nodes.core.text_embedding import EMBEDDING_DIM

# Links per graph node; faiss' default build breadth. 32 links keep recall high for 384-d text.
GRAPH_NEIGHBOURS = 32
BUILD_BREADTH = 40
# Candidates kept during a search (faiss efSearch); at least the number of results asked for.
SEARCH_BREADTH = 256
# Tombstones tolerated before a rebuild: more than the live vectors (and at least this many).
MIN_TOMBSTONES_BEFORE_REBUILD = 1024


class VectorIndex:
    """Cosine search (unit vectors, inner product) over items named by string ids.

    ``add`` replaces an id's vector if present. Thread-safe.
    """

    def __init__(self, dim: int = EMBEDDING_DIM, search_breadth: int = SEARCH_BREADTH) -> None:
        faiss.omp_set_num_threads(1)  # see the module's docstring; set when an index is made, not on import
        if search_breadth < 1:
            raise ValueError(f"search_breadth must be >= 1, got {search_breadth}")
        self._dim = dim
        self._search_breadth = search_breadth
        self._lock = threading.Lock()
        self._reset_locked()

    def _reset_locked(self) -> None:
        self._index = faiss.IndexHNSWSQ(self._dim, faiss.ScalarQuantizer.QT_fp16, GRAPH_NEIGHBOURS,
                                        faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = BUILD_BREADTH
        self._key_of_slot: list[str | None] = []  # faiss numbers slots 0, 1, ... in insertion order
        self._slot_of: dict[str, int] = {}
        self._tombstones: set[int] = set()
        self._selector: tuple[Any, Any] | None = None

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: str) -> bool:
        return key in self._slot_of

    @property
    def tombstone_count(self) -> int:
        return len(self._tombstones)

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        """Add or replace (N,) ``keys`` with (N, dim) unit ``vectors``."""
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, self._dim))
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate keys in one add")
        if not keys:
            return
        with self._lock:
            self._remove_locked([k for k in keys if k in self._slot_of])
            first = len(self._key_of_slot)
            self._index.add(vectors)
            for offset, key in enumerate(keys):
                self._key_of_slot.append(key)
                self._slot_of[key] = first + offset

    def remove(self, keys: list[str]) -> None:
        with self._lock:
            self._remove_locked([k for k in keys if k in self._slot_of])

    def _remove_locked(self, keys: list[str]) -> None:
        if not keys:
            return
        for key in keys:
            slot = self._slot_of.pop(key)
            self._key_of_slot[slot] = None
            self._tombstones.add(slot)
        self._selector = None
        if len(self._tombstones) > max(MIN_TOMBSTONES_BEFORE_REBUILD, len(self._slot_of)):
            self._rebuild_locked()

    def _rebuild_locked(self) -> None:
        live = sorted(self._slot_of.items(), key=lambda item: item[1])
        vectors = self._index.reconstruct_batch(np.array([slot for _, slot in live], dtype=np.int64)) if live else None
        self._reset_locked()
        if live:
            self._index.add(vectors)
            keys = [key for key, _ in live]
            self._key_of_slot = list(keys)
            self._slot_of = {key: slot for slot, key in enumerate(keys)}

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` keys most similar to the (dim,) unit ``query``, with cosine similarities."""
        with self._lock:
            if not self._slot_of or k <= 0:
                return []
            k = min(k, len(self._slot_of))
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self._search_breadth, k)
            if self._tombstones:
                if self._selector is None:
                    batch = faiss.IDSelectorBatch(np.fromiter(self._tombstones, dtype=np.int64))
                    self._selector = (faiss.IDSelectorNot(batch), batch)  # faiss keeps no reference to batch
                params.sel = self._selector[0]
            similarities, slots = self._index.search(
                np.asarray(query, dtype=np.float32).reshape(1, self._dim), k, params=params)
            return [(self._key_of_slot[s], float(d)) for d, s in zip(similarities[0].tolist(), slots[0].tolist())
                    if s >= 0 and self._key_of_slot[s] is not None]

    def vector(self, key: str) -> np.ndarray:
        with self._lock:
            vector: np.ndarray = self._index.reconstruct(self._slot_of[key])
            return vector

    def vectors(self, keys: list[str]) -> np.ndarray:
        """(N, dim) float32 vectors of ``keys``, in order."""
        with self._lock:
            slots = np.array([self._slot_of[key] for key in keys], dtype=np.int64)
            if not len(slots):
                return np.zeros((0, self._dim), dtype=np.float32)
            found: np.ndarray = self._index.reconstruct_batch(slots)
            return found

    def clear(self) -> None:
        with self._lock:
            self._reset_locked()

    def dump(self) -> tuple[list[str], np.ndarray]:
        """(the key of every slot, "" for tombstones; the faiss index serialized as uint8), for a
        snapshot: loading it back skips rebuilding the graph, which costs ~0.1 ms per vector."""
        with self._lock:
            return [key or "" for key in self._key_of_slot], faiss.serialize_index(self._index)

    def restore(self, keys: list[str], vectors: np.ndarray, slot_keys: list[str] | None = None,
                data: np.ndarray | None = None) -> None:
        """Replace the contents with ``keys`` and their ``vectors``: from a ``dump`` (``slot_keys``,
        ``data``) when one is given and holds exactly those keys, else by building the graph."""
        if slot_keys is not None and data is not None and set(filter(None, slot_keys)) == set(keys):
            try:
                index = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
            except RuntimeError:
                index = None
            if (isinstance(index, faiss.IndexHNSWSQ) and index.d == self._dim and index.ntotal == len(slot_keys)
                    and sum(1 for key in slot_keys if key) == len(keys)):
                with self._lock:
                    self._reset_locked()
                    self._index = index
                    self._key_of_slot = [key or None for key in slot_keys]
                    self._slot_of = {key: slot for slot, key in enumerate(slot_keys) if key}
                    self._tombstones = {slot for slot, key in enumerate(slot_keys) if not key}
                return
        self.clear()
        self.add(list(keys), vectors)
