"""What every route gets: the app store bound to the service's settings, and the calling tenant —
or, for the hot reads that look the tenant up on their own connection, the bearer token.

``store`` and ``token`` are ``async``: they do no I/O, and a ``def`` dependency costs a trip
through the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pos_sync.api.auth import bearer, tenant_of
from pos_sync.appstore import AppStore


async def store(request: Request) -> AppStore:
    return AppStore(request.app.state.settings)


async def token(request: Request) -> str:
    """The bearer credentials (401 when missing); the route checks them on its connection."""
    return bearer(request)


def tenant(request: Request, app_store: Annotated[AppStore, Depends(store)]) -> str:
    return tenant_of(request, app_store)


Store = Annotated[AppStore, Depends(store)]
Tenant = Annotated[str, Depends(tenant)]
Token = Annotated[str, Depends(token)]
