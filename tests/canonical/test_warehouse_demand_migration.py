"""A warehouse created before the demand feed is upgraded in place on DuckDB and PostgreSQL:
``pos_locations`` gains ``postal_code`` (rows kept, NULL until the next build), the ``demand_*``
tables are created, and the natural keys still hold; running the upgrade again changes nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

from transforms.canonical import POS_LOCATIONS, SCHEMA, TABLES
from transforms.demand import DEMAND_CALENDAR, DEMAND_FORECAST, DEMAND_HISTORY


def test_an_old_warehouse_gets_postal_code_and_the_demand_tables(warehouse: Any) -> None:
    from pos_sync.warehouse.migrations import add_missing_columns, has_natural_key

    wh = warehouse
    old_locations = dataclasses.replace(POS_LOCATIONS, columns=tuple(c for c in POS_LOCATIONS.columns
                                                                     if c[0] != "postal_code"))
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table in TABLES:  # the model before the demand feed
        for stmt in (old_locations if table is POS_LOCATIONS else table).ddl(wh.dialect):
            wh.execute(stmt)
    wh.commit()
    wh.insert_rows(old_locations, [{"tenant_id": "t", "pos_account_id": "a", "pos_provider": "square",
                                    "location_id": "L1", "name": "Madrid", "timezone": "Europe/Madrid",
                                    "currency": "EUR", "prices_include_tax": True, "country": "ES",
                                    "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}])
    wh.commit()
    assert "postal_code" not in wh.columns(SCHEMA, "pos_locations")

    wh.ensure_schema()
    assert "postal_code" in wh.columns(SCHEMA, "pos_locations")
    assert wh.query(f"select location_id, name, postal_code from {SCHEMA}.pos_locations") == [
        {"location_id": "L1", "name": "Madrid", "postal_code": None}]
    for table in (DEMAND_HISTORY, DEMAND_CALENDAR, DEMAND_FORECAST):
        assert wh.columns(SCHEMA, table.name) == set(table.column_names)
    assert all(has_natural_key(wh, t) is (wh.dialect == "postgres") for t in TABLES if t.unique)  # DuckDB: the writer
    assert add_missing_columns(wh) == []  # idempotent

    wh.insert_rows(DEMAND_FORECAST, [{"tenant_id": "t", "pos_provider": "square", "location_id": "L1",
                                      "product_key": "p", "is_mapped": True, "forecast_date": date(2026, 1, 2),
                                      "horizon_days": 1, "units": 12.5, "open_probability": 1.0}])
    wh.insert_rows(DEMAND_HISTORY, [{"tenant_id": "t", "pos_provider": "square", "location_id": "L1",
                                     "business_date": date(2026, 1, 1), "product_key": "p", "is_mapped": True,
                                     "net_revenue_cents": 12_345_678_901}])  # BIGINT cents
    wh.commit()
    assert wh.scalar(f"select units from {SCHEMA}.demand_forecast") == 12.5
    assert wh.scalar(f"select net_revenue_cents from {SCHEMA}.demand_history") == 12_345_678_901
