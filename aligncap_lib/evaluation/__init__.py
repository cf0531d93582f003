"""Evaluation (notebook 04): BLEU@4, METEOR, ROUGE-L and CIDEr (the paper's columns), slot accuracy, factual
hallucination, faithfulness, similarity, and intervals over clips and seeds.

``scoring`` is the stage (``aligncap evaluate``, :func:`evaluate_captions`); ``segmentation`` (how captions are
cut into words or characters before scoring), ``ngram_metrics`` (pycocoevalcap's metrics), ``hallucination``,
``faithfulness``, ``similarity``, ``bootstrap`` (intervals), ``peer_rows`` (the SECap peer row and ceilings) and
``result_store`` (a result as JSON and back) are the concepts it is built from.
"""

from aligncap_lib.evaluation.bootstrap import over_seeds
from aligncap_lib.evaluation.result_store import load_results, read_result, save_result
from aligncap_lib.evaluation.scoring import EvaluationConfig, EvaluationResult, evaluate_captions

__all__ = [
    "EvaluationConfig", "EvaluationResult", "evaluate_captions", "load_results", "over_seeds", "read_result",
    "save_result",
]  # fmt: skip
