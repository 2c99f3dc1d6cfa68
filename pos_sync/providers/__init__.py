"""The provider registry: everything pos-sync knows about one POS provider, in one description.

Each provider is a :class:`ProviderSpec` registered here: what it is called, how its dlt source
is built from an account's stored credentials, its credential kind, its location discovery, its
canonical builder, the account status a lost authorization gives, its default base URL, whether
it has day-window backfills — with room for what comes next (webhook verification, OAuth
endpoints). Dagster assets, jobs and automation, the CLI and the canonical build iterate over
:data:`registry`; nothing else lists providers.

The built-in providers are the modules in :data:`BUILTIN`; another one is added with
``registry.register(spec)`` (one line) before the Dagster definitions are built.
"""

from __future__ import annotations

import importlib

from pos_sync.providers.spec import (
    CredentialKind,
    ProviderSpec,
    Registry,
    SourceFactory,
    SourceRequest,
    TokenFactory,
    TokenRequest,
    UnknownProvider,
    WindowKind,
)

BUILTIN = ("pos_sync.providers.square", "pos_sync.providers.toast", "pos_sync.providers.lightspeed",
           "pos_sync.providers.lightspeed_r")


def _load_builtin(reg: Registry) -> Registry:
    for module in BUILTIN:
        reg.register(importlib.import_module(module).SPEC)
    return reg


registry = _load_builtin(Registry())

__all__ = ["BUILTIN", "CredentialKind", "ProviderSpec", "Registry", "SourceFactory", "SourceRequest",
           "TokenFactory", "TokenRequest", "UnknownProvider", "WindowKind", "registry"]
