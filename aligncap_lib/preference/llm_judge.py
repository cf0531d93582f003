"""The LLM judge: any OpenAI-compatible chat-completions endpoint scores captions 1-10 per criterion.

AlignCap's judge is GPT-3.5; its prompt is not published. :data:`SYSTEM_PROMPT` and :func:`judge_prompt` are
our reconstruction in its spirit: the judge cannot hear the clip, so it is given what an unlabelled clip has
(the acoustic analyzer's measured clues, the reference captions, the transcript) and the caption, and asked
for one JSON object of integer scores 1-10 for the criteria of :mod:`aligncap_lib.preference.judges`
(``factuality``, ``faithfulness``, ``similarity``; without references similarity is neither asked nor used).
Scores are normalised to [0, 1] by (s - 1) / 9 and combined with the rubric's weights.

Configuration: ``base_url`` (e.g. ``https://api.openai.com/v1`` or a local server's ``http://host:8000/v1``;
the request goes to ``<base_url>/chat/completions``), ``model`` and ``api_key`` from the arguments, else
``$ALIGNCAP_JUDGE_BASE_URL``, ``$ALIGNCAP_JUDGE_MODEL``, ``$ALIGNCAP_JUDGE_API_KEY`` (the key is optional: local
servers often need none). Standard library only (``urllib``).

Robustness: each request has a timeout; timeouts, connection errors, HTTP 429/5xx and malformed answers (no
JSON, missing or out-of-range scores) are retried ``retries`` times with exponential backoff (``backoff_s``,
2x, 4x, ...); other HTTP errors (401, 404, ...) fail at once. A clip that still fails raises
:class:`JudgeError` naming it; :meth:`LLMJudge.score_many` scores every other item first and then raises
:class:`JudgeBatchError` listing the failed ones (with the others' scores), so nothing is silently scored.

Cache: one JSON file per answer in ``cache_dir``, named by sha256(model + prompt): a re-run sends nothing
twice. The API key is sent only in the ``Authorization`` header and is never written to logs, exceptions,
the cache or ``repr``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.preference.judges import (
    NEUTRAL,
    ClipContext,
    JudgeScore,
    check_items,
    check_weights,
    combine,
)

log = logging.getLogger(__name__)

ENV_BASE_URL = "ALIGNCAP_JUDGE_BASE_URL"
ENV_MODEL = "ALIGNCAP_JUDGE_MODEL"
ENV_API_KEY = "ALIGNCAP_JUDGE_API_KEY"
SCALE = (1, 10)

SYSTEM_PROMPT = (
    "You are a strict judge of speech emotion captions. A caption describes how a speaker sounds: the emotion "
    "and the voice (pitch level, intonation, speaking rate, loudness, voice quality). You cannot hear the "
    "audio; you are given clues measured from it by an acoustic analyzer, reference captions written for the "
    "same clip, and the transcript. Answer with one JSON object and nothing else."
)
_CRITERIA_TEXT = {
    "factuality": "do the emotion and voice attributes the caption states agree with the measured clues? "
    "A contradiction is a serious error; attributes without a measured clue can neither help nor hurt; a "
    "caption that states nothing checkable, or leaves out most measured clues, is not factual.",
    "faithfulness": "does the caption follow the instruction 'describe the speaker's emotion and voice in "
    "{language}'? Penalise another language, copying the transcript instead of describing the voice, "
    "repetition, and rambling.",
    "similarity": "how close in meaning is the caption to the reference captions?",
}
_LANGUAGE = {"en": "English", "zh": "Chinese"}


class JudgeError(RuntimeError):
    """A judge could not score one clip (the message names it)."""


class JudgeBatchError(RuntimeError):
    """Some items of a batch failed: ``failures`` = [(item index, clip id, reason)], ``scores`` = the batch's
    scores with None at the failed items (the others are scored and cached)."""

    def __init__(self, failures: list[tuple[int, str, str]], scores: list[JudgeScore | None]) -> None:
        self.failures, self.scores = failures, scores
        shown = "; ".join(f"item {i} (clip {cid!r}): {why}" for i, cid, why in failures[:5])
        more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} of {len(scores)} items failed: {shown}{more}")


class _Retryable(Exception):
    pass


def criteria_for(ctx: ClipContext) -> tuple[str, ...]:
    """The criteria asked for ``ctx``: similarity only when the clip has references."""
    return ("factuality", "faithfulness", "similarity") if ctx.references else ("factuality", "faithfulness")


def judge_prompt(caption: str, ctx: ClipContext) -> str:
    """The user message for one (caption, clip): criteria, measured clues, references, transcript, caption."""
    crit = criteria_for(ctx)
    lines = [
        f"Score the candidate caption on {len(crit)} criteria, each an integer from 1 (worst) to 10 (best).",
        "",
    ]
    lines += [f"- {c}: {_CRITERIA_TEXT[c].format(language=_LANGUAGE[ctx.lang])}" for c in crit]
    clues = [f"{s.replace('_', ' ')}: {ctx.measured[s]}" for s in SLOTS if ctx.measured.get(s) is not None]
    lines += ["", "Measured clues: " + ("; ".join(clues) if clues else "none")]
    if ctx.references:
        lines += ["Reference captions:", *(f"{k}. {r}" for k, r in enumerate(ctx.references, start=1))]
    lines += [f"Transcript: {json.dumps(ctx.transcript or '', ensure_ascii=False)}"]
    lines += [f"Candidate caption: {json.dumps(caption, ensure_ascii=False)}", ""]
    example = ", ".join(f'"{c}": {n}' for c, n in zip(crit, (7, 9, 6), strict=False))
    lines += [f"Answer with one JSON object and nothing else, e.g. {{{example}}}."]
    return "\n".join(lines)


def parse_scores(content: str, criteria: Sequence[str]) -> dict[str, float]:
    """The model's answer -> criterion -> [0, 1]; raises ValueError on anything but integer-ish 1-10 scores."""
    m = re.search(r"\{.*\}", content, flags=re.DOTALL)  # tolerate ```json fences and a sentence around it
    if m is None:
        raise ValueError(f"no JSON object in the answer {content[:80]!r}")
    data = json.loads(m.group(0))
    if not isinstance(data, dict):
        raise ValueError(f"the answer is not a JSON object: {content[:80]!r}")
    out = {}
    for c in criteria:
        v = data.get(c)
        if isinstance(v, bool) or not isinstance(v, int | float) or not SCALE[0] <= v <= SCALE[1]:
            raise ValueError(f"criterion {c!r}: expected a number in {SCALE}, got {v!r}")
        out[c] = (float(v) - SCALE[0]) / (SCALE[1] - SCALE[0])
    return out


class LLMJudge:
    """Scores captions through an OpenAI-compatible chat endpoint (configuration, retries, cache: module doc)."""

    name = "llm"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        cache_dir: Path | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get(ENV_BASE_URL) or "").rstrip("/")
        self.model = model or os.environ.get(ENV_MODEL) or ""
        if not self.base_url or not self.model:
            raise ValueError(
                f"LLM judge needs a base URL and a model: pass base_url/model or set ${ENV_BASE_URL} and ${ENV_MODEL}"
            )
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError(
                f"need timeout_s > 0, retries >= 0, backoff_s >= 0; got {timeout_s}, {retries}, {backoff_s}"
            )
        self._key = api_key or os.environ.get(ENV_API_KEY) or None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.weights = check_weights(weights)
        self.requests_sent = 0
        self._memory: dict[str, dict[str, float]] = {}

    def __repr__(self) -> str:  # never the key
        return f"LLMJudge(base_url={self.base_url!r}, model={self.model!r}, key={'set' if self._key else 'none'})"

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def cache_key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.model}\n{SYSTEM_PROMPT}\n{prompt}".encode()).hexdigest()

    def _post(self, prompt: str) -> str:
        """One request; returns the answer's content. Raises _Retryable or JudgeError (redacted messages)."""
        body = json.dumps({"model": self.model, "temperature": 0, "messages": [
            {"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]}).encode()  # fmt: skip
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=body, headers=headers, method="POST"
        )
        self.requests_sent += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            why = f"HTTP {exc.code} {exc.reason}"
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(why) from None
            raise JudgeError(why + (" (check the API key)" if exc.code in (401, 403) else "")) from None
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retryable(f"{type(exc).__name__}: {reason}") from None
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError(f"content is {type(content).__name__}")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(f"malformed response ({type(exc).__name__}: {exc})") from None
        return content

    def _ask(self, prompt: str, ctx: ClipContext) -> tuple[dict[str, float], str]:
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                content = self._post(prompt)
                try:
                    return parse_scores(content, criteria_for(ctx)), content
                except ValueError as exc:
                    raise _Retryable(f"malformed scores ({exc})") from None
            except _Retryable as exc:
                why = self._redact(str(exc))
                if attempt == attempts:
                    raise JudgeError(
                        f"LLM judge: clip {ctx.id!r} failed after {attempts} attempts: {why}"
                    ) from None
                wait = self.backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "LLM judge: clip %r attempt %d/%d: %s; retrying in %.2f s",
                    ctx.id,
                    attempt,
                    attempts,
                    why,
                    wait,
                )
                time.sleep(wait)
            except JudgeError as exc:
                raise JudgeError(f"LLM judge: clip {ctx.id!r}: {self._redact(str(exc))}") from None
        raise AssertionError("unreachable")

    def score(self, caption: str, ctx: ClipContext) -> JudgeScore:
        """Score one caption (cached in memory and in ``cache_dir``); raises JudgeError naming the clip."""
        prompt = judge_prompt(caption, ctx)
        key = self.cache_key(prompt)
        path = self.cache_dir / f"{key}.json" if self.cache_dir is not None else None
        if key not in self._memory and path is not None and path.is_file():
            try:
                self._memory[key] = dict(json.loads(path.read_text(encoding="utf-8"))["breakdown"])
            except (ValueError, KeyError, TypeError) as exc:  # a damaged entry is asked again, not trusted
                log.warning("LLM judge: ignoring unreadable cache entry %s (%s)", path.name, exc)
        if key not in self._memory:
            breakdown, content = self._ask(prompt, ctx)
            self._memory[key] = breakdown
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                record = {
                    "model": self.model,
                    "clip": ctx.id,
                    "breakdown": breakdown,
                    "answer": self._redact(content),
                }
                tmp.write_text(
                    json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
                )
                tmp.replace(path)
        used = criteria_for(ctx)
        breakdown = {
            "similarity": NEUTRAL,
            **self._memory[key],
        }  # no references: neutral, unused (as the rubric)
        return JudgeScore(combine(breakdown, self.weights, used), breakdown)

    def score_many(self, items: Sequence[tuple[str, ClipContext]]) -> list[JudgeScore]:
        """Score ``items`` [(caption, context)] in order; failed items raise :class:`JudgeBatchError` at the end."""
        check_items(items)
        scores: list[JudgeScore | None] = []
        failures: list[tuple[int, str, str]] = []
        for i, (caption, ctx) in enumerate(items):
            try:
                scores.append(self.score(caption, ctx))
            except JudgeError as exc:
                scores.append(None)
                failures.append((i, ctx.id, str(exc)))
        if failures:
            raise JudgeBatchError(failures, scores)
        return [s for s in scores if s is not None]
