"""A warehouse whose ``pos_products`` has the old shape (one row per product, keyed by tenant,
provider and item) is upgraded to versions in place, rows kept, on DuckDB and PostgreSQL; the
writer then versions over it (a change opens version 2, an unchanged catalog opens nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from transforms.canonical import MONEY, POS_PRODUCTS, SCHEMA, Table

# pos_products as every warehouse before catalog history created it
OLD_PRODUCTS = Table(
    "pos_products",
    (
        ("tenant_id", "TEXT"), ("pos_account_id", "TEXT"), ("pos_provider", "TEXT"), ("pos_item_id", "TEXT"),
        ("pos_parent_item_id", "TEXT"), ("name", "TEXT"), ("variation_name", "TEXT"), ("category", "TEXT"),
        ("sku", "TEXT"), ("price", MONEY), ("currency", "TEXT"), ("is_deleted", "BOOLEAN"),
        ("source_version", "TEXT"), ("first_seen_at", "TIMESTAMPTZ"), ("last_seen_at", "TIMESTAMPTZ"),
    ),
    key=("tenant_id", "pos_provider", "pos_item_id"),
)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _old(item: str, name: str, price: str, deleted: bool = False) -> dict[str, Any]:
    return {"tenant_id": "t", "pos_account_id": "acc", "pos_provider": "square", "pos_item_id": item,
            "pos_parent_item_id": f"parent-{item}", "name": name, "variation_name": "Regular", "category": "Bollería",
            "sku": None, "price": Decimal(price), "currency": "EUR", "is_deleted": deleted, "source_version": "7",
            "first_seen_at": T0, "last_seen_at": T0}


def _catalog_row(old: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What a normaliser hands the writer for the same product now."""
    return {**old, "is_archived": False, "valid_from": T0, **changes}


def test_an_old_pos_products_table_is_upgraded_to_versions_with_its_rows(warehouse: Any) -> None:
    from pos_sync.canonical.writer import CanonicalWriter
    from pos_sync.warehouse.migrations import has_natural_key, version_pos_products
    from transforms.catalog import version_id

    wh = warehouse
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    wh.execute(OLD_PRODUCTS.create_table(wh.dialect))
    croissant, gone = _old("V1", "Croissant", "1.50"), _old("V2", "Napolitana", "1.80", deleted=True)
    wh.insert_rows(OLD_PRODUCTS, [croissant, gone])
    wh.commit()
    assert "valid_from" not in wh.columns(SCHEMA, "pos_products")

    wh.ensure_schema()  # what every canonical build does first
    assert wh.columns(SCHEMA, "pos_products") == set(POS_PRODUCTS.column_names)
    assert has_natural_key(wh, POS_PRODUCTS) is (wh.dialect == "postgres")  # DuckDB: the writer checks it
    rows = {r["pos_item_id"]: r for r in wh.query("select * from pos.pos_products")}
    assert set(rows) == {"V1", "V2"}
    for item, old in (("V1", croissant), ("V2", gone)):
        row = rows[item]
        assert (row["id"], row["version"], row["is_current"], row["valid_to"], row["is_archived"]) == \
            (version_id("t", "square", item, 1), 1, True, None, False)
        assert row["valid_from"] == T0
        assert {c: row[c] for c in ("name", "price", "is_deleted", "first_seen_at")} == \
            {c: old[c] for c in ("name", "price", "is_deleted", "first_seen_at")}
    assert version_pos_products(wh) is False  # a second time: nothing to do
    wh.ensure_schema()
    assert wh.scalar("select count(*) from pos.pos_products") == 2

    # the writer versions over the upgraded table
    with wh.transaction():
        writer = CanonicalWriter(wh, "acc", "square")
        writer.replace_products([_catalog_row(croissant, name="Croissant de mantequilla", price=Decimal("1.60"),
                                              valid_from=T1, last_seen_at=T1),
                                 _catalog_row(gone)], as_of=T1)
    assert (writer.new_products, writer.new_versions) == (0, 1)
    versions = wh.query("select version, name, price, valid_from, valid_to, is_current from pos.pos_products "
                        "where pos_item_id = 'V1' order by version")
    assert [(v["version"], v["name"], v["price"], v["valid_from"], v["valid_to"], v["is_current"]) for v in versions] \
        == [(1, "Croissant", Decimal("1.50"), T0, T1, False),
            (2, "Croissant de mantequilla", Decimal("1.60"), T1, None, True)]
    with wh.transaction():  # the same catalog again: no version
        again = CanonicalWriter(wh, "acc", "square")
        again.replace_products([_catalog_row(croissant, name="Croissant de mantequilla", price=Decimal("1.60"),
                                             valid_from=T1, last_seen_at=T1), _catalog_row(gone)], as_of=T1)
    assert (again.new_products, again.new_versions) == (0, 0)
    assert wh.scalar("select count(*) from pos.pos_products") == 3
