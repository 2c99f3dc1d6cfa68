"""Benchmark: Dagster's SQLite event log storage as shipped (an engine, a connection, a WAL
checkpoint per stored event) against pos-sync's ``PooledSqliteEventLogStorage`` (one kept
connection per shard: ``pos_dagster/lib/sqlite_storage.py``), in the same run, alternating.

Each round and storage gets a fresh scratch ``DAGSTER_HOME`` with the product's
``instance_default.yaml`` (for the default storage: its ``event_log_storage`` block removed) and
measures, through ``DagsterInstance``:

* ``store_events``: N events of one run stored one by one (``event_log_storage.store_event``, as
  a run worker does): log messages and engine events, every tenth an asset materialization (so
  mirrored into the index shard too), the run's first event creating its shard;
* ``materialize``: ``dg.materialize`` of a chain of four assets with the instance (in process,
  as ``pos-sync sync`` runs its jobs), three times per round: the whole run, its ~45 events
  stored on the way.

    python -m bench.dagster_storage [--rounds 5] [--events 200] [--out bench/results/dagster_storage.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData, StepMaterializationData
from dagster._core.events.log import EventLogEntry

from bench._common import ROOT, emit, machine, percentile

POOLED_BLOCK_START = "event_log_storage:\n"
POOLED_BLOCK_END = "  class: PooledSqliteEventLogStorage\n"


def instance_yaml(storage: str) -> str:
    text = (ROOT / "pos_dagster" / "instance_default.yaml").read_text()
    if storage == "pooled":
        return text
    start = text.index(POOLED_BLOCK_START)
    end = text.index(POOLED_BLOCK_END) + len(POOLED_BLOCK_END)
    return text[:start] + text[end:]


@dg.asset
def a1() -> int:
    return 1


@dg.asset
def a2(a1: int) -> int:
    return a1 + 1


@dg.asset
def a3(a2: int) -> int:
    return a2 + 1


@dg.asset
def a4(a3: int) -> int:
    return a3 + 1


def _entry(run_id: str, i: int) -> EventLogEntry:
    if i % 10 == 5:
        event: DagsterEvent | None = DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value, "bench_job",
            event_specific_data=StepMaterializationData(
                dg.AssetMaterialization(asset_key=["bench", f"asset_{i % 7}"], metadata={"i": i})))
        message = ""
    elif i % 2:
        event = DagsterEvent(DagsterEventType.ENGINE_EVENT.value, "bench_job",
                             message=f"engine event {i}", event_specific_data=EngineEventData())
        message = ""
    else:
        event, message = None, f"log message {i}"
    return EventLogEntry(error_info=None, level="DEBUG", user_message=message, run_id=run_id,
                         timestamp=time.time(), step_key="bench_step", job_name="bench_job",
                         dagster_event=event)


def one_round(storage: str, events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"dagster-storage-{storage}-") as home:
        (Path(home) / "dagster.yaml").write_text(instance_yaml(storage))
        with dg.DagsterInstance.from_config(home) as instance:
            kind = type(instance.event_log_storage).__name__
            run = instance.add_run(dg.DagsterRun(job_name="bench_job", run_id=str(uuid.uuid4())))
            entries = [_entry(run.run_id, i) for i in range(events)]
            started = time.perf_counter()
            for entry in entries:
                instance.event_log_storage.store_event(entry)
            store_s = time.perf_counter() - started
            stored = len(instance.all_logs(run.run_id))
            assert stored == events, (stored, events)
            materialize_s: list[float] = []
            for _ in range(3):
                started = time.perf_counter()
                result = dg.materialize([a1, a2, a3, a4], instance=instance)
                materialize_s.append(time.perf_counter() - started)
                assert result.success
            run_events = len(instance.all_logs(result.run_id))
            latest = instance.get_latest_materialization_event(dg.AssetKey("a4"))
            assert latest is not None and latest.run_id == result.run_id
    return {"storage": storage, "class": kind, "store_events_s": round(store_s, 4),
            "ms_per_event": round(1000 * store_s / events, 2), "materialize_s": [round(s, 3) for s in materialize_s],
            "events_per_materialize_run": run_events, "load_average_1m": round(os.getloadavg()[0], 2)}


def summary(rounds: list[dict[str, Any]], storage: str) -> dict[str, Any]:
    mine = [r for r in rounds if r["storage"] == storage]
    per_event = [r["ms_per_event"] for r in mine]
    materialize = [s for r in mine for s in r["materialize_s"]]
    return {"ms_per_event_median": round(statistics.median(per_event), 2),
            "ms_per_event_max": max(per_event),
            "materialize_s_median": round(statistics.median(materialize), 3),
            "materialize_s_p90": round(percentile(materialize, 0.9), 3),
            "materialize_runs": len(materialize)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    document: dict[str, Any] = {"benchmark": "dagster_storage", "machine": machine(),
                                "events_per_round": args.events, "rounds": []}
    for i in range(args.rounds):
        order = ("default", "pooled") if i % 2 == 0 else ("pooled", "default")
        for storage in order:
            document["rounds"].append(one_round(storage, args.events))
    default, pooled = summary(document["rounds"], "default"), summary(document["rounds"], "pooled")
    document["default"], document["pooled"] = default, pooled
    document["ratio_default_over_pooled"] = {
        "ms_per_event": round(default["ms_per_event_median"] / pooled["ms_per_event_median"], 1),
        "materialize": round(default["materialize_s_median"] / pooled["materialize_s_median"], 2)}
    document["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    emit(document, args.out)


if __name__ == "__main__":
    main()
