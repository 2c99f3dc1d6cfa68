"""Secrets are encrypted at rest, never shown, and a wrong key fails clearly."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from pos_sync.appstore import (
    CryptoError,
    account_credentials,
    add_account,
    decrypt,
    dispose_engines,
    encrypt,
    get_account,
    get_engine,
    list_accounts,
    save_tokens,
    session_scope,
)
from pos_sync.appstore.models import PosAccount
from pos_sync.settings import load_settings

ACCESS = "sq0atp-ACCESS-very-secret-0001"
REFRESH = "sq0rtp-REFRESH-very-secret-0002"
CLIENT_SECRET = "toast-CLIENT-SECRET-0003"
SECRETS = (ACCESS, REFRESH, CLIENT_SECRET)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'appstore.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("POS_DATABASE_URL", url)
    yield url
    dispose_engines()


def _add() -> str:
    return add_account(
        tenant_id="t1",
        provider="square",
        merchant_id="M1",
        access_token=ACCESS,
        refresh_token=REFRESH,
        client_id="cid",
        client_secret=CLIENT_SECRET,
        locations=[{"location_id": "L1", "name": "Centro"}],
    )


def test_tokens_are_encrypted_at_rest(db_url: str) -> None:
    account_id = _add()
    with get_engine(db_url).connect() as conn:
        row = conn.execute(sa.text("select * from pos_accounts")).mappings().one()
    raw = " ".join(str(v) for v in row.values())
    for secret in SECRETS:
        assert secret not in raw
        assert secret.split("-")[1] not in raw  # not even a fragment
    assert row["access_token_enc"].startswith("gAAAAA")  # a Fernet token
    creds = account_credentials(account_id)
    assert (creds.access_token, creds.refresh_token, creds.client_secret) == (ACCESS, REFRESH, CLIENT_SECRET)
    assert creds.location_ids == ("L1",)

    save_tokens(account_id, "new-ACCESS-0004", "new-REFRESH-0005")
    with get_engine(db_url).connect() as conn:
        raw = " ".join(str(v) for v in conn.execute(sa.text("select * from pos_accounts")).one())
    assert "new-ACCESS-0004" not in raw and "new-REFRESH-0005" not in raw
    assert account_credentials(account_id).access_token == "new-ACCESS-0004"


def test_secrets_never_in_reprs_dicts_or_logs(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    account_id = _add()
    save_tokens(account_id, ACCESS, REFRESH)
    creds = account_credentials(account_id)
    info = get_account(account_id)
    with session_scope() as s:
        model_repr = repr(s.execute(sa.select(PosAccount)).scalar_one())
    shown = " ".join(
        [repr(creds), str(creds), repr(info), str(info.to_dict()), model_repr, str(list_accounts()), caplog.text]
    )
    for secret in SECRETS:
        assert secret not in shown
    assert "M1" in model_repr and account_id in repr(creds)


def test_key_file_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.encryption_key is None
    token = encrypt("hello", settings)
    key_file = tmp_path / "pos-home" / "secret.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()
    assert decrypt(encrypt("again", settings), settings) == "again"
    assert key_file.read_text() == key
    assert decrypt(token, load_settings()) == "hello"
    assert encrypt(None) is None and decrypt(None) is None


def test_wrong_key_fails_clearly(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POS_ENCRYPTION_KEY", Fernet.generate_key().decode())
    account_id = _add()
    monkeypatch.setenv("POS_ENCRYPTION_KEY", Fernet.generate_key().decode())
    with pytest.raises(CryptoError, match="POS_ENCRYPTION_KEY does not match the key the tokens were encrypted with"):
        account_credentials(account_id)
    # metadata stays readable without the key
    assert get_account(account_id).merchant_id == "M1"


def test_key_rotation_with_a_key_list(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("POS_ENCRYPTION_KEY", old)
    token = encrypt("s3cret")
    monkeypatch.setenv("POS_ENCRYPTION_KEY", f"{new},{old}")
    assert decrypt(token) == "s3cret"
    assert Fernet(new.encode()).decrypt(encrypt("x").encode()) == b"x"  # the first key encrypts


def test_malformed_key_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POS_ENCRYPTION_KEY", "not-a-fernet-key")
    with pytest.raises(CryptoError, match="not a valid Fernet key"):
        encrypt("x")
