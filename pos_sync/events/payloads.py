"""The published events' bodies, field for field as the service spec writes them
(``Events & Messaging``), plus an ``event_id`` consumers deduplicate on.

An event's id is derived from the state change it describes (:func:`event_id`: a UUIDv5 of the
routing key and a subject such as the sync log's id), so describing the same change twice gives
the same id — the outbox then keeps one row, and a consumer sees one id per change.
JSON schemas of the bodies are in ``pos_sync/events/schemas/`` (tests validate every body
against them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

EXCHANGE = "pos"
SYNC_COMPLETED, MAPPING_NEEDED, ERROR = "pos.sync_completed", "pos.mapping_needed", "pos.error"
SALES_UPDATED = "pos.sales_updated"
EVENT_TYPES = {SYNC_COMPLETED: "pos_sync_completed", MAPPING_NEEDED: "pos_mapping_needed", ERROR: "pos_error",
               SALES_UPDATED: "pos_sales_updated"}
EVENT_ID_NAMESPACE = uuid.UUID("7c1f5a52-3b0e-5d4e-9f61-0a8f2d6b7e11")
MAX_SAMPLES = 10  # sample_unmapped_products: the products of most transactions first
CENT = Decimal("0.01")

# What a person should do about each kind of failure (the error taxonomy of pos_sync.ingest.bookkeeping).
NO_ACTION = "None: the next sync retries automatically"
ACTIONS = {
    "authentication_failed": "Reconnect POS account",
    "missing_scopes": "Re-authorize the POS account and grant the permissions (scopes) pos-sync asks for",
    "rate_limited": f"{NO_ACTION} (the provider is limiting the request rate)",
    "provider_unavailable": f"{NO_ACTION} (the provider's API is unavailable)",
    "provider_unreachable": "Start the sandbox the account is linked to (`pos-sync dev`), or re-link the account",
    "interrupted": f"{NO_ACTION} (the sync was interrupted before it finished)",
    "provider_error": "Check the error message; if it repeats, contact support with it",
    "invalid_data": "Contact support: the synced data failed an integrity check",
    "warehouse_unavailable": "Check the warehouse: POS_WAREHOUSE_URL's server, or a program holding the DuckDB file "
                             "open; the next sync retries",
    "encryption_key": "Restore the encryption key (POS_ENCRYPTION_KEY) the credentials were stored with, "
                      "or reconnect the POS account",
    "internal_error": "Contact support with the error message",
}


def action_required(error_type: str) -> str:
    return ACTIONS.get(error_type, ACTIONS["internal_error"])


def event_id(routing_key: str, subject: str) -> str:
    """The id of the event ``routing_key`` about ``subject`` (the same change, the same id)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{routing_key}|{subject}"))


def sync_log_event_id(log_id: str) -> str:
    """The id of a sync log's closing event — the same whether it says success or failure, so a
    log closes into one event even when its outcome is recorded again."""
    return event_id("pos.sync_log_closed", log_id)


def timestamp(when: datetime) -> str:
    """RFC 3339 UTC to the second, as the spec writes it (``2025-11-06T10:30:00Z``)."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sync_completed(*, event_id: str, tenant_id: str, pos_account_id: str, pos_provider: str,
                   location_name: str | None, transactions_processed: int, transactions_failed: int,
                   new_products_discovered: int, sync_duration_seconds: float, when: datetime) -> dict[str, Any]:
    """``pos.sync_completed``: a sync closed as success or partial. The duration is whole seconds
    (the spec's integer), rounded."""
    return {
        "event_type": EVENT_TYPES[SYNC_COMPLETED],
        "event_id": event_id,
        "tenant_id": tenant_id,
        "pos_account_id": pos_account_id,
        "pos_provider": pos_provider,
        "location_name": location_name,
        "transactions_processed": int(transactions_processed),
        "transactions_failed": int(transactions_failed),
        "new_products_discovered": int(new_products_discovered),
        "sync_duration_seconds": int(round(sync_duration_seconds)),
        "timestamp": timestamp(when),
    }


def error(*, event_id: str, tenant_id: str, pos_account_id: str, pos_provider: str, error_type: str,
          error_message: str, consecutive_failures: int, when: datetime) -> dict[str, Any]:
    """``pos.error``: a sync closed as failed; ``action_required`` follows from ``error_type``."""
    return {
        "event_type": EVENT_TYPES[ERROR],
        "event_id": event_id,
        "tenant_id": tenant_id,
        "pos_account_id": pos_account_id,
        "pos_provider": pos_provider,
        "error_type": error_type,
        "error_message": error_message,
        "consecutive_failures": int(consecutive_failures),
        "action_required": action_required(error_type),
        "timestamp": timestamp(when),
    }


def euros(amount: Decimal | int) -> Decimal:
    """An exact amount in euros to the cent (``125.5`` → ``125.50``); floats are refused."""
    if isinstance(amount, float) or not isinstance(amount, Decimal | int):
        raise TypeError(f"unmapped_revenue_euros must be a Decimal or an int, got {type(amount).__name__}")
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN)


def mapping_needed(*, event_id: str, tenant_id: str, pos_account_id: str, unmapped_products_count: int,
                   unmapped_revenue_euros: Decimal | int,
                   sample_unmapped_products: Iterable[Mapping[str, Any]], when: datetime) -> dict[str, Any]:
    """``pos.mapping_needed``: POS products without a mapping; the samples are those of most
    transactions (at most :data:`MAX_SAMPLES`), each ``{pos_product_name, transaction_count}``."""
    samples = sorted(({"pos_product_name": str(p["pos_product_name"]), "transaction_count": int(p["transaction_count"])}
                      for p in sample_unmapped_products),
                     key=lambda p: (-p["transaction_count"], p["pos_product_name"]))
    return {
        "event_type": EVENT_TYPES[MAPPING_NEEDED],
        "event_id": event_id,
        "tenant_id": tenant_id,
        "pos_account_id": pos_account_id,
        "unmapped_products_count": int(unmapped_products_count),
        "unmapped_revenue_euros": euros(unmapped_revenue_euros),
        "sample_unmapped_products": samples[:MAX_SAMPLES],
        "timestamp": timestamp(when),
    }


def sales_updated(*, event_id: str, tenant_id: str, changes: Iterable[Mapping[str, Any]], batch: str,
                  when: datetime) -> dict[str, Any]:
    """``pos.sales_updated``: the demand history of these locations changed over these business
    dates (new days, late refunds, remapped products), as the forecasting run requested for
    ``batch`` sees it. ``changes``: ``{pos_provider, location_id, date_from, date_to, days}``."""
    rows = sorted(({"pos_provider": str(c["pos_provider"]), "location_id": str(c["location_id"]),
                    "date_from": str(c["date_from"]), "date_to": str(c["date_to"]), "days": int(c["days"])}
                   for c in changes), key=lambda c: (c["pos_provider"], c["location_id"]))
    return {
        "event_type": EVENT_TYPES[SALES_UPDATED],
        "event_id": event_id,
        "tenant_id": tenant_id,
        "batch": batch,
        "changes": rows,
        "date_from": min(c["date_from"] for c in rows),
        "date_to": max(c["date_to"] for c in rows),
        "timestamp": timestamp(when),
    }
