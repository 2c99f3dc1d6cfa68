"""Read what the Square canonical build needs from ``raw_square``: which objects changed in
loads not processed yet, and those objects with their child tables re-attached."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pos_sync.canonical.raw_io import RawReader
from pos_sync.warehouse.sql import Warehouse

Row = dict[str, Any]

# order child tables re-attached as lists: table -> (key in the parent dict, parent table)
ORDER_CHILDREN = {
    "orders__line_items": ("line_items", "orders"),
    "orders__line_items__modifiers": ("modifiers", "orders__line_items"),
    "orders__tenders": ("tenders", "orders"),
    "orders__returns": ("returns", "orders"),
    "orders__returns__return_line_items": ("return_line_items", "orders__returns"),
}


class SquareRaw(RawReader):
    def __init__(self, wh: Warehouse, account_id: str) -> None:
        super().__init__(wh, "square", account_id)

    def changed(self, loads: list[str]) -> tuple[set[str], set[str]]:
        """(order ids, refund ids) touched by ``loads`` for this account.

        A tip edit changes the payment and bumps the order; a refund adds a PaymentRefund and a
        return order, and its completion updates both — so orders, payments and refunds are all
        looked at.
        """
        orders = self.changed_ids("orders", "id", loads)
        orders |= self.changed_ids("payments", "order_id", loads)
        refunds = self.changed_ids("refunds", "id", loads)
        if orders and self.has("refunds"):
            # a return order that changed → its refund row is rebuilt too
            ids = self.keys(orders)
            refunds |= {r["id"] for r in self.wh.query(
                f"select r.id from {self.q('refunds')} r join {ids} k on r.order_id = k.id "
                f"where r._pos_account_id = %s", (self.account_id,))}
        return orders, refunds

    def orders(self, ids: Iterable[str]) -> list[Row]:
        return self.attach("orders", self.roots("orders", "id", ids), ORDER_CHILDREN)

    def refunds(self, ids: Iterable[str]) -> list[Row]:
        return self.roots("refunds", "id", ids)

    def payments_for(self, order_ids: Iterable[str], payment_ids: Iterable[str]) -> dict[str, Row]:
        out = {r["id"]: r for r in self.roots("payments", "order_id", set(order_ids))}
        out.update({r["id"]: r for r in self.roots("payments", "id", set(payment_ids))})
        return out

    def catalog_changed(self, loads: list[str]) -> bool:
        return self.table_changed("catalog", loads)
