"""Fitting EnCodec's residual vector quantizer (RVQ) on encoder outputs, offline, in seconds.

EnCodec's pretrained weights cannot be downloaded where this companion is built, so the offline tokenizer is
EnCodec's encoder with seeded random weights and RVQ codebooks fitted on the corpus ``train`` split. Two ways
of fitting are implemented and compared once by :func:`compare_methods` (notebook 02):

- ``kmeans``: every codebook fitted in turn on the residual left by the codebooks before it (Algorithm 1 of
  Zeghidour et al. 2021, SoundStream, with k-means as the codebook learner), by Lloyd's k-means in the
  distance-matrix form ``|x|^2 - 2 x c^T + |c|^2``. encodec's own ``core_vq.kmeans`` builds an ``n x K x D``
  difference tensor instead and was measured at 66-80 s per batch on CPU against about 1 s for this form
  (measured here); it also crashes on an empty batch, which :func:`kmeans` refuses clearly.
  Empty clusters are re-seeded with the points worst served by their centroid, so no code is dead.
- ``ema``: encodec's own machinery: the quantizer's forward in train mode (k-means init on the first batch,
  then exponential-moving-average updates and dead-code replacement over the following batches).

Both write the same buffers (``embed``, ``embed_avg``, ``cluster_size``, ``inited``) of encodec's
``EuclideanCodebook``, so the fitted model is a plain EnCodec model and its ``state_dict`` a plain one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from encodec.quantization.vq import ResidualVectorQuantizer

FIT_METHODS: tuple[str, ...] = ("kmeans", "ema")


def sq_distances(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``float64 [N, K]`` between points ``x [N, D]`` and ``centroids [K, D]``.

    Computed in float64 after moving both to the centroids' mean (distances do not change under a common
    shift). Why: the expanded form ``|x|^2 - 2 x c^T + |c|^2`` cancels catastrophically when the points share a
    large offset, as a random-weight encoder's frames do (bias ~0.05, spread ~1e-3 per dimension): in float32 the
    nearest centroid it found agreed with the exact one on 33% of the smoke corpus's frames, so units were
    rounding noise and changed with the CPU's instruction set. Centred float64 keeps the exact nearest centroid
    (99.97% unchanged when frames are perturbed by 1e-6 relative; tests/test_speech_tokens.py).
    """
    c = centroids.double()
    origin = c.mean(0, keepdim=True)
    xc, cc = x.double() - origin, c - origin
    return (xc.pow(2).sum(1, keepdim=True) - 2.0 * xc @ cc.T + cc.pow(2).sum(1)[None, :]).clamp_min(0)


def assign(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
    """Index of the nearest centroid for each row of ``x [N, D]`` -> ``LongTensor [N]`` (chunked, low memory;
    exact ties go to the smallest index)."""
    if len(x) == 0:
        return torch.empty(0, dtype=torch.long)
    return torch.cat([sq_distances(x[i : i + chunk], centroids).argmin(1) for i in range(0, len(x), chunk)])


def rvq_encode(quantizer: ResidualVectorQuantizer, frames: torch.Tensor, n_q: int) -> torch.Tensor:
    """Residual quantization of ``frames [N, D]`` with the first ``n_q`` codebooks -> codes ``LongTensor [n_q, N]``.

    The same algorithm as encodec's ``ResidualVectorQuantization.encode`` (nearest code, subtract, next
    codebook), with :func:`assign`'s exact distances instead of encodec's float32 expanded form (see
    :func:`sq_distances` for why); the residual is carried in float64.
    """
    residual = frames.double().clone()
    out = []
    for layer in quantizer.vq.layers[:n_q]:
        codebook: Any = layer._codebook  # encodec's EuclideanCodebook
        book = codebook.embed.detach()  # [bins, D]
        idx = assign(residual, book)
        residual -= book.double()[idx]
        out.append(idx)
    return torch.stack(out) if out else torch.empty(0, len(frames), dtype=torch.long)


def kmeans(
    x: torch.Tensor, k: int, *, iters: int = 20, seed: int = 0, chunk: int = 16384
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means in distance-matrix form: ``x [N, D]`` -> ``(centroids [k, D], counts LongTensor [k])``.

    Initialised with ``k`` distinct random points (seeded); after each assignment an empty cluster is re-seeded
    with the point farthest from its centroid, so every code is used on the fitting data. With fewer distinct
    points than ``k`` the spare centroids duplicate points (they simply stay unused).
    """
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"kmeans needs a non-empty [N, D] matrix, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("kmeans: the data hold NaN or inf")
    x = x.double()  # why: float32 sums of offset frames differ in the last bits between CPUs (sq_distances)
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    start = torch.randperm(n, generator=gen)[:k] if n >= k else torch.randint(0, n, (k,), generator=gen)
    centroids = x[start].clone()
    counts = torch.zeros(k, dtype=torch.long)
    for _ in range(iters):
        labels = assign(x, centroids, chunk)
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None].double()
        empty = torch.nonzero(~filled).flatten()
        if len(empty):
            # why: a dead code wastes a vocabulary entry; the worst-served points are where one is needed
            err = (x - centroids[labels]).pow(2).sum(1)
            worst = torch.topk(err, min(len(empty), n)).indices
            centroids[empty[: len(worst)]] = x[worst]
    labels = assign(x, centroids, chunk)
    return centroids.float(), torch.bincount(labels, minlength=k)


def _set_codebook(layer: torch.nn.Module, centroids: torch.Tensor, counts: torch.Tensor) -> None:
    book: Any = layer._codebook  # encodec's EuclideanCodebook
    book.embed.data.copy_(centroids)
    book.embed_avg.data.copy_(centroids)
    book.cluster_size.data.copy_(counts.float())
    book.inited.data.fill_(1.0)


def fit_rvq_kmeans(
    quantizer: ResidualVectorQuantizer,
    frames: torch.Tensor,
    *,
    n_q: int,
    iters: int = 20,
    seed: int = 0,
) -> list[int]:
    """Fit the first ``n_q`` codebooks of ``quantizer`` on encoder frames ``[N, D]`` by residual k-means.

    Returns the number of codes used on the fitting frames, per codebook.
    """
    if n_q > quantizer.n_q:
        raise ValueError(f"n_q={n_q} exceeds the quantizer's {quantizer.n_q} codebooks")
    residual = frames.double().clone()
    used = []
    for q, layer in enumerate(quantizer.vq.layers[:n_q]):
        centroids, counts = kmeans(residual, quantizer.bins, iters=iters, seed=seed + q)
        _set_codebook(layer, centroids, counts)
        residual -= centroids.double()[assign(residual, centroids)]
        used.append(int((counts > 0).sum()))
    return used


def fit_rvq_ema(
    quantizer: ResidualVectorQuantizer,
    frames: torch.Tensor,
    *,
    n_q: int,
    batch_frames: int = 8192,
    epochs: int = 2,
    seed: int = 0,
) -> list[int]:
    """Fit with encodec's own train-mode forward (k-means init on the first batch, then EMA + dead-code
    replacement). The init k-means is swapped for :func:`kmeans` (the same Lloyd iterations; encodec's
    ``n x K x D`` form took 66-80 s per batch on CPU, measured here).

    ``frames [N, D]``; returns the number of codes used on the fitting frames, per codebook.
    """
    import encodec.quantization.core_vq as core_vq

    gen = torch.Generator().manual_seed(seed)
    original = core_vq.kmeans
    core_vq.kmeans = lambda samples, num_clusters, num_iters=10: kmeans(
        samples, num_clusters, iters=num_iters, seed=seed
    )
    try:
        quantizer.train()
        for _ in range(epochs):
            order = torch.randperm(len(frames), generator=gen)
            for i in range(0, len(frames), batch_frames):
                batch = frames[order[i : i + batch_frames]]
                if len(batch) == 0:  # encodec's dead-code replacement crashes on an empty batch
                    continue
                quantizer.vq(batch.T[None].float(), n_q=n_q)  # [1, D, N]
    finally:
        core_vq.kmeans = original
        quantizer.eval()
    return [int(torch.unique(c).numel()) for c in rvq_encode(quantizer, frames, n_q)]


def fit_quantizer(
    quantizer: ResidualVectorQuantizer, frames: torch.Tensor, *, method: str, n_q: int, iters: int, seed: int
) -> list[int]:
    """Dispatch to :func:`fit_rvq_kmeans` or :func:`fit_rvq_ema`; ``frames [N, D]`` of the ``train`` split."""
    if method == "kmeans":
        return fit_rvq_kmeans(quantizer, frames, n_q=n_q, iters=iters, seed=seed)
    if method == "ema":
        return fit_rvq_ema(quantizer, frames, n_q=n_q, seed=seed)
    raise ValueError(f"unknown fit method {method!r}; choose one of {FIT_METHODS}")


def quantization_error(quantizer: ResidualVectorQuantizer, frames: torch.Tensor, n_q: int) -> float:
    """Relative squared error ``|x - Q(x)|^2 / |x - mean|^2`` of ``frames [N, D]`` after ``n_q`` codebooks."""
    x = frames.T[None].float()
    recon = quantizer.vq.decode(rvq_encode(quantizer, frames, n_q)[:, None])
    return float((x - recon).pow(2).sum() / (x - x.mean(2, keepdim=True)).pow(2).sum())


def subsample_frames(per_clip: Sequence[torch.Tensor], max_frames: int, seed: int) -> torch.Tensor:
    """Stack clips' frames ``[T_i, D]`` into ``[N, D]``, keeping at most ``max_frames`` (seeded uniform draw)."""
    frames = torch.cat(list(per_clip))
    if len(frames) > max_frames:
        gen = torch.Generator().manual_seed(seed)
        frames = frames[torch.randperm(len(frames), generator=gen)[:max_frames].sort().values]
    return frames
