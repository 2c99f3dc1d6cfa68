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

import importlib
from typing import Any

__all__ = ["RECONNECT_HINT", "discover_shops", "lightspeed_r_source", "lightspeed_r_tokens", "token_account_id"]


def __getattr__(name: str) -> Any:
    """Every public name of :mod:`dlt_sources.lightspeed_r.source` (the source, the helpers it re-exports),
    imported on first use."""
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    source = importlib.import_module(f"{__name__}.source")
    if name == "source":
        return source
    try:
        return getattr(source, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
