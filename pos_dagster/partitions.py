"""Partitions.

* ``pos_accounts`` (dynamic): one partition per POS account (the app store's account id, a
  UUID). Ingestion and canonical assets are partitioned by account, so the UI shows each
  account's syncs, history and lineage separately; an account's dlt pipeline (and its
  incremental cursor) belongs to that partition. Kept in step with the app store by the
  ``account_partitions_sensor`` and by the CLI.
* ``historical_windows``: account × day (multi-partitions) for the historical-import job: a
  backfill over a date range for chosen accounts, one stateless window run per day, progress
  visible per partition. Window runs use their own dlt pipeline and never move the cursor.

Why not account × day for the regular syncs: every 15-minute sync would be a new partition
(accounts × days quickly passes Dagster's ~100k guideline), and the provider's change feed
(``updated_at``) is the natural cursor — late refunds and edits of old sales land through it.
"""

from __future__ import annotations

import os

import dagster as dg

ACCOUNT_PARTITIONS = "pos_accounts"

account_partitions = dg.DynamicPartitionsDefinition(name=ACCOUNT_PARTITIONS)

BACKFILL_START = os.environ.get("POS_BACKFILL_START_DATE", "2024-01-01")

historical_windows = dg.MultiPartitionsDefinition(
    {
        "account": account_partitions,
        "date": dg.DailyPartitionsDefinition(start_date=BACKFILL_START, end_offset=1),
    }
)
