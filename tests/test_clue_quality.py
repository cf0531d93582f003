"""Notebook-facing clue quality helpers: gold from stated slots, P/R/F1 tables, confusion counts, prompts."""

from __future__ import annotations

from aligncap_lib.clues import clue_quality as cq


def _record(split: str = "test_zeroshot", lang: str = "en") -> dict:
    return {
        "id": f"{lang}_{split}_0",
        "split": split,
        "lang": lang,
        "voice": "v1",
        "emotion": "sad",
        "attributes": {"pitch_level": "low", "rate": None, "loudness": "normal"},
        "captions": ["A low voice, sounding sad.", "Sad."],
        "caption_slots": [["pitch_level", "emotion"], ["emotion", "rate"]],
    }


def test_corpus_gold_is_the_stated_verified_slots_of_test_splits_only() -> None:
    texts, gold = cq.corpus_caption_sets([_record(), _record(split="train"), _record(lang="zh")], "en")
    assert texts == ["A low voice, sounding sad.", "Sad."]
    # an unverifiable slot (rate None) is never gold, even when a caption template named it
    assert gold == [{"pitch_level": "low", "emotion": "sad"}, {"emotion": "sad"}]


def test_prf_table_rows_and_counts() -> None:
    table = cq.prf_table(["A low voice, sounding sad.", "A fast voice."], [{"pitch_level": "low"}, {}], "en")
    assert list(table.index)[-1] == "micro"
    assert table.loc["pitch_level", "f1"] == 1.0
    assert table.loc["emotion", "n_pred"] == 1 and table.loc["emotion", "n_gold"] == 0
    assert table.loc["rate", "precision"] == 0.0  # predicted without gold: a false positive


def test_confusion_counts_true_rows_measured_columns() -> None:
    records = [_record(), _record(), {**_record(), "attributes": {"pitch_level": None}}]
    predicted = [{"pitch_level": "low"}, {"pitch_level": None}, {"pitch_level": "high"}]
    table = cq.confusion(records, predicted, "pitch_level")
    assert table.loc["low", "low"] == 1 and table.loc["low", "none"] == 1
    assert int(table.to_numpy().sum()) == 2  # the unverifiable clip is not counted


def test_prompt_examples_cover_every_source() -> None:
    table = cq.prompt_examples([_record()], [{"pitch_level": "high", "emotion": None}], n=1)
    assert list(table["source"]) == ["caption", "acoustic", "none"]
    assert table["prompt"].tolist() == [
        "Acoustic clues: low pitch, sounds sad.",
        "Acoustic clues: high pitch.",
        "Acoustic clues: none.",
    ]


def test_example_parses_columns() -> None:
    df = cq.example_parses(["not loud", "惊讶与欣喜"], "en")
    assert list(df.columns) == ["caption", "slots", "descriptors", "conflicts"]
    assert df.loc[0, "slots"] == "loudness=normal"
