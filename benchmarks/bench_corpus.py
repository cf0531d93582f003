"""Synthesis + measurement throughput of the corpus generator, in x real time (goal >= 30x on 2 cores).

    python benchmarks/bench_corpus.py [--clips 120] [--workers 2]

Builds a small English+Mandarin corpus (neutral renderings cached per sentence and gender, as in the stage)
into a temporary folder and prints seconds of audio produced per second of wall clock. Run it on a quiet
machine: other processes on the same cores slow it proportionally.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from aligncap_lib.corpus.speech_corpus import CorpusConfig, build_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=120, help="train clips per language")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cfg = CorpusConfig(
        n_train=args.clips,
        n_valid=1,
        n_pref=1,
        n_test_seen=1,
        n_test_zeroshot=1,
        n_test_crossdomain=1,
        opensmile_clips=0,
        workers=args.workers,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "corpus"
        out.mkdir()
        start = time.perf_counter()
        build_corpus(cfg, out, Path(tmp) / "voices")
        wall = time.perf_counter() - start
        report = json.loads((out / "report.json").read_text())
    audio = report["audio_seconds"]
    attempts = report["attempts"]
    print(f"clips kept {report['clips']} of {report['planned']}, attempts {attempts}")
    print(
        f"audio {audio:.1f} s in {wall:.1f} s wall on {args.workers} workers: {audio / wall:.1f}x real time "
        f"(kept audio only; rejected attempts count as cost)"
    )


if __name__ == "__main__":
    main()
