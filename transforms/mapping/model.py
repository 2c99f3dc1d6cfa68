"""The values the matcher takes and returns (plain frozen dataclasses, no behaviour).

Prices are optional floats in the product's own currency: they only break ties between candidates,
so a POS in USD against a catalog in EUR costs a little ranking help, never a wrong decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["auto", "review", "none"]


@dataclass(frozen=True, slots=True)
class BakeryProduct:
    """One product of the bakery's own catalog (what forecasting is per)."""

    bakery_product_id: str
    name: str
    sku: str | None = None
    category: str | None = None
    price: float | None = None


@dataclass(frozen=True, slots=True)
class PosProduct:
    """One item of a till's catalog, as a provider names it."""

    provider: str
    pos_product_id: str
    name: str
    sku: str | None = None
    category: str | None = None
    price: float | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The matcher's answer for one POS product.

    ``decision``: ``"auto"`` — map it (``bakery_product_id`` is set only then); ``"review"`` — a
    person should choose among ``candidates``; ``"none"`` — nothing in the catalog is plausible
    (bags, gift cards, drinks the bakery does not forecast). ``confidence`` is the calibrated
    probability that ``candidates[0]`` is the right product (0 when there is no candidate).
    ``candidates``: up to three ``(bakery_product_id, score)``, best first, whatever the decision;
    ``score`` is the name/SKU similarity in [0, 1] (not a probability). ``reason`` says in a word why
    the decision is what it is (``"sku"``, ``"name"``, ``"near-twin"``, ``"margin"``,
    ``"low-confidence"``, ``"extra-words"``, ``"unknown-words"``, ``"missing-words"``, ``"short-cut"``,
    ``"sku-conflict"``, ``"sku-name"``, ``"no-candidate"``, ``"disabled"``).
    """

    provider: str
    pos_product_id: str
    decision: Decision
    bakery_product_id: str | None
    confidence: float
    candidates: tuple[tuple[str, float], ...] = field(default=())
    reason: str = ""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _price(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        return None
    return number if number > 0 else None


def as_bakery_product(value: BakeryProduct | Mapping[str, Any]) -> BakeryProduct:
    """A :class:`BakeryProduct` from itself or from a mapping with the same keys."""
    if isinstance(value, BakeryProduct):
        return value
    return BakeryProduct(str(value["bakery_product_id"]), str(value.get("name") or ""), _text(value.get("sku")),
                         _text(value.get("category")), _price(value.get("price")))


def as_pos_product(value: PosProduct | Mapping[str, Any]) -> PosProduct:
    """A :class:`PosProduct` from itself or from a mapping with the same keys."""
    if isinstance(value, PosProduct):
        return value
    return PosProduct(str(value.get("provider") or ""), str(value["pos_product_id"]), str(value.get("name") or ""),
                      _text(value.get("sku")), _text(value.get("category")), _price(value.get("price")))
