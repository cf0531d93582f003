"""Emotion clues (notebook 03): the emotion grammar parser that extracts clues from captions (the text teacher's
privileged input) and the acoustic analyzer that measures clues from audio.

``emotion_clues`` is the stage (``aligncap clues``) and the parser's face; ``clue_grammar`` and ``clue_lexicon``
are the grammar and its phrases; ``acoustic_analyzer`` measures clues with population norms; ``clue_quality``
scores both against the corpus.
"""

from aligncap_lib.clues.acoustic_analyzer import AnalyzerNorms, analyze_measurements, fit_norms
from aligncap_lib.clues.emotion_clues import ClueParse, CluesConfig, acoustic_prompt, parse_caption

__all__ = [
    "AnalyzerNorms", "ClueParse", "CluesConfig", "acoustic_prompt", "analyze_measurements", "fit_norms",
    "parse_caption",
]  # fmt: skip
