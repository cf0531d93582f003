"""Emotion grammar parser: the written rules, the fixtures' measured quality, the CLI, the acoustic prompt."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from aligncap_lib.clues.clue_grammar import parse_claims, parse_run
from aligncap_lib.clues.clue_lexicon import build_lexicon, load_lexicon, tokens
from aligncap_lib.clues.emotion_clues import (
    ClueParse,
    CluesConfig,
    acoustic_prompt,
    parse_caption,
    select_clues,
    slot_prf,
)
from aligncap_lib.core.attributes import SLOT_BINS, SLOTS

FIXTURES = Path(__file__).parent / "fixtures"


def slots(text: str, lang: str) -> dict[str, str]:
    return parse_caption(text, lang).slots


# -- rules -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("slightly fast", "en", {"rate": "fast"}),
        ("a very loud voice", "en", {"loudness": "loud"}),
        ("有点快", "zh", {"rate": "fast"}),
        ("语速非常慢", "zh", {"rate": "slow"}),
        ("maybe a little sad", "en", {"emotion": "sad"}),
        ("似乎很紧张", "zh", {"emotion": "fearful"}),
    ],
)
def test_degree_and_hedges_keep_the_value(text: str, lang: str, expected: dict[str, str]) -> None:
    assert slots(text, lang) == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("not loud", "en", {"loudness": "normal"}),
        ("The voice isn't very high.", "en", {"pitch_level": "normal"}),
        ("语速不快", "zh", {"rate": "normal"}),
        ("声音不高", "zh", {"pitch_level": "normal"}),
        ("neither fast nor slow", "en", {"rate": "normal"}),
        ("不快也不慢", "zh", {"rate": "normal"}),
        ("not loud or fast", "en", {"loudness": "normal", "rate": "normal"}),
        ("He isn't speaking fast.", "en", {"rate": "normal"}),
        ("She does not speak loudly or fast", "en", {"loudness": "normal", "rate": "normal"}),
        ("The speaker is not talking very fast", "en", {"rate": "normal"}),
    ],
)
def test_negated_ordinal_extreme_is_the_middle_bin(text: str, lang: str, expected: dict[str, str]) -> None:
    assert slots(text, lang) == expected


@pytest.mark.parametrize(
    ("text", "lang", "descriptor"),
    [
        ("not angry", "en", "not angry"),
        ("不太高兴", "zh", "不太高兴"),
        ("she is not happy", "en", "not happy"),
    ],
)
def test_negated_nominal_claims_nothing_and_is_a_descriptor(text: str, lang: str, descriptor: str) -> None:
    parse = parse_caption(text, lang)
    assert parse.slots == {}
    assert descriptor in parse.descriptors


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("心生不满", "zh", {"emotion": "angry"}),
        ("内心不安", "zh", {"emotion": "fearful"}),
        ("声音不稳", "zh", {"voice_quality": "trembling"}),
        ("语调没有起伏", "zh", {"pitch_variation": "flat"}),
        ("spoken with no emotion", "en", {"emotion": "neutral"}),
    ],
)
def test_lexicalised_negatives_keep_their_meaning(text: str, lang: str, expected: dict[str, str]) -> None:
    assert slots(text, lang) == expected


@pytest.mark.parametrize(
    ("text", "lang", "descriptor"),
    [
        ("语调上扬", "zh", "语调上扬"),
        ("with a rising intonation", "en", "rising intonation"),
        ("语调渐高", "zh", "语调上扬"),
    ],
)
def test_contours_are_descriptors_not_slots(text: str, lang: str, descriptor: str) -> None:
    parse = parse_caption(text, lang)
    assert parse.slots == {}
    assert parse.descriptors == (descriptor,)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("声音很高", "zh", {"pitch_level": "high"}),
        ("音量很高", "zh", {"loudness": "loud"}),
        ("音量低", "zh", {"loudness": "soft"}),
        ("a low voice", "en", {"pitch_level": "low"}),
        ("low in volume", "en", {"loudness": "soft"}),
        ("speaks at a low volume", "en", {"loudness": "soft"}),
        ("语调平淡", "zh", {"pitch_variation": "flat"}),
        ("语气平淡", "zh", {"emotion": "neutral"}),
        ("低沉的声音", "zh", {"pitch_level": "low"}),
        ("at a moderate pace", "en", {"rate": "normal"}),
    ],
)
def test_the_noun_decides_ambiguous_words(text: str, lang: str, expected: dict[str, str]) -> None:
    assert slots(text, lang) == expected


def test_conflicts_are_reported_and_left_out_of_slots() -> None:
    parse = parse_caption("A high-pitched voice, then a deep low voice, speaking fast.", "en")
    assert parse.conflicts == (("pitch_level", ("high", "low")),)
    assert "pitch_level" not in parse.slots and parse.slots == {"rate": "fast"}
    assert parse_caption("惊讶与欣喜", "zh").conflicts == (("emotion", ("surprised", "happy")),)
    assert parse_caption("伤心难过", "zh").conflicts == ()  # one bin repeated is no conflict


@pytest.mark.parametrize(
    ("text", "lang"), [("", "en"), ("", "zh"), ("The weather is nice today.", "en"), ("今天天气很好", "zh")]
)
def test_absent_slots_are_never_guessed(text: str, lang: str) -> None:
    parse = parse_caption(text, lang)
    assert parse.slots == {} and parse.conflicts == ()


def test_zh_segmentation_keeps_lexicon_units_and_splits_degree() -> None:
    words = [w for w, _ in tokens("语速不快，语调没有起伏，声音很快", "zh")]
    assert words[:3] == ["语速", "不", "快"]
    assert "没有起伏" in words
    assert words[-2:] == ["很", "快"]


def test_global_jieba_dictionary_is_untouched() -> None:
    import jieba

    parse_caption("语调没有起伏", "zh")
    assert "没有起伏" not in jieba.lcut("语调没有起伏", HMM=False)


def test_to_json_shape_and_values_in_schema() -> None:
    parse = parse_caption("声音低沉颤抖，语速较快，非常愤怒", "zh")
    assert isinstance(parse, ClueParse)
    js = parse.to_json()
    assert set(js) == {"text", "slots", "descriptors", "conflicts"}
    assert js["slots"] == {
        "pitch_level": "low",
        "rate": "fast",
        "voice_quality": "trembling",
        "emotion": "angry",
    }
    for slot, value in js["slots"].items():
        assert value in SLOT_BINS[slot]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        parse_caption("loud", "fr")
    with pytest.raises(ValueError, match="must be a string"):
        parse_caption(None, "en")  # type: ignore[arg-type]


def test_lexicon_loader_rejects_bad_entries() -> None:
    with pytest.raises(ValueError, match="cue 'loud' is also a NEG"):
        build_lexicon("en", {"function": {"neg": ["loud"]}, "cues": {"loudness": {"loud": ["loud"]}}})
    with pytest.raises(ValueError, match="not 'slot=bin'"):
        build_lexicon("en", {"contextual": {"high": {"default": "pitch_level=huge"}}})
    with pytest.raises(ValueError, match="filed twice"):
        build_lexicon("en", {"function": {"neg": ["not"], "deg": ["not"]}})


def test_packaged_lexicons_cover_every_bin() -> None:
    for lang in ("en", "zh"):
        raw = yaml.safe_load(
            (Path(__file__).parents[1] / f"aligncap_lib/data/lexicon_{lang}.yaml").read_text()
        )
        load_lexicon(lang)
        for slot, bins in SLOT_BINS.items():
            for b in bins:
                if b != "normal":
                    assert raw["cues"][slot].get(b), f"{lang}: no cue word for {slot}={b}"


# -- metrics ---------------------------------------------------------------------------------------------
def test_slot_prf_counts() -> None:
    pred = [{"rate": "fast", "emotion": "sad"}, {"rate": "slow"}, {}]
    gold = [{"rate": "fast", "emotion": "happy"}, {"rate": "slow", "loudness": "loud"}, {"emotion": "sad"}]
    prf = slot_prf(pred, gold)
    assert prf["rate"]["precision"] == 1.0 and prf["rate"]["recall"] == 1.0
    assert prf["emotion"]["precision"] == 0.0 and prf["emotion"]["recall"] == 0.0
    assert prf["loudness"]["recall"] == 0.0 and prf["loudness"]["n_pred"] == 0
    assert prf["micro"]["precision"] == pytest.approx(2 / 3) and prf["micro"]["recall"] == pytest.approx(
        2 / 5
    )
    assert slot_prf(gold, gold)["micro"]["f1"] == 1.0
    with pytest.raises(ValueError, match="2 predictions for 3"):
        slot_prf(pred[:2], gold)


# -- the acoustic prompt ---------------------------------------------------------------------------------
def test_acoustic_prompt_templates() -> None:
    clues = {"pitch_level": "high", "rate": "fast", "emotion": "angry", "loudness": None}
    assert acoustic_prompt(clues, "en") == "Acoustic clues: high pitch, fast speaking rate, sounds angry."
    assert acoustic_prompt(clues, "zh") == "声学线索：音调高，语速快，情绪生气。"
    assert acoustic_prompt({}, "en") == "Acoustic clues: none."
    full = {s: SLOT_BINS[s][0] for s in SLOTS}
    assert acoustic_prompt(full, "zh").count("，") == len(SLOTS) - 1
    with pytest.raises(ValueError, match="unknown value 'huge'"):
        acoustic_prompt({"pitch_level": "huge"}, "en")


def test_parsed_caption_round_trips_through_the_prompt() -> None:
    for lang in ("en", "zh"):
        full = {s: SLOT_BINS[s][-1] for s in SLOTS}
        prompt = acoustic_prompt(full, lang)
        body = prompt.split(":", 1)[-1] if lang == "en" else prompt.split("：", 1)[-1]
        assert parse_caption(body, lang).slots == full


def test_select_clues_and_config() -> None:
    assert select_clues("caption", caption="语速很快", lang="zh") == {"rate": "fast"}
    assert select_clues("acoustic", measured={"rate": "slow"}) == {"rate": "slow"}
    assert select_clues("none", caption="loud") == {}
    with pytest.raises(ValueError, match="unknown clue source"):
        select_clues("oracle")
    assert CluesConfig().teacher_source == "caption" and CluesConfig().student_source == "acoustic"
    with pytest.raises(ValueError, match="student_source"):
        CluesConfig(student_source="teacher")
    for preset in ("smoke", "cpu", "paper"):
        CluesConfig.for_preset(preset)


# -- CLI -------------------------------------------------------------------------------------------------
def test_cli_parse_prints_one_json_object_per_text(capsys: pytest.CaptureFixture[str]) -> None:
    from aligncap_lib.cli import main

    assert main(["clues", "parse", "--lang", "zh", "语速很快", "声音颤抖，很害怕"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    objs = [json.loads(line) for line in lines]
    assert objs[0] == {"text": "语速很快", "slots": {"rate": "fast"}, "descriptors": [], "conflicts": []}
    assert objs[1]["slots"] == {"voice_quality": "trembling", "emotion": "fearful"}
    assert main(["clues", "parse", "--lang", "en", "a loud voice"]) == 0
    assert json.loads(capsys.readouterr().out)["slots"] == {"loudness": "loud"}


# -- measured quality on hand-labelled fixtures ------------------------------------------------------------
#: Per-slot F1 measured on the whole free-form fixtures (rounds 1 and 2), minus a 0.05 margin: a lexicon or
#: grammar change that loses a caption fails here. Measured: en micro 0.992 (rate 0.958, others 1.0; 1.0 since the
#: negation-across-a-speaking-verb rule, made for one of these captions); zh micro
#: 0.988 (pitch_level 0.968, loudness 0.980, emotion 0.988, others 1.0).
FREE_FLOORS = {
    "en": {"pitch_level": 0.95, "pitch_variation": 0.95, "rate": 0.90, "loudness": 0.95,
           "voice_quality": 0.95, "emotion": 0.95, "micro": 0.94},
    "zh": {"pitch_level": 0.91, "pitch_variation": 0.95, "rate": 0.95, "loudness": 0.93,
           "voice_quality": 0.95, "emotion": 0.93, "micro": 0.93},
}  # fmt: skip


def load_free(lang: str) -> list[dict]:
    return [
        json.loads(line) for line in (FIXTURES / f"clues_free_{lang}.jsonl").read_text("utf-8").splitlines()
    ]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_free_form_fixture_is_well_formed(lang: str) -> None:
    rows = load_free(lang)
    assert len(rows) >= 40 and len({r["text"] for r in rows}) == len(rows)
    for r in rows:
        for slot, value in r["slots"].items():
            assert value in SLOT_BINS[slot], r
        assert r["round"] in (1, 2)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_free_form_fixture_per_slot_f1_floors(lang: str) -> None:
    rows = load_free(lang)
    prf = slot_prf([parse_caption(r["text"], lang).slots for r in rows], [r["slots"] for r in rows])
    low = {s: round(prf[s]["f1"], 3) for s, floor in FREE_FLOORS[lang].items() if prf[s]["f1"] < floor}
    assert not low, f"{lang}: per-slot F1 below the floors {FREE_FLOORS[lang]}: {low}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_free_form_fixture_conflicts_are_found(lang: str) -> None:
    for r in load_free(lang):
        if "conflicts" in r:
            found = {s: list(v) for s, v in parse_caption(r["text"], lang).conflicts}
            assert found == r["conflicts"], r["text"]


def secap_dir() -> Path | None:
    env = os.environ.get("SECAP_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "secap-dev"
    return root if (root / "dataset" / "fid2captions.json").is_file() else None


@pytest.mark.secap
def test_secap_dev_fixture_precision_recall() -> None:
    root = secap_dir()
    if root is None:
        pytest.skip("SECap-dev captions not found: set $SECAP_DIR or put secap-dev at ../shared/secap-dev")
    captions = json.loads((root / "dataset" / "fid2captions.json").read_text("utf-8"))
    labels = json.loads((FIXTURES / "secap_dev_slots.json").read_text("utf-8"))["labels"]
    ids = sorted(set(labels) & set(captions))
    assert len(ids) >= 60, f"only {len(ids)} labelled SECap-dev ids found in {root}"
    prf = slot_prf([parse_caption(captions[i], "zh").slots for i in ids], [labels[i]["slots"] for i in ids])
    # Measured on the 100 ids: emotion P 0.97 / R 1.00, every other slot 1.00, micro F1 0.99.
    assert (
        prf["micro"]["f1"] >= 0.95
        and prf["emotion"]["precision"] >= 0.92
        and prf["emotion"]["recall"] >= 0.95
    )
    for slot in ("pitch_level", "rate"):
        assert prf[slot]["f1"] >= 0.90, (slot, prf[slot])


def test_secap_fixture_holds_no_caption_text() -> None:
    data = json.loads((FIXTURES / "secap_dev_slots.json").read_text("utf-8"))
    for key, value in data["labels"].items():
        assert set(value) <= {"slots", "conflicts"}, key


# -- the chart parser against the Earley reference ---------------------------------------------------------
#: Deliberate rule changes made after the Earley reference was stored: caption -> slots now.
CHANGED_SINCE_EARLEY = {
    # negation across a verb of speaking (rule N)
    "He isn't speaking fast; the pace is relaxed and the mood is neutral.": {
        "rate": "normal",
        "emotion": "neutral",
    },
}


def test_parser_matches_the_earley_reference_parses() -> None:
    """Every caption of the reference set (free-form fixtures, 400 corpus captions of both template partitions,
    200 random lexicon strings) parses to what Lark's Earley parser gave at commit 43e22df: slots,
    descriptors, conflicts, and each claim's slot/value/descriptor/negation in reading order."""
    rows = [
        json.loads(line)
        for line in (FIXTURES / "clue_parses_reference.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(rows) >= 700 and {r["source"] for r in rows} == {"fixture", "corpus", "salad"}
    diffs = []
    for r in rows:
        if r["text"] in CHANGED_SINCE_EARLEY:
            assert slots(r["text"], r["lang"]) == CHANGED_SINCE_EARLEY[r["text"]]
            continue
        got = parse_caption(r["text"], r["lang"]).to_json()
        claims = [[c.slot, c.value, c.descriptor, c.negated] for c in parse_claims(r["text"], r["lang"])]
        if got != {k: r[k] for k in got} or claims != r["claims"]:
            diffs.append(r["text"])
    assert not diffs, f"{len(diffs)} captions parse differently from the reference, e.g. {diffs[:3]}"


def test_parse_run_maximises_priority_and_breaks_ties_leftmost_longest() -> None:
    # NOUN DEG HEAD NOUN HEAD: two predications (2+1 each) beat an attribution in the middle (2+1, +1).
    parts = parse_run(("NOUN", "DEG", "HEAD", "NOUN", "HEAD"))
    assert [p.kind for p in parts] == ["predication", "predication"]
    assert parts[0].coord == (((1,), 2),)  # the degree word stays with its head
    # HEAD NOUN HEAD: attribution + coord ties with coord + predication; the longer first part wins.
    assert [p.kind for p in parse_run(("HEAD", "NOUN", "HEAD"))] == ["attribution", "coord"]
    assert [p.kind for p in parse_run(("OTHER", "NOUN"))] == ["loose", "noun"]
    assert parse_run(("NEG", "HEAD")) is parse_run(("NEG", "HEAD"))  # cached


def test_an_absence_alone_is_read() -> None:
    assert slots("没有明显的情绪。", "zh") == {"emotion": "neutral"}
    assert slots("without any variation", "en") == {"pitch_variation": "flat"}


def test_fresh_captions_parse_fast() -> None:
    """The evaluation scores 1,000 captions (x 3 references) in <= 10 s: the Earley parser took ~55 ms a caption."""
    rows = [(r["text"], lang) for lang in ("en", "zh") for r in load_free(lang)]
    parse_caption("warm up the lexicons and jieba", "en"), parse_caption("预热", "zh")
    parse_run.cache_clear()
    start = time.perf_counter()
    for text, lang in rows:
        parse_caption(text, lang)
    per_caption = (time.perf_counter() - start) / len(rows)
    assert per_caption < 0.005, f"{per_caption * 1000:.2f} ms per caption"
