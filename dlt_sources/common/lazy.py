"""A source package that loads its dlt source (and dlt) on first use (PEP 562).

Each ``dlt_sources/<provider>/__init__.py`` keeps its public names in ``__all__`` and takes its
module ``__getattr__`` and ``__dir__`` from :func:`lazy_source`: importing the package, or its
``settings`` and ``helpers``, loads no dlt; ``from dlt_sources.square import square_source`` loads
``dlt_sources.square.source`` the first time."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any


def lazy_source(package: str, public: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: every public name of
    ``<package>.source`` (the source, the helpers it re-exports), imported on first use."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        source = importlib.import_module(f"{package}.source")
        if name == "source":
            return source
        try:
            return getattr(source, name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return __getattr__, __dir__
