"""Synchronization: ask for a sync or a historical import (202: a sync request the Dagster sensor
turns into runs within seconds, so the daemon runs them under the same pools and limits), read
an account's sync status and its paginated history."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, status
from starlette.responses import Response

from pos_sync.api import read_cache
from pos_sync.api.deps import Store, Tenant, Token
from pos_sync.api.problems import Problem
from pos_sync.api.read_cache import json_response
from pos_sync.api.schemas import (
    HistoricalRequest,
    SyncAccepted,
    SyncHistory,
    SyncLogOut,
    SyncRequestOut,
    SyncStatus,
)
from pos_sync.ingest.backfill import BackfillRangeError, backfill_range
from pos_sync.providers import registry

router = APIRouter(prefix="/api/v1/pos/sync", tags=["synchronization"])


def _accepted(request: Request, info: object) -> SyncAccepted:
    return SyncAccepted(request_id=info.id, account_id=info.account_id, kind=info.kind,  # type: ignore[attr-defined]
                        status=info.status,  # type: ignore[attr-defined]
                        status_url=str(request.url_for("sync_status", account_id=info.account_id)))  # type: ignore[attr-defined]


@router.post("/{account_id}", response_model=SyncAccepted, status_code=status.HTTP_202_ACCEPTED,
             summary="Trigger a manual sync", responses={404: {}})
def trigger_sync(account_id: str, request: Request, store: Store, tenant: Tenant) -> SyncAccepted:
    return _accepted(request, store.request_sync(account_id, tenant))


@router.post("/{account_id}/historical", response_model=SyncAccepted, status_code=status.HTTP_202_ACCEPTED,
             summary="Import historical data (a backfill of the account's days)", responses={404: {}, 422: {}})
def trigger_historical(account_id: str, body: HistoricalRequest, request: Request, store: Store,
                       tenant: Tenant) -> SyncAccepted:
    account = store.get_account(account_id, tenant_id=tenant)
    spec = registry.get(account.provider)
    if spec.windows is None:
        raise Problem(422, f"{spec.label} has no date-window import: {spec.no_window_reason or 'no day windows'}; "
                           f"its first sync already read the whole history — POST /api/v1/pos/sync/{account_id} "
                           "syncs what changed since")
    try:
        chosen = backfill_range(account, store.settings, body.start_date, body.end_date)
    except BackfillRangeError as exc:
        raise Problem(422, str(exc)) from exc
    return _accepted(request, store.request_sync(account_id, tenant, "historical", chosen.start, chosen.end))


@router.get("/{account_id}/status", response_model=SyncStatus, name="sync_status", summary="Get sync status",
            responses={404: {}})
def sync_status(account_id: str, store: Store, tenant: Tenant) -> SyncStatus:
    account = store.get_account(account_id, tenant_id=tenant)
    logs = store.sync_history(account_id, 1, tenant_id=tenant)
    requests = store.latest_sync_requests(account_id, tenant)
    last = SyncLogOut.model_validate(logs[0].to_dict()) if logs else None
    return SyncStatus(
        account_id=account.id, provider=account.provider, status=account.status, error_message=account.error_message,
        sync_enabled=account.sync_enabled, sync_frequency_minutes=account.sync_frequency_minutes,
        last_sync_at=account.last_sync_at, last_successful_sync_at=account.last_successful_sync_at,
        next_sync_at=account.next_sync_at, running=bool(last and last.status == "in_progress"), last_sync=last,
        requests=[SyncRequestOut.model_validate(r.to_dict()) for r in requests])


@router.get("/{account_id}/history", response_model=SyncHistory, summary="Sync history log", responses={404: {}})
async def sync_history(account_id: str, request: Request, token: Token, limit: int = Query(20, ge=1, le=200),
                       offset: int = Query(0, ge=0)) -> Response:
    # on the event loop: one query for the key, the account's tenant and its data version; the kept
    # answer when the version did not change (pos_sync/api/read_cache.py)
    return json_response(await read_cache.of(request).history(token, account_id, limit, offset))
