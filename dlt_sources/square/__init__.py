"""Square → raw tables: locations, payments, refunds, orders (+ nested), catalog, team members, customers.

Incremental by ``updated_at`` with a lookback, per location, committed only when every location
finished; a stateless window mode for backfills; a version guard that drops rows the destination
already holds in the same or a newer version. See ``README.md`` beside this file.

Importing the package (or its ``settings`` and ``helpers``: the client, the tokens, the discovery)
loads no dlt: the dlt source and its resources live in :mod:`dlt_sources.square.source`, loaded, dlt
with it, the first time one of its names is asked for (``from dlt_sources.square import square_source``).
What links an account or lists the providers stays light.
"""

from __future__ import annotations

from dlt_sources.common.lazy import lazy_source

__all__ = [
    "SQUARE_VERSION",
    "TOKEN_PATH",
    "destination_known_versions",
    "discover_locations",
    "merchant_id_of",
    "preferred_loader_file_format",
    "query_slices",
    "resume_mark",
    "square_source",
    "square_tokens",
    "sync_pace",
]


__getattr__, __dir__ = lazy_source(__name__, __all__)
