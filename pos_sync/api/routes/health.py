"""``/healthz`` (the process answers) and ``/readyz`` (the app store is reachable and its schema is
at the current migration). Neither needs credentials."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pos_sync.api.deps import Store

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The app store is reachable and migrated", responses={503: {}})
def readyz(store: Store) -> JSONResponse:
    from pos_sync.appstore import current_revision, head_revision

    try:
        current = current_revision(store.settings)
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means not ready
        return JSONResponse({"status": "unavailable", "app_store": f"unreachable: {type(exc).__name__}"}, 503)
    head = head_revision()
    if current != head:
        return JSONResponse({"status": "unavailable", "app_store": f"at migration {current}, expected {head}"}, 503)
    return JSONResponse({"status": "ready", "app_store": f"migration {head}"})
