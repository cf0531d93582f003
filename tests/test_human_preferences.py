"""Human preferences: the JSONL a lab fills in becomes pairs; every bad line is named."""

from __future__ import annotations

import json

import pytest

from aligncap_lib.preference.human_preferences import HUMAN_PROTOCOL, load_human_preferences


def write(tmp_path, rows):
    path = tmp_path / "human.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")  # fmt: skip
    return path


def test_pairs_and_ratings_become_pairs(tmp_path):
    path = write(tmp_path, [
        {"id": "a", "chosen": "An angry voice.", "rejected": "A calm voice.", "annotator": "r1"},
        {"id": "b", "caption": "Sad and slow.", "rating": 5, "annotator": "r1"},
        {"id": "b", "caption": "Happy and fast.", "rating": 1, "annotator": "r1"},
        {"id": "b", "caption": "Sad and slow.", "rating": 4, "annotator": "r2"},
        {"id": "b", "caption": "Happy and fast.", "rating": 2, "annotator": "r2"},
        {"id": "b", "caption": "Sad.", "rating": 3, "annotator": "r2"},
        "",
        {"id": "c", "caption": "Loud.", "rating": 3},  # best and worst within the margin: no pair
        {"id": "c", "caption": "Quiet.", "rating": 3.5},
    ])  # fmt: skip
    pairs = load_human_preferences(path)
    assert [(p["id"], p["source"]) for p in pairs] == [("a", "pair"), ("b", "ratings")]
    b = pairs[1]
    assert (b["chosen"], b["rejected"]) == ("Sad and slow.", "Happy and fast.")
    assert b["chosen_rating"] == 4.5 and b["rejected_rating"] == 1.5 and b["annotator"] == "r1+r2"
    assert [p["id"] for p in load_human_preferences(path, margin=0.5)] == ["a", "b", "c"]


def test_every_bad_line_is_named(tmp_path):
    path = write(tmp_path, [
        {"id": "a", "chosen": "x", "rejected": "y", "annotator": "r1"},
        "{not json",
        {"id": "a", "chosen": "x", "rejected": "x", "annotator": "r1"},
        {"id": "a", "caption": "x", "rating": 7},
        {"id": "", "caption": "x", "rating": 3},
        {"id": "a", "chosen": "x", "rejected": "y"},
        {"id": "a", "text": "x"},
        [1, 2],
    ])  # fmt: skip
    with pytest.raises(ValueError) as info:
        load_human_preferences(path)
    msg = str(info.value)
    assert "7 bad line(s)" in msg
    for n, what in [(2, "not JSON"), (3, "same text"), (4, "'rating'"), (5, "'id'"), (6, "'annotator'"),
                    (7, "neither a pair"), (8, "JSON object")]:  # fmt: skip
        assert f"human.jsonl:{n}: " in msg and what in msg
    assert "human.jsonl:1:" not in msg


def test_protocol_text_gives_the_file_format():
    assert HUMAN_PROTOCOL.startswith("Human preference protocol")
    for needed in ('"caption"', '"rating"', '"chosen"', '"rejected"', '"annotator"', "margin", "1-5"):
        assert needed in HUMAN_PROTOCOL
