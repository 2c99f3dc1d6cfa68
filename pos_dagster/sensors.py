"""Sensors: the app store's accounts become dynamic partitions (and a new account gets its
first — historical — sync at once); removed accounts' partitions are deleted."""

from __future__ import annotations

import dagster as dg

from pos_dagster.partitions import ACCOUNT_PARTITIONS
from pos_dagster.schedules import SYNC_JOBS
from pos_sync import appstore


def first_sync_key(account: appstore.AccountInfo) -> str:
    return f"{account.id}:first-sync:{int(account.created_at.timestamp())}"


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Keeps the pos_accounts partitions in step with the app store.")
def account_partitions_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    accounts = {a.id: a for a in appstore.list_accounts()}
    existing = set(context.instance.get_dynamic_partitions(ACCOUNT_PARTITIONS))
    new = sorted(set(accounts) - existing)
    gone = sorted(existing - set(accounts))
    requests: list = []
    if new:
        requests.append(dg.AddDynamicPartitionsRequest(ACCOUNT_PARTITIONS, new))
    if gone:
        requests.append(dg.DeleteDynamicPartitionsRequest(ACCOUNT_PARTITIONS, gone))
    runs = [
        # the link time in the key: a store removed and added again (same id) gets its first sync too
        dg.RunRequest(run_key=first_sync_key(accounts[account_id]), partition_key=account_id,
                      job_name=SYNC_JOBS[accounts[account_id].provider],
                      tags={"pos/account": account_id, "pos/trigger": "new-account"})
        for account_id in new
        if accounts[account_id].provider in SYNC_JOBS and accounts[account_id].sync_enabled
    ]
    return dg.SensorResult(dynamic_partitions_requests=requests, run_requests=runs)
