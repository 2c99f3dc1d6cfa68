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
runs once, in one transaction. Per zone the database's own rules name the candidates (the sales
whose stored date they dispute), each judged in Python; where its rules are not the package's
(compared hour by hour over the zone's sales: a PostgreSQL with an older tz database, from
2026-11-01 for Vancouver) every sale in those hours is judged too, and every sale of a zone the
database does not know. An error leaves the warehouse as it was and the fix for the next build
(:meth:`~pos_sync.warehouse.sql.Warehouse.ensure_schema` logs it and goes on).
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
STEP = timedelta(hours=1)  # the rules are compared hour by hour over a zone's sales (a rule lasts months)
COMPARED = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))  # sales outside: all judged
Window = tuple[datetime, datetime]
LOCATED = "l.tenant_id = t.tenant_id and l.pos_provider = t.pos_provider and l.location_id = t.location_id"


def redate_business_days(wh: Warehouse) -> int | None:
    """Run the fix once (see the module); the transactions it moved, None when it had run before."""
    from pos_sync.canonical.writer import rebuild_daily_product_sales
    from pos_sync.providers import registry

    if not wh.table_exists(SCHEMA, FIXES.split(".")[1]):  # no DDL on a built schema: it takes locks on PostgreSQL
        wh.execute(f"CREATE TABLE IF NOT EXISTS {FIXES} (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ, detail TEXT)")
        wh.commit()
    if wh.scalar(f"select count(*) from {FIXES} where name = %s", (NAME,)):
        return None
    local_day = tuple(s.name for s in registry if s.local_business_day)
    zones: list[dict[str, Any]] = []
    if local_day and wh.table_exists(SCHEMA, "pos_transactions") and wh.table_exists(SCHEMA, "pos_locations"):
        zones = [z for z in wh.query(f"""select l.timezone as tz, min(t.transaction_date) as first,
                    max(t.transaction_date) as last from {T} t join {L} l on {LOCATED}
                    where t.pos_provider in ({_marks(local_day)}) and t.transaction_date is not null
                    group by l.timezone""", local_day) if z["tz"] in zone_names()]  # else the build refuses it too
    # where the database's rules differ from the package's (read-only; each in a transaction of its own:
    # a PostgreSQL that does not know a zone fails the statement, and then every sale of it is judged)
    differ = {z["tz"]: _disagreement(wh, z["tz"], as_utc(z["first"]), as_utc(z["last"])) for z in zones}
    with wh.transaction():
        moved: dict[str, Any] = {}
        days: set[tuple[Any, ...]] = set()
        for tz, windows in differ.items():
            rules = zone(tz)
            for sale in _sales(wh, tz, local_day, windows):
                right = local_date(as_utc(sale["at"]), rules)
                if right != sale["day"]:
                    moved[sale["id"]] = right
                    place = (sale["tenant_id"], sale["pos_provider"], sale["location_id"])
                    days |= {(*place, sale["day"]), (*place, right)}
        if moved:
            keys = wh.temp_keys(["id", "day"], sorted((k, v.isoformat()) for k, v in moved.items()))
            wh.execute(f"UPDATE {T} AS t SET business_date = CAST(k.day AS DATE) FROM {keys} k WHERE t.id = k.id")
            wh.execute(f"UPDATE {ITEMS} AS i SET business_date = CAST(k.day AS DATE) FROM {keys} k "
                       f"WHERE i.transaction_id = k.id")
            rebuild_daily_product_sales(wh, days)
        wh.execute(f"INSERT INTO {FIXES} (name, applied_at, detail) VALUES (%s, %s, %s)",
                   (NAME, datetime.now(UTC), f"{len(moved)} transactions moved, {len(days)} location-days rebuilt"))
    return len(moved)


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join(["%s"] * len(values))


def _sales(wh: Warehouse, tz: str, local_day: tuple[str, ...], windows: list[Window] | None) -> list[dict[str, Any]]:
    """The zone's sales to judge: those whose date the database's rules dispute, those in a window
    where its rules are not the package's, those outside the years compared; every one (``None``)
    when the database does not know the zone."""
    judged = ["true"] if windows is None else [
        f"t.business_date <> cast({wh.local_time('l.timezone', 't.transaction_date')} as date)",
        "t.transaction_date < %s", "t.transaction_date >= %s",
        *["t.transaction_date between %s and %s" for _ in windows]]
    bounds: list[Any] = [] if windows is None else [*COMPARED, *(edge for w in windows for edge in w)]
    return wh.query(f"""select t.id, t.tenant_id, t.pos_provider, t.location_id, t.transaction_date as at,
            t.business_date as day from {T} t join {L} l on {LOCATED}
            where l.timezone = %s and t.pos_provider in ({_marks(local_day)}) and t.transaction_date is not null
            and t.business_date is not null and ({" or ".join(judged)})""", (tz, *local_day, *bounds))


def _disagreement(wh: Warehouse, tz: str, first: datetime | None, last: datetime | None) -> list[Window] | None:
    """Where the database's rules for ``tz`` give other local times than the package's, hour by hour
    over [first, last] within :data:`COMPARED`: windows an hour wider on each side than the hours
    that differ ([] when none); None when the database does not know the zone."""
    if first is None or last is None:
        return []
    start, end = max(first, COMPARED[0]), min(last, COMPARED[1])
    if start > end:
        return []
    instants = [start + STEP * i for i in range(int((end - start) / STEP) + 2)]
    local = wh.local_time("%s", "CAST(p.at AS TIMESTAMPTZ)")
    try:
        with wh.transaction():
            probe = wh.temp_keys(["at"], [(at.isoformat(),) for at in instants])
            theirs = [r["local"] for r in wh.query(
                f"select {local} as local from {probe} p order by CAST(p.at AS TIMESTAMPTZ)", (tz,))]
    except Exception:  # noqa: BLE001 — the database has no rules for the zone: judge all its sales
        return None
    rules = zone(tz)
    windows: list[Window] = []
    for at, their in zip(instants, theirs, strict=True):
        if their != at.astimezone(rules).replace(tzinfo=None):
            if windows and windows[-1][1] >= at - STEP:
                windows[-1] = (windows[-1][0], at + STEP)
            else:
                windows.append((at - STEP, at + STEP))
    return windows
