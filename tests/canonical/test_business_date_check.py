"""The integrity check ``business_dates_in_location_zone`` judges a business date with the build's
zone rules (the ``tzdata`` package), not with the database's: PostgreSQL on a host with tzdata 2025b
(Debian's in 2026-12) still puts America/Vancouver at UTC-8 after 2026-11-01, where the build —
rightly — says UTC-7; that sale failed the whole sync as "off zone"."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from support.postgres import use_postgres_warehouse

from pos_sync.canonical.checks_sql import business_dates_off_zone
from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import POS_LOCATIONS, POS_TRANSACTIONS
from transforms.times import local_date, zone

SOLD = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)  # 23:30 or 00:30 in Vancouver, by the rules' release


def _sale(business_date: date, n: int) -> dict[str, object]:
    return {"id": f"t{n}", "tenant_id": "tenant", "pos_account_id": "acct", "pos_provider": "square",
            "location_id": "van", "pos_transaction_id": f"p{n}", "transaction_type": "sale", "status": "completed",
            "transaction_date": SOLD, "business_date": business_date, "subtotal": 1, "total_amount": 1,
            "currency": "CAD"}


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_a_date_by_the_builds_rules_passes_and_a_wrong_one_fails(backend: str, request: pytest.FixtureRequest,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "postgres":
        use_postgres_warehouse(monkeypatch, request.getfixturevalue("pg_url"))
    right = local_date(SOLD, zone("America/Vancouver"))
    assert right == date(2026, 11, 20)
    wh = Warehouse()
    try:
        wh.ensure_schema()
        with wh.transaction():
            wh.insert_rows(POS_LOCATIONS, [{
                "tenant_id": "tenant", "pos_account_id": "acct", "pos_provider": "square", "location_id": "van",
                "name": "Vancouver", "timezone": "America/Vancouver", "currency": "CAD"}])
            wh.insert_rows(POS_TRANSACTIONS, [_sale(right, 1)])
        assert business_dates_off_zone(wh, "square") == 0
        for n, wrong in enumerate((date(2026, 11, 19), date(2026, 11, 21)), start=2):
            with wh.transaction():
                wh.insert_rows(POS_TRANSACTIONS, [_sale(wrong, n)])
        # 11-19 is the database's own answer on a host with old rules: found by the build's rules only
        # where the database agrees with them (DuckDB); on such a PostgreSQL it is not a candidate
        expected = 2 if backend == "duckdb" or _server_agrees(wh) else 1
        assert business_dates_off_zone(wh, "square") == expected
    finally:
        wh.close()


def _server_agrees(wh: Warehouse) -> bool:
    """Whether the PostgreSQL server's zone rules give the build's date for the sale."""
    day = wh.scalar("select cast((%s::timestamptz at time zone 'America/Vancouver') as date)", (SOLD,))
    return bool(day == date(2026, 11, 20))
