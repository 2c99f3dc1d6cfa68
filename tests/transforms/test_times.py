"""Zone rules: the ``tzdata`` package's, the same in the normalisers, the set-based SQL (DuckDB's
ICU) and the integrity check, whatever the host's /usr/share/zoneinfo says."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfoNotFoundError

import duckdb
import pytest

from transforms.times import local_date, zone, zone_names

# tzdata 2026f (constraints.txt pins its package release 2026.6): British Columbia keeps UTC-7
# all year from 2026-11-01, where older releases (2025b, Debian's on machines of 2026-12) go back to UTC-8
LATE_EVENING_IN_VANCOUVER = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)


def test_zones_come_from_the_tzdata_package_not_the_host() -> None:
    assert local_date(LATE_EVENING_IN_VANCOUVER, zone("America/Vancouver")) == date(2026, 11, 20)
    assert zone("America/Vancouver").utcoffset(datetime(2026, 12, 15)) == timedelta(hours=-7)
    assert local_date(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), zone("Europe/Madrid")) == date(2026, 3, 30)
    assert local_date(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), zone("Atlantic/Canary")) == date(2026, 3, 29)


def test_unknown_names_are_refused_and_zones_pickle_by_name() -> None:
    for name in ("localtime", "europe/madrid", "GMT+5", "Mars/Olympus"):
        assert name not in zone_names()
        with pytest.raises(ZoneInfoNotFoundError):
            zone(name)
    madrid = pickle.loads(pickle.dumps(zone("Europe/Madrid")))
    assert madrid is zone("Europe/Madrid")


def test_duckdb_has_the_same_rules_as_the_package_for_every_zone() -> None:
    """The set-based build dates sales with DuckDB's ``timezone()`` (ICU's rules, built into the
    duckdb release) and the normaliser with :func:`zone`: one sale, one business date, only while
    both carry the same tz release. A DuckDB or tzdata upgrade that breaks this fails here, every
    zone that differs named (every 12 hours of 2024–2028)."""
    instants = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=12 * i) for i in range(2 * 1827)]
    names = sorted(zone_names())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE zones (tz VARCHAR)")
    con.executemany("INSERT INTO zones VALUES (?)", [(n,) for n in names])
    con.execute("CREATE TABLE ats (t TIMESTAMPTZ)")
    con.executemany("INSERT INTO ats VALUES (?)", [(at,) for at in instants])
    duck = dict(con.execute("SELECT tz, list(epoch(timezone(tz, t)) - epoch(t) ORDER BY t) "
                            "FROM zones, ats GROUP BY tz").fetchall())
    differ = [name for name in names
              if [float(s) for s in duck[name]] != [at.astimezone(zone(name)).utcoffset().total_seconds()
                                                    for at in instants]]
    assert differ == []
