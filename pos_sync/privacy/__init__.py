"""Privacy by default (GDPR): the pseudonymisation key, who keeps clear customer data, and the
pseudonymiser a sync hands to its source.

* The key: ``POS_PII_KEY``, else a key generated once into ``$POS_HOME/pii.key`` (mode 0600). The
  same key hashes personal data in the source (raw tables) and in the canonical build (``pos``), so
  a canonical ``customer_ref`` is the same whichever layer hashed it.
* Clear storage is an opt-in per tenant (``POS_STORE_CUSTOMER_PII_TENANTS``) or for all
  (``POS_STORE_CUSTOMER_PII``): :meth:`pos_sync.settings.Settings.keeps_customer_pii`.
* Erasure: :mod:`pos_sync.privacy.erase` (``pos-sync privacy erase``).
"""

from __future__ import annotations

import os
import secrets

from pos_sync.settings import Settings
from transforms.pii import Pseudonymizer


def pii_key(settings: Settings) -> bytes:
    """``POS_PII_KEY``, else a key generated once into ``$POS_HOME/pii.key`` (mode 0600)."""
    if settings.pii_key:
        return settings.pii_key.encode()
    path = settings.pos_home / "pii.key"
    if not path.exists():
        settings.pos_home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first: use that one
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def pseudonymizer(settings: Settings) -> Pseudonymizer:
    """The keyed hash of this installation (erasure hashes what it is asked to find with it)."""
    return Pseudonymizer(pii_key(settings))


def source_pseudonymizer(settings: Settings, tenant_id: str) -> Pseudonymizer | None:
    """What a sync of this tenant's account hands its source: the keyed hash, or None when the
    tenant opted in to clear storage (its raw rows then keep what the POS sent)."""
    if settings.keeps_customer_pii(tenant_id):
        return None
    return pseudonymizer(settings)


__all__ = ["pii_key", "pseudonymizer", "source_pseudonymizer"]
