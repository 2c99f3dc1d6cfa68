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

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transforms.mapping.calibration import Features, confidence
    from transforms.mapping.decision import DEFAULT_THRESHOLD, MIN_MARGIN, Assessment, Matcher, suggest
    from transforms.mapping.model import BakeryProduct, Decision, PosProduct, Suggestion
    from transforms.mapping.normalize import NormalizedName, Normalizer
    from transforms.mapping.synonyms import DEFAULT_SYNONYMS, build_synonyms
    from transforms.mapping.text import normalise_sku

# each public name's module, imported on first use (PEP 562): a process that only needs the pure
# helpers of a submodule (``transforms.mapping.apply``: every definitions load, through the product
# stats) does not import the matcher and numpy with it
_SOURCES = {
    "Features": "calibration", "confidence": "calibration",
    "DEFAULT_THRESHOLD": "decision", "MIN_MARGIN": "decision", "Assessment": "decision", "Matcher": "decision",
    "suggest": "decision",
    "BakeryProduct": "model", "Decision": "model", "PosProduct": "model", "Suggestion": "model",
    "NormalizedName": "normalize", "Normalizer": "normalize",
    "DEFAULT_SYNONYMS": "synonyms", "build_synonyms": "synonyms",
    "normalise_sku": "text",
}


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})


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
