"""Running a source of ``dlt_sources`` against a sandbox on loopback: quick retries, a pipeline in
the test's ``tmp_path``, a run that fails on failed jobs, and what the source keeps in the
pipeline state per account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt

from dlt_sources.common import RetryPolicy
from pos_sandbox.world import World

# retries against a sandbox on loopback: short waits, a bounded total
FAST_RETRIES = RetryPolicy(base_delay=0.01, max_delay=0.05, max_total_sleep=20.0, timeout=20.0)


def local_pipeline(tmp_path: Path, name: str, dataset: str, destination: Any = None) -> dlt.Pipeline:
    """A pipeline with its working dir in ``tmp_path``, into ``destination`` (default: a DuckDB
    file in ``tmp_path``, shared by every pipeline of the test)."""
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination or dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name=dataset,
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def sandbox_source_options(account: dict[str, Any], world: World, known_versions: Any,
                           **overrides: Any) -> dict[str, Any]:
    """The options of a source run against the sandbox: the manifest account's base URL and id, the
    world's clock, the versions the destination holds, quick retries; ``overrides`` on top."""
    return {
        "base_url": account["base_url"],
        "account_id": account["account_id"],
        "now": world.now,
        "known_versions": known_versions,
        "retry_policy": FAST_RETRIES,
    } | overrides


def run_checked(pipeline: dlt.Pipeline, source: Any, loader_file_format: str | None = "parquet") -> Any:
    """``pipeline.run(source)``, raising if any load job failed; the load info."""
    info = pipeline.run(source, loader_file_format=loader_file_format)  # type: ignore[arg-type]
    info.raise_on_failed_jobs()
    return info


def account_state(pipeline: dlt.Pipeline, source: str, resource: str, account_id: str) -> dict[str, Any]:
    """What ``resource`` of ``source`` keeps in the pipeline state for one account ({} if nothing)."""
    resources = pipeline.state.get("sources", {}).get(source, {}).get("resources", {})
    return dict(resources.get(resource, {}).get("accounts", {}).get(account_id, {}))
