"""``pos-sync backfill ACCOUNT [--from DATE] [--to DATE]``: the day-window backfill of one account.

It writes the same sync request as the API's ``POST /api/v1/pos/sync/{id}/historical``; the
``account_sync_sensor`` of the Dagster daemon (``pos-sync dev`` or ``dagster dev``) turns it into
one ``<provider>_historical_backfill`` run per day within seconds, tagged ``pos/sync-request`` with
the request's id and ``pos/account-label`` with the account's label. The range defaults to the
account's own history (:mod:`pos_sync.ingest.backfill`): from the first day its historical import
covered to today.
"""

from __future__ import annotations

import argparse
from datetime import date

from pos_sync.cli import CommandError, emit_json, log


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from None


def _backfill(args: argparse.Namespace) -> int:
    from pos_sync.appstore import AccountNotFound, AppStore
    from pos_sync.ingest.backfill import BackfillRangeError, backfill_range
    from pos_sync.settings import load_settings

    settings = load_settings()
    store = AppStore(settings)
    try:
        account = store.get_account(args.account)
    except AccountNotFound as exc:
        raise CommandError(f"no account {args.account} (see `pos-sync accounts list`)") from exc
    try:
        chosen = backfill_range(account, settings, args.start, args.end)
    except BackfillRangeError as exc:
        raise CommandError(str(exc)) from exc
    request = store.request_sync(account.id, account.tenant_id, "historical", chosen.start, chosen.end)
    job = f"{account.provider}_historical_backfill"
    log(f"backfill of {account.provider} account {account.id} ({account.name}) requested: {chosen.days} day(s), "
        f"{chosen.start} to {chosen.end}{' (the account history start)' if args.start is None else ''}")
    log(f"  the Dagster daemon (`pos-sync dev` or `dagster dev`) launches one {job} run per day within seconds; "
        f"in the UI's runs list filter by tag pos/sync-request={request.id}")
    if args.json:
        emit_json({"request_id": request.id, "account_id": account.id, "provider": account.provider, "job": job,
                   "start_date": chosen.start.isoformat(), "end_date": chosen.end.isoformat(), "days": chosen.days,
                   "status": request.status})
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "backfill", help="backfill an account's days (one day-window run per day, by the Dagster daemon)",
        description="Ask for the day-window backfill of one account over a date range: the Dagster daemon "
                    "(`pos-sync dev` or `dagster dev`) launches one <provider>_historical_backfill run per day. "
                    "The range defaults to the account's own history: from the first day its historical import "
                    "covered (HISTORICAL_IMPORT_DAYS before it) to today. Providers without day windows "
                    "(Lightspeed) have no backfill.")
    parser.add_argument("account", metavar="ACCOUNT", help="account id (see `pos-sync accounts list`)")
    parser.add_argument("--from", dest="start", type=_day, default=None, metavar="DATE",
                        help="first day YYYY-MM-DD (default: the account's history start)")
    parser.add_argument("--to", dest="end", type=_day, default=None, metavar="DATE",
                        help="last day YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--json", action="store_true", help="print one JSON document (the request)")
    parser.set_defaults(func=_backfill)
