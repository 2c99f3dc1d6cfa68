"""Toast → raw tables: restaurants, orders (checks, selections, payments as child tables), menus.

Orders are read incrementally by ``modifiedDate`` windows (≤ 1 day each) with a lookback, one
restaurant at a time, the marks committed only when every restaurant finished; menus only when
``/menus/v2/metadata`` says they changed; a version guard drops rows the destination already holds.
Money stays exact: every non-integer number is loaded as its decimal text. See ``README.md``.

Importing the package (or its ``settings`` and ``helpers``: the client, the tokens, the discovery)
loads no dlt: the dlt source and its resources live in :mod:`dlt_sources.toast.source`, loaded, dlt
with it, the first time one of its names is asked for (``from dlt_sources.toast import toast_source``).
What links an account or lists the providers stays light.
"""

from __future__ import annotations

from dlt_sources.common.lazy import lazy_source

__all__ = [
    "ToastTokenProvider",
    "destination_known_versions",
    "discover_restaurants",
    "login",
    "preferred_loader_file_format",
    "sync_pace",
    "toast_source",
    "toast_tokens",
]


__getattr__, __dir__ = lazy_source(__name__, __all__)
