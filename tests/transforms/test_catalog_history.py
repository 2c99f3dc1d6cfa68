"""Catalog history on hand-built raw rows, per provider (no warehouse): each provider's normaliser
flags deleted and archived products, and :func:`transforms.catalog.version_products` turns a
rename or re-price into a second version, opens nothing when nothing changed, keeps a product the
catalog stops listing as an archived version, and counts products first seen."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from transforms import lightspeed, square, toast
from transforms.canonical import POS_PRODUCTS
from transforms.catalog import CATALOG_COLUMNS, CatalogChanges, version_id, version_products

TENANT, ACCOUNT = "tenant-1", "account-1"
T0 = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
T2 = datetime(2026, 3, 3, 11, 0, tzinfo=UTC)
BUILD = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # the build's own time


class Store:
    """``pos.pos_products`` in memory: rows by version id, written as the writer writes them."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def apply(self, products: list[dict[str, Any]], as_of: datetime = BUILD) -> CatalogChanges:
        assert all(set(p) == set(CATALOG_COLUMNS) for p in products)
        current = [r for r in self.rows.values() if r["is_current"]]
        changes = version_products([dict(r) for r in current], products, account_id=ACCOUNT, as_of=as_of)
        for row in changes.rows:
            assert set(POS_PRODUCTS.column_names) <= set(row)
            self.rows[row["id"]] = row
        return changes

    def versions(self, item: str) -> list[dict[str, Any]]:
        return sorted((r for r in self.rows.values() if r["pos_item_id"] == item), key=lambda r: r["version"])

    def check_intervals(self) -> None:
        """One current version per product; each closed version ends where the next begins."""
        for item in {r["pos_item_id"] for r in self.rows.values()}:
            versions = self.versions(item)
            assert [v["version"] for v in versions] == list(range(1, len(versions) + 1))
            assert [v["is_current"] for v in versions] == [False] * (len(versions) - 1) + [True]
            for old, new in zip(versions, versions[1:], strict=False):
                assert old["valid_to"] == new["valid_from"] and old["valid_from"] <= new["valid_from"]
            assert versions[-1]["valid_to"] is None


def _summary(changes: CatalogChanges) -> tuple[int, int, int]:
    return changes.new_products, changes.new_versions, len(changes.rows)


# ---------------------------------------------------------------------- Square
def _square_catalog(name: str = "Croissant", cents: int = 150, at: datetime = T0, *, deleted: bool = False,
                    archived: bool | None = None, present: bool = True) -> list[dict[str, Any]]:
    item: dict[str, Any] = {"id": "ITEM1", "type": "ITEM", "item_data__name": name, "updated_at": at,
                            "is_deleted": deleted, "present_at_all_locations": present, "present_at_location_ids": []}
    if archived is not None:
        item["item_data__is_archived"] = archived
    return [item, {"id": "VAR1", "type": "ITEM_VARIATION", "item_variation_data__item_id": "ITEM1",
                   "item_variation_data__name": "Regular", "updated_at": at, "version": int(at.timestamp() * 1000),
                   "is_deleted": deleted, "present_at_all_locations": True, "present_at_location_ids": [],
                   "item_variation_data__price_money__amount": cents,
                   "item_variation_data__price_money__currency": "EUR"}]


def _square(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ctx = square.SquareContext(tenant_id=TENANT, account_id=ACCOUNT, locations={}, catalog={r["id"]: r for r in rows})
    return square.normalize_products(ctx, rows)


def test_square_rename_and_reprice_open_a_version_from_the_catalog_time_and_rereads_open_none() -> None:
    store = Store()
    assert _summary(store.apply(_square(_square_catalog()))) == (1, 0, 1)
    assert _summary(store.apply(_square(_square_catalog()))) == (0, 0, 0)  # re-run: nothing written
    renamed = _square(_square_catalog("Croissant de mantequilla", 165, T1))
    assert _summary(store.apply(renamed)) == (0, 1, 2)
    assert _summary(store.apply(renamed)) == (0, 0, 0)
    v1, v2 = store.versions("VAR1")
    assert (v1["name"], v1["price"], v1["valid_from"], v1["valid_to"]) == ("Croissant", Decimal("1.50"), T0, T1)
    assert (v2["name"], v2["price"], v2["valid_from"], v2["is_current"]) == \
        ("Croissant de mantequilla", Decimal("1.65"), T1, True)
    assert v2["id"] == version_id(TENANT, "square", "VAR1", 2) and v1["first_seen_at"] == v2["first_seen_at"] == T0
    store.check_intervals()


def test_square_deleted_archived_and_present_nowhere_are_flagged_and_kept() -> None:
    products = _square(_square_catalog(deleted=True, at=T1))
    assert (products[0]["is_deleted"], products[0]["is_archived"]) == (True, False)
    assert _square(_square_catalog(archived=True))[0]["is_archived"] is True
    assert _square(_square_catalog(archived=False))[0]["is_archived"] is False
    assert _square(_square_catalog(present=False))[0]["is_archived"] is True  # at no location
    store = Store()
    store.apply(_square(_square_catalog()))
    store.apply(_square(_square_catalog(at=T1, archived=True)))
    store.apply(_square(_square_catalog(at=T2, archived=True, deleted=True)))
    assert [(v["is_archived"], v["is_deleted"], v["valid_from"]) for v in store.versions("VAR1")] == \
        [(False, False, T0), (True, False, T1), (True, True, T2)]
    store.check_intervals()


# ---------------------------------------------------------------------- Toast
def _toast_items(*items: tuple[str, str, float], seen: datetime = T0) -> list[dict[str, Any]]:
    return [{"guid": g, "name": n, "price": p, "menu_group_guid": "GRP", "sales_category__name": "Bakery",
             "sku": "", "_restaurant_guid": "R1", "_seen_at": seen} for g, n, p in items]


def _toast(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ctx = toast.ToastContext(tenant_id=TENANT, account_id=ACCOUNT,
                             restaurants={"R1": {"guid": "R1", "general__currency_code": "USD"}})
    return toast.normalize_products(ctx, items)


def test_toast_menu_item_left_out_of_the_menus_is_kept_as_archived_and_a_repriced_one_versioned() -> None:
    store = Store()
    first = _toast(_toast_items(("G1", "Bagel", 2.5), ("G2", "Muffin", 3.0)))
    assert all(p["is_archived"] is False and p["is_deleted"] is False for p in first)
    assert _summary(store.apply(first)) == (2, 0, 2)
    assert _summary(store.apply(_toast(_toast_items(("G1", "Bagel", 2.5), ("G2", "Muffin", 3.0), seen=T1)))) \
        == (0, 0, 2)  # the menu changed elsewhere: no version, the current ones' last_seen_at refreshed
    assert len(store.rows) == 2 and {r["last_seen_at"] for r in store.rows.values()} == {T1}
    # G2 archived (gone from the menus), G1 re-priced, G3 new
    changes = store.apply(_toast(_toast_items(("G1", "Bagel", 2.75), ("G3", "Scone", 3.25), seen=T2)), as_of=T2)
    assert _summary(changes) == (1, 2, 5)
    g2 = store.versions("G2")
    assert [(v["is_archived"], v["name"], v["valid_from"], v["is_current"]) for v in g2] == \
        [(False, "Muffin", T0, False), (True, "Muffin", T2, True)]
    assert [v["price"] for v in store.versions("G1")] == [Decimal("2.50"), Decimal("2.75")]
    assert store.versions("G1")[1]["valid_from"] == T2
    assert _summary(store.apply(_toast(_toast_items(("G1", "Bagel", 2.75), ("G3", "Scone", 3.25), seen=T2)),
                                as_of=T2)) == (0, 0, 0)  # archived stays archived: no second archival
    back = store.apply(_toast(_toast_items(("G1", "Bagel", 2.75), ("G2", "Muffin", 3.0), ("G3", "Scone", 3.25),
                                           seen=BUILD)))
    assert _summary(back) == (0, 1, 4)  # restored to the menu: a version not archived (G1, G3 seen again)
    assert store.versions("G2")[-1]["is_archived"] is False
    store.check_intervals()


def test_a_product_of_another_account_is_taken_over_not_archived_nor_duplicated() -> None:
    """A re-linked store: its products were written under the old account id."""
    store = Store()
    old = _toast(_toast_items(("G1", "Bagel", 2.5)))
    for p in old:
        p["pos_account_id"] = "old-account"
    store.apply(old)
    changes = store.apply(_toast(_toast_items(("G1", "Bagel", 2.5), seen=T1)))
    assert _summary(changes) == (0, 0, 1) and changes.rows[0]["pos_account_id"] == ACCOUNT
    assert len(store.rows) == 1


# ---------------------------------------------------------------------- Lightspeed
def _ls_product(name: str = "Pan de centeno", price: str = "3.20000", at: datetime = T0, *,
                deleted_at: datetime | None = None, active: bool = True) -> dict[str, Any]:
    return {"id": "P1", "name": name, "variant_name": name, "sku": "10001", "type__name": "Panadería",
            "price_including_tax": price, "version": int(at.timestamp()), "created_at": T0, "updated_at": at,
            "deleted_at": deleted_at, "active": active, "is_active": active, "variant_parent_id": None}


def _ls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ctx = lightspeed.LightspeedContext(tenant_id=TENANT, account_id=ACCOUNT,
                                       outlets={"O1": {"id": "O1", "currency": "EUR"}})
    return lightspeed.normalize_products(ctx, rows)


def test_lightspeed_rename_then_soft_delete_give_three_versions_flagged() -> None:
    inactive = _ls([_ls_product(active=False)])[0]
    assert (inactive["is_archived"], inactive["is_deleted"]) == (True, False)
    store = Store()
    assert _summary(store.apply(_ls([_ls_product()]))) == (1, 0, 1)
    assert _summary(store.apply(_ls([_ls_product("Pan de centeno 500g", at=T1)]))) == (0, 1, 2)
    deleted = _ls([_ls_product("Pan de centeno 500g", at=T2, deleted_at=T2, active=False)])
    assert (deleted[0]["is_deleted"], deleted[0]["is_archived"]) == (True, True)
    assert _summary(store.apply(deleted)) == (0, 1, 2)
    assert _summary(store.apply(deleted)) == (0, 0, 0)
    assert [(v["name"], v["is_deleted"], v["valid_from"]) for v in store.versions("P1")] == [
        ("Pan de centeno", False, T0), ("Pan de centeno 500g", False, T1), ("Pan de centeno 500g", True, T2)]
    store.check_intervals()


def test_a_change_without_a_later_provider_time_starts_at_the_build() -> None:
    """A provider time not after the current version's start (a clock the provider did not move)
    never makes intervals overlap: the build's time is used."""
    store = Store()
    store.apply(_ls([_ls_product(at=T1)]))
    store.apply(_ls([_ls_product("Pan integral", at=T0)]), as_of=BUILD)
    v1, v2 = store.versions("P1")
    assert (v1["valid_to"], v2["valid_from"]) == (BUILD, BUILD)
    store.check_intervals()


def test_a_lightspeed_line_is_named_as_its_product_was_when_sold() -> None:
    """X-Series lines carry no name: a sale built after a rename takes the recorded version valid
    at its sale time (its own price is the line's); a sale after the rename, the new name."""
    store = Store()
    store.apply(_ls([_ls_product()]))
    renamed = _ls_product("Pan de centeno 500g", price="3.40000", at=T1)
    store.apply(_ls([renamed]))
    ctx = lightspeed.LightspeedContext(tenant_id=TENANT, account_id=ACCOUNT,
                                       outlets={"O1": {"id": "O1", "currency": "EUR", "time_zone": "Europe/Madrid"}},
                                       products={"P1": renamed})
    for v in sorted(store.rows.values(), key=lambda r: r["version"]):
        ctx.versions.setdefault(v["pos_item_id"], []).append(v)

    def sale(sale_id: str, at: datetime) -> dict[str, Any]:
        return {"id": sale_id, "outlet_id": "O1", "status": "CLOSED", "sale_date": at, "line_items": [
            {"id": f"{sale_id}-1", "product_id": "P1", "quantity": 1, "total_price": "2.90909",
             "total_tax": "0.29091", "total_discount": 0}]}

    batch = lightspeed.normalize(ctx, [sale("S-old", T0 + (T1 - T0) / 2), sale("S-new", T2)])
    by_sale = {i["transaction_id"]: i for i in batch.items}
    old, new = by_sale[ctx.sale_id("S-old")], by_sale[ctx.sale_id("S-new")]
    assert (old["product_name"], old["line_total"]) == ("Pan de centeno", Decimal("3.20"))
    assert new["product_name"] == "Pan de centeno 500g"
    # no version recorded (a first build): the product as read
    ctx.versions.clear()
    assert lightspeed.normalize(ctx, [sale("S-old", T0)]).items[0]["product_name"] == "Pan de centeno 500g"
