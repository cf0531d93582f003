"""Tokenization rules of the evaluation."""

from __future__ import annotations

import pytest

from aligncap_lib.evaluation.segmentation import (
    ptb_tokenize,
    tokenization_name,
    tokenize_captions,
    zh_char_tokens,
    zh_jieba_tokens,
)


def test_zh_char_ascii_runs_are_one_token_and_punctuation_is_dropped():
    assert zh_char_tokens("语速较快，AI 2024！") == ["语", "速", "较", "快", "AI", "2024"]


def test_zh_char_drops_underscore_symbols_and_full_width_punctuation_keeps_other_letters():
    assert zh_char_tokens("a_b ～《情》é★") == ["a", "b", "情", "é"]
    assert zh_char_tokens("。，、；：？！") == []


def test_zh_char_mixed_letters_and_digits_form_one_run():
    assert zh_char_tokens("声音mp3格式") == ["声", "音", "mp3", "格", "式"]


def test_jieba_view_gives_words_without_punctuation():
    words = zh_jieba_tokens("语速较快，情绪激动。")
    assert "情绪" in words and "激动" in words
    assert all(w not in "，。" for w in words)
    assert "".join(words) == "语速较快情绪激动"


def test_ptb_lowercases_and_strips_coco_punctuation_and_keeps_alignment():
    out = ptb_tokenize({"a": ["The man's dog, barking!", ""], "b": ["Two\nlines."]})
    assert out == {"a": ["the man 's dog barking", ""], "b": ["two lines"]}


def test_names_are_stored_per_language_and_view():
    assert tokenization_name("en") == "ptb"
    assert tokenization_name("zh") == "zh_char"
    assert tokenization_name("zh", "jieba") == "zh_jieba"
    with pytest.raises(ValueError, match="fr"):
        tokenization_name("fr")
    with pytest.raises(ValueError, match="jieba"):
        tokenization_name("en", "jieba")


def test_tokenize_captions_zh_joins_tokens_with_single_spaces():
    assert tokenize_captions({"x": ["声音低沉。"]}, "zh") == {"x": ["声 音 低 沉"]}
