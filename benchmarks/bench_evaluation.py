"""Benchmark of the evaluation stage.

Scores N English captions (default 1,000, three references each, synthetic template captions) once to warm up
(JVM for METEOR, the sentence encoder), then times a second, *fresh* set of N captions (new texts, so the
similarity cache only holds the references' repeats) without intervals, then the bootstrap intervals of every
metric of that result. Goals on 2 cores: scoring <= 10 s, intervals <= 5 s more.

    python benchmarks/bench_evaluation.py [--n 1000] [--lang en|zh] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import time

WORDS_EN = {
    "who": ["the speaker", "a man", "a woman", "the voice", "she", "he"],
    "rate": ["speaks quickly", "talks slowly", "speaks at a normal pace", "rushes the words", "drawls"],
    "pitch": ["with a high pitch", "in a low voice", "with a flat tone", "with a lively, varied melody"],
    "loud": ["loudly", "softly", "at a moderate volume", "in a whisper"],
    "emo": [
        "sounding angry",
        "sounding sad",
        "with obvious joy",
        "in a fearful way",
        "calmly",
        "with surprise",
    ],
}
WORDS_ZH = {
    "who": ["说话人", "他", "她", ""],
    "rate": ["语速较快", "语速缓慢", "语速适中", "说得很急"],
    "pitch": ["声音高亢", "声音低沉", "语调平淡", "抑扬顿挫"],
    "loud": ["音量很大", "声音轻柔", "音量适中"],
    "emo": ["情绪激动，充满愤怒", "语气悲伤", "心情愉快", "带着恐惧", "语气平静", "感到惊讶"],
}


def caption(rng: random.Random, lang: str) -> str:
    w = WORDS_EN if lang == "en" else WORDS_ZH
    parts = [rng.choice(w[k]) for k in ("who", "rate", "pitch", "loud", "emo")]
    if lang == "en":
        return f"{parts[0].capitalize()} {parts[1]} {parts[2]}, {parts[3]}, {parts[4]}."
    return f"{parts[0]}{parts[1]}，{parts[2]}，{parts[3]}，{parts[4]}。"


def make_set(n: int, lang: str, seed: int) -> tuple[dict[str, list[str]], dict[str, str]]:
    rng = random.Random(seed)
    refs = {f"s{seed}_{i}": [caption(rng, lang) for _ in range(3)] for i in range(n)}
    hyps = {k: caption(rng, lang) for k in refs}
    return refs, hyps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--lang", choices=("en", "zh"), default="en")
    parser.add_argument("--threads", type=int, default=2, help="sentence-encoder BLAS threads")
    args = parser.parse_args()

    from aligncap_lib.evaluation.scoring import EvaluationConfig, compute_intervals, evaluate_captions

    cfg = EvaluationConfig(encoder_threads=args.threads)
    t0 = time.perf_counter()
    evaluate_captions(*make_set(50, args.lang, seed=0), args.lang, config=cfg, intervals=False)
    warm = time.perf_counter() - t0

    refs, hyps = make_set(args.n, args.lang, seed=1)
    # The clue parser is timed on its own: it is the slowest part and is cached per unique caption.
    from aligncap_lib.evaluation.hallucination import parse_claims

    texts = sorted({*hyps.values(), *(r for rs in refs.values() for r in rs)})
    t0 = time.perf_counter()
    parse_claims(texts, args.lang)
    parsing = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = evaluate_captions(refs, hyps, args.lang, config=cfg, intervals=False)
    scoring = time.perf_counter() - t0
    t0 = time.perf_counter()
    intervals = compute_intervals(result, cfg)
    boot = time.perf_counter() - t0

    print(f"warm-up (JVM, encoder, parser; 50 captions): {warm:.1f} s")
    print(f"clue parsing of {len(texts)} unique captions (cached afterwards): {parsing:.2f} s")
    print(
        f"scoring {args.n} {args.lang} captions (3 refs each, warm, parses cached): {scoring:.2f} s  (goal <= 10 s)"
    )
    print(
        f"bootstrap intervals, {len(intervals)} metrics x {cfg.n_bootstrap} resamples: {boot:.2f} s  (goal <= 5 s)"
    )
    print(
        f"bleu_4 {result.metrics['bleu_4']:.4f}  meteor {result.metrics['meteor']:.4f}  cider {result.metrics['cider']:.4f}"
    )


if __name__ == "__main__":
    main()
