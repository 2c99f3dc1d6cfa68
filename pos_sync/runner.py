"""How the service core asks for a sync run without importing Dagster.

The CLI (``pos-sync sync``, ``pos-sync demo``) and, later, the HTTP API need an account synced
*now*. The orchestrator that runs it lives in ``pos_dagster`` (its ``adapter`` module implements
:class:`SyncRunner` by executing the provider's sync job in-process on the Dagster instance, so
the run shows up in ``dagster dev``); the core only knows this protocol and the module's name.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

RUNNER_MODULE = "pos_dagster.adapter"


class SyncRunner(Protocol):
    def sync(self, account_id: str) -> dict[str, Any]:
        """Run one sync of the account to its end; a summary (``status`` success | failed | skipped,
        ``sync_type``, ``duration_seconds``, ``rows_loaded``, ``account_status``, ``error``). Never
        raises for a failed sync: the summary says why."""
        ...

    def webhook_syncs(self) -> list[dict[str, Any]]:
        """Evaluate the webhook inbox once, as the orchestrator's sensor does, and run the targeted
        syncs it asks for to their end; a summary per run (``account_id``, ``status``, …)."""
        ...


def get_runner(**options: Any) -> SyncRunner:
    """The orchestrator's runner (``pos_dagster.adapter.runner(**options)``)."""
    module = importlib.import_module(RUNNER_MODULE)
    runner: SyncRunner = module.runner(**options)
    return runner


def fail_interrupted_runs() -> list[str]:
    """Mark failed the runs a stopped ``pos-sync dev`` left started (``pos_dagster.adapter``); their ids."""
    module = importlib.import_module(RUNNER_MODULE)
    failed: list[str] = module.fail_interrupted_runs()
    return failed


def reap_dead_run_workers() -> list[str]:
    """Fail the started runs whose run worker process is gone on this host (``pos_dagster.adapter``)."""
    module = importlib.import_module(RUNNER_MODULE)
    reaped: list[str] = module.reap_dead_run_workers()
    return reaped


def set_pool_limits(limits: dict[str, int]) -> None:
    """Set concurrency pools' slot counts on the configured Dagster instance."""
    importlib.import_module(RUNNER_MODULE).set_pool_limits(limits)
