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

Importing the package (or its ``settings`` and ``helpers``: the client, the tokens, the discovery)
loads no dlt: the dlt source and its resources live in :mod:`dlt_sources.lightspeed_r.source`, loaded, dlt
with it, the first time one of its names is asked for (``from dlt_sources.lightspeed_r import lightspeed_r_source``).
What links an account or lists the providers stays light.
"""

from __future__ import annotations

from dlt_sources.common.lazy import lazy_source

__all__ = ["RECONNECT_HINT", "discover_shops", "lightspeed_r_source", "lightspeed_r_tokens", "token_account_id"]


__getattr__, __dir__ = lazy_source(__name__, __all__)
