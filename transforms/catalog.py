"""Catalog history: how a build's view of an account's POS catalog becomes versions of
``pos.pos_products`` (a row per version, ``valid_from``/``valid_to``, ``is_current``).

Pure: :func:`version_products` takes the current versions stored for the products concerned and
the catalog as the provider now describes it (the normaliser's rows: one per product, with its
``valid_from`` — the provider's change time where it has one) and says which rows to write.

* a product never seen before for the tenant and provider gets version 1 and counts as **new**;
* a product whose versioned fields (:data:`transforms.canonical.PRODUCT_VERSIONED`: name, price,
  SKU, category, parent, deleted/archived flags…) are unchanged keeps its current version (only
  ``last_seen_at``, ``source_version`` and the owning account are refreshed): re-running a build,
  or re-reading an unchanged catalog, creates no version;
* a changed product closes its current version (``valid_to`` = the new one's ``valid_from``,
  ``is_current`` false) and gets the next version number;
* a current product of the account the catalog no longer lists (Toast leaves archived menu items
  out of its menus) gets a new version flagged ``is_archived`` from ``as_of`` — kept, not deleted.

A version's ``valid_from`` is the provider's change time when it is later than the version it
replaces, else the build's time ``as_of``; so the intervals of one product never overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from transforms.canonical import POS_PRODUCTS, PRODUCT_VERSIONED, canonical_id

Row = dict[str, Any]
Key = tuple[str, str, str]  # tenant, provider, pos item id

VERSIONING = ("id", "version", "valid_to", "is_current")  # filled here, not by the normalisers
# the columns a normaliser's product row carries (``valid_from``: the provider's change time, or None)
CATALOG_COLUMNS = tuple(c for c in POS_PRODUCTS.column_names if c not in VERSIONING)


def product_key(row: Row) -> Key:
    return (row["tenant_id"], row["pos_provider"], row["pos_item_id"])


def version_id(tenant_id: str, provider: str, pos_item_id: str, version: int) -> str:
    return canonical_id(tenant_id, provider, "product", pos_item_id, version)


def same_version(stored: Row, incoming: Row) -> bool:
    """Whether nothing that makes a version differs (decimals compare by value)."""
    return all(stored.get(c) == incoming.get(c) for c in PRODUCT_VERSIONED)


@dataclass
class CatalogChanges:
    """Rows to write (each replacing any stored row with its ``id``) and what they mean."""

    rows: list[Row] = field(default_factory=list)
    new_products: int = 0  # products first seen in this build
    new_versions: int = 0  # versions opened for products already known (changes, archivals)
    unchanged: int = 0

    @property
    def replaced_ids(self) -> list[str]:
        return [r["id"] for r in self.rows]


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _opened(base: Row, version: int, valid_from: datetime | None, first_seen: datetime | None,
            last_seen: datetime | None) -> Row:
    row = dict(base)
    row.update({
        "id": version_id(row["tenant_id"], row["pos_provider"], row["pos_item_id"], version),
        "version": version, "valid_from": valid_from, "valid_to": None, "is_current": True,
        "first_seen_at": first_seen, "last_seen_at": last_seen,
    })
    return row


def _start(stored: Row, wanted: datetime | None, as_of: datetime) -> datetime:
    """The new version's ``valid_from``: the provider's time if later than the stored version's."""
    since = stored.get("valid_from")
    if wanted is not None and (since is None or wanted > since):
        return wanted
    return as_of if since is None or as_of > since else since


def version_products(stored: Iterable[Row], incoming: Iterable[Row], *, account_id: str,
                     as_of: datetime) -> CatalogChanges:
    """The versions to write for ``incoming`` (the account's whole catalog as now read) given the
    ``stored`` current versions of those products and of the account's other products."""
    current = {product_key(r): r for r in stored}
    out = CatalogChanges()
    seen: set[Key] = set()
    for p in incoming:
        key = product_key(p)
        if key in seen:
            continue
        seen.add(key)
        cur = current.get(key)
        valid_from = p.get("valid_from") or as_of
        if cur is None:
            out.new_products += 1
            out.rows.append(_opened(p, 1, valid_from, p.get("first_seen_at") or valid_from,
                                    p.get("last_seen_at") or valid_from))
            continue
        first_seen = min(x for x in (cur.get("first_seen_at"), p.get("first_seen_at"), valid_from) if x is not None)
        if same_version(cur, p):
            refreshed = dict(cur)
            refreshed.update({"pos_account_id": p["pos_account_id"], "source_version": p.get("source_version"),
                              "first_seen_at": first_seen,
                              "last_seen_at": _later(cur.get("last_seen_at"), p.get("last_seen_at"))})
            if refreshed != cur:
                out.rows.append(refreshed)
            out.unchanged += 1
            continue
        start = _start(cur, p.get("valid_from"), as_of)
        out.rows.append({**cur, "valid_to": start, "is_current": False})
        out.rows.append(_opened(p, int(cur["version"]) + 1, start, first_seen,
                                _later(start, p.get("last_seen_at"))))
        out.new_versions += 1
    for key, cur in current.items():
        if key in seen or cur.get("pos_account_id") != account_id or cur.get("is_archived"):
            continue
        start = _start(cur, None, as_of)
        out.rows.append({**cur, "valid_to": start, "is_current": False})
        archived = {**cur, "is_archived": True}
        out.rows.append(_opened(archived, int(cur["version"]) + 1, start, cur.get("first_seen_at"),
                                cur.get("last_seen_at")))
        out.new_versions += 1
    return out
