"""`pos-sync sandbox serve` as a real process: first stdout line is the manifest; the clock moves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def test_serve_prints_manifest_then_serves_and_stops_cleanly(tmp_path: Path) -> None:
    env = dict(os.environ, POS_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_sync.cli", "sandbox", "serve", "--seed", "5", "--days", "2",
         "--start", "2026-05-04", "--scale", "tiny", "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        manifest = json.loads(proc.stdout.readline())
        assert manifest["base_url"].startswith("http://127.0.0.1:")
        assert set(manifest["providers"]) >= {"square"}
        square = next(a for a in manifest["accounts"] if a["provider"] == "square")
        assert square["access_token"] and square["refresh_token"] and square["webhook_signature_key"]
        assert len(square["location_ids"]) == 2

        clock = httpx.get(manifest["clock_url"]).json()
        assert clock["now"] == clock["window_end"]
        moved = httpx.post(manifest["clock_url"], json={"now": "2026-05-05T10:00:00Z"}).json()
        assert moved["now"] == "2026-05-05T10:00:00Z"
        bad = httpx.post(manifest["clock_url"], json={})
        assert bad.status_code == 400

        locations = httpx.get(f"{manifest['providers']['square']}/v2/locations",
                              headers={"Authorization": f"Bearer {square['access_token']}"})
        assert locations.status_code == 200
        assert {loc["id"] for loc in locations.json()["locations"]} == set(square["location_ids"])

        truth = httpx.get(f"{manifest['base_url']}/_sandbox/truth").json()
        assert truth["world"]["as_of"] == "2026-05-05T10:00:00Z"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
