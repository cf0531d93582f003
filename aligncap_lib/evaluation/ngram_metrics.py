"""The n-gram caption metrics, computed by pycocoevalcap (not re-implemented), with the per-clip sufficient
statistics that the bootstrap resamples.

Inputs are *tokenized* captions (see :mod:`aligncap_lib.evaluation.segmentation`): ``refs {id: [str, ...]}`` and
``hyps {id: str}``, tokens separated by single spaces. All scores are on pycocoevalcap's native scale
(BLEU, METEOR, ROUGE-L in [0, 1]; CIDEr-D in [0, 10]).

- BLEU-1..4: ``Bleu(4)`` with the toolkit's ``closest`` reference length. Per clip we keep the clipped n-gram
  matches, the n-gram counts and the test/reference lengths (pycocoevalcap's own ``cook_test`` output), so a
  resample recomputes corpus BLEU from summed statistics (:func:`bleu_from_stats`, the toolkit's formula).
- METEOR 1.5: the jar shipped in pycocoevalcap (``-l en -norm``), ONE Java process per Python process, reused
  by every call and closed at exit (:func:`close_meteor`). Per clip we keep the jar's 23 sufficient statistics;
  :func:`meteor_from_stats` aggregates them as the jar's ``EVAL`` does, so resamples need no Java. On Chinese
  tokens only the exact-match module can fire (stem, synonym and paraphrase data are English) and all tokens
  count as content words.
- ROUGE-L: ``Rouge`` (LCS F-measure, beta 1.2, best reference), a per-clip mean.
- CIDEr-D: ``Cider``, the COCO caption toolkit's CIDEr, which is the CIDEr-D variant (Vedantam et al. 2015):
  clipped tf-idf n-gram vectors (n = 1..4), a Gaussian length penalty (sigma 6), the mean over references,
  times 10. Its document frequencies come from the references of the evaluated set; the per-clip scores are
  computed once with the full set's frequencies, so the corpus score is their mean and a resample keeps the
  frequencies fixed.
- SPICE: only where Stanford CoreNLP 3.6.0 is already in pycocoevalcap's ``spice/lib`` (its ``Spice`` class
  would otherwise download it at construction): :func:`spice_status`.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

N_GRAM = 4
#: Columns of the BLEU statistics: correct_1..4, guess_1..4, testlen, reflen.
BLEU_COLUMNS: tuple[str, ...] = (
    *(f"correct_{k}" for k in range(1, N_GRAM + 1)),
    *(f"guess_{k}" for k in range(1, N_GRAM + 1)),
    "testlen",
    "reflen",
)
#: METEOR 1.5 parameters of ``-l en`` (task "default"): alpha, beta, gamma, delta and the module weights
#: (exact, stem, synonym, paraphrase), as set in the jar's ``Constants``.
METEOR_ALPHA, METEOR_BETA, METEOR_GAMMA, METEOR_DELTA = 0.85, 0.2, 0.6, 0.75
METEOR_WEIGHTS = (1.0, 0.6, 0.8, 0.6)
METEOR_N_STATS = 23


@dataclasses.dataclass(frozen=True)
class NgramScores:
    """Corpus scores and per-clip statistics of one tokenization.

    ``ids``: the clip ids, in row order. ``bleu_stats``: float [N, 10] (:data:`BLEU_COLUMNS`).
    ``meteor_stats``: float [N, 23] (the jar's statistics). ``meteor``, ``rouge_l``, ``cider``: float [N] per
    clip. ``corpus``: ``bleu_1..4``, ``meteor`` (the jar's aggregate), ``rouge_l``, ``cider``.
    """

    ids: tuple[str, ...]
    bleu_stats: np.ndarray
    meteor_stats: np.ndarray | None
    meteor: np.ndarray | None
    rouge_l: np.ndarray
    cider: np.ndarray
    corpus: dict[str, float | None]


def bleu_from_stats(sums: np.ndarray) -> np.ndarray:
    """Corpus BLEU-1..4 from summed statistics, exactly pycocoevalcap's ``BleuScorer.compute_score``.

    ``sums``: [..., 10] (:data:`BLEU_COLUMNS` summed over clips) -> [..., 4].
    """
    tiny, small = 1e-15, 1e-9
    correct, guess = sums[..., :N_GRAM], sums[..., N_GRAM : 2 * N_GRAM]
    testlen, reflen = sums[..., 2 * N_GRAM], sums[..., 2 * N_GRAM + 1]
    precisions = (correct + tiny) / (guess + small)
    logs = np.cumsum(np.log(precisions), axis=-1) / np.arange(1, N_GRAM + 1)
    bleus = np.exp(logs)
    ratio = (testlen + tiny) / (reflen + small)
    brevity = np.where(ratio < 1, np.exp(1 - 1 / np.maximum(ratio, 1e-300)), 1.0)
    return bleus * brevity[..., None]


def meteor_from_stats(sums: np.ndarray) -> np.ndarray:
    """Corpus METEOR from summed jar statistics, as ``MeteorScorer.computeMetrics`` does for ``EVAL``.

    ``sums``: [..., 23] -> [...]. Layout: test/ref length, test/ref function words, then per module (exact,
    stem, synonym, paraphrase) test content, ref content, test function, ref function matches, then chunks and
    test/ref word matches. Perfect-match clips must enter with chunks 0 (:func:`_meteor_rows` does that), as
    the jar skips their chunk when aggregating.
    """
    d, a = METEOR_DELTA, METEOR_ALPHA
    tl, rl, tf, rf = (sums[..., i] for i in range(4))
    stages = sums[..., 4:20].reshape(*sums.shape[:-1], 4, 4)
    w = np.asarray(METEOR_WEIGHTS)
    t_matches = (stages[..., 0] * w).sum(-1) * d + (stages[..., 2] * w).sum(-1) * (1 - d)
    r_matches = (stages[..., 1] * w).sum(-1) * d + (stages[..., 3] * w).sum(-1) * (1 - d)
    t_len = d * (tl - tf) + (1 - d) * tf
    r_len = d * (rl - rf) + (1 - d) * rf
    t_total, r_total = stages[..., [0, 2]].sum((-1, -2)), stages[..., [1, 3]].sum((-1, -2))
    chunks = sums[..., 20]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = t_matches / t_len, r_matches / r_len
        fmean = 1.0 / ((1 - a) / precision + a / recall)
        perfect = (t_total == tl) & (r_total == rl) & (chunks == 1)
        frag = np.where(perfect, 0.0, chunks / ((t_total + r_total) / 2))
        score = fmean * (1 - METEOR_GAMMA * frag**METEOR_BETA)
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


class _Meteor:
    """pycocoevalcap's METEOR jar behind one long-lived process (its ``Meteor`` class, with UTF-8 forced so
    that Chinese tokens survive a non-UTF-8 locale, and stderr discarded so a chatty JVM cannot block)."""

    CHUNK = 200

    def __init__(self) -> None:
        from pycocoevalcap.meteor import meteor as mod

        cmd = [
            "java",
            "-Dfile.encoding=UTF-8",
            "-jar",
            "-Xmx2G",
            mod.METEOR_JAR,
            "-",
            "-",
            "-stdio",
            "-l",
            "en",
            "-norm",
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=os.path.dirname(os.path.abspath(mod.__file__)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lock = threading.Lock()

    def score(
        self, refs: Sequence[Sequence[str]], hyps: Sequence[str]
    ) -> tuple[list[str], list[float], float]:
        """Per clip stats lines, per clip scores and the aggregate, as pycocoevalcap's ``compute_score``."""
        with self.lock:
            stats: list[str] = []
            lines = [
                " ||| ".join(("SCORE", " ||| ".join(ref), hyp.replace("|||", "").replace("  ", " ")))
                for hyp, ref in zip(hyps, refs, strict=True)
            ]
            # Pipelined in chunks: one flush per chunk instead of per clip, and a chunk's answers (about
            # 60 bytes each) stay far below the 64 KiB pipe buffer, so neither side can block the other.
            for start in range(0, len(lines), self.CHUNK):
                chunk = lines[start : start + self.CHUNK]
                self._ask_noreply("\n".join(chunk))
                for _ in chunk:
                    answer = self._read()
                    if not answer:
                        raise RuntimeError(
                            "the METEOR Java process stopped answering (is Java 17 installed?)"
                        )
                    stats.append(answer)
            self._ask_noreply("EVAL ||| " + " ||| ".join(stats))
            scores = [float(self._read()) for _ in stats]
            total = float(self._read())
        return stats, scores, total

    def _ask_noreply(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode("utf-8"))
        self.proc.stdin.flush()

    def _read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().decode("utf-8").strip()

    def close(self) -> None:
        with self.lock:
            if self.proc.poll() is None:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.kill()
                self.proc.wait()


_METEOR: _Meteor | None = None
_METEOR_LOCK = threading.Lock()


def meteor_process() -> _Meteor:
    """The process-wide METEOR scorer (started on first use: about 8 s to load the paraphrase table)."""
    global _METEOR
    with _METEOR_LOCK:
        if _METEOR is None or _METEOR.proc.poll() is not None:
            _METEOR = _Meteor()
            atexit.register(close_meteor)
        return _METEOR


def close_meteor() -> None:
    """Stop the METEOR Java process, if one is running (also registered with ``atexit``)."""
    global _METEOR
    with _METEOR_LOCK:
        if _METEOR is not None:
            _METEOR.close()
            _METEOR = None


def _meteor_rows(stats_lines: Sequence[str]) -> np.ndarray:
    rows = np.array([[float(x) for x in line.split()] for line in stats_lines], dtype=np.float64).reshape(
        len(stats_lines), -1
    )
    if rows.shape[1] != METEOR_N_STATS:
        raise RuntimeError(
            f"unexpected METEOR statistics: {rows.shape[1]} numbers, expected {METEOR_N_STATS}"
        )
    # The jar leaves the chunk of a perfect match out of the aggregate (MeteorStats.addStats).
    stages = rows[:, 4:20].reshape(-1, 4, 4)
    perfect = (
        (stages[:, :, [0, 2]].sum((1, 2)) == rows[:, 0])
        & (stages[:, :, [1, 3]].sum((1, 2)) == rows[:, 1])
        & (rows[:, 20] == 1)
    )
    rows[perfect, 20] = 0.0
    return rows


def score_ngrams(
    refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], *, meteor: bool = True
) -> NgramScores:
    """Score tokenized ``hyps`` against tokenized ``refs`` (same ids, >= 1 reference each) with pycocoevalcap."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    ids = tuple(hyps)
    if set(ids) != set(refs):
        raise ValueError("refs and hyps must have the same ids")
    if not ids:
        raise ValueError("nothing to score: no captions")
    gts = {i: [str(r) for r in refs[i]] for i in ids}
    res = {i: [str(hyps[i])] for i in ids}
    for i in ids:
        if not gts[i]:
            raise ValueError(f"clip {i!r} has no reference caption")
    bleu, _ = Bleu(N_GRAM).compute_score(gts, res, verbose=0)
    stats = np.zeros((len(ids), len(BLEU_COLUMNS)))
    for row, i in enumerate(ids):
        cooked = cook_test(res[i][0], cook_refs(gts[i]), eff="closest")
        stats[row] = [*cooked["correct"], *cooked["guess"], cooked["testlen"], cooked["reflen"]]
    rouge, rouge_scores = Rouge().compute_score(gts, res)
    cider, cider_scores = Cider().compute_score(gts, res)
    corpus: dict[str, float | None] = {f"bleu_{k + 1}": float(b) for k, b in enumerate(bleu)}
    meteor_stats = meteor_scores = None
    corpus["meteor"] = None
    if meteor:
        lines, scores, total = meteor_process().score([gts[i] for i in ids], [res[i][0] for i in ids])
        meteor_stats, meteor_scores, corpus["meteor"] = _meteor_rows(lines), np.asarray(scores), total
    corpus["rouge_l"] = float(rouge)
    corpus["cider"] = float(cider)
    return NgramScores(
        ids,
        stats,
        meteor_stats,
        meteor_scores,
        np.asarray(rouge_scores, float),
        np.asarray(cider_scores, float),
        corpus,
    )


def spice_status(lang: str) -> str | None:
    """None when SPICE can run here, else the reason it is reported as null (never downloads anything)."""
    if lang != "en":
        return "SPICE parses English scene graphs only"
    from pycocoevalcap.spice import get_stanford_models as gsm

    jar = Path(gsm.SPICEDIR) / gsm.SPICELIB / f"{gsm.JAR}.jar"
    if not jar.is_file():
        return f"Stanford CoreNLP ({gsm.JAR}) is not installed in {jar.parent.name}/; SPICE would download it"
    return None


def spice_score(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str]) -> float:
    """SPICE F-score via pycocoevalcap (call only when :func:`spice_status` is None: it refuses otherwise)."""
    reason = spice_status("en")
    if reason:
        raise RuntimeError(reason)
    from pycocoevalcap.spice.spice import Spice

    score, _ = Spice().compute_score({i: list(refs[i]) for i in hyps}, {i: [hyps[i]] for i in hyps})
    return float(score)
