"""Export and inference (notebook 09): a trained variant as a shareable folder (weights, tokenizer, speech
tokenizer, analyzer norms, model card, checksums), and captioning your own audio with it.

``exporter`` (``aligncap export``), ``model_card``, ``integrity`` (checksums, no pickles) and ``inference``
(``aligncap caption``, :class:`Captioner`).
"""

from aligncap_lib.export.exporter import export_model, export_variant, load_export
from aligncap_lib.export.inference import Captioner, CaptionResult

__all__ = ["CaptionResult", "Captioner", "export_model", "export_variant", "load_export"]
