"""aligncap_lib: the library behind the AlignCap companion notebooks.

One module per stage of the paper (Liang, Shi, Chen, EMNLP 2024, arXiv 2410.19134):

- ``attributes``: the shared slot schema (pitch level, pitch variation, rate, loudness, voice quality, emotion)
- ``speech_corpus``: the synthetic emotional-speech corpus with measured ground truth, and real-data loaders
- ``speech_tokens``: EnCodec RVQ codes fed to the LLM
- ``emotion_clues``: the emotion grammar parser, the acoustic analyzer and the acoustic prompt
- ``evaluation``: caption metrics, hallucination metrics, bootstrap intervals
- ``captioner`` / ``kd_regularization`` / ``po_regularization``: the model and its two regularizers
- ``presets`` / ``run_layout`` / ``reproducibility`` / ``reproduce`` / ``figures``: the plumbing
"""

__version__ = "0.1.0.dev0"
