"""Partitions, one set per provider, so no asset offers a partition it can never materialize.

* ``<provider>_accounts`` (dynamic): one partition per POS account of that provider (the app
  store's account id). The provider's raw assets and its canonical slices are partitioned by it;
  an account's dlt pipeline (and its incremental cursor) belongs to that partition. Kept in step
  with the app store by the ``account_sync_sensor`` (and by the CLI's in-process runs).
* ``<provider>_historical_windows``: account × day for a provider with day-window backfills: a
  backfill over a date range for chosen accounts, one stateless window run per day, progress
  visible per partition. Window runs use their own dlt pipeline and never move the cursor.

Why not account × day for the regular syncs: every 15-minute sync would be a new partition
(accounts × days quickly passes Dagster's ~100k guideline), and the provider's change feed
(``updated_at``) is the natural cursor — late refunds and edits of old sales land through it.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import dagster as dg


def accounts_partitions_name(provider: str) -> str:
    return f"{provider}_accounts"


@cache
def account_partitions(provider: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=accounts_partitions_name(provider))


@cache
def historical_windows(provider: str, start: date) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({
        "account": account_partitions(provider),
        "date": dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_offset=1),
    })
