"""FakePOS's HTTP API on loopback, in the sandbox's style: Bearer auth, ``GET /v1/shops`` and
``GET /v1/sales?updated_after=&cursor=&limit=`` (oldest change first, opaque cursor), money in
integer cents, RFC 3339 UTC times."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support.fakepos.world import SHOPS, FakeWorld

TOKEN = "fakepos-token"


def _sale(sale: Any) -> dict[str, Any]:
    stamp = sale.closed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": sale.id, "shop_id": sale.shop, "closed_at": stamp, "updated_at": stamp,
            "tax_cents": sale.tax_cents, "tip_cents": sale.tip_cents, "total_cents": sale.total_cents,
            "lines": [{"sku": li.sku, "name": li.name, "quantity": li.quantity, "unit_cents": li.unit_cents}
                      for li in sale.lines]}


def create_app(world: FakeWorld) -> Starlette:
    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    async def shops(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"shops": [{"id": s, "name": s.title(), "time_zone": z, "currency": "EUR"}
                                       for s, z in SHOPS.items()]})

    async def sales(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        after = request.query_params.get("updated_after", "")
        start = int(request.query_params.get("cursor") or 0)
        limit = min(int(request.query_params.get("limit") or 5), 5)
        rows = [_sale(s) for s in world.visible()]
        rows = [r for r in rows if r["updated_at"] > after]
        page = rows[start:start + limit]
        nxt = start + limit if start + limit < len(rows) else None
        return JSONResponse({"sales": page, "next_cursor": str(nxt) if nxt is not None else None})

    return Starlette(routes=[Route("/v1/shops", shops), Route("/v1/sales", sales)])
