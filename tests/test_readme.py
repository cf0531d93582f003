"""The README and docs/ against the committed results: the first screen shows the claims figure and a verdict
table naming every claim, whose verdicts and numbers are those of ``results/cpu/ablations.json``; the results
table's numbers are those of ``results/cpu/summary.json``; every relative link resolves; no internal jargon.

The verdict table summarises, per claim, its *headline rows*: the first metric the claim lists
(:data:`~aligncap_lib.analysis.ablations.CLAIMS`; the KL claim's only metric, :data:`KL_CLAIM`) on the claim split
``test_zeroshot``, for each language it is measured in (``en`` and ``zh``; ``both`` for the KL). The verdict cell
is that verdict when the headline rows agree, else ``en: <verdict>, zh: <verdict>``; the measured cell prints each
headline row as ``<lang> <diff> [<low>, <high>]``, rounded to the decimals printed (at least 3).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aligncap_lib.analysis.ablations import CLAIM_IDS, CLAIMS, KL_CLAIM

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
CLAIM_SPLIT = "test_zeroshot"
FIRST_SCREEN = 40
#: How a headline metric is named in the verdict table.
METRIC_LABELS = {"slot_accuracy": "slot accuracy", "bleu_4": "BLEU@4", "factual_hallucination": "factual hallucination",
                 "speech_text_kl": "held-out KL"}  # fmt: skip
#: A printed paired difference: language, difference, interval.
DIFF = re.compile(r"\b(en|zh|both) ([+-]\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
JARGON = re.compile(r"\bissues?\s+#?\d{1,2}\b|\bprotocol\s+\d+|\bstop\s+\d+", re.IGNORECASE)


def _claims() -> list[dict]:
    return json.loads((ROOT / "results" / "cpu" / "ablations.json").read_text(encoding="utf-8"))["metrics"][
        "claims"
    ]


def _headline_metric(claim_id: str) -> str:
    if claim_id == KL_CLAIM[0]:
        return "speech_text_kl"
    return next(metrics[0][0] for cid, _, _, _, metrics in CLAIMS if cid == claim_id)


def _headline_rows(claim_id: str) -> list[dict]:
    metric = _headline_metric(claim_id)
    rows = [
        r
        for r in _claims()
        if r["claim_id"] == claim_id and r["split"] == CLAIM_SPLIT and r["metric"] == metric
    ]
    assert rows, f"no {claim_id} rows for {metric} on {CLAIM_SPLIT} in results/cpu/ablations.json"
    return rows


def _expected_verdict(rows: list[dict]) -> str:
    verdicts = {r["verdict"] for r in rows}
    if len(verdicts) == 1:
        return verdicts.pop()
    return ", ".join(f"{r['lang']}: {r['verdict']}" for r in rows)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _verdict_table() -> dict[str, list[str]]:
    """claim_id -> the cells of its row, from the first markdown table in the README's first screen that names
    every claim id."""
    lines = README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN]
    rows: dict[str, list[str]] = {}
    for line in lines:
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        named = [cid for cid in CLAIM_IDS if f"`{cid}`" in cells[0]]
        if len(named) == 1:
            rows[named[0]] = cells
    return rows


def _matches_printed(printed: str, value: float) -> bool:
    decimals = len(printed.split(".")[1])
    return decimals >= 3 and abs(float(printed) - value) <= 0.5 * 10**-decimals + 1e-12


def _strip_code(text: str) -> str:
    """The text without fenced code blocks (their brackets are not links)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: formatting dropped, lower case, punctuation but - and _ removed, spaces -."""
    text = re.sub(r"[`*]", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _strip_code(path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+?) *$", text, flags=re.MULTILINE)}


def test_first_screen_shows_the_claims_figure_and_every_claim() -> None:
    first = "\n".join(README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN])
    assert "](figures/claim_differences.png)" in first, (
        "the claims figure is not in the README's first 40 lines"
    )
    assert (ROOT / "figures" / "claim_differences.png").is_file()
    rows = _verdict_table()
    assert set(rows) == set(CLAIM_IDS), (
        f"claims missing from the first screen's table: {set(CLAIM_IDS) - set(rows)}"
    )
    assert all(len(cells) == 3 for cells in rows.values()), "the verdict table has three columns"


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_verdict_table_equals_the_committed_claims(claim_id: str) -> None:
    cells = _verdict_table()[claim_id]
    measured, verdict = cells[1], cells[2]
    headline = _headline_rows(claim_id)
    assert verdict.replace("*", "") == _expected_verdict(headline), f"{claim_id}: verdict cell {verdict!r}"
    assert METRIC_LABELS[_headline_metric(claim_id)] in measured, f"{claim_id}: headline metric not named"
    printed = DIFF.findall(measured)
    assert [p[0] for p in printed] == [r["lang"] for r in headline], (
        f"{claim_id}: {printed} vs the headline rows"
    )
    for (lang, diff, lo, hi), row in zip(printed, headline, strict=True):
        for text, value in ((diff, row["diff"]), (lo, row["ci95"][0]), (hi, row["ci95"][1])):
            assert _matches_printed(text, value), f"{claim_id} {lang}: printed {text}, results say {value}"
    # a claim with a contradicted row anywhere on the claim split says so in its row
    others = [r for r in _claims() if r["claim_id"] == claim_id and r["split"] == CLAIM_SPLIT]
    if any(r["verdict"] == "contradicted" for r in others):
        assert "contradicted" in measured + verdict, f"{claim_id}: a contradicted row is not mentioned"


def test_results_table_equals_the_summary() -> None:
    aggregate = json.loads((ROOT / "results" / "cpu" / "summary.json").read_text(encoding="utf-8"))[
        "aggregate"
    ]
    metrics = {
        "CIDEr": "cider",
        "slot acc.": "slot_accuracy",
        "halluc.": "factual_hallucination",
        "BLEU@4": "bleu_4",
    }
    lines = README.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| variant |") and "CIDEr en" in line)
    columns = _cells(lines[header])
    checked = 0
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        variant = cells[0].strip("`")
        for name, cell in zip(columns, cells, strict=True):
            label, _, lang = name.rpartition(" ")
            if label not in metrics:
                continue
            entry = aggregate[variant][CLAIM_SPLIT][lang][metrics[label]]
            numbers = re.findall(r"-?\d+\.\d+", cell)
            values = [entry["mean"], *entry["ci95"]][: len(numbers)]
            for text, value in zip(numbers, values, strict=True):
                assert _matches_printed(text, value), (
                    f"{variant} {name}: printed {text}, summary says {value}"
                )
                checked += 1
    assert checked >= 12 * 6, "the README's results table was not found or is too small"


def test_readme_out_of_domain_and_po_numbers() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    ablations = json.loads((ROOT / "results" / "cpu" / "ablations.json").read_text(encoding="utf-8"))[
        "metrics"
    ]
    full = ablations["secap_dev"]["rows"]["aligncap_full"]
    for metric in ("cider", "slot_accuracy"):
        lo, hi = full["ci95"][metric]
        assert f"{full[metric]:.3f} [{lo:.3f}, {hi:.3f}]" in text, f"secap_dev {metric} of aligncap_full"
    aggregate = json.loads((ROOT / "results" / "cpu" / "summary.json").read_text(encoding="utf-8"))[
        "aggregate"
    ]
    m = re.search(r"omission (\d\.\d+) -> (\d\.\d+) en, (\d\.\d+) -> (\d\.\d+) zh", text)
    assert m, "the PO sentence's omission numbers are missing"
    om = [
        aggregate[v][CLAIM_SPLIT][lang]["omission"]["mean"]
        for lang in ("en", "zh")
        for v in ("no_po", "aligncap_full")
    ]
    for printed, value in zip(m.groups(), om, strict=True):
        assert _matches_printed(printed, value), f"omission printed {printed}, summary says {value}"


def test_readme_is_short() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) < 250


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(_strip_code(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.name}: broken links: {broken}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_internal_jargon(page: Path) -> None:
    found = JARGON.findall(page.read_text(encoding="utf-8"))
    assert not found, f"{page.name}: internal jargon {found}: describe what changed instead"
