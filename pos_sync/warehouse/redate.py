"""Once per warehouse: business dates written with another tz database than the build's.

Until stop 37 the normalisers dated a sale with the host's ``/usr/share/zoneinfo`` (Python's
``ZoneInfo(name)``) and the set-based SQL build with DuckDB's ICU rules; both now use the ``tzdata``
package's (:func:`transforms.times.zone`; DuckDB's rules are held to it by a test). A warehouse built
before holds, for zones whose rules changed since the host's tz release (America/Vancouver and
most of western Canada from 2026-11-01, Casablanca, Havana, Chișinău…), late-evening sales on the
previous or next day: in ``pos_transactions``, their items and the ``daily_product_sales`` feed.

:func:`redate_business_days` puts every such transaction of a provider whose business day is the
local calendar day on the date the build now gives it (its items with it), rebuilds the feed of
every location-day it moved a sale from or to, and records itself in ``pos.warehouse_fixes`` so it
runs once, in one transaction. Per zone: where the database's own rules agree with the package's
over the zone's sales (DuckDB always), the database names the candidates and each is judged in
Python; where they do not (a PostgreSQL with an older tz database), every sale of that zone is
judged in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from transforms.canonical import SCHEMA
from transforms.times import as_utc, local_date, zone, zone_names

if TYPE_CHECKING:
    from pos_sync.warehouse.sql import Warehouse

FIXES = f"{SCHEMA}.warehouse_fixes"
NAME = "business_dates_by_the_tzdata_package"
T, ITEMS, L = (f"{SCHEMA}.{name}" for name in ("pos_transactions", "pos_transaction_items", "pos_locations"))
SAMPLE = timedelta(hours=6)  # rules compared every 6 hours of a zone's sales (a rule lasts months)


def redate_business_days(wh: Warehouse) -> int | None:
    """Run the fix once (see the module); the transactions it moved, None when it had run before."""
    from pos_sync.canonical.writer import CanonicalWriter
    from pos_sync.providers import registry

    wh.execute(f"CREATE TABLE IF NOT EXISTS {FIXES} (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ, detail TEXT)")
    wh.commit()
    if wh.scalar(f"select count(*) from {FIXES} where name = %s", (NAME,)):
        return None
    local_day = tuple(s.name for s in registry if s.local_business_day)
    with wh.transaction():
        moved: dict[str, Any] = {}
        days: set[tuple[Any, ...]] = set()
        if local_day and wh.table_exists(SCHEMA, "pos_transactions") and wh.table_exists(SCHEMA, "pos_locations"):
            for row in wh.query(f"""select l.timezone as tz, min(t.transaction_date) as first, max(t.transaction_date) as last
                    from {T} t join {L} l on {_located()} where t.pos_provider in ({_marks(local_day)})
                    and t.transaction_date is not null group by l.timezone""", local_day):
                if row["tz"] not in zone_names():
                    continue  # no rules to judge by: the build refuses such a zone too
                every = not _database_agrees(wh, row["tz"], as_utc(row["first"]), as_utc(row["last"]))
                for sale in _sales(wh, row["tz"], local_day, every):
                    right = local_date(as_utc(sale["at"]), zone(row["tz"]))
                    if right != sale["day"]:
                        moved[sale["id"]] = right
                        place = (sale["tenant_id"], sale["pos_provider"], sale["location_id"])
                        days |= {(*place, sale["day"]), (*place, right)}
        if moved:
            keys = wh.temp_keys(["id", "day"], sorted((k, v.isoformat()) for k, v in moved.items()))
            wh.execute(f"UPDATE {T} AS t SET business_date = CAST(k.day AS DATE) FROM {keys} k WHERE t.id = k.id")
            wh.execute(f"UPDATE {ITEMS} AS i SET business_date = CAST(k.day AS DATE) FROM {keys} k "
                       f"WHERE i.transaction_id = k.id")
            feed = CanonicalWriter(wh, "", "")
            feed.days = days
            feed.recompute_daily_product_sales()
        wh.execute(f"INSERT INTO {FIXES} (name, applied_at, detail) VALUES (%s, %s, %s)",
                   (NAME, datetime.now(UTC), f"{len(moved)} transactions moved, {len(days)} location-days rebuilt"))
    return len(moved)


def _located() -> str:
    return "l.tenant_id = t.tenant_id and l.pos_provider = t.pos_provider and l.location_id = t.location_id"


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join(["%s"] * len(values))


def _local_sql(wh: Warehouse, tz: str, at: str) -> str:
    return f"cast(timezone({tz}, {at}) as date)" if wh.dialect == "duckdb" else f"cast(({at} at time zone {tz}) as date)"


def _sales(wh: Warehouse, tz: str, local_day: tuple[str, ...], every: bool) -> list[dict[str, Any]]:
    """The zone's sales to judge: every one, or those whose date the database's rules dispute."""
    disputed = "" if every else f" and t.business_date <> {_local_sql(wh, 'l.timezone', 't.transaction_date')}"
    return wh.query(f"""select t.id, t.tenant_id, t.pos_provider, t.location_id, t.transaction_date as at,
            t.business_date as day from {T} t join {L} l on {_located()}
            where l.timezone = %s and t.pos_provider in ({_marks(local_day)}) and t.transaction_date is not null
            and t.business_date is not null{disputed}""", (tz, *local_day))


def _database_agrees(wh: Warehouse, tz: str, first: datetime | None, last: datetime | None) -> bool:
    """Whether the database's rules for ``tz`` give the package's offsets every 6 hours of [first, last]."""
    if first is None or last is None:
        return True
    instants = [first + SAMPLE * i for i in range(int((last - first) / SAMPLE) + 2)]
    probe = wh.temp_keys(["at"], [(at.isoformat(),) for at in instants])
    local = ("timezone(%s, CAST(p.at AS TIMESTAMPTZ))" if wh.dialect == "duckdb"
             else "(CAST(p.at AS TIMESTAMPTZ) at time zone %s)")
    theirs = [r["local"] for r in wh.query(f"select {local} as local from {probe} p order by CAST(p.at AS TIMESTAMPTZ)",
                                            (tz,))]
    rules = zone(tz)
    ours = [at.astimezone(rules).replace(tzinfo=None) for at in instants]
    return theirs == ours
