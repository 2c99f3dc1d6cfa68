"""``pos-sync api serve --port 0`` as a user runs it: the first stdout line is the one JSON object
``{"url": …}`` and nothing else goes to stdout; logs are JSON lines on stderr with a request id and
no secret; ``pos-sync tenants`` prints a key once, rotates and revokes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def test_serve_prints_its_url_then_logs_json_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pos_sync.cli import main

    assert main(["tenants", "add", "Panadería Sol", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    key = created["api_key"]
    assert key.startswith("pos_") and created["tenant_id"]
    env = dict(os.environ, PORT="1")  # --port wins over PORT
    proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "api", "serve", "--port", "0"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        url = json.loads(first)["url"]
        assert set(json.loads(first)) == {"url"} and url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/readyz").json()["status"] == "ready"
            listed = client.get("/api/v1/pos/accounts", headers={"Authorization": f"Bearer {key}",
                                                                 "X-Request-ID": "req-abcdef12"})
            assert listed.status_code == 200 and listed.json() == []
            assert client.get("/api/v1/pos/accounts", params={"k": key}).status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert out == ""  # nothing but the first line on stdout
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert any(r["request_id"] == "req-abcdef12" and r["status"] == 200 for r in requests)
    assert key not in err  # not even from the query string

    assert main(["tenants", "key", "rotate", created["tenant_id"], "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)["api_key"]
    assert rotated != key
    assert main(["tenants", "key", "revoke", created["tenant_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked"] == 1
    assert main(["tenants", "key", "rotate", "no-such-tenant"]) == 1
    assert "no tenant no-such-tenant" in capsys.readouterr().err


def _spawned_children(pid: int) -> list[int]:
    """The multiprocessing-spawned children of ``pid`` (uvicorn's workers)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"multiprocessing.spawn" in cmdline:
            children.append(int(stat.parent.name))
    return children


def test_serve_with_workers_keeps_the_first_line_contract(capsys: pytest.CaptureFixture[str]) -> None:
    from pos_sync.cli import main

    assert main(["tenants", "add", "Panadería Sol", "--json"]) == 0
    key = json.loads(capsys.readouterr().out)["api_key"]
    env = dict(os.environ, WEB_CONCURRENCY="2")  # the variable; --workers would win over it
    proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "api", "serve", "--port", "0"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert set(first) == {"url"}
        with httpx.Client(base_url=first["url"], timeout=60) as client:
            for _ in range(4):
                listed = client.get("/api/v1/pos/accounts", headers={"Authorization": f"Bearer {key}"})
                assert listed.status_code == 200 and listed.json() == []
            assert client.get("/readyz").json()["status"] == "ready"
        assert len(_spawned_children(proc.pid)) == 2
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert out == ""
    assert any(json.loads(line).get("event") == "request" for line in err.splitlines() if line.startswith("{"))
    bad = subprocess.run([sys.executable, "-m", "pos_sync.cli", "api", "serve", "--port", "0", "--workers", "0"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and bad.stdout == "" and "--workers" in bad.stderr and "Traceback" not in bad.stderr
