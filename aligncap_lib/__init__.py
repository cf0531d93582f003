"""aligncap_lib: the library behind the AlignCap companion notebooks.

The modules, grouped by the stage of the paper (Liang, Shi, Chen, EMNLP 2024, arXiv 2410.19134) they implement.
The first module of each group is the stage's public face (its config, its cached stage function, its
``aligncap`` subcommand); the others are the concepts it is built from.

Shared schema
    ``attributes``: the slots (pitch level, pitch variation, rate, loudness, voice quality, emotion), their bins
    and the measurement -> bin rules shared by the corpus labels and the acoustic analyzer.

Speech corpus (notebook 01)
    ``speech_corpus``; ``voices`` (espeak-ng voices), ``corpus_recipes`` (emotion recipes, rendering),
    ``corpus_clip`` (render, measure, verify, label one clip), ``prosody`` (Praat measurement),
    ``opensmile_check`` (the independent label check), ``degradations`` (the cross-domain split), ``captions``
    (reference captions), ``manifest`` (the bring-your-own-data format), ``corpus_report``, ``corpus_plots``,
    ``audio_io`` (reading, validating and resampling audio: the one place), ``secap`` (the real SECap data).

Speech tokens (notebook 02)
    ``speech_tokens``; ``speech_codec`` (EnCodec, pretrained loading, the safetensors artifact),
    ``codebook_fitting`` (offline RVQ fitting), ``speech_units`` (how tokens enter the LLM), ``token_probe``,
    ``tokenizer_comparison``, ``token_figures``.

Emotion clues (notebook 03)
    ``emotion_clues``; ``clue_grammar`` and ``clue_lexicon`` (the emotion grammar parser),
    ``acoustic_analyzer`` (clues measured from audio), ``clue_quality``.

Evaluation (notebook 04)
    ``evaluation``; ``caption_tokens`` (tokenization), ``caption_metrics`` (pycocoevalcap), ``similarity``,
    ``hallucination``, ``faithfulness``, ``bootstrap`` (intervals), ``peer_rows`` (SECap peer row, ceilings).

Captioner and KD-Regularization (notebook 05)
    ``training`` (``aligncap train``); ``captioner`` (LM, tokenizer, LoRA), ``caption_prompts``,
    ``captioner_inputs``, ``caption_generation``, ``text_teacher``, ``kd_regularization`` (the divergence),
    ``kd_trainer`` (the ``Trainer`` subclass), ``variants``, ``variant_evaluation``, ``results_summary``,
    ``kd_figures``.

PO-Regularization (notebook 06)
    ``po_regularization`` (candidates, pairs, DPO; ``aligncap pairs``); ``preference_judges`` (the rubric judge
    and the judge interface), ``llm_judge`` (an OpenAI-compatible judge), ``judge_checks`` (judges against the
    synthetic truth and SECap), ``human_preferences`` (the file a lab fills in), ``po_figures``.

Ablations and figures (notebooks 07, 08)
    ``ablations`` (the runner and the claims), ``paper_figures`` (every figure from ``results/``).

Caption your own audio (notebook 09)
    ``inference`` (``aligncap caption``, ``Captioner``); ``model_export`` (``aligncap export``), ``model_card``,
    ``model_integrity``; ``paper_figures`` draws notebook 08's figures with ``claim_figures``,
    ``ablation_figures`` and ``caption_examples_figure``.

Plumbing
    ``presets`` (stage configs and presets), ``run_layout`` (paths and the stage cache), ``reproducibility``
    (seeds, threads, snapshots, results JSON), ``reproduce`` (papermill), ``figures`` (the one figure helper),
    ``cli`` (the ``aligncap`` command).
"""

import warnings as _warnings

__version__ = "0.1.0.dev0"

# why: libraries import tqdm.auto, which warns once per kernel that ipywidgets is missing (we do not need the
# widget: progress goes to stderr or is off); the warning would land in every notebook's stderr
_warnings.filterwarnings("ignore", message="IProgress not found")
