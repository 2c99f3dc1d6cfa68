"""Lightspeed Retail (X-Series, API 2.0) → raw tables: sales (+ line items, payments…), products,
product categories, outlets, registers, users, payment types, taxes.

Every stream except categories is a **version change feed**: ``after = <stored version.max>``
(exclusive), pages until ``data`` is empty, merge on ``id``. Refresh tokens rotate on every use
and are handed to the token provider's ``on_refresh`` the moment they arrive (build it with
:func:`lightspeed_tokens`). See ``README.md`` beside this file.

Importing the package (or its ``settings`` and ``helpers``: the client, the tokens, the discovery)
loads no dlt: the dlt source and its resources live in :mod:`dlt_sources.lightspeed.source`, loaded, dlt
with it, the first time one of its names is asked for (``from dlt_sources.lightspeed import lightspeed_source``).
What links an account or lists the providers stays light.
"""

from __future__ import annotations

from dlt_sources.common.lazy import lazy_source

__all__ = [
    "RECONNECT_HINT",
    "TOKEN_PATH",
    "destination_known_versions",
    "discover_outlets",
    "lightspeed_source",
    "lightspeed_tokens",
    "store_base_url",
    "sync_pace",
]


__getattr__, __dir__ = lazy_source(__name__, __all__)
