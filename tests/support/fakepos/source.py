"""FakePOS's dlt source: shops, and sales (lines as a child table) read incrementally by
``updated_at``, through the same token seam as every source (a ``TokenProvider``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
import requests

from dlt_sources.common.auth import TokenProvider

ACCOUNT_COLUMN = "_pos_account_id"


@dlt.source(name="fakepos")
def fakepos_source(token_provider: TokenProvider, base_url: str, account_id: str, initial_start: datetime) -> Any:
    session = requests.Session()

    def get(path: str, **params: Any) -> dict[str, Any]:
        response = session.get(base_url.rstrip("/") + path, params=params, timeout=10,
                               headers={"Authorization": f"Bearer {token_provider.get()}"})
        response.raise_for_status()
        return dict(response.json())

    @dlt.resource(name="shops", write_disposition="merge", primary_key="id")
    def shops() -> Iterator[list[dict[str, Any]]]:
        yield [{**shop, ACCOUNT_COLUMN: account_id} for shop in get("/v1/shops")["shops"]]

    since = initial_start.strftime("%Y-%m-%dT%H:%M:%SZ")

    @dlt.resource(name="sales", write_disposition="merge", primary_key="id")
    def sales(updated: Any = dlt.sources.incremental("updated_at", initial_value=since),  # noqa: B008 (dlt's idiom)
              ) -> Iterator[list[dict[str, Any]]]:
        cursor: str | None = "0"
        while cursor is not None:
            page = get("/v1/sales", updated_after=updated.start_value, cursor=cursor)
            yield [{**sale, ACCOUNT_COLUMN: account_id} for sale in page["sales"]]
            cursor = page["next_cursor"]

    return [shops, sales]
