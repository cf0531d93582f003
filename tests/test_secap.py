"""SECap loader: reads ../shared/secap-dev (skips with a reason when absent); bad items reported."""

from __future__ import annotations

import json

import pytest

from aligncap_lib.core.manifest import check_record
from aligncap_lib.corpus.secap import find_secap_dir, load_secap, parse_results, split_of

SECAP = find_secap_dir()
needs_secap = pytest.mark.skipif(
    SECAP is None, reason="SECap data absent: set $SECAP_DIR or put it at ../shared/secap-dev"
)


@pytest.mark.secap
@needs_secap
def test_dev_folder_loads_as_100_dev_records_in_manifest_shape():
    records, errors = load_secap(SECAP, "secap_dev")
    assert errors == [] and len(records) == 100
    assert all(r["split"] == "secap_dev" and r["lang"] == "zh" and r["captions"][0] for r in records)
    for r in records:
        check_record(r, item=r["id"])
    assert load_secap(SECAP, "secap_test")[0] == []


@pytest.mark.secap
@needs_secap
def test_result_blocks_parse_with_origin_and_five_results():
    results, errors = parse_results(SECAP / "result" / "result.txt")
    assert errors == [] and len(results) == 100
    assert all(len(v["results"]) == 5 and v["origin"] for v in results.values())


def test_every_sixth_sorted_id_is_dev_on_a_full_set():
    splits = [split_of(i, 600) for i in range(600)]
    assert (
        splits.count("secap_dev") == 100
        and splits[0] == splits[6] == "secap_dev"
        and splits[1] == "secap_test"
    )


def test_bad_items_are_skipped_and_reported(tmp_path):
    (tmp_path / "dataset" / "wav").mkdir(parents=True)
    (tmp_path / "dataset" / "wav" / "a.wav").write_bytes(b"x")
    (tmp_path / "dataset" / "wav.scp").write_text("a dataset/wav/a.wav\nb dataset/wav/b.wav\nbroken\n")
    (tmp_path / "dataset" / "text.txt").write_bytes(b"a \xe4\xbd\xa0\xe5\xa5\xbd\n")
    (tmp_path / "dataset" / "fid2captions.json").write_text(
        json.dumps({"a": "语速较快", "b": "x"}, ensure_ascii=False)
    )
    records, errors = load_secap(tmp_path, "all")
    assert [r["id"] for r in records] == ["a"] and records[0]["text"] == "你好"
    assert any("b: audio file missing" in e for e in errors) and any("wav.scp:3" in e for e in errors)
    (tmp_path / "r.txt").write_text("file: a.wav\norigin: o\nresult: r1\n\nfile: c.wav\nresult: r\n")
    results, errs = parse_results(tmp_path / "r.txt")
    assert results == {"a": {"origin": "o", "results": ["r1"]}} and len(errs) == 1
