"""The speech codecs: building them, loading pretrained EnCodec, the safetensors artifact, encoding and decoding.

``codes: LongTensor [n_q, T]`` per clip at 75 Hz (24 kHz audio, hop 320 samples): ``T = ceil(samples / 320)``.

Three codecs, one artifact format and one way into the LLM:

- ``trained`` (offline default): the spectral RVQ autoencoder trained here on the corpus
  (:mod:`aligncap_lib.tokens.spectral_codec`);
- ``pretrained`` (``paper``): EnCodec 24 kHz (``encodec_24khz-d7cc33bc.th``) found locally, in the torch hub
  cache (``$TORCH_HOME/hub/checkpoints``) or at an explicit path; its sha256 must start with the 8 hex digits
  after the ``-`` in the file name, the check encodec's own ``_get_pretrained`` makes (a corrupted file is refused);
- ``random`` (the baseline notebook 02 compares against): EnCodec's architecture with seeded random weights and RVQ
  codebooks fitted on the corpus (:mod:`aligncap_lib.tokens.codebook_fitting`); it keeps energy and little else.

Each is saved as an artifact: the full ``state_dict`` in safetensors (random weights included, since torch versions
may initialise differently), with the architecture (its ``kind``) in the file's metadata, so :func:`load_artifact`
rebuilds exactly the codec that made the tokens. Every codec exposes encodec's ``ResidualVectorQuantizer`` as
``model.quantizer``; codes are its exact nearest-code assignment of the encoder frames (:func:`quantize`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from encodec import EncodecModel

from aligncap_lib.core.reproducibility import sha256_file
from aligncap_lib.tokens import spectral_codec
from aligncap_lib.tokens.codebook_fitting import rvq_encode
from aligncap_lib.tokens.spectral_codec import SpectralCodec

Codec = EncodecModel | SpectralCodec

SAMPLE_RATE = 24_000
HOP = 320  # product of SEANet's ratios (8, 5, 4, 2)
FRAME_RATE = SAMPLE_RATE / HOP  # 75 Hz
PRETRAINED_NAME = "encodec_24khz-d7cc33bc.th"
DIMENSION = 128


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # encodec builds its convolutions with torch.nn.utils.weight_norm, deprecated since torch 2.1: the
    # FutureWarning would land in notebook stderr on every build
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def build_codec(*, n_q: int, bins: int, encoder_filters: int = 32, seed: int = 0) -> EncodecModel:
    """An EnCodec 24 kHz model (causal SEANet, weight norm, no audio normalisation) with ``n_q`` codebooks of
    ``bins`` codes and ``encoder_filters`` base channels (EnCodec's own: 32, 1,024 bins, 32 codebooks).

    Weights are drawn from ``torch.manual_seed(seed)``; the codebooks are empty until fitted or loaded.
    """
    from encodec import modules as m
    from encodec.quantization import ResidualVectorQuantizer

    if bins & (bins - 1) or bins < 2:
        raise ValueError(f"bins must be a power of 2 (EnCodec's bit packing), got {bins}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with _quiet():
            kw: dict[str, Any] = {
                "channels": 1,
                "norm": "weight_norm",
                "causal": True,
                "n_filters": encoder_filters,
            }
            encoder, decoder = m.SEANetEncoder(**kw), m.SEANetDecoder(**kw)
            quantizer = ResidualVectorQuantizer(dimension=DIMENSION, n_q=n_q, bins=bins)
    finally:
        torch.random.set_rng_state(gen_state)  # building a codec must not shift the caller's random stream
    bandwidth = n_q * math.log2(bins) * FRAME_RATE / 1000
    model = EncodecModel(encoder, decoder, quantizer, [bandwidth], SAMPLE_RATE, 1, name="aligncap_encodec")
    return model.eval()


def find_pretrained(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The pretrained EnCodec 24 kHz checkpoint: ``path`` (a file or a folder holding it), else the torch hub
    cache; None when absent."""
    candidates = []
    if path is not None:
        p = Path(path)
        candidates.append(p / PRETRAINED_NAME if p.is_dir() else p)
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / PRETRAINED_NAME)
    return next((c for c in candidates if c.is_file()), None)


def load_pretrained(path: str | os.PathLike[str]) -> EncodecModel:
    """Pretrained EnCodec 24 kHz from a local ``encodec_24khz-<sha8>.th`` (32 codebooks of 1,024 codes).

    The file's sha256 must start with the hex digits after the last ``-`` of its stem, as encodec checks;
    raises ``ValueError`` naming the file otherwise.
    """
    p = Path(path)
    expected = p.stem.rsplit("-", 1)[-1] if "-" in p.stem else ""
    if not expected or any(ch not in "0123456789abcdef" for ch in expected):
        raise ValueError(
            f"{p}: a pretrained checkpoint's name must end in -<sha256 prefix>.th (as encodec's)"
        )
    actual = sha256_file(p)[: len(expected)]
    if actual != expected:
        raise ValueError(
            f"{p}: checksum mismatch (expected sha256 prefix {expected}, got {actual}); re-download"
        )
    model = build_codec(n_q=32, bins=1024, encoder_filters=32)
    state = torch.load(p, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def architecture(model: Codec) -> dict[str, Any]:
    """What :func:`build_from_architecture` needs to rebuild ``model``'s shapes, its ``kind`` included."""
    if isinstance(model, SpectralCodec):
        return {"kind": "spectral", **model.arch}
    q = model.quantizer
    return {
        "kind": "encodec",
        "n_q": int(q.n_q),
        "bins": int(q.bins),
        "encoder_filters": int(model.encoder.n_filters),
    }


def build_from_architecture(arch: dict[str, Any]) -> Codec:
    """An untrained codec of the shapes :func:`architecture` recorded (``kind`` "encodec" when absent)."""
    arch = dict(arch)
    kind = arch.pop("kind", "encodec")
    if kind == "spectral":
        return spectral_codec.build(**arch)
    if kind == "encodec":
        return build_codec(**arch)
    raise ValueError(f"unknown codec kind {kind!r} (expected 'spectral' or 'encodec')")


def save_artifact(model: Codec, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> str:
    """Write the full ``state_dict`` as safetensors (architecture and ``extra`` in its metadata); returns the
    file's sha256, the tokenizer's identity in the token cache."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"architecture": json.dumps(architecture(model)), "extra": json.dumps(extra or {}, sort_keys=True)}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(p), metadata=meta)
    return sha256_file(p)


def load_artifact(path: str | os.PathLike[str], sha256: str | None = None) -> tuple[Codec, dict[str, Any]]:
    """Rebuild the codec saved by :func:`save_artifact`; returns ``(model, extra)``. With ``sha256`` the
    file must match it (``ValueError`` otherwise)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(path)
    if sha256 is not None and sha256_file(p) != sha256:
        raise ValueError(
            f"{p}: sha256 differs from the recorded {sha256[:12]}... (file changed or corrupted)"
        )
    with safe_open(str(p), framework="pt") as f:
        meta = f.metadata() or {}
    if "architecture" not in meta:
        raise ValueError(f"{p}: not an aligncap codec artifact (no architecture metadata)")
    model = build_from_architecture(json.loads(meta["architecture"]))
    model.load_state_dict(load_file(str(p)))
    return model.eval(), json.loads(meta.get("extra", "{}"))


def n_frames(samples: int) -> int:
    """Frames of a clip of ``samples`` at 24 kHz: ``ceil(samples / 320)``."""
    return -(-int(samples) // HOP)


#: Intra-op threads of every encoder and quantizer call, whatever the caller's setting. Why: the convolutions'
#: sums run in another order with another thread count; frames moved by up to 2.3e-7 between 1 and 2 threads on
#: the smoke corpus, and where codebooks hold (near-)duplicate centroids that flipped the units of every clip
#: tested (12 of 12). Pinned, a clip's units depend on the codec and the audio only (on one CPU architecture;
#: other instruction sets were not tested). 2: the count every committed token was made with.
ENCODER_THREADS = 2


@contextlib.contextmanager
def _fast_cpu() -> Iterator[None]:
    # why: a random-weight encoder drives many activations into denormal floats, which halved CPU speed
    threads = torch.get_num_threads()
    torch.set_num_threads(ENCODER_THREADS)
    torch.set_flush_denormal(True)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


def embed(model: Codec, waves: list[np.ndarray]) -> list[torch.Tensor]:
    """Encoder outputs, one ``FloatTensor [T_i, D]`` per wave (mono float ``[samples]`` at 24 kHz; D = 128 for
    EnCodec, the latent width for the spectral codec).

    Each wave is encoded alone, so a clip's frames never depend on the other clips of a call. Why not one
    zero-padded batch: SEANet's convolutions reflect-pad the end of their input, so a clip padded inside a batch
    ends on zeros instead of its own reflection; its last frames moved by up to 1e-4 (an eighth of a frame
    dimension's spread on the cpu corpus), and with near-tied centroids about a third of its codebook-0 units
    flipped between encoding alone and in a batch of 4. Batching bought only 15% (55x vs 47x real
    time on the cpu corpus, 2 threads).
    """
    out = []
    with _fast_cpu():
        for w in waves:
            if isinstance(model, SpectralCodec):
                emb = model.latent(spectral_codec.log_spectrogram(w)[None])  # [1, D, T]
            else:
                x = torch.from_numpy(np.asarray(w, dtype=np.float32)).reshape(1, 1, -1)
                emb = model.encoder(x)  # [1, 128, T]
            out.append(emb[0, :, : n_frames(len(w))].T.clone())
    return out


def quantize(model: Codec, frames: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
    """Encoder frames ``[T, D]`` -> codes ``LongTensor [n_q, T]``: the exact nearest code per codebook
    (:func:`codebook_fitting.rvq_encode`; encodec's own float32 encode lost it on offset frames)."""
    with _fast_cpu():
        return rvq_encode(model.quantizer, frames, n_q or model.quantizer.n_q)


def encode(model: Codec, waves: list[np.ndarray], n_q: int | None = None) -> list[torch.Tensor]:
    """Mono 24 kHz waves -> codes ``LongTensor [n_q, T_i]`` at 75 Hz, one per wave (ragged batch).

    For an equal-length batch ``torch.stack`` gives the ``[B, n_q, T]`` of EnCodec's ``encode``.
    """
    return [quantize(model, f, n_q) for f in embed(model, waves)]


def decode(model: Codec, codes: torch.Tensor) -> np.ndarray:
    """Codes ``LongTensor [n_q, T]`` (the first codebooks, any number) -> mono float32 wave ``[320 T]`` at 24 kHz.

    The trained spectral codec decodes to a 0-4 kHz log-magnitude and takes its phase from Griffin-Lim; pretrained
    EnCodec decodes the waveform; the random-weight decoder was never trained and returns noise of the codes'
    rhythm."""
    with _fast_cpu():
        emb = model.quantizer.vq.decode(codes[:, None].long())  # [1, D, T]
        if isinstance(model, SpectralCodec):
            return spectral_codec.griffin_lim(model.reconstruct(emb)[0])
        wave = model.decoder(emb)[0, 0]
    return wave.numpy().astype(np.float32)
