"""A data version per account, kept by the database itself: ``pos_accounts.data_version`` takes a
new value whenever the account row changes or one of its locations or sync logs is inserted,
updated or deleted — by any process (the API, Dagster runs, the CLI), since triggers do it.

The API's hot reads keep their answers in memory and validate them on every request against
these versions, read in the same round trip as the API key (``pos_sync/api/read_cache.py``): an
answer is reused only while the versions it was built from are still the ones in the database.

Values are unique across the store and grow with every change of a row, in commit order: on
PostgreSQL from a sequence, drawn while the trigger holds the account row's lock; on SQLite from a
one-row clock table (``pos_data_clock``; SQLite has one writer at a time).

A later migration that rebuilds one of these tables on SQLite (``batch_alter_table`` copies the
table, and its triggers are lost with the old one) must create the triggers again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHILDREN = ("pos_locations", "pos_sync_logs")

_CHILD_ROWS = {
    "insert": "SELECT pos_account_id FROM new_rows",
    "update": "SELECT pos_account_id FROM old_rows UNION SELECT pos_account_id FROM new_rows",
    "delete": "SELECT pos_account_id FROM old_rows",
}
_TRANSITIONS = {"insert": "NEW TABLE AS new_rows", "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                "delete": "OLD TABLE AS old_rows"}

PG_UP = [
    "CREATE SEQUENCE pos_data_version_seq",
    # every write of an account row takes a new version (also the children's bump below, which only
    # touches data_version: the trigger replaces the value with the sequence's next)
    """CREATE FUNCTION pos_account_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.data_version := nextval('pos_data_version_seq');
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER trg_pos_accounts_data_version BEFORE INSERT OR UPDATE ON pos_accounts
    FOR EACH ROW EXECUTE FUNCTION pos_account_data_version()""",
    # the children: once per statement (transition tables), each account touched bumped once — a
    # DELETE of thousands of old sync logs (prune) updates each of their accounts once, not per row
    *(f"""CREATE FUNCTION pos_account_child_data_version_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE pos_accounts SET data_version = 0 WHERE id IN ({rows});
        RETURN NULL;
    END $$""" for event, rows in _CHILD_ROWS.items()),
    *(f"""CREATE TRIGGER trg_{table}_data_version_{event} AFTER {event.upper()} ON {table}
    REFERENCING {_TRANSITIONS[event]} FOR EACH STATEMENT EXECUTE FUNCTION pos_account_child_data_version_{event}()"""
      for table in CHILDREN for event in _CHILD_ROWS),
    "UPDATE pos_accounts SET data_version = 0",
]
PG_DOWN = [
    *(f"DROP TRIGGER trg_{table}_data_version_{event} ON {table}" for table in CHILDREN for event in _CHILD_ROWS),
    "DROP TRIGGER trg_pos_accounts_data_version ON pos_accounts",
    *(f"DROP FUNCTION pos_account_child_data_version_{event}()" for event in _CHILD_ROWS),
    "DROP FUNCTION pos_account_data_version()",
    "DROP SEQUENCE pos_data_version_seq",
]

_TICK = ("UPDATE pos_data_clock SET value = value + 1 WHERE id = 1; "
         "UPDATE pos_accounts SET data_version = (SELECT value FROM pos_data_clock WHERE id = 1) WHERE id IN ({ids});")
SQLITE_UP = [
    "CREATE TABLE pos_data_clock (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)",
    "INSERT INTO pos_data_clock (id, value) VALUES (1, 0)",
    f"CREATE TRIGGER trg_pos_accounts_data_version_insert AFTER INSERT ON pos_accounts "
    f"BEGIN {_TICK.format(ids='NEW.id')} END",
    # an update that did not set data_version itself (the triggers' own updates do, and stop here)
    f"CREATE TRIGGER trg_pos_accounts_data_version_update AFTER UPDATE ON pos_accounts "
    f"WHEN NEW.data_version IS OLD.data_version BEGIN {_TICK.format(ids='NEW.id')} END",
    *(stmt for table in CHILDREN for stmt in (
        f"CREATE TRIGGER trg_{table}_data_version_insert AFTER INSERT ON {table} "
        f"BEGIN {_TICK.format(ids='NEW.pos_account_id')} END",
        f"CREATE TRIGGER trg_{table}_data_version_update AFTER UPDATE ON {table} "
        f"BEGIN {_TICK.format(ids='OLD.pos_account_id, NEW.pos_account_id')} END",
        f"CREATE TRIGGER trg_{table}_data_version_delete AFTER DELETE ON {table} "
        f"BEGIN {_TICK.format(ids='OLD.pos_account_id')} END")),
    "UPDATE pos_accounts SET data_version = data_version",  # the update trigger numbers the existing rows
]
SQLITE_DOWN = [
    *(f"DROP TRIGGER trg_{table}_data_version_{op_}" for table in CHILDREN for op_ in ("insert", "update", "delete")),
    "DROP TRIGGER trg_pos_accounts_data_version_update",
    "DROP TRIGGER trg_pos_accounts_data_version_insert",
    "DROP TABLE pos_data_clock",
]


def upgrade() -> None:
    op.add_column("pos_accounts", sa.Column("data_version", sa.BigInteger(), nullable=False,
                                            server_default=sa.text("0")))
    for statement in PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    with op.batch_alter_table("pos_accounts") as batch:
        batch.drop_column("data_version")
