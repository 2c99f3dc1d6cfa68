"""Lightspeed Retail R-Series (API V3) → raw tables: sales (sale lines and sale payments as child
tables, loaded in the same request through ``load_relations``), items, categories, shops,
registers, employees, payment types and tax categories.

Every stream is incremental on ``timeStamp`` (the last-modified time): ``timeStamp=>=,<mark −
LOOKBACK>`` with ``sort=timeStamp``, paged through ``@attributes.next`` (``after=`` cursors; never
``offset``), ``limit=100``. Sales are read **per shop** (``shopID=``), each shop with its own mark.
The look-back re-reads a margin behind the mark (a late SaleLine edit, skewed clocks); objects
already loaded with the same ``timeStamp`` (kept in state for the margin) are skipped, so a sync
without changes sends one request per stream and shop and loads nothing. Rows are merged on their
id. R-Series' shapes are made regular before dlt sees them (one-element collections as lists,
money as exact ``Decimal``, ``"true"``/``"false"`` as booleans:
:func:`~dlt_sources.lightspeed_r.helpers.regular`). The client paces itself on the leaky bucket's
headers and rotated refresh tokens go to ``on_refresh`` the moment they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.sources import DltResource

from dlt_sources.common.auth import TokenProvider
from dlt_sources.common.incremental import account_state
from dlt_sources.common.pace import SyncPace, attach_pace, building, stops_early
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.pseudonymise import Pseudonymize, pseudonymise_resources
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.lightspeed_r.helpers import (
    RSeriesClient,
    api_base_url,
    as_list,
    discover_shops,
    lightspeed_r_tokens,
    parse_stamp,
    r_stamp,
    regular,
    token_account_id,
)
from dlt_sources.lightspeed_r.settings import (
    ACCOUNT_COLUMN,
    LOOKBACK,
    PAGE_LIMIT,
    PII_FIELDS,
    RECONNECT_HINT,
    SALE_RELATIONS,
    SHOP_SCOPED,
    STREAMS,
)

__all__ = ["RECONNECT_HINT", "discover_shops", "lightspeed_r_source", "lightspeed_r_tokens", "token_account_id"]

Row = dict[str, Any]
MAX_TABLE_NESTING = 1  # sales.SaleLines[], sales.SalePayments[], items.Prices[]
COLUMN_HINTS: dict[str, dict[str, Any]] = {
    "sales": {"customer_id": {"data_type": "text", "nullable": True},
              "complete_time": {"data_type": "text", "nullable": True},
              "customer_name": {"data_type": "text", "nullable": True},
              "customer_email": {"data_type": "text", "nullable": True},
              "customer_phone": {"data_type": "text", "nullable": True},
              "_parent_sale_id": {"data_type": "text", "nullable": True}},
    "items": {"custom_sku": {"data_type": "text", "nullable": True}, "ean": {"data_type": "text", "nullable": True}},
}


def _flatten_customer(sale: Row) -> Row:
    """The loaded ``Customer`` relation as three flat fields (pseudonymised with the customer id)."""
    customer = sale.pop("Customer", None)
    if isinstance(customer, dict):
        contact = customer.get("Contact") or {}
        emails = as_list(contact.get("Emails"), "ContactEmail")
        phones = as_list(contact.get("Phones"), "ContactPhone")
        name = " ".join(p for p in (customer.get("firstName"), customer.get("lastName")) if p) or None
        sale["customer_name"] = name
        sale["customer_email"] = emails[0].get("address") if emails else None
        sale["customer_phone"] = phones[0].get("number") if phones else None
    return sale


def _sold_lines(sales: list[Row]) -> set[str]:
    """The sold lines the returns among ``sales`` point at (``parentSaleLineID``)."""
    return {str(ln.get("parentSaleLineID")) for sale in sales for ln in sale.get("SaleLines") or []
            if str(ln.get("parentSaleLineID") or "0") != "0"}


class _Sync:
    def __init__(self, client: RSeriesClient, r_account_id: str, tenant: str, shop_ids: Sequence[str],
                 now: datetime | None) -> None:
        self.client = client
        self.r_account_id = r_account_id
        self.tenant = tenant
        self.shop_ids = sorted(dict.fromkeys(str(s) for s in shop_ids))
        self.now = now
        self.pace = client.session.pace

    def _read(self, table: str, slot: dict[str, Any], params: dict[str, Any]) -> Iterator[list[Row]]:
        """One incremental read into ``slot`` (``mark``: the largest timeStamp loaded; ``edge``:
        ``{id: timeStamp}`` of the loaded objects within LOOKBACK of it).

        Returns (sales pointing at sold lines) wait in ``pending`` until a hundred sold lines are
        to be looked up (one ``SaleLine.json`` request for all of them) or the read ends; the mark
        never passes a return that was not yielded, so a run that stops reads it again."""
        name, id_field, extra, _ = STREAMS[table]
        mark = slot.get("mark")
        edge: dict[str, str] = dict(slot.get("edge") or {})
        pending: list[Row] = []
        query: dict[str, Any] = {"limit": PAGE_LIMIT, "sort": "timeStamp", **extra, **params}
        if mark:
            query["timeStamp"] = ">=," + r_stamp(parse_stamp(mark) - LOOKBACK)

        best = ""  # the largest timeStamp yielded in this read

        def loaded(rows: list[Row]) -> None:  # after a yield: move the mark and the edge
            nonlocal mark, best
            for r in rows:
                edge[str(r.get(id_field))] = str(r.get("timeStamp") or "")
            best = max([best, *(str(r.get("timeStamp") or "") for r in rows)])
            top = best
            if pending:  # not past a return still waiting for its sold sale
                top = min(top, min(str(r.get("timeStamp") or "") for r in pending))
            if not top:
                return  # objects without timeStamp: read in full every time, the edge skips them
            mark = max(mark or "", top)
            floor = r_stamp(parse_stamp(mark) - LOOKBACK)
            slot["mark"] = mark
            slot["edge"] = {k: v for k, v in edge.items() if v >= floor}

        with stops_early(self.pace, f"Lightspeed R-Series {table}"):
            for page in self.client.pages(f"/Account/{self.r_account_id}/{name}.json", name, query):
                rows = []
                for obj in page:
                    if not isinstance(obj, dict):
                        continue
                    if edge.get(str(obj.get(id_field))) == str(obj.get("timeStamp") or ""):
                        continue  # loaded before with this very timeStamp (the look-back margin)
                    row = regular(obj)
                    if table == "sales":
                        row = _flatten_customer(row)
                    row[ACCOUNT_COLUMN] = self.tenant
                    if table == "sales" and _sold_lines([row]):
                        pending.append(row)
                    else:
                        rows.append(row)
                if len(_sold_lines(pending)) >= PAGE_LIMIT:
                    self._link_returns(pending)
                    rows, pending = rows + pending, []
                if rows:
                    yield rows
                    loaded(rows)
            if pending:
                self._link_returns(pending)
                rows, pending = pending, []
                yield rows
                loaded(rows)

    def _link_returns(self, sales: list[Row]) -> None:
        """A return's lines point at the sold lines (``parentSaleLineID``), not at the sale: ask
        ``SaleLine.json?saleLineID=IN,[…]`` once per hundred sold lines and write the sold sale's id
        on the return as ``_parent_sale_id`` (derived here; R-Series has no such field)."""
        wanted = sorted(_sold_lines(sales), key=lambda v: (len(v), v))
        owners: dict[str, str] = {}
        for i in range(0, len(wanted), PAGE_LIMIT):
            chunk = wanted[i:i + PAGE_LIMIT]
            query = {"limit": PAGE_LIMIT, "saleLineID": "IN,[" + ",".join(chunk) + "]"}
            for page in self.client.pages(f"/Account/{self.r_account_id}/SaleLine.json", "SaleLine", query):
                owners.update((str(ln.get("saleLineID")), str(ln.get("saleID"))) for ln in page if isinstance(ln, dict))
        for sale in sales:
            parents = {owners.get(str(ln.get("parentSaleLineID"))) for ln in sale.get("SaleLines") or []
                       if str(ln.get("parentSaleLineID") or "0") != "0"}
            parents.discard(None)
            if parents:
                sale["_parent_sale_id"] = min(parents)  # a return refunds one sale's lines

    def stream(self, table: str) -> Iterator[list[Row]]:
        state = account_state(self.tenant)
        per_shop = STREAMS[table][3]
        if not per_shop:
            if table in SHOP_SCOPED:  # shops, registers: read whole, the unwanted shops' rows dropped after
                before = state.get("shops_wanted")  # [] = every shop, as self.shop_ids
                if before and (not self.shop_ids or not set(self.shop_ids) <= set(before)):
                    state.pop("mark", None)  # widened: the rows the filter dropped lie behind the mark
                    state.pop("edge", None)
                state["shops_wanted"] = list(self.shop_ids)
            rows = self._read(table, state, {})
            if table in SHOP_SCOPED and self.shop_ids:
                id_key = "shopID"
                for page in rows:
                    kept = [r for r in page if str(r.get(id_key)) in self.shop_ids]
                    if kept:
                        yield kept
            else:
                yield from rows
            return
        shops = self.shop_ids or [loc["location_id"] for loc in discover_shops(
            self.client.base_url, self.client.session.token_provider, self.r_account_id)]  # type: ignore[arg-type]
        params: dict[str, Any] = {"load_relations": json.dumps(list(SALE_RELATIONS))}
        for shop in shops:
            slot = state.setdefault("shops", {}).setdefault(shop, {})
            yield from self._read(table, slot, {**params, "shopID": shop})


# section: the config section dlt named after the package when the source lived in its __init__.py
@dlt.source(name="lightspeed_r", section="lightspeed_r", max_table_nesting=MAX_TABLE_NESTING)
def lightspeed_r_source(
    token_provider: TokenProvider,
    r_account_id: str,
    shop_ids: Sequence[str],
    *,
    base_url: str | None = None,
    account_id: str | None = None,
    now: datetime | None = None,
    retry_policy: RetryPolicy | None = None,
    pacing: Pacing | None = None,
    pace: SyncPace | None = None,
    pseudonymize: Pseudonymize | None = None,
) -> Sequence[DltResource]:
    """The Lightspeed R-Series source of one account.

    Args:
        token_provider: the account's tokens (:func:`lightspeed_r_tokens`; rotating refresh tokens
            are handed to its ``on_refresh`` before first use: persist them there).
        r_account_id: R-Series' numeric ``accountID`` (``GET /API/V3/Account.json``).
        shop_ids: shops whose sales (and shop, register rows) are loaded; empty = every shop.
        base_url: the API host (default ``https://api.lightspeedapp.com``; the sandbox:
            ``http://127.0.0.1:<port>/lightspeed_r``, which also serves the OAuth routes).
        account_id: tenant id written to every top-level row as ``_pos_account_id`` and keying the
            state (default: ``r_account_id``).
        now: accepted for the common call shape; reads are bounded by what the API has.
        retry_policy, pacing, pace, pseudonymize: as for the other POS sources (``pacing`` adds
            client-side limits; the leaky-bucket pacing from the response headers is always on).

    Raises (from the resources): ReauthorizationRequired when the tokens can no longer be refreshed.
    """
    del now
    client = RSeriesClient(api_base_url(base_url), token_provider, policy=retry_policy, pacing=pacing,
                           pace=building(pace))
    sync = _Sync(client, r_account_id, account_id or r_account_id, shop_ids, None)
    merge: Any = {"disposition": "merge", "strategy": "delete-insert"}

    def resource(table: str) -> DltResource:
        def rows() -> Iterator[list[Row]]:
            yield from sync.stream(table)
        rows.__name__ = table
        key = NamingConvention().normalize_identifier(STREAMS[table][1])  # saleID -> sale_id
        # R-Series numbers objects per account (every account has a sale 1 and a shop 1) and every
        # account of the provider loads into one dataset: the key carries the account, or one
        # account's rows replaced another's
        return dlt.resource(rows, name=table, write_disposition=merge, primary_key=[key, "_pos_account_id"],
                            columns=COLUMN_HINTS.get(table, {}))

    return pseudonymise_resources([resource(t) for t in STREAMS], PII_FIELDS, pseudonymize)


attach_pace(lightspeed_r_source)
