"""Text primitives for product names: folding, units and pack sizes, stop words, plurals, SKUs.

Everything here is language-aware for Spanish, Catalan and English (the languages of the bakery's
tills) and knows nothing about any catalog: :mod:`transforms.mapping.normalize` combines these with
the synonym table and the catalog's vocabulary.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import Indel

_TRANSLATE = str.maketrans({
    "·": "", "•": " ", "'": " ", "’": " ", "`": " ", "´": " ", "&": " y ", "+": " ", "*": " ",
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "ñ": "n", "ç": "c",
})


_ASCII_SPECIAL = re.compile(r"['&+*`]")


def _strip(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# the special characters above, and every accented Latin letter straight to its letter (one
# translate instead of a decomposition per name; anything else still goes through NFKD)
_FOLD = dict(_TRANSLATE)
for _code in range(0xC0, 0x250):
    if _code not in _FOLD and (_plain := _strip(chr(_code))) != chr(_code) and _plain.isascii():
        _FOLD[_code] = _plain


def fold(text: str) -> str:
    """Lower case without accents (``Cafè amb llet`` → ``cafe amb llet``; Catalan ``l·l`` → ``ll``)."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered.translate(_TRANSLATE) if _ASCII_SPECIAL.search(lowered) else lowered
    folded = lowered.translate(_FOLD)
    return folded if folded.isascii() else _strip(folded)


# ---------------------------------------------------------------------------- units and packs
_PIECES = re.compile(r"[a-z]+|\d+(?:[.,]\d+)?")
_PAREN_NUMBER = re.compile(r"\(\s*(\d{1,3})\s*\)")
COUNT_UNITS = frozenset({"x", "ud", "uds", "u", "un", "unid", "unids", "unidad", "unidades", "unit", "units",
                         "unitat", "unitats", "pc", "pcs", "piece", "pieces", "pieza", "piezas", "pza", "pzas", "ct",
                         "pack", "pk", "raciones", "racion", "porciones", "personas", "pax", "slices", "porcions",
                         "racions", "p"})
PACKS = frozenset({"pack", "paquete", "paq", "pk", "caja", "box", "lote", "bolsa", "bag", "set", "x"})
ONE = frozenset({"ud", "uds", "unidad", "unit", "unitat", "u", "pieza", "each", "single", "suelta", "suelto"})
DOZENS = frozenset({"docena", "dozen", "dotzena"})
HALVES = frozenset({"media", "mitja", "half"})
BY_WEIGHT = frozenset({("al", "peso"), ("a", "granel"), ("por", "kg"), ("per", "kg"), ("by", "weight"),
                       ("al", "pes"), ("el", "kg"), ("per", "kilo"), ("por", "kilo")})
_DIGIT = re.compile(r"\d")
_GRAMS = {"kg": 1000.0, "kgs": 1000.0, "kilo": 1000.0, "kilos": 1000.0, "g": 1.0, "gr": 1.0, "grs": 1.0,
          "gramos": 1.0, "grams": 1.0}
_ML = {"l": 1000.0, "lt": 1000.0, "ltr": 1000.0, "litro": 1000.0, "litros": 1000.0, "litre": 1000.0,
       "litres": 1000.0, "liter": 1000.0, "liters": 1000.0, "cl": 10.0, "ml": 1.0}
_MEASURE_WORDS = COUNT_UNITS | PACKS | ONE | DOZENS | {"kg", "kilo", "granel", "peso", "weight", "pes"}
GRADES = {
    "grande": "L", "gran": "L", "large": "L", "big": "L", "xl": "L", "maxi": "L", "gros": "L", "grossa": "L",
    "pequeno": "S", "pequena": "S", "peque": "S", "small": "S", "petit": "S", "petita": "S",
    "mediano": "M", "mediana": "M", "medium": "M", "mitjana": "M", "mitja": "M",
    "familiar": "XL", "family": "XL",
    # a larger serving of the same product (café solo doble), not another product: see SERVINGS
    "doble": "L", "double": "L", "doppio": "L", "triple": "XL",
}
# grades only as a name's last word (Café solo doble); before another word they are part of the
# product (Magdalena doble chocolate, Triple chocolate cookie) and stay words
SERVINGS = frozenset({"doble", "double", "doppio", "triple"})


class Measures(NamedTuple):
    """What a name says about quantity: an explicit count (``x6``, ``6 uds``, ``docena``), a size
    (``500g`` → ``"500g"``, ``50cl`` → ``"500ml"``, by weight → ``"kg"``) and the words left."""

    words: list[str]
    count: int | None
    size: str | None


def _size(amount: str, unit: str) -> str:
    value = float(amount.replace(",", "."))
    return f"{value * _GRAMS[unit]:g}g" if unit in _GRAMS else f"{value * _ML[unit]:g}ml"


def extract_measures(folded: str) -> Measures:
    """Take counts and sizes out of a folded name (``magdalenas (6 uds)`` → 6, ``agua 50cl`` → 500ml),
    word by word. Several counts (``magdalenas 6 uds unidad``) keep the largest: ``unidad`` is how a
    pack is sold. A bare number counts only in brackets (``Churros (12)``)."""
    pieces = _PIECES.findall(folded)
    if _MEASURE_WORDS.isdisjoint(pieces) and not _DIGIT.search(folded):
        return Measures(pieces, None, None)
    counts: list[int] = []
    size: str | None = None
    by_weight = False
    words: list[str] = []
    i, n = 0, len(pieces)
    while i < n:
        t = pieces[i]
        nxt = pieces[i + 1] if i + 1 < n else ""
        if t[0].isdigit():
            if nxt in _GRAMS or nxt in _ML:
                size = size or _size(t, nxt)
                i += 2
                continue
            if nxt in COUNT_UNITS and t.isdigit():
                counts.append(int(t))
                i += 2
                continue
            i += 1  # a bare number: a price, a code, a count in brackets (below)
            continue
        if t in PACKS:
            ahead = pieces[i + 2] if nxt in ("de", "of") and i + 2 < n else nxt
            if ahead.isdigit():
                counts.append(int(ahead))
                i += 3 if ahead is not nxt else 2
                continue
        if t in DOZENS:
            if words and words[-1] in HALVES:
                words.pop()
                counts.append(6)
            elif words and words[-1] == "a" and len(words) > 1 and words[-2] == "half":
                del words[-2:]
                counts.append(6)
            else:
                counts.append(12)
        elif (t, nxt) in BY_WEIGHT:
            by_weight = True
            i += 2
            continue
        elif t in ("kg", "kilo"):
            by_weight = True
        elif t in ONE:
            counts.append(1)
        else:
            words.append(t)
        i += 1
    if "(" in folded:
        counts.extend(int(m) for m in _PAREN_NUMBER.findall(folded))
    positive = [c for c in counts if c > 0]
    return Measures(words, max(positive) if positive else None, size or ("kg" if by_weight else None))


# ---------------------------------------------------------------------------- words
WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset({
    # es
    "de", "del", "la", "el", "los", "las", "con", "y", "e", "a", "al", "en", "para", "por", "un", "una", "o",
    # ca
    "d", "l", "els", "les", "amb", "i", "per", "dels",
    # en
    "of", "the", "and", "with", "an", "in", "for", "to", "on",
    # fr (pain au chocolat, café au lait)
    "au", "aux", "du", "des", "et", "le",
})
NOISE = frozenset({"nuevo", "nueva", "new", "nou", "nova", "novedad", "oferta", "offer", "promo", "regular",
                   "normal", "clasico", "clasica", "classic", "tradicional", "artesano", "artesana", "casero",
                   "casera", "homemade"})
NEGATIONS = frozenset({"sin", "without", "sense"})

# dotted till abbreviations that are not plain prefixes of the word (prefixes are found from the
# catalog's own words, see normalize.py)
ABBREVIATIONS = {
    "choc": "chocolate", "choco": "chocolate", "mant": "mantequilla", "croiss": "croissant",
    "crois": "croissant", "napo": "napolitana", "magd": "magdalena", "trta": "tarta", "lch": "leche",
    "lche": "leche", "nat": "natural", "integ": "integral", "c": "con", "ensaim": "ensaimada", "bocad": "bocadillo",
    "tta": "tarta", "pq": "pequeno", "gde": "grande", "caf": "cafe",
}

# words whose final s is not a plural
NO_STEM = frozenset({"milhojas", "reyes", "payes", "pages", "tres", "gas", "anis", "mas", "paris", "plus", "bus",
                     "lunes", "martes", "cortes"})
_ES_CONSONANT_PLURAL = frozenset("lnrdjy")


def plural_forms(token: str) -> tuple[str, ...]:
    """Singular readings of a token, most likely first (``magdalenes`` → ``magdalena``, ``magdalen``...).

    Empty when the token is not a plural. The caller keeps the first reading its vocabulary knows,
    else the first one.
    """
    if len(token) <= 3 or not token.endswith("s") or token in NO_STEM or token.endswith(("ss", "us", "is")):
        return ()
    if token.endswith("ces"):
        return (token[:-3] + "z", token[:-1], token[:-2])
    if token.endswith("es"):
        ca_feminine = token[:-2] + "a"
        if token[-3] in _ES_CONSONANT_PLURAL:
            return (token[:-2], ca_feminine, token[:-1])
        return (token[:-1], ca_feminine, token[:-2])
    return (token[:-1],)


def is_subsequence(short: str, long: str) -> bool:
    """``trta`` in ``tarta``, ``lch`` in ``leche`` (same first letter, letters in order)."""
    if not short or not long or short[0] != long[0]:
        return False
    it = iter(long)
    return all(ch in it for ch in short)


_MEASURE_LIKE = sorted({w for w in (*_MEASURE_WORDS, *GRADES, *NOISE, "unidad", "unitat", "porcion", "porcio")
                        if len(w) >= 4})


_MEASURE_PREFIXES = frozenset(w[:k] for w in _MEASURE_LIKE for k in range(3, len(w) + 1))


@functools.lru_cache(maxsize=4096)
def looks_like_a_measure(word: str) -> bool:
    """A word nobody knows that is a misspelt or cut size, count or noise word (``grnde``,
    ``pequñeo``, ``uniad``, ``gra``): it names no product."""
    word = word.lstrip("~")
    if len(word) < 3:
        return False
    return word in _MEASURE_PREFIXES or process.extractOne(word, _MEASURE_LIKE, scorer=Indel.normalized_similarity,
                                                           score_cutoff=0.8) is not None


# ---------------------------------------------------------------------------- SKUs
_SKU_SEP = re.compile(r"[\s\-_./:#]+")
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")


def normalise_sku(sku: str | None) -> str | None:
    """A SKU as tills and spreadsheets mangle it: case, separators and leading zeros do not count
    (``pan-barra-0250`` = ``PAN BARRA 250`` = ``PANBARRA250``; ``000123`` = ``123``).

    ``None`` for an empty SKU or one with no letter or digit.
    """
    if sku is None:
        return None
    text = fold(str(sku)).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # a spreadsheet turned it into a float
        text = text[:-2]
    text = _LEADING_ZEROS.sub("", _SKU_SEP.sub(" ", text)).replace(" ", "")
    return text if any(ch.isalnum() for ch in text) else None


def singular(token: str, known: frozenset[str] | set[str]) -> tuple[str, bool]:
    """``(singular, was_plural)``: the first singular reading the vocabulary knows, else the token
    itself when known, else the most likely reading."""
    forms = plural_forms(token)
    if not forms:
        return token, False
    for form in forms:
        if form in known:
            return form, True
    if token in known:
        return token, False
    return forms[0], True


def bind_negations(tokens: list[str]) -> list[str]:
    """``sin gluten`` → ``sin_gluten`` (a negated word must never match the word itself)."""
    out: list[str] = []
    negate = False
    for token in tokens:
        if token in NEGATIONS:
            negate = True
            continue
        out.append(f"sin_{token}" if negate else token)
        negate = False
    return out


def basic_tokens(folded: str | list[str], known: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Words of a folded text (or its words) without stop words and plurals (no synonyms, no
    abbreviations)."""
    words = WORD.findall(folded) if isinstance(folded, str) else folded
    return bind_negations([singular(w, known)[0] for w in words if w not in STOPWORDS and not w.isdigit()])
