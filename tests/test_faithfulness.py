"""Faithfulness rules: each rule fires on its own violation and not on a good caption."""

from __future__ import annotations

import pytest

from aligncap_lib.evaluation import faithfulness as f

TH = f.FaithfulnessThresholds()
GOOD_EN = "The speaker sounds angry, with a high pitch and a fast, loud delivery."
GOOD_ZH = "语速较快，声音高亢，情绪激动，带有愤怒。"


@pytest.mark.parametrize(("text", "lang"), [(GOOD_EN, "en"), (GOOD_ZH, "zh")])
def test_good_captions_break_no_rule(text, lang):
    flags = f.violations(text, lang, TH, transcript="I told you not to come here today", n_clues=4)
    assert not any(flags.values()), flags


def test_not_descriptive_needs_clues():
    assert f.not_descriptive(0) and not f.not_descriptive(1)
    assert f.violations("The weather is nice.", "en", TH, n_clues=0)["not_descriptive"]
    assert not f.violations("The weather is nice.", "en", TH)["not_descriptive"]  # unknown without the parser


def test_transcript_copy_is_a_run_of_shared_tokens():
    transcript = "I told you not to come here today"
    assert f.transcript_copied("He says I told you not to come, angrily.", transcript, "en", TH)
    assert not f.transcript_copied("He told me he was angry you came.", transcript, "en", TH)
    assert f.transcript_copied("说话人说孩子流产啦很伤心", "孩子流产啦,海鸥痛不欲生。", "zh", TH)
    assert not f.transcript_copied("语气悲伤", "孩子流产啦,海鸥痛不欲生。", "zh", TH)
    assert not f.transcript_copied(GOOD_EN, None, "en", TH)


def test_wrong_language_by_script_share():
    assert f.wrong_language(GOOD_ZH, "en", TH) and f.wrong_language(GOOD_EN, "zh", TH)
    assert not f.wrong_language("语气激动 (angry)", "zh", TH)
    assert f.wrong_language("!!! ...", "en", TH)


def test_too_long_by_token_count():
    assert f.too_long("word " * 61, "en", TH) and not f.too_long("word " * 60, "en", TH)
    assert f.too_long("快" * 81, "zh", TH) and not f.too_long("快" * 80, "zh", TH)


def test_degenerate_repetition_of_ngrams():
    assert f.degenerate_repetition("very very very loud", "en", TH)
    assert f.degenerate_repetition("sad and tired sad and tired sad and tired", "en", TH)
    assert not f.degenerate_repetition("very very loud", "en", TH)
    assert f.degenerate_repetition("情绪激动激动激动", "zh", TH)


def test_violation_table_any_column():
    table = f.violation_table([GOOD_EN, "very very very"], "en", TH, n_clues=[3, 0])
    assert table["any"] == [False, True] and table["not_descriptive"] == [False, True]
