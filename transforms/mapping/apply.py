"""The mappings applied to canonical line items (pure: new rows, the input untouched)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

GENERIC_VARIATIONS = {"", "regular", "default", "standard", "normal"}


def with_mappings(items: Iterable[Mapping[str, Any]], targets: Mapping[str, str]) -> list[dict[str, Any]]:
    """``items`` with ``mapped_product_id``/``is_mapped`` set from ``targets``
    (``{pos_item_id: bakery_product_id}``); an item of a POS product without a target is unmapped."""
    out = []
    for item in items:
        target = targets.get(item.get("pos_item_id") or "")
        out.append({**item, "mapped_product_id": target, "is_mapped": target is not None})
    return out


def display_name(name: str | None, variation: str | None) -> str | None:
    """A POS product's name as a person reads it: the item's name, and its variation's unless the
    variation is generic (``Regular``) or repeats the name."""
    if not name:
        return variation or None
    if not variation or variation.strip().lower() in GENERIC_VARIATIONS or variation.strip() == name.strip():
        return name
    return f"{name} {variation.strip()}"
