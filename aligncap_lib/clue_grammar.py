"""The emotion grammar: a Lark (Earley) grammar over lexicon-typed tokens, and the rules that read its trees.

Tokens come from :mod:`aligncap_lib.clue_lexicon`; each becomes a terminal named after its lexicon kind
(NEG, DEG, HEDGE, COP, DET, LINK, PREP, OR, AND, NOUN, HEAD) or OTHER, and punctuation becomes a clause
boundary. The grammar finds, inside each clause:

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
:mod:`aligncap_lib.emotion_clues`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from lark import Lark, Token, Tree
from lark.lexer import Lexer

from aligncap_lib.attributes import ORDINAL_SLOTS, SLOT_BINS
from aligncap_lib.clue_lexicon import CONTOUR_DESCRIPTORS, Entry, tokens

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

%declare NEG ABSENT DEG HEDGE COP DET LINK PREP OR AND NOUN HEAD OTHER _SEP
"""


class _TokenStream(Lexer):
    """Feeds pre-typed ``(terminal, index)`` pairs to Lark (the words were split by the lexicon)."""

    def __init__(self, lexer_conf: object) -> None:
        pass

    def lex(self, data: list[tuple[str, int]], *args: object) -> Iterator[Token]:  # type: ignore[override]
        for terminal, index in data:
            yield Token(terminal, str(index))


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The compiled grammar (Earley, ambiguities resolved by rule priority)."""
    return Lark(GRAMMAR, parser="earley", lexer=_TokenStream, ambiguity="resolve")


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


def _words(items: list[tuple[str, Entry | None]], toks: list[Token], lang: str) -> str:
    sep = " " if lang == "en" else ""
    return sep.join(items[int(t)][0] for t in toks)


def _leaves(tree: Tree | Token) -> list[Token]:
    return [tree] if isinstance(tree, Token) else list(tree.scan_values(lambda v: isinstance(v, Token)))


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
    items: list[tuple[str, Entry | None]],
    phrase: Tree,
    noun_class: str,
    lang: str,
    inherited_negation: bool = False,
) -> list[Claim]:
    """The claims of one ``phrase`` tree, given the noun class in scope ("" when none)."""
    leaves = _leaves(phrase)
    head_tok = leaves[-1]
    head = items[int(head_tok)][1]
    assert head is not None and head.kind == "HEAD"
    mods = [(items[int(t)][1], t) for t in leaves[:-1]]
    n_neg = sum(1 for e, _ in mods if e is not None and e.kind in NEGATIONS)
    negated = (n_neg % 2 == 1) or (n_neg == 0 and inherited_negation)
    hedged = any(e is not None and e.kind == "HEDGE" for e, _ in mods)
    degree = " ".join(items[int(t)][0] for e, t in mods if e is not None and e.kind == "DEG")
    word = items[int(head_tok)][0]
    neg_words = [t for e, t in mods if e is not None and e.kind in (*NEGATIONS, "DEG")]
    surface = _words(items, [*neg_words, head_tok], lang) if negated else word

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
        absent = any(e is not None and e.kind == "ABSENT" for e, _ in mods)
        return [c for c in (_negate(c, lang, absent) for c in claims) if c is not None]
    return claims


def _coord_claims(
    items: list[tuple[str, Entry | None]], coord: Tree, noun_class: str, lang: str
) -> list[Claim]:
    phrases = [c for c in coord.children if isinstance(c, Tree) and c.data == "phrase"]
    first_negated = any(
        items[int(t)][1] is not None and items[int(t)][1].kind in NEGATIONS  # type: ignore[union-attr]
        for t in _leaves(phrases[0])[:-1]
    )
    out: list[Claim] = []
    for i, ph in enumerate(phrases):
        out.extend(read_phrase(items, ph, noun_class, lang, inherited_negation=first_negated and i > 0))
    return out


def parse_claims(text: str, lang: str) -> list[Claim]:
    """All claims and descriptors of ``text`` in reading order (no conflict handling; see emotion_clues)."""
    items = tokens(text, lang)
    stream = [((e.kind if e is not None else "OTHER"), i) for i, (_, e) in enumerate(items)]
    if not any(t == "HEAD" for t, _ in stream):
        return []
    tree = parser().parse(stream)
    claims: list[Claim] = []
    for clause in tree.find_data("clause"):
        last_noun = ""
        for part in clause.children:
            if isinstance(part, Token):  # a bare NOUN
                last_noun = items[int(part)][1].noun_class  # type: ignore[union-attr]
                continue
            if part.data in ("predication", "attribution"):
                noun = next(t for t in _leaves(part) if t.type == "NOUN")
                cls = items[int(noun)][1].noun_class  # type: ignore[union-attr]
                coord = next(c for c in part.children if isinstance(c, Tree) and c.data == "coord")
                claims.extend(_coord_claims(items, coord, cls, lang))
                last_noun = cls
            elif part.data == "absence":
                # Rule A: "no (obvious) emotion", "没有明显的情绪" is the neutral bin; "no variation" is flat.
                noun = next(t for t in _leaves(part) if t.type == "NOUN")
                cls = items[int(noun)][1].noun_class  # type: ignore[union-attr]
                surface = _words(items, _leaves(part), lang)
                if cls == "emotion":
                    claims.append(Claim("emotion", "neutral", negated=True, surface=surface))
                elif cls == "intonation":  # "no variation", "little inflection": a flat melody
                    claims.append(Claim("pitch_variation", "flat", negated=True, surface=surface))
            elif part.data == "coord":
                claims.extend(_coord_claims(items, part, last_noun, lang))
    for c in claims:
        if c.slot and c.value not in SLOT_BINS[c.slot]:  # the lexicon loader checks this; keep it loud
            raise ValueError(f"internal: claim {c} is outside the schema")
    return claims
