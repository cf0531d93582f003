"""Every paper figure from ``results/<preset>/`` alone (notebook 08): :func:`render_all`.

Inputs are the small JSON files the stages write (no run folder, no model), so the figures render in seconds
and from a fresh clone with the committed ``results/cpu/``:

===========================  ==================  ====================================================
figure                       input               shows
===========================  ==================  ====================================================
``pipeline_overview``        (none)              the stages in order (:func:`figures.pipeline_overview`)
``probe_vs_chance``          ``probe.json``      token probe per slot vs chance and the Praat ceiling
                                                 (:func:`token_figures.probe_vs_chance`, also in 02)
``speech_text_kl``           ``kd.json``         held-out speech-vs-text KL with and without KD
``ablation_bars``            ``summary.json``    slot accuracy, hallucination, CIDEr, repetition x
                                                 (split, lang), per variant; range rows as a band
``slot_metrics_<s>_<lang>``  ``summary.json``    per-slot hallucination / accuracy / omission heatmaps
``claim_differences``        ``ablations.json``  each claim's paired difference, interval and verdict
``kd_lambda_sweep``          ``extras.json``     metrics vs the KD weight (valid and the claim split)
``data_size``                ``extras.json``     KD vs SFT against the share of paired training clips
``truth_judge``              ``extras.json``     PO with the analyzer judge vs the oracle-truth judge
``preference_size``          ``extras.json``     metrics vs the fraction of preference pairs
``dpo_reward_curves``        ``ablations.json``  trl's DPO log per step (:func:`po_figures.dpo_reward_curves`,
                                                 also in 06)
``example_captions``         ``ablations.json``  reference vs variant captions for a few clips
===========================  ==================  ====================================================

Figures whose input file is absent are skipped and listed (partial results still render); a file present
without the key a figure needs gives a figure that says so. The figure functions live in
:mod:`claim_figures`, :mod:`ablation_figures`, :mod:`example_figures`, :mod:`token_figures` and
:mod:`po_figures`; ``docs/figures.md`` lists every figure of the project (these and the notebooks' own) with
how to read it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aligncap_lib.figures import ablation_figures, claim_figures, example_figures, po_figures, token_figures
from aligncap_lib.figures.save import pipeline_overview, save_fig

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from aligncap_lib.core.run_layout import RunLayout

#: The result files read, by stem (``<stem>.json``).
INPUTS: tuple[str, ...] = ("summary", "kd", "probe", "ablations", "extras")


def load_inputs(results_dir: Path | str) -> tuple[dict[str, Any], dict[str, str]]:
    """``(payloads, problems)``: stem -> payload of each :data:`INPUTS` file in ``results_dir`` (files written by
    :func:`reproducibility.write_results` are unwrapped to their ``metrics``), and stem -> why a file was not
    loaded (missing, unreadable)."""
    payloads: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for stem in INPUTS:
        path = Path(results_dir) / f"{stem}.json"
        if not path.is_file():
            problems[stem] = f"{path.name} missing"
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems[stem] = f"{path.name} unreadable: {exc}"
            continue
        # why the check on "metrics": summary.json is written by write_json with its payload at the top level
        payloads[stem] = (
            data["metrics"] if isinstance(data, dict) and isinstance(data.get("metrics"), dict) else data
        )
    return payloads, problems


def _get(payload: Any, key: str, default: Any) -> Any:
    return payload.get(key, default) if isinstance(payload, Mapping) else default


#: figure name -> (input stem or None, figure of that input's payload), in rendering order.
FIGURES: dict[str, tuple[str | None, Callable[[Any], Figure]]] = {
    "pipeline_overview": (None, lambda _: pipeline_overview()),
    "probe_vs_chance": ("probe", token_figures.probe_vs_chance),
    "speech_text_kl": ("kd", lambda kd: claim_figures.speech_text_kl(_get(kd, "valid_kl", {}))),
    "ablation_bars": ("summary", ablation_figures.ablation_bars),
    "claim_differences": ("ablations", lambda a: claim_figures.claim_differences(_get(a, "claims", []))),
    "kd_lambda_sweep": (
        "extras",
        lambda e: claim_figures.sweep_curves(
            _get(e, "kd_lambda", []),
            x="kd_lambda",
            series=("split", "lang"),
            title="KD weight lambda (one seed; lambda 0 = SFT)",
            xlabel="lambda",
            symlog=True,
        ),  # fmt: skip
    ),
    "data_size": (
        "extras",
        lambda e: claim_figures.sweep_curves(
            _get(e, "data_size", []),
            x="fraction",
            series=("system", "lang"),
            title="KD vs SFT against the share of paired training clips (test_zeroshot, one seed)",
            xlabel="share of training clips",
        ),  # fmt: skip
    ),
    "truth_judge": ("extras", lambda e: claim_figures.truth_judge_bars(_get(e, "truth_judge", []))),
    "preference_size": (
        "extras",
        lambda e: claim_figures.preference_size_curve(_get(e, "preference_size", [])),
    ),
    "dpo_reward_curves": ("ablations", lambda a: po_figures.dpo_reward_curves(_get(a, "dpo_logs", {}))),
    "example_captions": (
        "ablations",
        lambda a: example_figures.example_table(_get(a, "examples", [])),
    ),
}
#: The figures of ``extras.json`` (:mod:`aligncap_lib.analysis.extras`, run only where the extras were run).
EXTRAS_FIGURES: tuple[str, ...] = ("kd_lambda_sweep", "data_size", "truth_judge", "preference_size")
#: Figures drawn once per (split, lang) of ``summary.json``'s aggregate, named ``<name>_<split>_<lang>``.
PER_CELL_FIGURES: dict[str, Callable[[Any, str, str], Figure]] = {
    "slot_metrics": ablation_figures.slot_heatmaps
}


def _jobs(payloads: Mapping[str, Any]) -> list[tuple[str, str | None, Callable[[], Figure]]]:
    """(figure name, input stem, make figure) for every figure, per-cell figures expanded over the cells the
    summary has (one placeholder when it has none)."""
    jobs: list[tuple[str, str | None, Callable[[], Figure]]] = [
        (name, stem, functools.partial(fn, payloads.get(stem) if stem else None))
        for name, (stem, fn) in FIGURES.items()
    ]
    aggregate = _get(payloads.get("summary"), "aggregate", {})
    cells = ablation_figures.cells_of(aggregate) if isinstance(aggregate, Mapping) else []
    for name, fn in PER_CELL_FIGURES.items():
        if not cells:
            jobs.append(
                (name, "summary", lambda: claim_figures.placeholder("Per-slot metrics", "no aggregate"))
            )
        for split, lang in cells:
            make = functools.partial(fn, payloads.get("summary"), split, lang)
            jobs.append((f"{name}_{split}_{lang}".lower(), "summary", make))
    return jobs


def render_all(
    results_dir: Path | str, layout: RunLayout | str | None = None, only: Sequence[str] | None = None
) -> dict[str, dict[str, Path] | str]:
    """Render every figure whose input exists in ``results_dir`` and save it with :func:`save_fig` under
    ``layout``'s figures folder. Returns figure name -> ``{"png": path, "pdf": path}``, or -> a string saying
    why it was skipped (its input missing or unreadable) or failed (the error; the other figures still render).
    ``only``: render just these figure names."""
    import matplotlib.pyplot as plt

    payloads, problems = load_inputs(results_dir)
    out: dict[str, dict[str, Path] | str] = {}
    for name, stem, make in _jobs(payloads):
        if only is not None and name not in only:
            continue
        if stem is not None and stem not in payloads:
            out[name] = f"skipped: {problems.get(stem, stem + '.json missing')}"
            continue
        fig = None
        try:
            fig = make()
            out[name] = save_fig(fig, name, layout)
        except Exception as exc:  # noqa: BLE001  (one bad input must not lose the other figures)
            out[name] = f"failed: {type(exc).__name__}: {exc}"
        finally:
            if fig is not None:
                plt.close(fig)
    return out
