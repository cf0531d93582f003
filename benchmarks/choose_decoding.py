"""Choose the decoding's anti-repetition settings on ``valid`` (never a test split).

    python benchmarks/choose_decoding.py [--work runs/cpu] [--variants baseline_sft no_po aligncap_full] [--seed 0]

Reads trained captioners of a finished run (``<work>/models/<variant>/seed<k>/<final stage>/merged``), decodes
the ``valid`` clips of both languages with every setting of :data:`GRID` (greedy, as evaluation decodes) and
prints, per language and setting, the mean over variants of ``repetition``
(:mod:`aligncap_lib.evaluation.repetition`), slot accuracy and CIDEr against the clips' captions, then the
setting the rule picks:

    per language, the lowest repetition among settings that lose at most ``--tolerance`` (relative, default 2 %)
    of the slot accuracy and of the CIDEr of decoding without anti-repetition; ties go to the earlier (milder)
    setting of the grid. (The tolerance was first 0.01 absolute; on the first cpu run's table it ruled out
    English's 3-gram ban for a CIDEr cost of 0.025 on a scale of 1.6, so it became relative. Set on valid only.)

``DecodingConfig`` (``aligncap_lib/captioner/generation.py``) holds the chosen values; docs/method.md quotes the
table. Takes a few minutes on 2 cores; run it alone.
"""

from __future__ import annotations

import argparse
import time

from aligncap_lib.captioner import inputs
from aligncap_lib.captioner.generation import DecodingConfig, generate_captions
from aligncap_lib.captioner.model import load_model
from aligncap_lib.captioner.variants import clip_examples, get_variant
from aligncap_lib.core.reproducibility import configure_threads
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.evaluation.scoring import EvaluationConfig, evaluate_captions
from aligncap_lib.training.stage_results import final_stage_dir

#: (repetition_penalty, no_repeat_ngram_size), mildest first; the n-gram ban runs over generated tokens with
#: punctuation exempt (``aligncap_lib.captioner.generation.anti_repetition``).
GRID: tuple[tuple[float, int], ...] = (
    (1.0, 0),
    (1.0, 4),
    (1.0, 3),
    (1.0, 2),
    (1.0, 1),
    (1.2, 0),
    (1.5, 0),
    (1.2, 3),
    (1.2, 1),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--work", default=None)
    ap.add_argument("--variants", nargs="+", default=["baseline_sft", "no_po", "aligncap_full"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=0.02, help="relative loss allowed (0.02 = 2 %%)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    configure_threads(args.threads)
    layout = RunLayout.for_preset(args.preset, args.work)
    records = layout.records()
    valid = [r for r in records if r["split"] == "valid"]
    units, measured = inputs.unit_texts(layout, records), inputs.deployment_clues(records)
    ev = EvaluationConfig(meteor=False, similarity=False)
    base = DecodingConfig.for_preset(args.preset)
    rows: dict[tuple[str, float, int], list[dict[str, float]]] = {}
    start = time.perf_counter()
    for name in args.variants:
        stage = final_stage_dir(layout, name, args.seed)
        if stage is None:
            raise SystemExit(f"no trained stage of {name!r} seed {args.seed} in {layout.work}")
        model, tok = load_model(stage / "merged")
        for lang in ("en", "zh"):
            recs = [r for r in valid if r["lang"] == lang]
            ex = clip_examples(
                recs, get_variant(name), units=units, measured=measured, captions_per_clip=1, teacher=None
            )
            refs = {r["id"]: r["captions"] for r in recs}
            for penalty, size in GRID:
                settings = base.settings() | {
                    "repetition_penalty": penalty,
                    "no_repeat_ngram_size": {lang: size},
                }
                hyps = generate_captions(model, tok, ex, settings, seed=args.seed)
                res = evaluate_captions(
                    refs, hyps, lang, records={r["id"]: r for r in recs}, config=ev, intervals=False
                )
                m = res.metrics
                rows.setdefault((lang, penalty, size), []).append(
                    {k: float(m[k]) for k in ("repetition", "slot_accuracy", "cider")}
                )
                print(f"  {name:14s} {lang} penalty {penalty:.1f} ngram {size}: repetition {m['repetition']:.3f} "
                      f"slot accuracy {m['slot_accuracy']:.3f} cider {m['cider']:.3f}", flush=True)  # fmt: skip
    print(f"\nvalid ({len(valid)} clips), mean over {len(args.variants)} variants ({', '.join(args.variants)}), "
          f"seed {args.seed}; {time.perf_counter() - start:.0f} s")  # fmt: skip
    print("| lang | repetition_penalty | no_repeat_ngram_size | repetition | slot accuracy | CIDEr |")
    print("|---|---|---|---|---|---|")
    mean = {g: {k: sum(r[k] for r in v) / len(v) for k in v[0]} for g, v in rows.items()}
    for g, m in mean.items():
        print(
            f"| {g[0]} | {g[1]:.1f} | {g[2]} | {m['repetition']:.3f} | {m['slot_accuracy']:.3f} | {m['cider']:.3f} |"
        )
    for lang in ("en", "zh"):
        off = mean[(lang, *GRID[0])]
        allowed = [
            g for g in GRID
            if all(mean[(lang, *g)][k] >= off[k] * (1 - args.tolerance) for k in ("slot_accuracy", "cider"))
        ]  # fmt: skip
        best = min(allowed, key=lambda g: (mean[(lang, *g)]["repetition"], GRID.index(g)))
        print(f"chosen {lang}: repetition_penalty {best[0]}, no_repeat_ngram_size {best[1]} (lowest repetition "
              f"losing at most {args.tolerance:.0%} of slot accuracy and CIDEr)")  # fmt: skip


if __name__ == "__main__":
    main()
