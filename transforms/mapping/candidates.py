"""The catalog, prepared once per run, and candidate retrieval for POS names.

:class:`CatalogIndex` normalises the catalog against its own vocabulary, weighs every word by its
rarity (IDF), and indexes normalised SKUs and names. :meth:`CatalogIndex.retrieve` finds, for many
POS names at once, the catalog products worth scoring in detail: every product when the catalog is
small, else the best three and up to ``RETRIEVE`` within ``BAND`` of the best by the words they
share with the name (an inverted index over the canonical words, weighted like the detailed score,
related words included, ranked for all names at once in numpy), every product with exactly the same
words, and — for names with words nobody knows (typos) — the best few by rapidfuzz's ratio of the
sorted words (``process.cdist`` in C++ on every core). A near-twin the guard must check shares the
words that make it one, so it ranks among the first by shared words.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel

from transforms.mapping.model import BakeryProduct
from transforms.mapping.normalize import NormalizedName, Normalizer, catalog_vocabulary
from transforms.mapping.scoring import NameMatch, WordSimilarity, align
from transforms.mapping.synonyms import (
    RELATED,
    RELATED_CATEGORIES,
    RELATED_SCORE,
    SynonymTable,
    category_concept,
    category_table,
)
from transforms.mapping.text import normalise_sku

SMALL_CATALOG = 150  # up to this many products, every product is scored in detail
RETRIEVE = 6  # else the best this many by shared words (IDF-weighted Dice)...
BAND = 0.1  # ...beyond the best three, only those within this of the best one
SPELLING_CANDIDATES = 4  # plus, for names with unknown words, the best this many by spelling
DICE_BITS = 20  # resolution of the shared-word score when ranking (ties within 1e-6 go to catalog order)
MISSPELT = 0.75  # a word nobody knows this near a catalog word (or cutting it) may misspell it
CHUNK = 50_000  # names ranked at once (the packed keys need (names × products × pairs) < 2**63)


@dataclass(frozen=True, slots=True)
class Entry:
    """One catalog product, prepared."""

    product: BakeryProduct
    name: NormalizedName
    sku: str | None
    category: str | None


class CatalogIndex:
    """A catalog ready to be matched against."""

    def __init__(self, catalog: Sequence[BakeryProduct], synonyms: SynonymTable) -> None:
        vocabulary = catalog_vocabulary(synonyms, (p.name for p in catalog))
        self.normalizer = Normalizer(synonyms, vocabulary)
        self.categories = category_table()
        self._category_cache: dict[str, str] = {}
        self.entries: list[Entry] = [
            Entry(p, self.normalizer(p.name), normalise_sku(p.sku), self.category(p.category)) for p in catalog
        ]
        df = Counter(t for e in self.entries for t in set(e.name.tokens))
        n = len(self.entries)
        self.weights = {t: 1.0 + math.log((n + 1) / (count + 1)) for t, count in df.items()}
        self.unknown_weight = 1.0 + math.log(n + 1)
        related: dict[tuple[str, str], float] = {}
        for a, b in RELATED:
            related[(a, b)] = related[(b, a)] = RELATED_SCORE
        self.similarity = WordSimilarity(self.normalizer.dictionary, frozenset(df), related)
        self.by_sku: dict[str, list[int]] = defaultdict(list)
        self.by_key: dict[str, list[int]] = defaultdict(list)
        self.by_word: dict[str, list[int]] = defaultdict(list)
        for i, entry in enumerate(self.entries):
            if entry.sku:
                self.by_sku[entry.sku].append(i)
            self.by_key[entry.name.key].append(i)
            for token in entry.name.tokens:
                self.by_word[token].append(i)
        self._keys = [e.name.key for e in self.entries]
        # products with the same words and squashed spelling score the same against any name
        shape_of: dict[tuple[tuple[str, ...], str], int] = {}
        self.shapes = [shape_of.setdefault((e.name.tokens, e.name.squashed), len(shape_of)) for e in self.entries]
        self.ids = [e.product.bakery_product_id for e in self.entries]
        self.category_of = [e.category for e in self.entries]
        self.word_sets = [frozenset(e.name.tokens) for e in self.entries]
        self.related_categories = frozenset((a, b) for pair in RELATED_CATEGORIES for a in pair for b in pair if a != b)
        self.prices = [e.product.price for e in self.entries]
        self.totals = [sum(self.weights.get(t, self.unknown_weight) for t in e.name.tokens) for e in self.entries]
        self._total_array = np.asarray(self.totals)
        vocabulary = sorted(self.by_word)
        self._column = {word: col for col, word in enumerate(vocabulary)}
        self._indptr = np.cumsum([0, *(len(self.by_word[w]) for w in vocabulary)]).astype(np.int64)
        self._postings = np.asarray([i for w in vocabulary for i in self.by_word[w]], dtype=np.int64)
        self._related_words: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for (a, b), sim in sorted(related.items()):
            if b in self._column:
                self._related_words[a].append((b, sim))
        self._posting_sets: dict[str, frozenset[int]] = {}
        # products with the same words as another (Caracola / Caracola (4 uds)): retrieved together
        self._twins: dict[int, list[int]] = {}
        for same in self.by_key.values():
            if len(same) > 1:
                for i in same:
                    self._twins[i] = [j for j in same if j != i]
        self._vocabulary = sorted(w for w in self.by_word if "_" not in w)
        self._by_first: dict[str, list[str]] = defaultdict(list)
        for w in self._vocabulary:
            self._by_first[w[:1]].append(w)
        self._misspelt: dict[str, list[str]] = {}
        self._prefixed: dict[str, list[tuple[int, float]]] = {}  # an abbreviation → the words it may cut
        # each product's head: its first word, or the canonical phrase it starts with (roscon reyes)
        phrases = set(synonyms.phrases.values())
        self.heads: list[tuple[str, ...]] = []
        for e in self.entries:
            tokens = e.name.tokens
            k = max((k for k in range(2, len(tokens) + 1) if tokens[:k] in phrases), default=1)
            self.heads.append(tokens[:k])
        # multi-word canonical phrases (roscon reyes, masa madre): a name may drop their second word
        self.compounds: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for phrase in sorted(set(synonyms.phrases.values())):
            if len(phrase) > 1:
                for w in phrase[1:]:
                    self.compounds[w].append(phrase)

    def __len__(self) -> int:
        return len(self.entries)

    def category(self, name: str | None) -> str | None:
        if name is None:
            return None
        found = self._category_cache.get(name)
        if found is None:
            found = self._category_cache[name] = category_concept(name, self.categories) or ""
        return found or None

    def match(self, name: NormalizedName, i: int) -> NameMatch:
        """The name score of one POS name against catalog product ``i``."""
        return align(name, self.entries[i].name, self.similarity, self.weights, self.unknown_weight, self.totals[i])

    def implied(self, said: Iterable[str], i: int) -> float:
        """The weight of :meth:`implied_words`."""
        return sum(self.weights[w] for w in self.implied_words(said, i))

    def implied_words(self, said: Iterable[str], i: int) -> frozenset[str]:
        """Weight of product ``i``'s words a name saying ``said`` (its catalog words) leaves implied:
        the words every catalog product with all of ``said`` also has. A one-word name implies them
        all when that word is the product's head (its first word): ``Hogaza`` says ``hogaza``, the
        only product with it is ``Hogaza de masa madre``, so ``masa madre`` goes without saying;
        ``Café`` implies nothing when ``Café solo`` and ``Café con leche`` are both sold. A longer
        name only implies the rest of a compound it starts that the catalog always writes whole
        (``Roscón nata``: ``roscón de reyes``); ``Brioche integral`` does not imply the ``jamón`` of
        ``Brioche integral y jamón``, a product of its own."""
        said = set(said)
        common = self.word_sets[i].difference(said)
        if not common or not said:
            return frozenset()
        if len(said) == 1:
            if self.entries[i].name.tokens[0] not in said:
                return frozenset()
        else:
            common = {w for w in common if self._completes(w, said)}
            if not common:
                return frozenset()
        postings = sorted((self._posting_set(w) for w in said), key=len)
        compatible = postings[0].intersection(*postings[1:]) if len(postings) > 1 else postings[0]
        if i not in compatible:
            return frozenset()
        word_sets = self.word_sets
        for j in compatible:
            common = common.intersection(word_sets[j])
            if not common:
                return frozenset()
        return frozenset(common)

    def more_specific(self, said: Iterable[str], i: int) -> bool:
        """Another product has every word of ``said`` and more words than product ``i``'s."""
        said = list(said)
        if not said:
            return False
        postings = sorted((self._posting_set(w) for w in said), key=len)
        compatible = postings[0].intersection(*postings[1:]) if len(postings) > 1 else postings[0]
        size = len(self.word_sets[i])
        return any(len(self.word_sets[j]) > size for j in compatible if j != i)

    def products_with(self, words: Iterable[str]) -> frozenset[int]:
        """The products whose words include all of ``words``."""
        postings = sorted((self._posting_set(w) for w in words), key=len)
        if not postings:
            return frozenset()
        return postings[0].intersection(*postings[1:]) if len(postings) > 1 else postings[0]

    def misspelt(self, unknown: str) -> list[str]:
        """The catalog words a word nobody knows may misspell or cut (cached)."""
        found = self._misspelt.get(unknown)
        if found is None:
            resembles = self.similarity.resembles
            a = unknown.lstrip("~")
            # a misspelling keeps about as many letters (empan is no misspelt pan)
            pool = {w for w, _, _ in process.extract(a, self._vocabulary, scorer=Indel.normalized_similarity,
                                                      score_cutoff=MISSPELT, limit=None)
                    if len(w) >= len(a) - 2} if len(a) >= 3 else set()
            pool.update(w for w in self._by_first.get(a[:1], ()) if len(w) > len(a) and resembles(a, w) >= MISSPELT)
            found = self._misspelt[unknown] = sorted(pool)
        return found

    def _posting_set(self, word: str) -> frozenset[int]:
        found = self._posting_sets.get(word)
        if found is None:
            found = self._posting_sets[word] = frozenset(self.by_word.get(word, ()))
        return found

    def _completes(self, word: str, said: set[str]) -> bool:
        """``word`` ends a compound whose first words are said (``roscon`` → ``reyes``), and the
        catalog never writes that compound's first word without it."""
        for phrase in self.compounds.get(word, ()):
            k = phrase.index(word)
            if k and said.issuperset(phrase[:k]):
                head = self._posting_set(phrase[0])
                if head and head <= self._posting_set(word):
                    return True
        return False

    def retrieve(self, names: Sequence[NormalizedName], limit: int | None = None) -> list[list[int]]:
        """Catalog products worth scoring for each name (indices into :attr:`entries`)."""
        limit = limit or RETRIEVE
        n = len(self.entries)
        if n == 0:
            return [[] for _ in names]
        if n <= SMALL_CATALOG:
            everything = list(range(n))
            return [everything for _ in names]
        # names with the same words retrieve the same products: each word list once
        slot: dict[tuple[tuple[str, ...], str | None], list[int]] = {}
        unique: list[NormalizedName] = []
        for nm in names:
            if (nm.tokens, nm.literal) not in slot:
                slot[(nm.tokens, nm.literal)] = []
                unique.append(nm)
        typos = self._by_spelling(list({nm.key: nm for nm in unique if nm.unknown or not nm.tokens}.values()))
        shared: list[list[int]] = []
        for start in range(0, len(unique), CHUNK):  # keeps the packed int64 keys within 63 bits
            shared.extend(self._by_shared_words(unique[start:start + CHUNK], limit))
        by_key, twins_of = self.by_key, self._twins
        for row, nm in enumerate(unique):
            ids = shared[row]
            extra = typos.get(nm.key)
            exact = by_key.get(nm.key)
            if nm.literal is not None and (literal := by_key.get(nm.literal)):
                exact = [*(exact or ()), *literal]
            if extra or exact:
                ids = list(dict.fromkeys([*ids, *(extra or ()), *(exact or ())]))
            twins = [j for i in ids if i in twins_of for j in twins_of[i]]
            if twins:  # a twin of a candidate is checked by the guard, so it is a candidate too
                ids = list(dict.fromkeys([*ids, *twins]))
            if len(ids) < 3:  # always three to show
                ids = list(dict.fromkeys([*ids, *range(min(3 + len(ids), n))]))[:3]
            slot[(nm.tokens, nm.literal)] = ids
        return [slot[(nm.tokens, nm.literal)] for nm in names]

    def _by_shared_words(self, names: Sequence[NormalizedName], limit: int) -> list[list[int]]:
        """The best products by IDF-weighted Dice of the words shared with each name, all names at
        once in numpy: (name, word) pairs expanded through the word → products index, summed per
        (name, product), ranked per name (ties: catalog order)."""
        n = len(self.entries)
        rows: list[int] = []
        words: list[int] = []
        gains: list[float] = []
        pos_weight = np.zeros(len(names))
        column, weights, unknown_weight, related = self._column, self.weights, self.unknown_weight, self._related_words
        for row, nm in enumerate(names):
            total = 0.0
            for token in nm.tokens:
                w = weights.get(token, unknown_weight)
                total += w
                col = column.get(token)
                if col is not None:
                    rows.append(row)
                    words.append(col)
                    gains.append(w)
                elif token in nm.unknown:  # an abbreviation: every catalog word it may cut (tart. → tarta, tartaleta)
                    for col, gain in self._prefix_columns(token):
                        rows.append(row)
                        words.append(col)
                        gains.append(gain)
                for other, sim in related.get(token, ()):
                    rows.append(row)
                    words.append(column[other])
                    gains.append(w * sim)
            pos_weight[row] = total
        if not rows:
            return [[] for _ in names]
        word_ids = np.asarray(words, dtype=np.int64)
        counts = self._indptr[word_ids + 1] - self._indptr[word_ids]
        starts = np.repeat(self._indptr[word_ids] - (np.cumsum(counts) - counts), counts)
        products = self._postings[starts + np.arange(int(counts.sum()))]
        expanded = np.repeat(np.arange(len(rows), dtype=np.int64), counts)  # which (name, word) pair
        # sort (name, product, pair) packed in one int64, then sum the pairs' gains per (name, product)
        pair = np.repeat(np.asarray(rows, dtype=np.int64), counts) * n + products
        pair_bits = max(1, int(len(rows)).bit_length())
        # the values are distinct, so any sort gives the same array; timsort (numpy's "stable" for
        # int64) is several times faster here: each word's postings are an ascending run, rows ascend
        packed = np.sort((pair << pair_bits) | expanded, kind="stable")
        keys, which = packed >> pair_bits, packed & ((1 << pair_bits) - 1)
        first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        gained = np.add.reduceat(np.asarray(gains)[which], first)
        keys = keys[first]
        key_rows, key_products = keys // n, keys % n
        dice = 2.0 * gained / (pos_weight[key_rows] + self._total_array[key_products])
        # best first within each name, catalog order on ties: one sort of (name, 1 − dice, product)
        product_bits = max(1, n.bit_length())
        rank = np.round((1.0 - np.clip(dice, 0.0, 1.0)) * ((1 << DICE_BITS) - 1)).astype(np.int64)
        order = np.sort((key_rows << (DICE_BITS + product_bits)) | (rank << product_bits) | key_products, kind="stable")
        key_rows = order >> (DICE_BITS + product_bits)
        key_products = order & ((1 << product_bits) - 1)
        dice = 1.0 - ((order >> product_bits) & ((1 << DICE_BITS) - 1)) / ((1 << DICE_BITS) - 1)
        first = np.searchsorted(key_rows, np.arange(len(names) + 1))
        position = np.arange(len(order)) - first[key_rows]
        keep = (position < limit) & ((position < 3) | (dice >= dice[first[key_rows]] - BAND))
        kept_rows = key_rows[keep]
        bounds = np.searchsorted(kept_rows, np.arange(len(names) + 1)).tolist()
        flat = key_products[keep].tolist()
        return [flat[bounds[row]:bounds[row + 1]] for row in range(len(names))]

    def _prefix_columns(self, token: str) -> list[tuple[int, float]]:
        """Catalog words an unknown word or an ambiguous abbreviation is a prefix of, with the gain
        :func:`~transforms.mapping.scoring.align` would give them (cached)."""
        found = self._prefixed.get(token)
        if found is None:
            prefix = token[1:] if token[0] == "~" else token
            found = []
            if len(prefix) >= 3:
                for word, col in self._column.items():
                    if len(word) > len(prefix) and word.startswith(prefix):
                        found.append((col, self.similarity(token, word) * self.weights[word]))
            found = self._prefixed[token] = [(col, gain) for col, gain in found if gain > 0.0]
        return found

    def _by_spelling(self, names: Sequence[NormalizedName]) -> dict[str, list[int]]:
        """Names with words nobody knows (typos): the best few by rapidfuzz's ratio of the sorted words."""
        if not names:
            return {}
        n = len(self._keys)
        k = min(SPELLING_CANDIDATES, n)
        scores = process.cdist([nm.key for nm in names], self._keys, scorer=fuzz.ratio, dtype=np.uint8, workers=-1)
        every = np.arange(len(names))
        top = []
        for _ in range(k):  # k passes of argmax: ties go to catalog order
            best = scores.argmax(axis=1)
            top.append(best)
            scores[every, best] = 0
        columns = np.stack(top, axis=1).tolist()
        return {nm.key: columns[row] for row, nm in enumerate(names)}
