"""Figures (notebook 08): every figure, written by one helper (:func:`save_fig`), drawn from ``results/``.

``paper_figures`` renders them all; ``corpus_figures``, ``token_figures``, ``kd_figures``, ``po_figures``,
``claim_figures``, ``ablation_figures`` and ``example_figures`` draw one stage's figures each.
"""

from aligncap_lib.figures.save import pipeline_overview, save_fig

__all__ = ["pipeline_overview", "save_fig"]
