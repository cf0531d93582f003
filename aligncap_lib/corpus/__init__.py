"""The speech corpus (notebook 01): synthetic emotional speech rendered with espeak-ng from emotion recipes,
measured with Praat, verified, labelled with slots and captioned; and the real SECap data.

``speech_corpus`` is the stage (``aligncap corpus``); ``voices``, ``recipes``, ``clip`` (render, measure, verify,
label one clip), ``prosody`` (Praat measurement: the labeller), ``opensmile_check`` (an independent check of the
labels), ``degradations`` (the cross-domain split), ``reference_captions`` (captions from the slots), ``report``
and ``secap`` (the real SECap clips) are the concepts it is built from.
"""

from aligncap_lib.corpus.secap import find_secap_dir
from aligncap_lib.corpus.speech_corpus import CorpusConfig, build_corpus, ensure_corpus

__all__ = ["CorpusConfig", "build_corpus", "ensure_corpus", "find_secap_dir"]
