"""Shared pieces of the benchmarks: the machine description, peak RSS, the sandbox served by a
separate ``pos-sync sandbox serve`` process, and the "simple client" that measures what the
Square emulator can serve (the ceiling every connector benchmark is compared with).

The emulator always runs in its own process, so it never shares a GIL with the client or the
pipeline being measured (on a 2-core machine the two processes get one core each).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SQUARE_VERSION = "2025-08-20"
CREATED_AT_FLOOR = "2009-01-01T00:00:00Z"


def machine() -> dict[str, Any]:
    """What the figures were measured on (load average included: the machine may be shared)."""
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def process_peak_rss_mib(pid: int) -> float | None:
    """VmHWM of a running process (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def run_child_with_code(script: str, code: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``script --child SPEC`` in a process of its own with the checkout ``code`` first on
    ``PYTHONPATH`` (from the temporary directory, so the current one is not on the path): the JSON
    document of its last output line, with the 1-minute load average at its start and end."""
    load = round(os.getloadavg()[0], 2)
    done = subprocess.run([sys.executable, str(Path(script).resolve()), "--child", json.dumps(spec)],
                          cwd=tempfile.gettempdir(), env=os.environ | {"PYTHONPATH": str(code)},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"import failed ({code}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) | {
        "load_average_1m_at_start": load, "load_average_1m_at_end": round(os.getloadavg()[0], 2)}


def emit(document: dict[str, Any], out: str | None) -> None:
    text = json.dumps(document, indent=2, sort_keys=False)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    print(text)


# ---------------------------------------------------------------------- the sandbox process
@dataclass
class Sandbox:
    proc: subprocess.Popen[str]
    manifest: dict[str, Any]

    @property
    def square(self) -> dict[str, Any]:
        return next(a for a in self.manifest["accounts"] if a["provider"] == "square")

    @property
    def base_url(self) -> str:
        return str(self.square["base_url"])

    @property
    def location_ids(self) -> list[str]:
        return list(self.square["location_ids"])

    @property
    def window_end(self) -> datetime:
        clock = httpx.get(self.manifest["clock_url"], timeout=30).json()
        return datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))

    def peak_rss_mib(self) -> float | None:
        return process_peak_rss_mib(self.proc.pid)


@contextmanager
def sandbox_process(*, seed: int, start: date, days: int, scale: str, providers: str = "square",
                    faults: str = "none") -> Iterator[Sandbox]:
    """``pos-sync sandbox serve`` in its own process (``faults``: a fault plan spec, e.g. ``storm``);
    yields once its manifest is printed."""
    home = tempfile.mkdtemp(prefix="pos-bench-sandbox-")
    env = dict(os.environ, POS_HOME=home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_sync.cli", "sandbox", "serve", "--seed", str(seed), "--start",
         start.isoformat(), "--days", str(days), "--scale", scale, "--providers", providers, "--port", "0",
         "--faults", faults],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("pos-sync sandbox serve exited before printing its manifest")
        yield Sandbox(proc, json.loads(line))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------- the simple client
@dataclass
class Served:
    """What the simple client got from one stream."""

    records: int = 0
    pages: int = 0
    seconds: float = 0.0
    page_latencies_ms: list[float] = field(default_factory=list)
    rate_limited: int = 0  # 429s waited out (the provider's documented rate limit)
    warm_up_seconds: float | None = None  # the untimed request that built the emulator's indexes first

    def summary(self) -> dict[str, Any]:
        lat = self.page_latencies_ms
        return {
            "records": self.records,
            "pages": self.pages,
            **({"rate_limited": self.rate_limited} if self.rate_limited else {}),
            **({"warm_up_seconds": round(self.warm_up_seconds, 2)} if self.warm_up_seconds is not None else {}),
            "seconds": round(self.seconds, 2),
            "records_per_s": round(self.records / self.seconds) if self.seconds else None,
            "page_latency_ms": {
                "median": round(statistics.median(lat), 2) if lat else None,
                "p90": round(percentile(lat, 0.9), 2) if lat else None,
                "p99": round(percentile(lat, 0.99), 2) if lat else None,
                "max": round(max(lat), 2) if lat else None,
            },
        }


class SimpleClient:
    """Pages through the emulator with the connector's own queries (same filters, sort and page
    sizes as ``dlt_sources.square``), parsing each page only as far as the cursor needs."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.http = httpx.Client(base_url=sandbox.base_url, timeout=120, headers={
            "Authorization": f"Bearer {sandbox.square['access_token']}", "Square-Version": SQUARE_VERSION})

    def close(self) -> None:
        self.http.close()

    def warm_up(self) -> dict[str, float]:
        """The first request per location builds that location's indexes; seconds per location."""
        out = {}
        for loc in self.sandbox.location_ids:
            t0 = time.perf_counter()
            r = self.http.get("/v2/payments", params={"location_id": loc, "limit": 1})
            r.raise_for_status()
            out[loc] = round(time.perf_counter() - t0, 2)
        return out

    def payments(self, begin: datetime, end: datetime, page_size: int = 100) -> Served:
        served = Served()
        started = time.perf_counter()
        for loc in self.sandbox.location_ids:
            cursor = None
            while True:
                params: dict[str, Any] = {"location_id": loc, "begin_time": CREATED_AT_FLOOR,
                                          "updated_at_begin_time": iso(begin), "updated_at_end_time": iso(end),
                                          "sort_field": "UPDATED_AT", "sort_order": "ASC", "limit": page_size}
                if cursor:
                    params["cursor"] = cursor
                t0 = time.perf_counter()
                r = self.http.get("/v2/payments", params=params)
                served.page_latencies_ms.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                body = r.json()
                served.records += len(body.get("payments", ()))
                served.pages += 1
                cursor = body.get("cursor")
                if not cursor:
                    break
        served.seconds = time.perf_counter() - started
        return served

    def orders(self, begin: datetime, end: datetime, page_size: int = 500) -> Served:
        served = Served()
        started = time.perf_counter()
        cursor = None
        while True:
            body: dict[str, Any] = {
                "location_ids": self.sandbox.location_ids[:10], "limit": page_size,
                "query": {"filter": {"state_filter": {"states": ["OPEN", "COMPLETED", "CANCELED", "DRAFT"]},
                                     "date_time_filter": {"updated_at": {"start_at": iso(begin), "end_at": iso(end)}}},
                          "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}},
            }
            if cursor:
                body["cursor"] = cursor
            t0 = time.perf_counter()
            r = self.http.post("/v2/orders/search", json=body)
            served.page_latencies_ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            page = r.json()
            served.records += len(page.get("orders", ()))
            served.pages += 1
            cursor = page.get("cursor")
            if not cursor:
                break
        served.seconds = time.perf_counter() - started
        return served


def window_bounds(start: date, days: int, sandbox: Sandbox) -> tuple[datetime, datetime]:
    """[a day before the window, the sandbox clock]: the range a historical import asks for."""
    begin = datetime.combine(start, datetime.min.time(), UTC) - timedelta(days=1)
    return begin, sandbox.window_end
