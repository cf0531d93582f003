"""How speech tokens enter the LLM: speech units as added vocabulary tokens inside the prompt text.

Decision, made with the captioner, trl's ``DPOTrainer``, ``generate`` and export in mind:
a clip becomes a plain string of added tokens, so every prompt stays text and works unchanged with
``Trainer``, ``DPOTrainer`` (string prompts), ``generate`` and any exported tokenizer. Only the embeddings
of the added tokens must be trained (peft ``trainable_token_indices``).

From codes ``LongTensor [n_q, T]`` at 75 Hz, :func:`units_to_text` keeps the first ``unit_codebooks``
codebooks and *stacks* ``stack`` frames into one position: each position holds, per kept codebook, the most
frequent code of its window (ties: the smallest code), written ``<su{q}_{code}>``. One position is
``unit_codebooks`` tokens; a clip of ``T`` frames takes ``ceil(T / stack) * unit_codebooks`` tokens.

Long audio (SECap clips reach 22 s): a caption describes the whole clip, so nothing is cut; when a clip
would exceed ``max_positions`` tokens the stride grows to ``ceil(T * unit_codebooks / max_positions)``
frames for that clip, and a leading stride token ``<su_x{stride}>`` (always present) tells the model how
many 75 Hz frames one position spans, so speaking rate stays readable (changes per position / stride).
With ``dedup`` consecutive identical positions collapse to one (a shorter but clock-less sequence).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch

_UNIT = re.compile(r"<su(\d+)_(\d+)>")
_STRIDE = re.compile(r"<su_x(\d+)>")
_ANY = re.compile(r"<su(?:\d+_\d+|_x\d+)>")


def unit_token(q: int, code: int) -> str:
    return f"<su{q}_{code}>"


def stride_token(stride: int) -> str:
    return f"<su_x{stride}>"


def max_stride(stack: int, max_positions: int, unit_codebooks: int, max_frames: int) -> int:
    """The largest stride a clip of ``max_frames`` frames can need."""
    return max(stack, math.ceil(max_frames * unit_codebooks / max_positions))


def vocabulary(unit_codebooks: int, bins: int, stack: int, max_positions: int, max_frames: int) -> list[str]:
    """Every added token: ``unit_codebooks * bins`` unit tokens, then the stride tokens ``stack..max``."""
    units = [unit_token(q, k) for q in range(unit_codebooks) for k in range(bins)]
    top = max_stride(stack, max_positions, unit_codebooks, max_frames)
    return units + [stride_token(s) for s in range(stack, top + 1)]


def stride_for(n_frames: int, stack: int, max_positions: int, unit_codebooks: int) -> int:
    """Frames per position for a clip of ``n_frames``: ``stack``, or more so that it fits ``max_positions``."""
    return max(stack, math.ceil(n_frames * unit_codebooks / max_positions))


def pool_positions(codes: torch.Tensor, unit_codebooks: int, stride: int) -> np.ndarray:
    """Codes ``[n_q, T]`` -> positions ``int64 [P, unit_codebooks]``, ``P = ceil(T / stride)``: per window of
    ``stride`` frames the most frequent code of each kept codebook (ties: the smallest code)."""
    c = np.asarray(codes[:unit_codebooks].cpu(), dtype=np.int64)
    if c.ndim != 2 or c.shape[1] == 0:
        raise ValueError(f"codes must be [n_q, T] with T >= 1, got shape {tuple(c.shape)}")
    if c.shape[0] < unit_codebooks:
        raise ValueError(f"need {unit_codebooks} codebooks, codes have {c.shape[0]}")
    n_pos = -(-c.shape[1] // stride)
    out = np.empty((n_pos, unit_codebooks), dtype=np.int64)
    for p in range(n_pos):
        window = c[:, p * stride : (p + 1) * stride]
        for q in range(unit_codebooks):
            out[p, q] = np.bincount(window[q]).argmax()  # argmax takes the first (smallest) of tied codes
    return out


def dedup_positions(positions: np.ndarray) -> np.ndarray:
    """Drop positions identical to the one before: ``[P, c]`` -> ``[P', c]``."""
    if len(positions) < 2:
        return positions
    keep = np.concatenate([[True], np.any(positions[1:] != positions[:-1], axis=1)])
    return positions[keep]


def units_to_text(
    codes: torch.Tensor, *, unit_codebooks: int, stack: int, max_positions: int, dedup: bool = False
) -> str:
    """Codes ``LongTensor [n_q, T]`` at 75 Hz -> the speech part of a prompt: ``<su_x{s}>`` then
    ``<su0_12><su1_7>...`` (no spaces; added tokens split exactly). At most ``max_positions`` unit tokens."""
    stride = stride_for(codes.shape[-1], stack, max_positions, unit_codebooks)
    positions = pool_positions(codes, unit_codebooks, stride)
    if dedup:
        positions = dedup_positions(positions)
    body = "".join(unit_token(q, int(k)) for row in positions for q, k in enumerate(row))
    return stride_token(stride) + body


def text_to_units(text: str) -> tuple[int, np.ndarray]:
    """Inverse of :func:`units_to_text`: ``(stride, positions int64 [P, c])``. Raises ``ValueError`` on
    anything but one stride token followed by unit tokens in codebook order."""
    m = _STRIDE.match(text)
    if m is None:
        raise ValueError(f"speech unit text must start with a stride token <su_xN>, got {text[:20]!r}")
    rest = text[m.end() :]
    pairs = [(int(q), int(k)) for q, k in _UNIT.findall(rest)]
    if "".join(unit_token(q, k) for q, k in pairs) != rest:
        raise ValueError("speech unit text holds something other than unit tokens after the stride token")
    qs = sorted({q for q, _ in pairs})
    c = len(qs) or 1
    if qs and (qs != list(range(c)) or [q for q, _ in pairs] != list(range(c)) * (len(pairs) // c)):
        raise ValueError("unit tokens are not in codebook order q = 0..c-1 per position")
    return int(m.group(1)), np.array([k for _, k in pairs], dtype=np.int64).reshape(-1, c)


def count_positions(text: str) -> int:
    """Unit tokens in a speech-unit string (the stride token not counted)."""
    return len(_UNIT.findall(text))


def pooled_statistics(texts: Sequence[str], unit_codebooks: int, bins: int, segments: int = 3) -> np.ndarray:
    """Pooled statistics of what the LLM sees, for the probe: ``float64 [N, (1 + segments) * unit_codebooks * bins
    + 5]``.

    Per clip: each kept codebook's unit histogram (shares) over the whole clip and over ``segments`` equal
    stretches of it (a bag of units forgets order; the LLM does not, and emotions differ in their onsets and
    endings: the thirds lifted the emotion probe from 0.33 to 0.47 on a 500-clip dev corpus), then the duration
    implied by the text (positions x stride / 75 Hz, in s), the share of positions that differ from the one
    before (the rhythm of spectral change: speaking rate), distinct positions per second, runs of equal positions
    per second, and log positions.
    """
    rows = []
    for text in texts:
        stride, pos = text_to_units(text)
        parts = [pos, *np.array_split(pos, segments)] if segments > 1 else [pos]
        hist = [
            np.bincount(p[:, q], minlength=bins)[:bins] / max(len(p), 1)
            for p in parts
            for q in range(unit_codebooks)
        ]
        seconds = len(pos) * stride / 75.0
        change = float(np.mean(np.any(pos[1:] != pos[:-1], axis=1))) if len(pos) > 1 else 0.0
        distinct = len({tuple(r) for r in pos}) / max(seconds, 1e-3)
        runs = (1 + change * (len(pos) - 1)) / max(seconds, 1e-3)
        rows.append(np.concatenate([*hist, [seconds, change, distinct, runs, math.log(max(len(pos), 1))]]))
    return np.asarray(rows, dtype=np.float64)
