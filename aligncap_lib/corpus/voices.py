"""espeak-ng voices of the corpus: a project copy of the espeak-ng data with generated variant files.

A *voice* is one generated variant file (pitch base and range in Hz, formant scaling) used with a language
(``en-us`` or ``cmn-latn-pinyin``); each voice comes in three *qualities* (``steady``, ``trembling`` = espeak
``flutter``, ``breathy`` = espeak ``breath``/``breathw``), each its own variant file. Voices are grouped in
*families* = gender x formant set (6 families of 4 voices = 24 voices per language). The same 24 variants
serve both languages, so a held-out voice is held out in both.

The variants are written into a copy of the espeak-ng data (only the files the two languages need, about
6 MB) and used through ``--path``; the system data stays untouched. ``en-gb+variant`` style spellings that
espeak-ng silently ignores are never used: :func:`check_voices_differ` renders every voice and fails when
two voices (or a voice and the plain language voice) give the same audio.

Pitch-level norms (:data:`FAMILY_F0_NORM_HZ`): the f0 a listener expects of a voice of that family, i.e.
the median f0 of the family's steady voices at espeak-ng's default pitch (``-p 50``), measured on the
calibration sentence of :func:`check_voices_differ` and rounded. The formant set does not move f0, so the
norm depends on language and gender only; each voice's own base deviates from it by -1.5..+1.5 semitones (a speaker's
"hidden base" a listener of one clip cannot know).

Mandarin goes through ``pypinyin`` (tone digits, neutral tone 5) into the ``cmn-latn-pinyin`` voice:
Debian's espeak-ng 1.51 reads Chinese characters given to ``-v cmn`` partly as English (tone digits are
spoken, seen as ``(en)`` switches in ``espeak-ng -x``), so characters are never passed to espeak-ng.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from aligncap_lib.corpus.prosody import measure

SYSTEM_DATA_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/espeak-ng-data",
    "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
    "/usr/share/espeak-ng-data",
    "/usr/local/share/espeak-ng-data",
)
#: The data files the two languages need (dictionaries, phoneme tables, intonation, language definitions).
DATA_FILES = ("phondata", "phonindex", "phontab", "intonations", "en_dict", "cmn_dict", "lang")
LANG_VOICE = {"en": "en-us", "zh": "cmn-latn-pinyin"}
QUALITIES = ("steady", "trembling", "breathy")
GENDERS = ("female", "male")
#: Formant set -> per-formant frequency scaling in percent (F1..F5); sizes of vocal tract.
FORMANT_SETS: dict[str, tuple[int, ...]] = {
    "a": (100, 100, 100, 100, 100),
    "b": (108, 106, 104, 103, 102),
    "c": (93, 94, 96, 97, 98),
}
#: Gender -> extra formant scaling (female voices have shorter vocal tracts) and the centre of the base.
GENDER_FORMANT = {"female": 115, "male": 100}
GENDER_PITCH_HZ = {"female": (175.0, 240.0), "male": (85.0, 122.0)}
#: (language, gender) -> median f0 (Hz) of the family's steady voices at -p 50 (see module docstring), measured
#: with :func:`check_voices_differ` and rounded. Mandarin sits about 2 st lower: its third and neutral tones.
FAMILY_F0_NORM_HZ = {
    ("en", "female"): 219.0,
    ("en", "male"): 106.0,
    ("zh", "female"): 195.0,
    ("zh", "male"): 93.0,
}
VOICES_PER_FAMILY = 4
BASE_OFFSETS_ST = (-1.5, -0.5, 0.5, 1.5)


@dataclasses.dataclass(frozen=True)
class Voice:
    """One generated voice: ``id`` like ``f_b_2`` (gender, formant set, index), its family and settings."""

    id: str
    gender: str
    formant_set: str
    pitch_lo_hz: float
    pitch_hi_hz: float
    flutter: int
    breath: int

    @property
    def family(self) -> str:
        return f"{self.gender}_{self.formant_set}"

    def f0_norm_hz(self, lang: str) -> float:
        """The pitch norm of this voice's family in ``lang`` (Hz)."""
        return FAMILY_F0_NORM_HZ[(lang, self.gender)]

    @property
    def base_offset_st(self) -> float:
        """The hidden base of this voice re its family norm (semitones; -1.5..+1.5 by design, confirmed by
        :func:`check_voices_differ`: the family's medians sit at the norm +-0.1 st)."""
        return 12.0 * math.log2(self.pitch_lo_hz / GENDER_PITCH_HZ[self.gender][0])

    def variant(self, quality: str) -> str:
        if quality not in QUALITIES:
            raise ValueError(f"unknown voice quality {quality!r}; allowed: {QUALITIES}")
        return f"ac_{self.id}_{quality}"

    def espeak_name(self, lang: str, quality: str) -> str:
        return f"{LANG_VOICE[lang]}+{self.variant(quality)}"


def all_voices() -> list[Voice]:
    """The 24 voices, in a fixed order (family by family). Flutter 30-60 and breath 10-19 vary by voice (breath above about 30 turns the voice into a whisper with no f0)."""
    voices = []
    for gender in GENDERS:
        lo, hi = GENDER_PITCH_HZ[gender]
        for fs in FORMANT_SETS:
            for i, off in enumerate(BASE_OFFSETS_ST):
                k = 2.0 ** (off / 12.0)
                voices.append(
                    Voice(
                        id=f"{gender[0]}_{fs}_{i}",
                        gender=gender,
                        formant_set=fs,
                        pitch_lo_hz=round(lo * k, 1),
                        pitch_hi_hz=round(hi * k, 1),
                        flutter=30 + 10 * i,
                        breath=10 + 3 * i,
                    )
                )
    return voices


def families() -> list[str]:
    return sorted({v.family for v in all_voices()})


def variant_text(voice: Voice, quality: str) -> str:
    """The espeak-ng variant file of ``voice`` in ``quality``."""
    scale = GENDER_FORMANT[voice.gender]
    lines = [
        "language variant",
        f"name {voice.variant(quality)}",
        f"gender {voice.gender}",
        f"pitch {voice.pitch_lo_hz:.0f} {voice.pitch_hi_hz:.0f}",
    ]
    for n, pct in enumerate(FORMANT_SETS[voice.formant_set], start=1):
        lines.append(f"formant {n} {round(pct * scale / 100)} 100 100")
    if quality == "trembling":
        lines.append(f"flutter {voice.flutter}")
    if quality == "breathy":
        b = voice.breath
        lines.append("breath " + " ".join([str(b)] * 8))
        lines.append("breathw " + " ".join([str(2 * b)] * 8))
    return "\n".join(lines) + "\n"


def system_data_dir() -> Path:
    for cand in SYSTEM_DATA_CANDIDATES:
        if (Path(cand) / "phondata").is_file():
            return Path(cand)
    raise RuntimeError(f"espeak-ng data not found in {SYSTEM_DATA_CANDIDATES}; install espeak-ng (>= 1.51)")


def write_voice_data(dest: Path) -> Path:
    """Copy the espeak-ng data the corpus needs into ``dest/espeak-ng-data`` and write every variant file.

    Returns ``dest`` (the value for ``espeak-ng --path``). Idempotent: the output depends only on the system
    data and this module.
    """
    dest = Path(dest)
    data = dest / "espeak-ng-data"
    src = system_data_dir()
    data.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        s, d = src / name, data / name
        if d.exists():
            continue
        if s.is_dir():
            shutil.copytree(s, d)
        else:
            shutil.copy2(s, d)
    vdir = data / "voices" / "!v"
    vdir.mkdir(parents=True, exist_ok=True)
    for voice in all_voices():
        for quality in QUALITIES:
            (vdir / voice.variant(quality)).write_text(variant_text(voice, quality), encoding="utf-8")
    return dest


def synthesize(
    text: str, espeak_voice: str, data_path: Path, *, pitch: int = 50, speed: int = 175, ssml: bool = False
) -> tuple[np.ndarray, int]:
    """Render ``text`` with espeak-ng -> (float32 ``[T]`` full scale 1.0, 22050 Hz). Raises RuntimeError naming
    the text on failure or on empty output."""
    cmd = [
        "espeak-ng",
        f"--path={data_path}",
        "-v",
        espeak_voice,
        "-p",
        str(int(pitch)),
        "-s",
        str(int(speed)),
        "--stdout",
    ]
    if ssml:
        cmd.append("-m")
    proc = subprocess.run([*cmd, text], capture_output=True, timeout=60)
    if proc.returncode != 0 or len(proc.stdout) < 100:
        raise RuntimeError(f"espeak-ng failed on {text[:40]!r} with {espeak_voice}: {proc.stderr[-200:]!r}")
    wave, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return wave, int(sr)


def pinyin(text: str) -> str:
    """Chinese characters -> tone-numbered pinyin (``今天`` -> ``jin1 tian1``); punctuation -> ``,`` ``.``."""
    from pypinyin import Style, lazy_pinyin

    text = re.sub(r"[，、；：]", ",", text)
    text = re.sub(r"[。！？!?]", ".", text)
    parts = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    return re.sub(r"\s+([,.])", r"\1", " ".join(p.strip() for p in parts if p.strip()))


_EN_VOWELS = "aeiouæɑɒɔəɛɜɪʊʌʏyøœɐɘɵɤɯɨʉɚɝ"


@functools.lru_cache(maxsize=4096)
def count_syllables(text: str, lang: str) -> int:
    """Syllables of ``text``: Mandarin one per Han character; English the vowel nuclei of espeak-ng's IPA
    transcription (vowel runs count once, so diphthongs are one nucleus; syllabic consonants count)."""
    if lang == "zh":
        return len(re.findall(r"[\u4e00-\u9fff]", text))
    ipa = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-q", "--ipa", text],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    ipa = ipa.replace("ː", "").replace("ˈ", "").replace("ˌ", "")
    return len(re.findall(f"[{_EN_VOWELS}]+", ipa)) + ipa.count("\u0329")


def pinyin_syllables_spoken(pinyin_text: str, data_path: Path) -> int:
    """Syllables espeak-ng's ``cmn-latn-pinyin`` voice will speak: tone-marked nuclei in its ``-x`` output.
    Used to verify that every Mandarin sentence is read as pinyin (one spoken syllable per character)."""
    out = subprocess.run(
        ["espeak-ng", f"--path={data_path}", "-v", LANG_VOICE["zh"], "-q", "-x", pinyin_text],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    if "(en)" in out:
        return -1
    return len(re.findall(r"\d+_?\|?", out.replace("_|", " ")))


def check_voices_differ(
    data_path: Path, lang: str, voices: Sequence[Voice] | None = None, text: str | None = None
) -> dict[str, dict[str, float]]:
    """Render a calibration sentence with every voice and quality; raise RuntimeError if any two renderings
    are identical (a variant silently ignored), if a trembling rendering is not more tremulous than the steady
    one, or a breathy one not less harmonic. Returns voice id -> measured f0 median (Hz), tremor and HNR."""

    voices = list(voices or all_voices())
    text = text or (
        "She said the meeting would start at nine." if lang == "en" else pinyin("我们明天早上九点开会。")
    )
    seen: dict[bytes, str] = {}
    plain, _ = synthesize(text, LANG_VOICE[lang], data_path)
    seen[plain.tobytes()] = LANG_VOICE[lang]
    report: dict[str, dict[str, float]] = {}
    for voice in voices:
        m = {}
        for quality in QUALITIES:
            wave, sr = synthesize(text, voice.espeak_name(lang, quality), data_path)
            key = wave.tobytes()
            if key in seen:
                raise RuntimeError(f"voice {voice.id}/{quality} ({lang}) renders identically to {seen[key]}")
            seen[key] = f"{voice.id}/{quality}"
            m[quality] = measure(wave, sr)
        if not m["trembling"]["f0_tremor_st"] > 1.5 * m["steady"]["f0_tremor_st"]:
            raise RuntimeError(f"voice {voice.id} ({lang}): flutter did not raise the f0 tremor: {m}")
        if not m["breathy"]["hnr_db"] < m["steady"]["hnr_db"] - 3.0:
            raise RuntimeError(f"voice {voice.id} ({lang}): breath did not lower the HNR: {m}")
        report[voice.id] = {
            "f0_median_hz": m["steady"]["f0_median_hz"],
            "tremor_ratio": m["trembling"]["f0_tremor_st"] / m["steady"]["f0_tremor_st"],
            "hnr_drop_db": m["steady"]["hnr_db"] - m["breathy"]["hnr_db"],
        }
    return report
