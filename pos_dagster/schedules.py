"""Schedules: every account syncs at its own ``sync_frequency_minutes``.

One schedule ticks every 5 minutes and requests a run for each enabled, connected account whose
last sync is older than its frequency (``DEFAULT_SYNC_FREQUENCY_MINUTES``, 15 by default). The
run key is the account plus the due slot, so a tick evaluated twice never launches twice.
Started RUNNING: a new deployment syncs without anyone clicking.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from pos_sync import appstore

TICK_MINUTES = 5
SYNC_JOBS = {"square": "square_sync", "toast": "toast_sync", "lightspeed": "lightspeed_sync"}
# accounts waiting for a human (re-link, new credentials) are not scheduled: every sync would fail
NEEDS_HUMAN = {"disconnected", "reauth_required"}


def due_accounts(now: datetime) -> list[appstore.AccountInfo]:
    due = []
    for account in appstore.list_accounts(sync_enabled_only=True):
        if account.provider not in SYNC_JOBS or account.status in NEEDS_HUMAN:
            continue
        last = account.last_sync_at
        if last is None or last + timedelta(minutes=account.sync_frequency_minutes) <= now:
            due.append(account)
    return due


def make_sync_schedule(provider: str) -> dg.ScheduleDefinition:
    """One schedule per provider job (a schedule targets one job)."""

    @dg.schedule(name=f"{provider}_sync_schedule", cron_schedule=f"*/{TICK_MINUTES} * * * *",
                 job_name=SYNC_JOBS[provider], default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Requests a sync for every {provider} account whose sync frequency has elapsed.")
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        # wall-clock time, not the connector's clock (POS_NOW): frequencies are measured against
        # the app store's last_sync_at, which is wall-clock
        now = datetime.now(UTC)
        requests = []
        for account in due_accounts(now):
            if account.provider != provider:
                continue
            slot = int(now.timestamp() // (account.sync_frequency_minutes * 60))
            requests.append(dg.RunRequest(
                run_key=f"{account.id}:{slot}",
                partition_key=account.id,
                tags={"pos/account": account.id, "pos/trigger": "schedule"},
            ))
        return requests

    return _schedule


sync_schedules = [make_sync_schedule(provider) for provider in SYNC_JOBS]
