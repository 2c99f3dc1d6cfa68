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

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    """Every public name of :mod:`dlt_sources.toast.source` (the source, the helpers it re-exports),
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
