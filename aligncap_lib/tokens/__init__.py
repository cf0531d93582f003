"""Speech tokens (notebook 02): audio -> codec encoder -> residual vector quantizer -> units the LLM reads.

"Token" in this package's names means a speech token (never a text tokenizer's piece). ``speech_tokens`` is the
stage (``aligncap tokenize``); ``spectral_codec`` (the offline codec trained here: log-spectra, SEANet blocks,
RVQ, Griffin-Lim), ``speech_codec`` (every codec: building, pretrained EnCodec loading, the safetensors artifact,
encoding and decoding), ``codebook_fitting`` (exact nearest-code assignment; k-means for the random baseline),
``speech_units`` (how codes enter the LLM's prompt), ``token_probe`` (what the units carry) and
``codec_comparison`` (the trained codec against the random-encoder baseline, notebook 02).
"""

from aligncap_lib.tokens.speech_tokens import (
    SpeechTokensConfig,
    load_codes,
    load_units,
    speech_unit_vocabulary,
    tokenize_stage,
    unit_vocabulary,
)

__all__ = [
    "SpeechTokensConfig", "load_codes", "load_units", "speech_unit_vocabulary", "tokenize_stage", "unit_vocabulary",
]  # fmt: skip
