"""Run every benchmark and write its JSON document to ``bench/results/`` (``make bench``).

    python -m bench.run_all [--only world_generation,emulator_serving,...] [--postgres URL]

Each benchmark runs in its own process, one after the other (they would disturb each other's
figures on a 2-core machine). See ``bench/README.md`` for what each one compares against.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench._common import RESULTS, ROOT

BENCHMARKS: dict[str, list[str]] = {
    "world_generation": ["--scale", "chain", "--days", "90"],
    "emulator_serving": ["--scale", "chain", "--days", "90"],
    "square_import": ["--scale", "chain", "--days", "90"],
    "no_change_sync": [],  # small × 90 days, each provider's whole window loaded (a few minutes)
    "lightspeed_r_import": ["--days", "90"],  # R-Series' documented bucket: ~12 minutes, bound by its drip
    "canonical_build": [],
    "api": [],  # PostgreSQL: a scratch database on --postgres's server, else on 127.0.0.1:5432
    "events": [],  # RabbitMQ on 127.0.0.1:5672; PostgreSQL as for api
    "storm": [],
    "fault_matrix": [],  # every provider × every fault, from fresh tiny worlds
    "mapping": [],
    "forecast": [],  # the chain world, 90 days from 2026-01-05: reference forecast vs naive
    "webhook_latency": [],  # daemon processes; PostgreSQL as for api
    "cli_start": [],  # pos-sync commands' start vs python -c pass (--compare DIR: against another checkout)
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated benchmark names")
    parser.add_argument("--postgres", default=None, help="square_import: also import into this PostgreSQL URL; "
                                                         "api: create its scratch database on this server")
    args = parser.parse_args()
    failed = []
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        extra = list(BENCHMARKS[name])
        if name == "square_import" and args.postgres:
            extra += ["--postgres", args.postgres, "--postgres-days", "7"]
        if name in ("api", "events", "webhook_latency") and args.postgres:
            extra += ["--postgres", args.postgres]
        out = RESULTS / f"{name}.json"
        sys.stderr.write(f"== {name} → {out.relative_to(ROOT)}\n")
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", *extra, "--out", str(out)], cwd=ROOT,
                              stdout=subprocess.DEVNULL)
        sys.stderr.write(f"   {'ok' if done.returncode == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s\n")
        if done.returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
