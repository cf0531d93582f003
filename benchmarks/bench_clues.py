"""Benchmark of the emotion grammar parser (the evaluation needs 1,000 captions x 3 references in <= 10 s).

Times ``parse_caption`` on fresh captions: the hand-labelled free-form fixtures (all distinct wording) and N
corpus captions per language composed from both template partitions (random attributes). The parse cache is
cleared before each timed set, so the numbers are for captions never seen before. ``--before COMMIT`` also
times the grammar module of an older commit (e.g. 43e22df, the Lark Earley parser) on the same captions.

    python benchmarks/bench_clues.py [--n 300] [--before 43e22df]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
from collections.abc import Callable

import numpy as np

from aligncap_lib.clues import clue_grammar, emotion_clues
from aligncap_lib.core.attributes import ACOUSTIC_SLOTS, SLOT_BINS
from aligncap_lib.core.reproducibility import repo_root
from aligncap_lib.corpus.reference_captions import compose_captions


def corpus_captions(lang: str, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for i in range(n):
        attrs = {s: str(rng.choice(SLOT_BINS[s])) for s in ACOUSTIC_SLOTS}
        emotion = str(rng.choice(SLOT_BINS["emotion"]))
        out += compose_captions(attrs, emotion, lang, "heldout" if i % 2 else "train", rng, n=1)[0]
    return out


def fixture_captions(lang: str) -> list[str]:
    path = repo_root() / "tests" / "fixtures" / f"clues_free_{lang}.jsonl"
    return [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]


def old_parse_claims(commit: str) -> Callable[[str, str], list]:
    """``parse_claims`` of ``aligncap_lib/clues/clue_grammar.py`` at ``commit`` (read with git show)."""
    src = subprocess.run(
        ["git", "show", f"{commit}:aligncap_lib/clues/clue_grammar.py"],
        cwd=repo_root(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"clue_grammar_{commit}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(src, f"clue_grammar@{commit}", "exec"), module.__dict__)
    return module.parse_claims  # type: ignore[no-any-return]


def rate(texts: list[str], lang: str) -> float:
    """Captions per second of ``parse_caption`` over ``texts`` with a cold parse cache."""
    clue_grammar.parse_run.cache_clear()
    start = time.perf_counter()
    for t in texts:
        emotion_clues.parse_caption(t, lang)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="corpus captions per language")
    parser.add_argument("--before", help="also time the grammar module of this git commit")
    args = parser.parse_args()
    for lang in ("en", "zh"):
        emotion_clues.parse_caption("warm up", lang)  # lexicon and jieba dictionary load once
    sets = {
        (lang, name): texts
        for lang in ("en", "zh")
        for name, texts in (
            ("fixtures", fixture_captions(lang)),
            ("corpus", corpus_captions(lang, args.n, 7)),
        )
    }
    print(
        f"{'lang':4} {'set':8} {'n':>5} {'now cap/s':>10}"
        + (f" {'before cap/s':>13} {'speed-up':>8}" if args.before else "")
    )
    current = emotion_clues.parse_claims
    before = old_parse_claims(args.before) if args.before else None
    for (lang, name), texts in sets.items():
        now = rate(texts, lang)
        line = f"{lang:4} {name:8} {len(texts):5d} {now:10.0f}"
        if before is not None:
            emotion_clues.parse_claims = before  # type: ignore[assignment]
            try:
                old = rate(texts[:100], lang)
            finally:
                emotion_clues.parse_claims = current  # type: ignore[assignment]
            line += f" {old:13.1f} {now / old:8.0f}x"
        print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
