"""Encryption at rest of the app store's secrets (access/refresh tokens, client secrets, keys).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``). The key comes from
``POS_ENCRYPTION_KEY`` (a urlsafe-base64 Fernet key; a comma-separated list rotates keys: the
first encrypts, every one decrypts). Without it a key is generated once into
``$POS_HOME/secret.key`` (mode 0600) and reused. Generate a key with::

    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pos_sync.settings import Settings, load_settings

logger = logging.getLogger(__name__)

MISMATCH_MESSAGE = "POS_ENCRYPTION_KEY does not match the key the tokens were encrypted with"

_lock = threading.Lock()
_cache: dict[tuple[str, ...], MultiFernet] = {}


class CryptoError(Exception):
    """The encryption key is missing, malformed, or not the one the data was encrypted with."""


def _read_or_create_key_file(path: Path) -> str:
    if path.exists():
        key = path.read_text(encoding="ascii").strip()
        if not key:
            raise CryptoError(f"the key file {path} is empty; restore it or set POS_ENCRYPTION_KEY")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode("ascii")
    # Write to a private temp file, then hard-link it into place: atomic, never overwrites a key
    # another process created meanwhile, never leaves a half-written key file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
            logger.info("generated a new encryption key in %s", path)
        except FileExistsError:
            return _read_or_create_key_file(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return key


def _keys(settings: Settings) -> tuple[tuple[str, ...], str]:
    if settings.encryption_key:
        keys = tuple(k.strip() for k in settings.encryption_key.split(",") if k.strip())
        return keys, "POS_ENCRYPTION_KEY"
    return (_read_or_create_key_file(settings.key_file),), str(settings.key_file)


def get_fernet(settings: Settings | None = None) -> MultiFernet:
    """The Fernet of the configured key(s); creates ``$POS_HOME/secret.key`` on first use."""
    settings = settings or load_settings()
    with _lock:
        keys, source = _keys(settings)
        fernet = _cache.get(keys)
        if fernet is None:
            try:
                fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
            except (ValueError, UnicodeEncodeError) as exc:
                raise CryptoError(
                    f"the encryption key from {source} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                ) from exc
            _cache[keys] = fernet
        return fernet


def encrypt(value: str | None, settings: Settings | None = None) -> str | None:
    """Encrypt a secret for storage; ``None`` and ``""`` stay ``None``."""
    if value is None or value == "":
        return None
    return get_fernet(settings).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(value: str | None, settings: Settings | None = None) -> str | None:
    """Decrypt a stored secret; raises :class:`CryptoError` when the key does not match."""
    if value is None or value == "":
        return None
    try:
        return get_fernet(settings).decrypt(value.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        settings = settings or load_settings()
        source = "POS_ENCRYPTION_KEY" if settings.encryption_key else f"the key file {settings.key_file}"
        raise CryptoError(f"{MISMATCH_MESSAGE} (key in use: {source})") from exc
