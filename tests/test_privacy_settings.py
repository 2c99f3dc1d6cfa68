"""Who keeps clear customer data (POS_STORE_CUSTOMER_PII / POS_STORE_CUSTOMER_PII_TENANTS) and the
pseudonymiser a sync hands its source; the PII key file."""

from __future__ import annotations

from pathlib import Path

from pos_sync.privacy import pii_key, source_pseudonymizer
from pos_sync.settings import parse_settings


def test_clear_storage_is_an_opt_in_per_tenant_or_for_all(tmp_path: Path) -> None:
    base = {"POS_HOME": str(tmp_path), "POS_PII_KEY": "k"}
    default = parse_settings(base)
    assert not default.keeps_customer_pii("t1")
    assert source_pseudonymizer(default, "t1") is not None
    some = parse_settings(base | {"POS_STORE_CUSTOMER_PII_TENANTS": " t1 , t2,,"})
    assert some.store_customer_pii_tenants == frozenset({"t1", "t2"})
    assert some.keeps_customer_pii("t2") and not some.keeps_customer_pii("t3")
    assert source_pseudonymizer(some, "t1") is None
    assert source_pseudonymizer(some, "t3")("a@b.example", "email") == source_pseudonymizer(
        default, "t3")(" A@B.example", "email")
    everyone = parse_settings(base | {"POS_STORE_CUSTOMER_PII": "true"})
    assert everyone.keeps_customer_pii("t3")


def test_the_generated_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    settings = parse_settings({"POS_HOME": str(tmp_path / "home")})
    key = pii_key(settings)
    path = tmp_path / "home" / "pii.key"
    assert len(key) == 64 and path.stat().st_mode & 0o777 == 0o600
    assert pii_key(settings) == key
    assert pii_key(parse_settings({"POS_HOME": str(tmp_path / "home"), "POS_PII_KEY": "given"})) == b"given"
