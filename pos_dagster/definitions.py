"""The one Definitions object of pos-sync (loaded by workspace.yaml and `dagster dev`)."""

from __future__ import annotations

import dagster as dg
from dagster_dlt import DagsterDltResource

from pos_dagster.assets.canonical import canonical_tables
from pos_dagster.assets.lightspeed import lightspeed_raw, lightspeed_sync_job
from pos_dagster.assets.square import square_historical_backfill, square_raw, square_sync_job
from pos_dagster.assets.toast import toast_historical_backfill, toast_raw, toast_sync_job
from pos_dagster.checks import canonical_integrity_checks
from pos_dagster.schedules import sync_schedules
from pos_dagster.sensors import account_partitions_sensor

defs = dg.Definitions(
    assets=[square_raw, toast_raw, lightspeed_raw, canonical_tables],
    asset_checks=[canonical_integrity_checks],
    jobs=[square_sync_job, square_historical_backfill, toast_sync_job, toast_historical_backfill,
          lightspeed_sync_job],
    schedules=sync_schedules,
    sensors=[account_partitions_sensor],
    resources={"dlt_runner": DagsterDltResource()},
)
