"""``dlt_sources.common.arrow_nested``: objects with lists as nested Arrow tables, loaded by dlt
exactly as its per-row normaliser loads the same dicts (same tables, columns, types and rows)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pytest

from dlt_sources.common.arrow import prepare_arrow_resources
from dlt_sources.common.arrow_nested import count_nested_by_root_resource, nested_items, nested_tables

ORDERS = [
    {"id": "o1", "version": 1, "created_at": "2026-03-29T00:59:59.123Z", "state": "COMPLETED",
     "sale_date": "2026-03-29T01:00:00+00:00", "note": "2026-03-29 is a date, not an instant",
     "total_money": {"amount": 1250, "currency": "EUR"},
     "line_items": [{"uid": "a", "quantity": "2", "base_price_money": {"amount": 500, "currency": "EUR"},
                     "modifiers": [{"uid": "m1", "name": "oat"}, {"uid": "m2", "name": "shot"}],
                     "applied_taxes": [{"uid": "t", "applied_money": {"amount": 20, "currency": "EUR"}}]},
                    {"uid": "b", "quantity": "1.5", "note": None, "price": Decimal("1.25"),
                     "discount": Decimal("0.333333333")}],
     "tenders": [{"id": "t1", "type": "CARD", "card_details": {"card": {"last_4": "1234"}}}],
     "source": {"name": "till"}},
    {"id": "o2", "version": 3, "created_at": "2026-03-29T03:00:00+02:00", "state": "OPEN", "line_items": [],
     "returns": [{"uid": "r", "return_line_items": [{"uid": "rl", "quantity": "1",
                                                     "applied_taxes": [{"uid": "x", "applied_money": {
                                                         "amount": 5, "currency": "EUR", "deep": {"k": 1}}}]}]}],
     "tags": ["a", "b"]},
]


def test_tables_parents_before_children_with_linked_keys() -> None:
    tables = {t.name: t for t in nested_tables(ORDERS, "orders", max_nesting=4)}
    assert list(tables)[0] == "orders" and tables["orders"].parent is None
    assert tables["orders__line_items__modifiers"].parent == "orders__line_items"
    orders = tables["orders"].table.to_pylist()
    lines = tables["orders__line_items"].table.to_pylist()
    mods = tables["orders__line_items__modifiers"].table.to_pylist()
    assert [r["_dlt_list_idx"] for r in lines] == [0, 1] and {r["_dlt_root_id"] for r in lines} == {orders[0]["_dlt_id"]}
    assert [m["_dlt_parent_id"] for m in mods] == [lines[0]["_dlt_id"]] * 2 and [m["name"] for m in mods] == ["oat", "shot"]
    assert tables["orders__tags"].table.to_pylist()[1]["value"] == "b"
    assert "note" not in tables["orders__line_items"].table.column_names  # None everywhere: no column
    # level 4 reached: the object below stays JSON, as dlt's max_table_nesting makes it
    deep = tables["orders__returns__return_line_items__applied_taxes"].table.to_pylist()[0]
    assert deep["applied_money__deep"] == '{"k":1}'


def test_dlt_loads_nested_arrow_like_dict_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    prepare_arrow_resources(["arrow_orders"])
    count_nested_by_root_resource()
    merge: Any = {"disposition": "merge", "strategy": "delete-insert"}
    hints = {"write_disposition": merge, "primary_key": "id", "columns": {"version": {"dedup_sort": "desc"}}}

    @dlt.resource(name="arrow_orders", write_disposition=merge)
    def as_arrow(rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        yield from nested_items(nested_tables(rows, "arrow_orders", max_nesting=4), hints)

    @dlt.resource(name="dict_orders", write_disposition=merge, primary_key="id",
                  columns={"version": {"dedup_sort": "desc"}})
    def as_dicts(rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        yield rows

    @dlt.source(max_table_nesting=4)
    def both(rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        return as_arrow(rows), as_dicts(rows)

    pipeline = dlt.pipeline("nested_vs_dicts", destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            pipelines_dir=str(tmp_path / "p"), dataset_name="raw")
    changed = [{**ORDERS[0], "version": 2, "line_items": ORDERS[0]["line_items"][1:]}]  # one line left
    with caplog.at_level("WARNING", logger="dlt"):
        pipeline.run(both(ORDERS), loader_file_format="parquet").raise_on_failed_jobs()
        pipeline.run(both(changed), loader_file_format="parquet").raise_on_failed_jobs()  # merge replaces children
    assert not [r for r in caplog.records if "arrow schema" in r.getMessage()]

    with pipeline.sql_client() as client:
        def tables(prefix: str) -> dict[str, tuple[dict[str, str], list[tuple[Any, ...]]]]:
            names = [t for (t,) in client.execute_sql("select table_name from information_schema.tables where "
                                                      f"table_schema = 'raw' and table_name like '{prefix}%'")]
            out = {}
            for name in names:
                types = dict(client.execute_sql("select column_name, data_type from information_schema.columns "
                                                f"where table_schema = 'raw' and table_name = '{name}'"))
                types.pop("_dlt_load_id", None)  # Arrow child tables carry it too
                cols = sorted(c for c in types if c not in ("_dlt_id", "_dlt_parent_id", "_dlt_root_id"))
                # rows keyed by their root's id instead of random ids
                root = "r.id" if name != prefix else "t.id"
                join = f"join {prefix} r on t._dlt_root_id = r._dlt_id" if name != prefix else ""
                rows = client.execute_sql(f"select {root}, {', '.join('t.' + c for c in cols)} from {name} t {join} "
                                          "order by all")
                out[name.removeprefix(prefix)] = (types, rows)
            return out

        arrow, dicts = tables("arrow_orders"), tables("dict_orders")
    assert arrow == dicts
    assert len(arrow["__line_items"][1]) == 1 and arrow["__line_items__modifiers"][1] == []  # o1's old lines gone


def test_arrow_takes_over_tables_the_dict_path_created(tmp_path: Path) -> None:
    """A warehouse loaded before orders came as Arrow: the child tables gain a nullable
    ``_dlt_load_id`` and the merge still replaces an order's old child rows."""
    prepare_arrow_resources(["orders"])
    count_nested_by_root_resource()
    merge: Any = {"disposition": "merge", "strategy": "delete-insert"}
    hints = {"write_disposition": merge, "primary_key": "id", "columns": {"version": {"dedup_sort": "desc"}}}

    @dlt.source(max_table_nesting=4, name="shop")
    def as_dicts(rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        return dlt.resource(rows, name="orders", write_disposition=merge, primary_key="id",
                            columns={"version": {"dedup_sort": "desc"}})

    @dlt.source(max_table_nesting=4, name="shop")
    def as_arrow(rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        return dlt.resource(nested_items(nested_tables(rows, "orders", max_nesting=4), hints), name="orders",
                            write_disposition=merge)

    pipeline = dlt.pipeline("takeover", destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            pipelines_dir=str(tmp_path / "p"), dataset_name="raw")
    pipeline.run(as_dicts(ORDERS), loader_file_format="parquet").raise_on_failed_jobs()
    changed = [{**ORDERS[0], "version": 2, "line_items": ORDERS[0]["line_items"][1:]}]
    for _ in range(2):
        pipeline.run(as_arrow(changed), loader_file_format="parquet").raise_on_failed_jobs()
    with pipeline.sql_client() as client:
        def count(table: str) -> int:
            return int(client.execute_sql(f"select count(*) from {table}")[0][0])
        assert (count("orders"), count("orders__line_items"), count("orders__line_items__modifiers")) == (2, 1, 0)
        assert count("orders__returns__return_line_items") == 1  # o2, not re-loaded, keeps its rows
