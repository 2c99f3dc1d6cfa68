"""How close a POS name is to a catalog name, and whether it tells near-twins apart.

Names are compared word by word (:func:`align`): each POS word is paired with at most one catalog
word — equal words score 1, related words (:data:`~transforms.mapping.synonyms.RELATED`) 0.75, and
a word nobody knows (a typo, an abbreviation) scores its similarity to the catalog word (prefix
0.9, letters in order 0.85, else rapidfuzz's ratio when ≥ 0.75). Two *known* words never match
each other fuzzily: ``fresa`` is not a typo of ``fresca``. Words weigh by rarity in the catalog
(IDF), so ``santiago`` counts more than ``tarta``; a POS word matched to nothing weighs as a
word the catalog never uses.

:func:`tells_apart` is the near-twin guard: a POS name may be mapped to a catalog product only if
it says what sets that product apart from every similar one (``croissant mantequilla``) and says
nothing that belongs to the other (``Croissant`` is the plain one, not the butter one; ``Tarta``
tells neither cheesecake nor tarta de Santiago).
"""

from __future__ import annotations

from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import Indel

from transforms.mapping.normalize import NormalizedName
from transforms.mapping.text import is_subsequence

MATCHED = 0.8  # a word this similar counts as said (guard)
HINTED = 0.7  # a word this similar counts as hinted at (guard, against the other twin)
SPELLING_LEAD = 0.2  # guard: lead of the squashed spelling that tells twins apart when words cannot


class WordSimilarity:
    """Similarity of two words, cached (the vocabulary of a run is small).

    A word nobody knows is read as a typo only of a word it is closest to among all known words
    (``tarteta`` is nearer ``tartaleta`` and ``tarjeta`` than ``tarta``, so it is not ``tarta``).
    """

    def __init__(self, dictionary: frozenset[str], catalog_words: frozenset[str],
                 related: dict[tuple[str, str], float]) -> None:
        self.dictionary = dictionary
        self.catalog_words = catalog_words
        self.related = related
        self.related_words = frozenset(a for a, _ in related)
        self._known = sorted(dictionary | catalog_words)
        self._cache: dict[tuple[str, str], float] = {}
        self._closest: dict[str, float] = {}

    def closest(self, word: str) -> float:
        """How close an unknown word is to the nearest known word (cached)."""
        found = self._closest.get(word)
        if found is None:
            best = process.extractOne(word, self._known, scorer=Indel.normalized_similarity)
            found = self._closest[word] = best[1] if best else 0.0
        return found

    def __call__(self, pos_word: str, cat_word: str) -> float:
        if pos_word == cat_word:
            return 1.0
        key = (pos_word, cat_word)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._similarity(pos_word, cat_word)
        return found

    def resembles(self, unknown: str, word: str) -> float:
        """How near a word nobody knows is to ``word`` as a spelling, whether or not a nearer word
        exists (``tareta``: 0.91 to ``tarta``, 0.8 to ``tartaleta``); cached."""
        key = ("?" + unknown, word)
        found = self._cache.get(key)
        if found is None:
            a = unknown.lstrip("~")
            if len(a) < 3 or len(word) < 3:
                found = 0.0
            elif word.startswith(a):
                found = 0.9
            elif len(a) <= 5 and len(word) > len(a) and is_subsequence(a, word):
                found = 0.85
            else:
                found = Indel.normalized_similarity(a, word)
            self._cache[key] = found
        return found

    def _similarity(self, a: str, b: str) -> float:
        related = self.related.get((a, b))
        if related is not None:
            return related
        if a.startswith("sin_") != b.startswith("sin_"):
            return 0.0
        if (a in self.dictionary and b in self.dictionary) or (a in self.catalog_words and b in self.catalog_words):
            return 0.0  # two real words are two things
        if a[0] == "~":  # an ambiguous abbreviation: only as a prefix; three letters only hint at it
            return 0.9 if len(a) >= 4 and b.startswith(a[1:]) else 0.0
        if len(a) >= 3 and b.startswith(a):
            return 0.9
        if 3 <= len(a) <= 5 and len(b) > len(a) and is_subsequence(a, b):
            return 0.85
        if min(len(a), len(b)) < 3:
            return 0.0
        ratio = Indel.normalized_similarity(a, b)
        if ratio < (0.8 if min(len(a), len(b)) <= 5 else 0.75) or ratio < self.closest(a) - 0.02:
            return 0.0
        return min(ratio, 0.95)


class NameMatch(NamedTuple):
    """One POS name against one catalog name."""

    score: float  # max(word score, squashed-spelling score when ≥ 0.85), in [0, 1]
    words: float  # weighted Dice of matched words
    spelling: float  # similarity of the squashed spellings
    pos_coverage: float  # share of the POS name's weight that matched
    cat_coverage: float  # share of the catalog name's weight that matched
    extra_known: int  # POS words matched to nothing that are real words (a different product?)
    extra_unknown: int  # POS words matched to nothing that nobody knows (typos, foreign words)
    matched: dict[str, float]  # catalog word → similarity of the POS word paired with it


def align(pos: NormalizedName, cat: NormalizedName, similarity: WordSimilarity,
          weights: dict[str, float], unknown_weight: float, cat_weight: float | None = None) -> NameMatch:
    """Pair the words of two names one to one (equal words first, then the best pairs greedily)
    and score the pairing."""
    cat_tokens = cat.tokens
    matched: dict[str, float] = {}
    gained = pos_weight = 0.0
    rest_p: list[str] = []
    for p in pos.tokens:
        if p in cat_tokens:
            w = weights.get(p, unknown_weight)
            matched[p] = 1.0
            gained += w
            pos_weight += w
        else:
            rest_p.append(p)
    extra_known = extra_unknown = 0
    if rest_p:
        rest_c = [c for c in cat_tokens if c not in matched]
        # a catalog word only meets another catalog word through RELATED, never as a typo
        fuzzy = [p for p in rest_p if p not in similarity.catalog_words or p in similarity.related_words]
        pairs = [(-sim, p, c) for p in fuzzy for c in rest_c if (sim := similarity(p, c)) > 0.0] if rest_c else []
        if len(pairs) > 1:
            pairs.sort()
        used: set[str] = set()
        for neg, p, c in pairs:
            if p in used or c in matched:
                continue
            sim = -neg
            used.add(p)
            matched[c] = sim
            w = weights.get(c, unknown_weight)
            gained += sim * w
            pos_weight += w
        for p in rest_p:
            if p not in used:
                pos_weight += weights.get(p, unknown_weight)
                if p in pos.unknown:
                    extra_unknown += 1
                else:
                    extra_known += 1
    if cat_weight is None:
        cat_weight = sum(weights.get(c, unknown_weight) for c in cat_tokens)
    total = pos_weight + cat_weight
    words = 2.0 * gained / total if total else 0.0
    spelling = Indel.normalized_similarity(pos.squashed, cat.squashed) if pos.squashed and cat.squashed else 0.0
    score = max(words, spelling) if spelling >= 0.85 else words
    return NameMatch(score, words, spelling, gained / pos_weight if pos_weight else 0.0,
                     gained / cat_weight if cat_weight else 0.0, extra_known, extra_unknown, matched)


def measures_agree(pos: NormalizedName, cat: NormalizedName) -> float:
    """Tie-breaker from counts, sizes and grades: + when they agree, − when both say and differ."""
    bonus = 0.0
    if pos.count is not None and cat.count is not None:
        bonus += 0.02 if pos.count == cat.count else -0.1
    elif pos.implied_count is not None and cat.implied_count is not None:
        bonus += 0.01 if pos.implied_count == cat.implied_count else -0.1  # Magdalena vs Magdalenas (6 uds)
    if pos.size and cat.size and "kg" not in (pos.size, cat.size):
        bonus += 0.02 if pos.size == cat.size else -0.1
    if pos.grade and cat.grade:
        bonus += 0.02 if pos.grade == cat.grade else -0.05
    elif pos.grade or cat.grade:
        bonus -= 0.01  # one names a size the other does not (Café solo vs Café solo doble): tie-breaker only
    return bonus


def _measures_identify(pos: NormalizedName, cat: NormalizedName, other: NormalizedName) -> bool:
    """Twins with the same words: the POS name must state what sets ``cat`` apart."""
    differs = False
    if cat.implied_count != other.implied_count or cat.count != other.count:
        differs = True
        if pos.implied_count is None or pos.implied_count != cat.implied_count:
            return False
    if cat.size != other.size:
        differs = True
        if pos.size != cat.size:
            return False
    if cat.grade != other.grade:
        differs = True
        if pos.grade != cat.grade:
            return False
    return differs


def tells_apart(pos: NormalizedName, cat: NormalizedName, other: NormalizedName, to_cat: NameMatch,
                to_other: NameMatch, cat_words: frozenset[str] | None = None,
                other_words: frozenset[str] | None = None) -> bool:
    """Does the POS name say it is ``cat`` rather than ``other`` (a similar catalog product)?

    Yes when it says none of the words only ``other`` has, and, unless ``cat`` is the plainer of
    the two, one of the words only ``cat`` has. Twins with the same words (``Magdalena`` and
    ``Magdalenas (6 uds)``) need the count, size or grade stated.
    """
    cat_words = cat_words if cat_words is not None else frozenset(cat.tokens)
    other_words = other_words if other_words is not None else frozenset(other.tokens)
    if cat_words.isdisjoint(other_words):
        return True
    hinted, said = to_other.matched, to_cat.matched
    other_has_more = False
    for w in other_words:
        if w not in cat_words:
            if hinted.get(w, 0.0) >= HINTED:
                return False
            other_has_more = True
    own = False
    for w in cat_words:
        if w not in other_words:
            if said.get(w, 0.0) >= MATCHED:
                return True
            own = True
    if own:
        # a typo across a word break (Café oslo): the spelling must be near cat and clearly nearer
        return to_cat.spelling >= 0.85 and to_cat.spelling - to_other.spelling >= SPELLING_LEAD
    if other_has_more:
        return True  # cat is the plain one and the POS name says nothing of the other's extras
    return _measures_identify(pos, cat, other)
