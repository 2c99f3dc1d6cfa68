"""What every route gets: the app store bound to the service's settings, and the calling tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pos_sync.api.auth import tenant_of
from pos_sync.appstore import AppStore


def store(request: Request) -> AppStore:
    return AppStore(request.app.state.settings)


def tenant(request: Request, app_store: Annotated[AppStore, Depends(store)]) -> str:
    return tenant_of(request, app_store)


Store = Annotated[AppStore, Depends(store)]
Tenant = Annotated[str, Depends(tenant)]
