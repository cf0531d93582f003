"""The emotion grammar over lexicon-typed tokens, its chart parser, and the rules that read its parses.

Tokens come from :mod:`aligncap_lib.clues.clue_lexicon`; each becomes a terminal named after its lexicon kind
(NEG, DEG, HEDGE, COP, DET, LINK, PREP, OR, AND, NOUN, HEAD) or OTHER, and punctuation becomes a clause
boundary. The grammar (:data:`GRAMMAR`, written in Lark's notation) finds, inside each clause:

- ``phrase``: modifiers (negation, degree, hedge, copula, determiner) + a head word ("not very loud",
  "不太高兴", "有点快");
- ``coord``: phrases joined by "or"/"nor"/也, across which a leading negation distributes ("not loud or fast",
  "不快也不慢");
- ``absence``: "no"/"without"/没有/无 + up to two fillers + a noun ("no obvious emotion", "没有明显的情绪");
- ``predication``: a noun, then a coord ("the pitch is slightly high", "语速不快", "声音低沉");
- ``attribution``: a coord, then (的 | a preposition)? and a noun ("a low voice", "low in volume",
  "低沉的声音").

The noun of a predication or attribution, else the nearest noun before the phrase in its clause, gives the
*noun class* that resolves contextual heads (高/high: pitch with 声音/voice, loudness with 音量/volume, rate
with 语速/speed). The rules that turn a phrase into claims are in :func:`read_phrase` and in the docstring of
:mod:`aligncap_lib.clues.emotion_clues`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from aligncap_lib.clues.clue_lexicon import CONTOUR_DESCRIPTORS, Entry, tokens
from aligncap_lib.core.attributes import ORDINAL_SLOTS, SLOT_BINS

#: Token kinds that negate a phrase (ABSENT also marks "there is no ...": 没有, no, without).
NEGATIONS = ("NEG", "ABSENT")

GRAMMAR = r"""
start: (clause | _SEP)*
clause: _part+
_part: predication | attribution | coord | absence | NOUN | loose
loose.-1: OTHER | AND | OR | COP | DET | LINK | PREP | NEG | ABSENT | DEG | HEDGE
absence.2: ABSENT (DET | DEG | LINK | OTHER)~0..2 NOUN
predication.2: NOUN (COP | LINK | DET | HEDGE | DEG)* coord
attribution.2: coord (LINK | PREP)? DET? NOUN
coord: phrase (OR phrase)*
phrase.1: mod* HEAD
mod: NEG | ABSENT | DEG | HEDGE | COP | DET
"""
"""The grammar in Lark's notation (rule.N = priority N); clauses never cross a ``_SEP``.

:func:`parse_run` parses one clause by dynamic programming over its parts (written by hand: Lark's LALR
cannot express "the derivation with the largest priority sum", and its Earley parser, which we used first
with ``ambiguity="resolve"``, took about 55 ms per caption against well under 1 ms here). Of all derivations
it returns one with the largest sum of rule priorities; ties go to the longer first part (leftmost-longest)
and, inside a predication, to the shorter filler, so that modifiers before a head stay with it ("is *fairly*
low", "较低"). On the reference set (``tests/fixtures/clue_parses_reference.jsonl``: the free-form fixtures,
400 corpus captions and 200 random lexicon strings) every slot, descriptor, conflict and claim equals the
Earley parser's; only the unused ``degree``/``hedged`` fields of a few claims differ, where Earley's tie
broke the other way. One deliberate change: a clause without a head word is parsed too, so "没有明显的情绪。"
alone reads as neutral (Earley's caller skipped captions without any head word).
"""

_MODS = frozenset({"NEG", "ABSENT", "DEG", "HEDGE", "COP", "DET"})
_FILLER = frozenset({"COP", "LINK", "DET", "HEDGE", "DEG"})
_ABSENCE_FILLER = frozenset({"DET", "DEG", "LINK", "OTHER"})
_LOOSE = frozenset({"OTHER", "AND", "OR", "COP", "DET", "LINK", "PREP", "NEG", "ABSENT", "DEG", "HEDGE"})

#: ``phrase``: (modifier positions, head position); ``coord``: its phrases.
Phrase = tuple[tuple[int, ...], int]
Coord = tuple[Phrase, ...]


@dataclass(frozen=True)
class Part:
    """One ``_part`` of a clause. ``kind``: noun | loose | absence | predication | attribution | coord.

    ``noun``: position of the noun (noun, absence, predication, attribution; else -1); ``span``: every
    position of the part; ``coord``: the phrases (predication, attribution, coord).
    """

    kind: str
    span: tuple[int, ...]
    noun: int = -1
    coord: Coord = ()


def _phrase_at(kinds: tuple[str, ...], i: int) -> Phrase | None:
    j = i
    while j < len(kinds) and kinds[j] in _MODS:
        j += 1
    if j < len(kinds) and kinds[j] == "HEAD":
        return tuple(range(i, j)), j
    return None


def _coords_at(kinds: tuple[str, ...], i: int) -> list[tuple[Coord, int]]:
    """Every ``coord`` starting at ``i``: (phrases, end position), shortest first."""
    out: list[tuple[Coord, int]] = []
    phrases: list[Phrase] = []
    start = i
    while (ph := _phrase_at(kinds, start)) is not None:
        phrases.append(ph)
        out.append((tuple(phrases), ph[1] + 1))
        if ph[1] + 1 < len(kinds) and kinds[ph[1] + 1] == "OR":
            start = ph[1] + 2
        else:
            break
    return out


def _parts_at(kinds: tuple[str, ...], i: int) -> list[tuple[Part, int, int]]:
    """Every part that can start at ``i``: (part, end position, priority sum)."""
    n = len(kinds)
    k = kinds[i]
    out: list[tuple[Part, int, int]] = []
    if k == "NOUN":
        out.append((Part("noun", (i,), noun=i), i + 1, 0))
        # predication: NOUN filler* coord (shorter fillers first)
        j = i + 1
        while j < n and kinds[j] in _FILLER:
            j += 1
        for start in range(i + 1, j + 1):
            for coord, end in _coords_at(kinds, start):
                score = 2 + len(coord)
                out.append((Part("predication", tuple(range(i, end)), i, coord), end, score))
    elif k in _LOOSE:
        out.append((Part("loose", (i,)), i + 1, -1))
    if k == "ABSENT":
        for m in range(3):
            j = i + 1 + m
            if j >= n or not all(kinds[x] in _ABSENCE_FILLER for x in range(i + 1, j)):
                break
            if kinds[j] == "NOUN":
                out.append((Part("absence", tuple(range(i, j + 1)), j), j + 1, 2))
    for coord, end in _coords_at(kinds, i):
        out.append((Part("coord", tuple(range(i, end)), coord=coord), end, len(coord)))
        # attribution: coord (LINK | PREP)? DET? NOUN (the kinds are disjoint: at most one match)
        j = end + int(end < n and kinds[end] in ("LINK", "PREP"))
        j += int(j < n and kinds[j] == "DET")
        if j < n and kinds[j] == "NOUN":
            out.append((Part("attribution", tuple(range(i, j + 1)), j, coord), j + 1, 2 + len(coord)))
    return out


@functools.lru_cache(maxsize=65536)
def parse_run(kinds: tuple[str, ...]) -> tuple[Part, ...]:
    """The best derivation of one clause (a run of terminals between separators), as its parts in order.

    ``kinds``: the terminal names of the run (no ``_SEP``). Positions in the parts are relative to the run.
    Cached: captions share few distinct terminal sequences.
    """
    n = len(kinds)
    # best[i]: the best derivation of kinds[i:] (score, parts), filled right to left so that a tie goes to
    # the longer first part (leftmost-longest), then to the candidate listed first by _parts_at.
    best: list[tuple[int, tuple[Part, ...]] | None] = [None] * (n + 1)
    best[n] = (0, ())
    for i in range(n - 1, -1, -1):
        for part, end, score in sorted(_parts_at(kinds, i), key=lambda c: -c[1]):
            rest = best[end]
            if rest is not None and (best[i] is None or score + rest[0] > best[i][0]):  # type: ignore[index]
                best[i] = (score + rest[0], (part, *rest[1]))
    if best[0] is None:
        raise ValueError(f"internal: no derivation of clause {kinds}")
    return best[0][1]


@dataclass(frozen=True)
class Claim:
    """One reading of a phrase: a slot claim (``slot``, ``value``) or a free ``descriptor``."""

    slot: str = ""
    value: str = ""
    descriptor: str = ""
    negated: bool = False
    hedged: bool = False
    degree: str = ""  # the degree words, as written ("slightly", "很")
    surface: str = ""  # the phrase as written


Items = list[tuple[str, Entry | None]]


def _words(items: Items, positions: Iterable[int], lang: str) -> str:
    sep = " " if lang == "en" else ""
    return sep.join(items[i][0] for i in positions)


def _kind(items: Items, i: int) -> str:
    entry = items[i][1]
    return entry.kind if entry is not None else "OTHER"


def _negate(claim: Claim, lang: str, absent: bool = False) -> Claim | None:
    """Rule N: a negated ordinal extreme means the middle bin; any other negated claim is no slot claim."""
    if claim.descriptor:
        return claim
    if absent and (claim.slot, claim.value) == ("pitch_variation", "varied"):
        # Rule A: "little variation", "few ups and downs", "很少起伏": no movement is the flat bin.
        return dataclasses.replace(claim, value="flat", negated=True)
    if claim.slot in ORDINAL_SLOTS and claim.value != "normal":
        return Claim(
            claim.slot,
            "normal",
            negated=True,
            hedged=claim.hedged,
            degree=claim.degree,
            surface=claim.surface,
        )
    # Negated emotion / voice quality / middle bin ("not angry", "不太高兴"): says what it is not, not what
    # it is; kept as a descriptor so that the information is not lost, never turned into a slot guess.
    return Claim(descriptor=claim.surface, negated=True, surface=claim.surface)


def read_phrase(
    items: Items,
    phrase: Phrase,
    noun_class: str,
    lang: str,
    inherited_negation: bool = False,
) -> list[Claim]:
    """The claims of one ``phrase`` (modifier positions, head position), given the noun class in scope."""
    mod_pos, head_pos = phrase
    head = items[head_pos][1]
    assert head is not None and head.kind == "HEAD"
    mods = [(_kind(items, i), i) for i in mod_pos]
    n_neg = sum(1 for k, _ in mods if k in NEGATIONS)
    negated = (n_neg % 2 == 1) or (n_neg == 0 and inherited_negation)
    hedged = any(k == "HEDGE" for k, _ in mods)
    degree = " ".join(items[i][0] for k, i in mods if k == "DEG")
    word = items[head_pos][0]
    neg_words = [i for k, i in mods if k in (*NEGATIONS, "DEG")]
    surface = _words(items, [*neg_words, head_pos], lang) if negated else word

    def claim(slot: str = "", value: str = "", descriptor: str = "") -> Claim:
        return Claim(slot, value, descriptor, negated, hedged, degree, surface)

    claims: list[Claim] = []
    if head.head == "cue":
        claims = [claim(slot, value) for slot, value in head.claims]
    elif head.head == "ctx":
        # A noun class the word does not list falls back to the word's default reading.
        target = head.context[noun_class] if noun_class in head.context else head.context.get("default")
        if target == "desc":
            claims = [claim(descriptor=surface)]
        elif target:
            slot, _, value = target.partition("=")
            claims = [claim(slot, value)]
    elif head.head == "contour":
        # Rule C: a contour word names a pitch movement, which neither the level nor the range bins capture.
        if not negated:
            claims = [Claim(descriptor=CONTOUR_DESCRIPTORS[lang][head.contour], surface=word)]
        return claims
    else:  # free descriptor
        return [claim(descriptor=surface)]
    if negated:
        absent = any(k == "ABSENT" for k, _ in mods)
        return [c for c in (_negate(c, lang, absent) for c in claims) if c is not None]
    return claims


def _coord_claims(items: Items, coord: Coord, noun_class: str, lang: str) -> list[Claim]:
    # A leading negation distributes over the coordination ("not loud or fast", "不快也不慢").
    first_negated = any(_kind(items, i) in NEGATIONS for i in coord[0][0])
    out: list[Claim] = []
    for i, ph in enumerate(coord):
        out.extend(read_phrase(items, ph, noun_class, lang, inherited_negation=first_negated and i > 0))
    return out


def _clause_claims(items: Items, parts: tuple[Part, ...], lang: str) -> list[Claim]:
    """The claims of one clause; ``items`` holds the clause's words only (part positions are relative)."""
    claims: list[Claim] = []
    last_noun = ""
    for n, part in enumerate(parts):
        noun_class = items[part.noun][1].noun_class if part.noun >= 0 else ""  # type: ignore[union-attr]
        if part.kind == "noun":
            last_noun = noun_class
        elif part.kind in ("predication", "attribution"):
            coord = part.coord
            prev = parts[n - 1] if n else None
            if (
                part.kind == "predication"
                and noun_class == "speech"
                and prev is not None
                and prev.kind == "loose"
                and _kind(items, prev.span[0]) == "NEG"
            ):
                # Rule N across a verb of speaking: "isn't speaking fast", "does not speak loudly" negate the
                # phrase that the verb leads to, as "not fast" would.
                (mods, head), *rest = coord
                coord = ((prev.span[0], *mods), head), *rest
            claims.extend(_coord_claims(items, coord, noun_class, lang))
            last_noun = noun_class
        elif part.kind == "absence":
            # Rule A: "no (obvious) emotion", "没有明显的情绪" is the neutral bin; "no variation" is flat.
            surface = _words(items, part.span, lang)
            if noun_class == "emotion":
                claims.append(Claim("emotion", "neutral", negated=True, surface=surface))
            elif noun_class == "intonation":  # "no variation", "little inflection": a flat melody
                claims.append(Claim("pitch_variation", "flat", negated=True, surface=surface))
        elif part.kind == "coord":
            claims.extend(_coord_claims(items, part.coord, last_noun, lang))
    return claims


def parse_claims(text: str, lang: str) -> list[Claim]:
    """All claims and descriptors of ``text`` in reading order (no conflict handling; see emotion_clues)."""
    items = tokens(text, lang)
    seps = [i for i, (_, e) in enumerate(items) if e is not None and e.kind == "_SEP"]
    claims: list[Claim] = []
    start = 0
    for end in [*seps, len(items)]:
        clause, start = items[start:end], end + 1
        kinds = tuple(_kind(clause, i) for i in range(len(clause)))
        if "HEAD" in kinds or "ABSENT" in kinds:  # else no claim
            claims.extend(_clause_claims(clause, parse_run(kinds), lang))
    for c in claims:
        if c.slot and c.value not in SLOT_BINS[c.slot]:  # the lexicon loader checks this; keep it loud
            raise ValueError(f"internal: claim {c} is outside the schema")
    return claims
