"""Customer data is pseudonymised by default (GDPR): a keyed hash (HMAC-SHA256) replaces emails,
phone numbers and customer ids, so the same customer links across sales without being readable.
``POS_STORE_CUSTOMER_PII=true`` keeps clear values."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit() or ch == "+")


def make_pseudonymizer(key: bytes, *, keep_clear: bool = False,
                       normalise: Callable[[str], str] = str.strip) -> Callable[[str | None], str | None]:
    """``f(value) -> 'h:<32 hex>'`` (or the clear value when ``keep_clear``); None stays None."""

    def pseudonymize(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        clean = normalise(str(value))
        if keep_clear:
            return clean
        return "h:" + hmac.new(key, clean.encode(), hashlib.sha256).hexdigest()[:32]

    return pseudonymize
