"""``pos-sync sandbox``: the provider sandbox (bakery world, ground truth, API emulators)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import date
from decimal import Decimal
from typing import Any

from pos_sync.cli import CommandError, emit_json, log


def add_world_arguments(parser: argparse.ArgumentParser, default_days: int = 14) -> None:
    parser.add_argument("--seed", type=int, default=42, help="world seed (default 42)")
    parser.add_argument("--days", type=int, default=default_days, help=f"window length in days (default {default_days})")
    parser.add_argument("--start", type=date.fromisoformat, default=None,
                        help="first local day YYYY-MM-DD (default: the latest whose window has ended, so the "
                             "world looks current and its clock is not ahead of the wall clock)")
    parser.add_argument("--scale", choices=("tiny", "small", "chain"), default="small",
                        help="tiny (~20 sales per location-day), small (demo, ~300), chain (10 locations, ~800)")
    parser.add_argument("--providers", default="square,toast,lightspeed",
                        help="comma-separated providers to include: square, toast, lightspeed (X-Series), "
                             "lightspeed_r (R-Series) (default square,toast,lightspeed)")


def build_world(args: argparse.Namespace) -> Any:
    from pos_sandbox.world import World

    providers = [p.strip() for p in str(args.providers).split(",") if p.strip()]
    try:
        return World(seed=args.seed, start=args.start, days=args.days, scale=args.scale, providers=providers)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _truth(args: argparse.Namespace) -> int:
    from pos_sandbox.ledger import compute_truth
    from pos_sandbox.server import parse_instant

    world = build_world(args)
    as_of = None
    if args.as_of:
        try:
            as_of = parse_instant(args.as_of)
        except ValueError as exc:
            raise CommandError(f"--as-of: {exc}") from exc
    truth = compute_truth(world, as_of)
    if args.json:
        emit_json(truth)
        return 0
    print(f"world seed={world.seed} start={world.start} days={world.days} scale={world.scale} as_of={truth['world']['as_of']}")
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for row in truth["daily"]:
        t = totals.setdefault((row["provider"], row["location_id"]), {"sales": 0, "voids": 0, "refunds": 0,
                                                                       "net": 0, "currency": row["currency"]})
        t["sales"] += row["sales_count"]
        t["voids"] += row["void_count"]
        t["refunds"] += row["refund_count"]
        t["net"] += Decimal(row["net_amount"])
    print(f"{'provider':<11} {'location':<38} {'sales':>7} {'voids':>6} {'refunds':>8} {'net':>14}")
    for (provider, location_id), t in totals.items():
        print(f"{provider:<11} {location_id:<38} {t['sales']:>7} {t['voids']:>6} {t['refunds']:>8} "
              f"{t['net']:>10} {t['currency']}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from pos_sandbox.server import SandboxServer

    world = build_world(args)
    faults = None
    if args.faults and args.faults != "none":
        from pos_sandbox.faults import FaultPlan

        try:
            faults = FaultPlan.parse(args.faults, seed=args.seed)
        except ValueError as exc:
            raise CommandError(f"--faults: {exc}") from exc
    from pos_sandbox.webhook_options import WebhookOptions

    try:
        webhooks = WebhookOptions.parse(args.webhooks)
    except ValueError as exc:
        raise CommandError(f"--webhooks: {exc}") from exc
    if args.sale_every < 0:
        raise CommandError(f"--sale-every must be >= 0, got {args.sale_every}")
    server = SandboxServer(world, faults=faults, port=args.port, host=args.host, webhooks=webhooks,
                           refresh_grace_seconds=args.lightspeed_refresh_grace)
    clock = None
    if args.live:
        from pos_sandbox.live_clock import LiveClock

        clock = LiveClock(world, sale_every=args.sale_every).start()
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        if clock is not None:
            clock.stop()
        raise CommandError(f"the sandbox could not listen on {args.host}:{args.port}: {exc}") from exc
    manifest = server.manifest() | ({"live": {"sale_every_seconds": args.sale_every}} if clock else {})
    sys.stdout.write(json.dumps(manifest) + "\n")
    sys.stdout.flush()
    live = f", live: clock = wall clock, a sale every {args.sale_every:g} s" if clock else ""
    log(f"sandbox serving on {server.base_url}{live} (Ctrl-C to stop)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if clock is not None:
            clock.stop()
        server.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("sandbox", help="the provider sandbox: bakery world, ground truth, emulators",
                                   description="The provider sandbox: a deterministic bakery world, its exact "
                                               "ground truth and faithful emulators of the providers' APIs.")
    sub = parser.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)

    truth = sub.add_parser("truth", help="print the ground-truth ledger of a world",
                           description="Print the ground truth: accounts, daily figures per provider/location/"
                                       "business date, object counts the emulators serve, and the true "
                                       "product mapping. See docs/sandbox.md for every definition.")
    add_world_arguments(truth)
    truth.add_argument("--as-of", default=None, help="evaluate at this instant (RFC 3339; default: end of window)")
    truth.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    truth.set_defaults(func=_truth)

    serve = sub.add_parser("serve", help="serve the provider emulators on loopback",
                           description="Serve the emulators; the first stdout line is one JSON object with each "
                                       "provider's base URL, demo credentials and webhook signature keys.")
    add_world_arguments(serve)
    serve.add_argument("--port", type=int, default=0, help="port (0 picks a free one; default 0)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    serve.add_argument("--faults", default="none",
                       help="fault plan: 'none', a preset ('flaky', 'storm') or 'kind:rate,...' "
                            "e.g. '429:0.05,503:0.02,slow:0.01,expire:0.01'")
    serve.add_argument("--webhooks", default="", metavar="SPEC",
                       help="webhook delivery options (default: each provider's deadlines and retry schedules), "
                            "e.g. 'dup:0.1,reorder:0.2,delay:2s,drop:0.05,seed=3', 'scale=0.001,timeout=1s' "
                            "or 'off'; see docs/sandbox.md")
    serve.add_argument("--lightspeed-refresh-grace", type=float, default=0.0, metavar="SECONDS",
                       help="how long a rotated Lightspeed refresh token keeps working (default 0: at once "
                            "invalid, as Lightspeed documents; Lightspeed's real grace is unconfirmed)")
    serve.add_argument("--live", action="store_true",
                       help="keep the world going: the virtual clock follows the wall clock and a live sale "
                            "happens every --sale-every seconds (round robin over the locations; some refunded "
                            "or voided)")
    serve.add_argument("--sale-every", type=float, default=10.0, metavar="SECONDS",
                       help="with --live: seconds between live sales (default 10; 0: none)")
    serve.set_defaults(func=_serve)
