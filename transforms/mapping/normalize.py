"""Product names → comparable form: canonical words, measures, and a squashed spelling.

``Croiss. mantequilla x6`` → words ``croissant mantequilla``, count 6; ``CAFE C/LECHE GRANDE`` →
``cafe leche``, grade L; ``Bread Loaf (Barra)`` → ``barra pan``; ``Picos d epan`` keeps the squashed
spelling ``picosdepan`` for typos across a word break.

A :class:`Normalizer` knows a *vocabulary*: the synonym table's words, the bakery dictionary and
the catalog's own words. Words it does not know are read as typos or abbreviations: a till's
``semill.`` becomes ``semilla`` when exactly one known word starts with it. Results are cached
per name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import Indel

from transforms.mapping.synonyms import DICTIONARY, SynonymTable
from transforms.mapping.text import (
    ABBREVIATIONS,
    GRADES,
    NEGATIONS,
    NOISE,
    SERVINGS,
    STOPWORDS,
    basic_tokens,
    bind_negations,
    extract_measures,
    fold,
    is_subsequence,
    singular,
)

SHORT_ABBREVIATION = 3  # a dotted cut this short is never resolved on its own (it stays ambiguous)
SPELLING = 0.85  # an unknown word this close to exactly one known word is read as that word
ABBREVIATED = "~"  # marks an ambiguous abbreviation (``tart.``: tarta or tartaleta), a word nobody knows
_DOTTED = re.compile(r"[a-z]+\.?")
# "relleno de nata", "farcit de crema", "filled with cream": the filling is what a "con" says
_FILLED = re.compile(r"\b(?:rellen[oa]s?|farcit|farcida|farcits|farcides|filled|stuffed)\s+(?:de|con|amb|with|d)\s+")
_SLASHES = ((re.compile(r"\bc\s*/\s*"), " con "), (re.compile(r"\bs\s*/\s*"), " sin "),
            (re.compile(r"\bw\s*/\s*o\b"), " without "), (re.compile(r"\bw\s*/\s*"), " with "))


class NormalizedName(NamedTuple):
    """A name in comparable form (a tuple: cheap to build, hash and compare)."""

    tokens: tuple[str, ...]  # canonical content words, de-duplicated, in order
    key: str  # the tokens sorted, space-separated: equal keys = same words
    squashed: str  # letters and digits of the name (stop words kept, measures out): typos across words
    count: int | None  # explicit count: x6, 6 uds, docena → 12, (ud) → 1
    size: str | None  # 500g, 500ml, kg (sold by weight)
    grade: str | None  # S / M / L / XL (pequeño, grande, familiar)
    plural: bool  # its head word was plural (magdalenas): a count above one, unknown
    unknown: tuple[str, ...]  # words nobody knows (typos, unresolved abbreviations)
    implied_count: int | None  # the explicit count, else 1 for a singular name, else unknown
    # the key of the name read word by word when a phrase of the synonym table gave it other words
    # (``Chocolate croissant``: ``chocolate croissant``), else None
    literal: str | None = None


class Normalizer:
    """Normalises names against the synonym table and a vocabulary (the catalog's words)."""

    def __init__(self, synonyms: SynonymTable, vocabulary: Iterable[str] = ()) -> None:
        self.synonyms = synonyms
        self.dictionary = frozenset(synonyms.words | DICTIONARY | STOPWORDS | NEGATIONS)
        self.known = frozenset(self.dictionary | set(vocabulary))
        self._by_prefix: dict[str, list[str]] = defaultdict(list)
        for word in sorted(self.known):
            if len(word) >= 4 and "_" not in word:
                self._by_prefix[word[:2]].append(word)
        self._spellable = sorted(w for w in self.known if len(w) >= 5 and "_" not in w)
        self._by_length: dict[int, list[str]] = {}
        self._cache: dict[str, NormalizedName] = {}
        self._words: dict[str, tuple[str, bool]] = {}

    def __call__(self, name: str) -> NormalizedName:
        found = self._cache.get(name)
        if found is None:
            found = self._cache[name] = self._normalise(name)
        return found

    def expand(self, word: str) -> str:
        """An unknown word → the one known word it abbreviates (``semill`` → ``semilla``,
        ``trta`` → ``tarta``), else itself."""
        if word in self.known:
            return word
        fixed = ABBREVIATIONS.get(word)
        if fixed is not None:
            return fixed
        if len(word) < 3 or word.isdigit():
            return word
        pool = self._by_prefix.get(word[:2], ())
        prefixed = [w for w in pool if len(w) > len(word) and w.startswith(word)]
        if len(prefixed) == 1:
            return prefixed[0]
        if not prefixed and len(word) <= 4 and sum(ch in "aeiou" for ch in word[1:]) <= 1:
            skeleton = [w for w in pool if len(w) >= len(word) + 1 and is_subsequence(word, w)]
            if len(skeleton) == 1:
                return skeleton[0]
        if not prefixed and len(word) >= 5:
            return self.correct(word)
        return word

    def correct(self, word: str) -> str:
        """A typo of exactly one known word (``caputxno`` → ``caputxino``), else the word itself."""
        found = process.extract(word, self._spellable_near(len(word)), scorer=Indel.normalized_similarity, limit=2,
                                score_cutoff=SPELLING)
        if found and (len(found) == 1 or found[0][1] - found[1][1] >= 0.03):
            return found[0][0]
        return word

    def _spellable_near(self, length: int) -> list[str]:
        """The known words long enough and short enough to be ``SPELLING`` near a word of ``length``
        letters (2·min / (a + b) ≥ SPELLING), in the same order (cached per length)."""
        found = self._by_length.get(length)
        if found is None:
            found = self._by_length[length] = [
                w for w in self._spellable if 2 * min(len(w), length) >= SPELLING * (len(w) + length) - 1e-9]
        return found

    def _word(self, word: str) -> tuple[str, bool]:
        """One word → its singular known reading (abbreviations and typos resolved), was it plural."""
        if word in STOPWORDS:
            return word, False
        single, was_plural = singular(word, self.known)
        if single not in self.known:
            expanded = self.expand(word)
            single = expanded if expanded != word else self.expand(single)
        return single, was_plural

    def _abbreviation(self, word: str) -> tuple[str, bool]:
        """A word written with a trailing dot (``tart.``, ``porc.``) abbreviates a longer word: the
        one known word it starts, else it stays a word nobody knows (an ambiguous abbreviation),
        even when it happens to spell a word of its own."""
        fixed = ABBREVIATIONS.get(word)
        if fixed is not None:
            return fixed, False
        if len(word) < 3:
            return self._word(word)
        longer = [w for w in self._by_prefix.get(word[:2], ()) if len(w) > len(word) and w.startswith(word)]
        if len(longer) == 1 and (len(word) > SHORT_ABBREVIATION or not self._open(word)):
            return longer[0], False
        if not longer:
            return self._word(word)
        return ABBREVIATED + word, False

    def _open(self, word: str) -> bool:
        """A short cut (``bri.``, ``car.``) that is no known word: the one known word it starts is
        not proof, the till may cut a word of a language nobody taught us (Catalan *brioix*,
        English *carrot*)."""
        return word not in self.known

    def _normalise(self, name: str) -> NormalizedName:
        folded = fold(name)
        if "/" in folded:
            for pattern, replacement in _SLASHES:
                folded = pattern.sub(replacement, folded)
        if "ll" in folded or "farci" in folded or "stuffed" in folded:
            folded = _FILLED.sub(" con ", folded)
        measures = extract_measures(folded)
        grade: str | None = None
        kept: list[str] = []
        last = len(measures.words) - 1
        for k, word in enumerate(measures.words):
            if word in GRADES and (k == last or word not in SERVINGS):
                grade = GRADES[word]
            elif word not in NOISE and not word.isdigit():
                kept.append(word)
        squashed = "".join(kept)
        singles: list[str] = []
        first_plural: bool | None = None
        last_plural = False
        words = self._words
        # which occurrences of a word end with a dot (``Lemon and milk Milk.``: only the second one
        # abbreviates ``milkshake``), in order
        dotted: dict[str, list[bool]] = {}
        if "." in folded:
            for piece in _DOTTED.findall(folded):
                dotted.setdefault(piece.rstrip("."), []).append(piece.endswith(".") and len(piece) > 2)
        for word in kept:
            marks = dotted.get(word) if dotted else None
            if marks and marks.pop(0):
                found = self._abbreviation(word)
            else:
                found = words.get(word)
                if found is None:
                    found = words[word] = self._word(word)
            single, was_plural = found
            if single in STOPWORDS:
                continue
            singles.append(single)
            if single not in NEGATIONS:  # the plural of the first or last word (the head, in es/ca or en)
                if first_plural is None:
                    first_plural = was_plural
                last_plural = was_plural
        plural = bool(first_plural) or last_plural
        if not NEGATIONS.isdisjoint(singles):
            singles = bind_negations(singles)
        rewritten, phrased = self.synonyms.rewrite_phrased(singles)
        tokens = tuple(dict.fromkeys(rewritten))  # canonical phrases have no stop words
        literal: str | None = None
        if phrased and (word_by_word := self.synonyms.literal(singles)) is not None:
            literal = " ".join(sorted(set(word_by_word)))
        key = " ".join(sorted(tokens))
        known = self.known
        unknown = tuple(t for t in tokens if t not in known and (t[:4] != "sin_" or t[4:] not in known))
        implied = measures.count if measures.count is not None else (None if plural else 1)
        return NormalizedName(tokens, key, squashed, measures.count, measures.size, grade, plural, unknown, implied,
                              literal if literal != key else None)


def catalog_vocabulary(synonyms: SynonymTable, names: Iterable[str]) -> set[str]:
    """The words a catalog uses, as written and after synonyms (singular, no stop words)."""
    known = synonyms.words | DICTIONARY
    vocabulary: set[str] = set()
    for name in names:
        words = basic_tokens(extract_measures(fold(name)).words, known)
        vocabulary.update(words)
        vocabulary.update(synonyms.rewrite(words))
    return {w for w in vocabulary if w not in NOISE and w not in GRADES}
