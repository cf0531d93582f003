"""Measured quality of the emotional clues (notebook ``03_clue_parsing``): parser P/R/F1 on four caption sets,
the acoustic analyzer against the corpus's verified attributes, and example acoustic prompts per clue source.

Caption sets, each with slot labels nobody derived from the parser:

- ``corpus``: the reference captions of the corpus *test* splits (written with the held-out templates and
  paraphrases of ``data/caption_phrases.yaml``); gold = the verified bins of the slots each caption states
  (``caption_slots``), so a slot the caption leaves out is absent, as in the parser's rule;
- ``free``: the hand-labelled free-form fixtures ``tests/fixtures/clues_free_{en,zh}.jsonl``;
- ``secap``: the hand-labelled SECap-dev ids of ``tests/fixtures/secap_dev_slots.json`` (captions read from
  ``../shared/secap-dev`` or ``$SECAP_DIR``; never copied into git).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aligncap_lib.clues import acoustic_analyzer as aa
from aligncap_lib.clues.emotion_clues import (
    CLUE_SOURCES,
    CluesConfig,
    acoustic_prompt,
    parse_caption,
    select_clues,
    slot_prf,
)
from aligncap_lib.core.attributes import SLOT_BINS, SLOTS
from aligncap_lib.core.audio_io import read_audio
from aligncap_lib.core.manifest import audio_path, read_manifest
from aligncap_lib.core.reproducibility import repo_root
from aligncap_lib.core.run_layout import RunLayout, run_stage
from aligncap_lib.corpus import prosody

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIXTURES = ("tests", "fixtures")
TEST_SPLITS = ("test_seen", "test_zeroshot", "test_crossdomain")


def example_parses(texts: Sequence[str], lang: str) -> pd.DataFrame:
    """One row per caption: its slots, descriptors and conflicts as the parser reads them."""
    rows = []
    for t in texts:
        p = parse_caption(t, lang)
        rows.append({
            "caption": t,
            "slots": ", ".join(f"{s}={v}" for s, v in p.slots.items()) or "-",
            "descriptors": ", ".join(p.descriptors) or "-",
            "conflicts": ", ".join(f"{s}: {'/'.join(v)}" for s, v in p.conflicts) or "-",
        })  # fmt: skip
    return pd.DataFrame(rows)


def corpus_caption_sets(
    records: Sequence[Mapping[str, Any]], lang: str
) -> tuple[list[str], list[dict[str, str]]]:
    """(captions, gold slots) of the test clips' *unseen-phrasing* references of ``lang`` (wording no lexicon
    entry was built from: the parser's robustness test; ``captions`` where a record has no such set): each
    caption's stated slots with their verified bins (emotion: the clip's emotion)."""
    texts: list[str] = []
    gold: list[dict[str, str]] = []
    for r in records:
        if r["lang"] != lang or r["split"] not in TEST_SPLITS:
            continue
        truth = {**r["attributes"], "emotion": r["emotion"]}
        unseen = "captions_unseen_phrasing" in r
        captions = r["captions_unseen_phrasing"] if unseen else r["captions"]
        slots = r["caption_slots_unseen_phrasing"] if unseen else r["caption_slots"]
        for caption, stated in zip(captions, slots, strict=True):
            texts.append(caption)
            gold.append({s: truth[s] for s in stated if truth.get(s) is not None})
    return texts, gold


def free_form_sets(lang: str) -> tuple[list[str], list[dict[str, str]]]:
    """(captions, gold slots) of the hand-labelled free-form fixture of ``lang``."""
    path = repo_root().joinpath(*FIXTURES, f"clues_free_{lang}.jsonl")
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["slots"] for r in rows]


def secap_sets(secap_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(captions, gold slots) of the labelled SECap-dev ids found in ``secap_dir/dataset/fid2captions.json``."""
    captions = json.loads((Path(secap_dir) / "dataset" / "fid2captions.json").read_text("utf-8"))
    labels = json.loads(repo_root().joinpath(*FIXTURES, "secap_dev_slots.json").read_text("utf-8"))["labels"]
    ids = sorted(set(labels) & set(captions))
    return [captions[i] for i in ids], [labels[i]["slots"] for i in ids]


def prf_table(texts: Sequence[str], gold: Sequence[Mapping[str, str]], lang: str) -> pd.DataFrame:
    """Per-slot precision/recall/F1 (rows: slots and ``micro``) of the parser on ``texts`` against ``gold``."""
    prf = slot_prf([parse_caption(t, lang).slots for t in texts], gold)
    table = pd.DataFrame(prf).T[["precision", "recall", "f1", "n_pred", "n_gold"]]
    return table.astype({"n_pred": int, "n_gold": int})


# -- the acoustic analyzer -------------------------------------------------------------------------------------
def _measured(manifest: Path, records: Sequence[Mapping[str, Any]], *, blind: bool) -> list[dict[str, Any]]:
    """``records`` with fresh Praat ``measurements`` of their audio (syllable count kept unless ``blind``)."""

    out = []
    for r in records:
        wave, sr, _ = read_audio(audio_path(manifest, dict(r)))
        m = prosody.measure(wave, sr)
        m["syllables_per_s"] = math.nan if blind else r["measurements"].get("syllables_per_s", math.nan)
        out.append({**r, "measurements": m})
    return out


def ensure_analyzer_norms(layout: RunLayout, cfg: CluesConfig) -> aa.AnalyzerNorms:
    """The analyzer norms fitted on the corpus ``train`` split, cached in ``layout.clues`` (rebuilt when the
    corpus manifest or ``cfg.emotion_c`` changes); the same fit as ``aligncap clues fit``."""
    manifest = layout.corpus / "manifest.jsonl"
    stage = json.loads((layout.corpus / "stage.json").read_text("utf-8"))
    fingerprint = f"{stage['summary'].get('manifest_sha256', stage['fingerprint'])[:16]}-c{cfg.emotion_c}"

    def build(tmp: Path) -> dict[str, Any]:
        records, _ = read_manifest(manifest)
        train = _measured(manifest, [r for r in records if r["split"] == "train"], blind=False)
        norms = aa.fit_norms(train, c=cfg.emotion_c)
        (tmp / "analyzer_norms.json").write_text(json.dumps(norms.to_json(), indent=1) + "\n", "utf-8")
        return {"train_clips": len(train)}

    run_stage(layout.clues, fingerprint, build)
    return aa.AnalyzerNorms.load(layout.clues / "analyzer_norms.json")


def analyzer_accuracy(
    manifest: Path, records: Sequence[Mapping[str, Any]], norms: aa.AnalyzerNorms
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Per-slot accuracy of the analyzer on ``records`` in four settings (speaker baseline or population
    norms x syllable count known or blind rate), and the records measured for the baseline+known setting."""
    known = _measured(manifest, records, blind=False)
    rows = {}
    for baseline in (True, False):
        for blind in (False, True):
            name = f"{'speaker baseline' if baseline else 'population'}, {'blind' if blind else 'known'} rate"
            rows[name] = aa.accuracy(known, norms, blind_rate=blind, baseline=baseline)
    return pd.DataFrame(rows).T[list(SLOTS)], known


def analyzer_predictions(
    records: Sequence[Mapping[str, Any]], norms: aa.AnalyzerNorms
) -> list[dict[str, str | None]]:
    """The analyzer's slots of each measured record, with each voice's baseline from its clips in ``records``."""
    by_voice: dict[str, list[Mapping[str, float]]] = {}
    for r in records:
        by_voice.setdefault(r["voice"], []).append(r["measurements"])
    return [
        aa.analyze_measurements(r["measurements"], r["lang"], norms, baseline=aa.speaker_baseline(by_voice[r["voice"]], r["lang"]))
        for r in records
    ]  # fmt: skip


def confusion(
    records: Sequence[Mapping[str, Any]], predicted: Sequence[Mapping[str, str | None]], slot: str
) -> pd.DataFrame:
    """Counts of (true bin, measured bin) for ``slot``; rows true, columns measured (``none``: unmeasured)."""
    bins = list(SLOT_BINS[slot])
    table = pd.DataFrame(
        0, index=pd.Index(bins, name="true"), columns=pd.Index([*bins, "none"], name="measured")
    )
    for r, p in zip(records, predicted, strict=True):
        true = r["emotion"] if slot == "emotion" else r["attributes"].get(slot)
        if true is not None:
            table.loc[true, p.get(slot) or "none"] += 1
    return table


def plot_confusions(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """One heat map per slot: true bins (rows) against measured bins (columns), counts annotated."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables), 3.0), squeeze=False)
    for ax, (slot, table) in zip(axes[0], tables.items(), strict=True):
        values = table.to_numpy()
        ax.imshow(values, cmap="Blues", vmin=0, vmax=max(1, int(values.max())))
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
        ax.set_title(slot, fontsize=9)
        ax.set_xlabel("measured", fontsize=8)
    axes[0][0].set_ylabel("true", fontsize=8)
    fig.tight_layout()
    return fig


def prompt_examples(
    records: Sequence[Mapping[str, Any]], predicted: Sequence[Mapping[str, str | None]], n: int = 2
) -> pd.DataFrame:
    """The acoustic prompt of the first ``n`` clips per language under each clue source."""
    rows = []
    for lang in ("en", "zh"):
        picks = [(r, p) for r, p in zip(records, predicted, strict=True) if r["lang"] == lang][:n]
        for r, p in picks:
            for source in CLUE_SOURCES:
                clues = select_clues(source, caption=r["captions"][0], lang=lang, measured=p)
                rows.append({"clip": r["id"], "source": source, "prompt": acoustic_prompt(clues, lang)})
    return pd.DataFrame(rows)
