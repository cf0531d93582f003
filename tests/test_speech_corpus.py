"""The corpus stage: splits as specified and disjoint, manifest schema, determinism, bad inputs reported."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from aligncap_lib.core.manifest import as_hf_dataset, read_manifest
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.corpus.clip import VOICES
from aligncap_lib.corpus.reference_captions import all_strings
from aligncap_lib.corpus.speech_corpus import (
    SPLITS,
    CorpusConfig,
    build_corpus,
    heldout_voice_ids,
    plan_clips,
    sentences,
)
from aligncap_lib.corpus.voices import all_voices, check_voices_differ, write_voice_data
from tests.fixtures_corpus import TINY, tiny_corpus  # noqa: F401  (session fixture)


@pytest.fixture(scope="module")
def records(tiny_corpus):  # noqa: F811
    recs, errors = read_manifest(tiny_corpus / "manifest.jsonl")
    assert errors == []
    return recs


def test_every_split_nonempty_in_both_languages(records):
    present = {(r["lang"], r["split"]) for r in records}
    assert present == {(lang, s) for lang in ("en", "zh") for s in SPLITS}


def test_splits_are_disjoint_as_specified(records):
    cfg = CorpusConfig()
    held = set(heldout_voice_ids(cfg))
    assert len(held) >= 0.2 * len(all_voices())
    assert {v.family for v in all_voices() if v.id in held} >= set(cfg.heldout_families)
    by = defaultdict(lambda: defaultdict(set))
    for r in records:
        by[r["split"]]["voice"].add(r["voice"])
        by[r["split"]]["text"].add(r["text"])
    assert by["test_zeroshot"]["voice"] <= held
    # the zero-shot voices come from at least two families of each gender (whole unseen families + single
    # unseen voices of seen families), and every gender keeps seen voices for training
    for gender in ("female", "male"):
        assert len({v.family for v in all_voices() if v.id in held and v.gender == gender}) >= 2, gender
        assert any(v.id not in held and v.gender == gender for v in all_voices()), gender
    for s in ("train", "valid", "pref", "test_seen", "test_crossdomain"):
        assert not by[s]["voice"] & held, s
    for s in ("valid", "pref", "test_seen", "test_zeroshot", "test_crossdomain"):
        assert not by[s]["text"] & by["train"]["text"], s
    for s in ("test_seen", "test_zeroshot", "test_crossdomain"):
        assert not by[s]["text"] & (by["valid"]["text"] | by["pref"]["text"]), s
    for lang in ("en", "zh"):
        pools = defaultdict(set)
        for pool, _, text in sentences(lang):
            pools[pool].add(text)
        assert not (pools["train"] & pools["test"]) and not (pools["dev"] & pools["test"])


def test_labels_are_verified_and_crossdomain_unknowables_are_null(records):
    for r in records:
        if r["degradation"] is None:
            assert all(r["attributes"][s] == r["intended"][s] for s in r["intended"]), r["id"]
        else:
            assert r["split"] == "test_crossdomain"
    level = [r for r in records if r["degradation"] == "level"]
    assert level and all(r["attributes"]["loudness"] is None for r in level)


def test_manifest_schema_and_datasets_view(tiny_corpus, records):  # noqa: F811
    heldout = {lang: [p for p in all_strings(lang, "heldout") if "{" not in p] for lang in ("en", "zh")}
    for r in records:
        assert (tiny_corpus / r["audio"]).is_file()
        assert 3 <= len(r["captions"]) <= 5 and len(r["caption_slots"]) == len(r["captions"])
        assert r["attributes"]["emotion"] == r["emotion"]
        test = r["split"].startswith("test")
        assert ("captions_unseen_phrasing" in r) == test, r["id"]
        if test:  # main references in the training phrasing, a second set in the held-out one
            unseen = r["captions_unseen_phrasing"]
            assert len(unseen) == len(r["captions"]) == len(r["caption_slots_unseen_phrasing"])
            assert not set(unseen) & set(r["captions"])
            assert not any(p in c for c in r["captions"] for p in heldout[r["lang"]]), r["id"]
            assert any(p in c for c in unseen for p in heldout[r["lang"]]), r["id"]
    ds = as_hf_dataset(tiny_corpus / "manifest.jsonl", split="train")
    assert len(ds) == sum(r["split"] == "train" for r in records) and "captions" in ds.column_names


def test_report_has_the_promised_sections(tiny_corpus):  # noqa: F811
    report = json.loads((tiny_corpus / "report.json").read_text())
    for key in (
        "agreement_before_verification",
        "drop_rate",
        "class_balance",
        "emotion_predicts_attribute",
        "opensmile_agreement",
        "probe_ceiling",
        "splits",
    ):
        assert key in report
    assert report["clips"] + report["dropped"] == report["planned"]
    records, _ = read_manifest(tiny_corpus / "manifest.jsonl")
    for split, langs in report["splits"].items():
        for lang, cell in langs.items():
            group = [r for r in records if r["split"] == split and r["lang"] == lang]
            assert (
                cell["clips"] == len(group) == sum(cell["genders"].values()) == sum(cell["voices"].values())
            )
            assert set(cell["families"]) == {r["voice_family"] for r in group}
    assert sum(c["clips"] for langs in report["splits"].values() for c in langs.values()) == report["clips"]


def test_same_seed_gives_identical_bytes_whatever_the_workers(tmp_path):
    cfg = dict(
        TINY,
        languages=("en",),
        n_train=3,
        n_valid=1,
        n_pref=1,
        n_test_seen=1,
        n_test_zeroshot=1,
        n_test_crossdomain=2,
        opensmile_clips=0,
        seed=11,
    )
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    build_corpus(CorpusConfig(**cfg, workers=1), a, tmp_path / "voices")
    build_corpus(CorpusConfig(**cfg, workers=2), b, tmp_path / "voices")
    assert (a / "manifest.jsonl").read_bytes() == (b / "manifest.jsonl").read_bytes()
    for wav in (a / "audio").iterdir():
        assert wav.read_bytes() == (b / "audio" / wav.name).read_bytes()
    assert plan_clips(CorpusConfig(**cfg, workers=1)) != plan_clips(CorpusConfig(**dict(cfg, seed=12)))


def test_cache_is_a_noop_for_the_same_config(tiny_corpus):  # noqa: F811
    from aligncap_lib.corpus.speech_corpus import ensure_corpus

    _, rebuilt = ensure_corpus(
        CorpusConfig(**TINY, seed=7, workers=1), RunLayout("smoke", tiny_corpus.parent)
    )
    assert not rebuilt


def test_bad_manifest_lines_are_skipped_and_named(tiny_corpus, tmp_path):  # noqa: F811
    good = (tiny_corpus / "manifest.jsonl").read_bytes().splitlines(keepends=True)[:2]
    bad = tmp_path / "manifest.jsonl"
    bad.write_bytes(good[0] + b"{not json\n" + b"\xff\xfe\n" + b'{"id": "x"}\n' + good[0] + good[1])
    recs, errors = read_manifest(bad)
    assert len(recs) == 2
    assert [e.split(":")[1] for e in errors] == ["2", "3", "4", "5"]
    assert "duplicate" in errors[-1] and "UTF-8" in errors[1]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="languages"):
        CorpusConfig(languages=("fr",))
    with pytest.raises(ValueError, match="heldout_families"):
        CorpusConfig(heldout_families=("robot_z",))
    with pytest.raises(ValueError, match="n_captions"):
        CorpusConfig(n_captions=9)
    with pytest.raises(ValueError, match="must include a female voice"):
        CorpusConfig(heldout_families=("male_c",), heldout_voices=("m_b_0",))
    with pytest.raises(ValueError, match="no seen male voice"):
        CorpusConfig(heldout_families=("male_a", "male_b", "male_c"))


def test_zeroshot_plan_alternates_genders_over_two_families_each():
    cfg = CorpusConfig(languages=("en",), n_test_zeroshot=400)
    plans = [p for p in plan_clips(cfg) if p.split == "test_zeroshot"]
    genders = Counter(VOICES[p.voice].gender for p in plans)
    assert genders["female"] == genders["male"] == 200
    for gender in ("female", "male"):
        fams = Counter(VOICES[p.voice].family for p in plans if VOICES[p.voice].gender == gender)
        assert len(fams) >= 2, gender


def test_every_voice_really_differs(tmp_path):
    path = write_voice_data(tmp_path)
    report = check_voices_differ(path, "en", voices=all_voices()[::5])
    assert len(report) == 5 and all(np.isfinite(v["f0_median_hz"]) for v in report.values())


def test_mandarin_is_read_as_pinyin(tmp_path):
    from aligncap_lib.corpus.voices import count_syllables, pinyin, pinyin_syllables_spoken

    path = write_voice_data(tmp_path)
    for _, _, text in sentences("zh")[:10]:
        assert pinyin_syllables_spoken(pinyin(text), path) == count_syllables(text, "zh"), text
