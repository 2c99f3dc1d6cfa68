"""Product mapping: POS items → the bakery's own products (pure functions, no I/O).

    from transforms.mapping import suggest, PosProduct, BakeryProduct
    suggestions = suggest(pos_products, catalog, threshold=0.8, synonyms={"ensaimada": ["ensaïmada"]})

Modules, one job each: :mod:`~transforms.mapping.text` (folding, units and packs, plurals, SKUs),
:mod:`~transforms.mapping.synonyms` (the es/en/ca bakery vocabulary), :mod:`~transforms.mapping.normalize`
(names → comparable form), :mod:`~transforms.mapping.scoring` (name scores, the near-twin guard),
:mod:`~transforms.mapping.candidates` (the prepared catalog, retrieval), :mod:`~transforms.mapping.calibration`
(confidence), :mod:`~transforms.mapping.decision` (auto / review / none). Manual overrides are the
caller's business: this package only suggests.
"""

from transforms.mapping.calibration import Features, confidence
from transforms.mapping.decision import DEFAULT_THRESHOLD, MIN_MARGIN, Assessment, Matcher, suggest
from transforms.mapping.model import BakeryProduct, Decision, PosProduct, Suggestion
from transforms.mapping.normalize import NormalizedName, Normalizer
from transforms.mapping.synonyms import DEFAULT_SYNONYMS, build_synonyms
from transforms.mapping.text import normalise_sku

__all__ = [
    "DEFAULT_SYNONYMS",
    "DEFAULT_THRESHOLD",
    "MIN_MARGIN",
    "Assessment",
    "BakeryProduct",
    "Decision",
    "Features",
    "Matcher",
    "NormalizedName",
    "Normalizer",
    "PosProduct",
    "Suggestion",
    "build_synonyms",
    "confidence",
    "normalise_sku",
    "suggest",
]
