"""Read what the Square canonical build needs from ``raw_square``: which objects changed in
loads not processed yet, and those objects with their child tables re-attached."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pos_dagster.canonical.warehouse import Warehouse

RAW = "raw_square"
Row = dict[str, Any]

# order child tables re-attached as lists: table -> (key in the parent dict, parent table)
ORDER_CHILDREN = {
    "orders__line_items": ("line_items", "orders"),
    "orders__line_items__modifiers": ("modifiers", "orders__line_items"),
    "orders__tenders": ("tenders", "orders"),
    "orders__returns": ("returns", "orders"),
    "orders__returns__return_line_items": ("return_line_items", "orders__returns"),
}


class SquareRaw:
    def __init__(self, wh: Warehouse, account_id: str) -> None:
        self.wh = wh
        self.account_id = account_id
        self.tables = {r["table_name"] for r in wh.query(
            "select table_name from information_schema.tables where table_schema = %s", (RAW,))}

    def has(self, table: str) -> bool:
        return table in self.tables

    def q(self, table: str) -> str:
        return f'{RAW}."{table}"'

    # ------------------------------------------------------------------ loads
    def changed(self, loads: list[str]) -> tuple[set[str], set[str]]:
        """(order ids, refund ids) touched by ``loads`` for this account.

        A tip edit changes the payment and bumps the order; a refund adds a PaymentRefund and a
        return order, and its completion updates both — so orders, payments and refunds are all
        looked at.
        """
        orders: set[str] = set()
        refunds: set[str] = set()
        if not loads:
            return orders, refunds
        tmp = self.wh.temp_keys(["load_id"], [(x,) for x in loads])
        acct = self.account_id
        if self.has("orders"):
            orders |= {r["id"] for r in self.wh.query(
                f"select o.id from {self.q('orders')} o join {tmp} l on o._dlt_load_id = l.load_id "
                f"where o._pos_account_id = %s", (acct,))}
        if self.has("payments"):
            orders |= {r["order_id"] for r in self.wh.query(
                f"select p.order_id from {self.q('payments')} p join {tmp} l on p._dlt_load_id = l.load_id "
                f"where p._pos_account_id = %s and p.order_id is not null", (acct,))}
        if self.has("refunds"):
            refunds |= {r["id"] for r in self.wh.query(
                f"select r.id from {self.q('refunds')} r join {tmp} l on r._dlt_load_id = l.load_id "
                f"where r._pos_account_id = %s", (acct,))}
            if orders:
                # a return order that changed → its refund row is rebuilt too
                ids = self.wh.temp_keys(["id"], [(x,) for x in orders])
                refunds |= {r["id"] for r in self.wh.query(
                    f"select r.id from {self.q('refunds')} r join {ids} k on r.order_id = k.id "
                    f"where r._pos_account_id = %s", (acct,))}
        return orders, refunds

    # ------------------------------------------------------------------ objects
    def orders(self, ids: Iterable[str]) -> list[Row]:
        ids = list(ids)
        if not ids or not self.has("orders"):
            return []
        tmp = self.wh.temp_keys(["id"], [(x,) for x in ids])
        orders = self.wh.query(f"select o.* from {self.q('orders')} o join {tmp} k on o.id = k.id "
                               f"where o._pos_account_id = %s", (self.account_id,))
        by_dlt_id: dict[str, Row] = {o["_dlt_id"]: o for o in orders}
        roots = self.wh.temp_keys(["id"], [(x,) for x in by_dlt_id])
        nodes: dict[str, dict[str, Row]] = {"orders": by_dlt_id}
        for table, (key, parent_table) in ORDER_CHILDREN.items():
            if not self.has(table):
                continue
            rows = self.wh.query(f"select c.* from {self.q(table)} c join {roots} k on c._dlt_root_id = k.id "
                                 f"order by c._dlt_list_idx")
            nodes[table] = {r["_dlt_id"]: r for r in rows}
            parents = nodes.get(parent_table, {})
            grouped: dict[str, list[Row]] = defaultdict(list)
            for r in rows:
                grouped[r["_dlt_parent_id"]].append(r)
            for parent_id, children in grouped.items():
                parent = parents.get(parent_id)
                if parent is not None:
                    parent[key] = children
        return orders

    def refunds(self, ids: Iterable[str]) -> list[Row]:
        ids = list(ids)
        if not ids or not self.has("refunds"):
            return []
        tmp = self.wh.temp_keys(["id"], [(x,) for x in ids])
        return self.wh.query(f"select r.* from {self.q('refunds')} r join {tmp} k on r.id = k.id "
                             f"where r._pos_account_id = %s", (self.account_id,))

    def payments_for(self, order_ids: Iterable[str], payment_ids: Iterable[str]) -> dict[str, Row]:
        if not self.has("payments"):
            return {}
        keys = [(x,) for x in set(order_ids)]
        pids = [(x,) for x in set(payment_ids)]
        out: dict[str, Row] = {}
        if keys:
            tmp = self.wh.temp_keys(["id"], keys)
            for r in self.wh.query(f"select p.* from {self.q('payments')} p join {tmp} k on p.order_id = k.id "
                                   f"where p._pos_account_id = %s", (self.account_id,)):
                out[r["id"]] = r
        if pids:
            tmp = self.wh.temp_keys(["id"], pids)
            for r in self.wh.query(f"select p.* from {self.q('payments')} p join {tmp} k on p.id = k.id "
                                   f"where p._pos_account_id = %s", (self.account_id,)):
                out[r["id"]] = r
        return out

    def account_table(self, table: str) -> list[Row]:
        if not self.has(table):
            return []
        return self.wh.query(f"select * from {self.q(table)} where _pos_account_id = %s", (self.account_id,))

    def catalog_changed(self, loads: list[str]) -> bool:
        if not loads or not self.has("catalog"):
            return False
        tmp = self.wh.temp_keys(["load_id"], [(x,) for x in loads])
        return bool(self.wh.scalar(
            f"select count(*) from {self.q('catalog')} c join {tmp} l on c._dlt_load_id = l.load_id "
            f"where c._pos_account_id = %s", (self.account_id,)))
