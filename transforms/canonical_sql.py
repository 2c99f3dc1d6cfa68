"""The canonical model's functions in DuckDB SQL, for the set-based builds (pure: SQL text only).

:data:`CANONICAL_ID_MACRO` is :func:`transforms.canonical.canonical_id` as a DuckDB macro: the
UUIDv5 text of the namespace and the ``|``-joined parts, byte for byte the same id (a test compares
the two over ids of every kind). :func:`canonical_id_sql` writes its call over SQL expressions.
"""

from __future__ import annotations

from transforms.canonical import ID_NAMESPACE

MACRO = "pos_canonical_id"
_NAMESPACE_LITERAL = "".join(f"\\x{b:02x}" for b in ID_NAMESPACE.bytes)

# sha1 of namespace bytes + the UTF-8 name, as the hex text of a version-5, RFC 4122 variant UUID:
# hex digit 13 becomes 5, digit 17 keeps its low two bits under the variant bits 10 (8, 9, a or b)
CANONICAL_ID_MACRO = f"""
CREATE OR REPLACE TEMP MACRO {MACRO}(name) AS (
  WITH h AS (SELECT sha1('{_NAMESPACE_LITERAL}'::BLOB || encode(name)) AS x)
  SELECT substr(x, 1, 8) || '-' || substr(x, 9, 4) || '-5' || substr(x, 14, 3) || '-'
         || substr('89ab89ab89ab89ab', strpos('0123456789abcdef', substr(x, 17, 1)), 1)
         || substr(x, 18, 3) || '-' || substr(x, 21, 12)
  FROM h
)
"""


def canonical_id_sql(*parts: str) -> str:
    """The macro's call over SQL expressions (each TEXT or NULL: NULL is the empty part, as
    :func:`~transforms.canonical.canonical_id` takes None)."""
    return f"{MACRO}(" + " || '|' || ".join(f"coalesce({p}, '')" for p in parts) + ")"


def text_literal(value: str) -> str:
    """A SQL string literal of ``value``."""
    return "'" + value.replace("'", "''") + "'"
