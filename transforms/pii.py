"""Customer data is pseudonymised by default (GDPR): a keyed hash (HMAC-SHA256) replaces emails,
phone numbers, names, addresses and customer ids, so the same customer links across sales without
being readable. ``POS_STORE_CUSTOMER_PII=true`` (or the tenant in ``POS_STORE_CUSTOMER_PII_TENANTS``)
keeps clear values.

The hash is taken **once**, in the source, before rows reach the raw tables
(``dlt_sources.common.pseudonymise`` with a :class:`Pseudonymizer`); the canonical normalisers
apply the same function, which leaves a value that already is a pseudonym as it is
(:func:`is_pseudonym`), so ``customer_ref`` is the same whether the raw value was hashed or clear.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

PREFIX = "h:"
_PSEUDONYM = re.compile(r"h:[0-9a-f]{32}")


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit() or ch == "+")


def full_name(*parts: object) -> str | None:
    """A person's name from its parts (given, family, …) as a source stored them: the non-blank
    parts, trimmed, joined by a space; None when there is none."""
    return " ".join(str(p).strip() for p in parts if p and str(p).strip()) or None


# what a value is -> how it is cleaned before hashing (so " A@B.example" and "a@b.example" link)
NORMALISERS: dict[str, Callable[[str], str]] = {
    "id": str.strip,
    "name": str.strip,
    "text": str.strip,
    "email": normalise_email,
    "phone": normalise_phone,
}


def is_pseudonym(value: object) -> bool:
    """``'h:<32 lowercase hex>'``: what :func:`make_pseudonymizer` returns."""
    return isinstance(value, str) and _PSEUDONYM.fullmatch(value) is not None


def keyed_hash(key: bytes, clean: str) -> str:
    return PREFIX + hmac.digest(key, clean.encode(), "sha256").hex()[:32]  # one-shot C HMAC-SHA256


def make_pseudonymizer(key: bytes, *, keep_clear: bool = False,
                       normalise: Callable[[str], str] = str.strip) -> Callable[[str | None], str | None]:
    """``f(value) -> 'h:<32 hex>'`` (or the clear value when ``keep_clear``); None stays None; a
    value that already is a pseudonym (hashed in the source) is returned as it is: idempotent."""

    def pseudonymize(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        text = str(value)
        if is_pseudonym(text):
            return text
        clean = normalise(text)
        if keep_clear:
            return clean
        return keyed_hash(key, clean)

    return pseudonymize


class Pseudonymizer:
    """``p(value, kind)``: the pseudonym of a value of a kind (``id``, ``name``, ``text``, ``email``,
    ``phone``: :data:`NORMALISERS`), remembered per distinct value (customers come back)."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("an empty pseudonymisation key")
        self._key = key
        self._fns = {kind: make_pseudonymizer(key, normalise=fn) for kind, fn in NORMALISERS.items()}
        self._memo: dict[tuple[str, str], str | None] = {}

    def __call__(self, value: str | None, kind: str = "id") -> str | None:
        if value is None or value == "":
            return None
        memo_key = (kind, value)
        found = self._memo.get(memo_key, self)
        if found is not self:
            return found  # type: ignore[return-value]
        hashed = self._fns[kind](value)
        if len(self._memo) < 1_000_000:
            self._memo[memo_key] = hashed
        return hashed

    def variants(self, value: str) -> set[str]:
        """Every form ``value`` may be stored as: its pseudonym under each kind, and the clear
        forms a tenant with clear storage keeps (erasure looks for all of them)."""
        out = {value, value.strip()}
        for kind, fn in NORMALISERS.items():
            clean = fn(value)
            if clean:
                out.add(clean)
                out.add(self(value, kind) or "")
        out.discard("")
        return out
