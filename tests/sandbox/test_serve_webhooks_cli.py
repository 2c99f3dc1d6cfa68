"""`pos-sync sandbox serve --webhooks …` as a real process: the options reach the engine, a
subscription made with the manifest's credentials receives the webhook of a live sale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from webhook_support import receiving, square_valid

REPO = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, POS_HOME=str(tmp_path / "home"))
    return subprocess.Popen(
        [sys.executable, "-m", "pos_sync.cli", "sandbox", "serve", "--seed", "5", "--days", "1",
         "--start", "2026-05-04", "--scale", "tiny", "--providers", "square", "--port", "0", *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_serve_with_webhook_options_delivers_a_live_sale(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--webhooks", "dup:1,seed=3,scale=0.001,timeout=2s")
    try:
        assert proc.stdout is not None
        manifest = json.loads(proc.stdout.readline())
        square = manifest["accounts"][0]
        log = httpx.get(manifest["webhooks_url"]).json()
        assert (log["options"]["dup"], log["options"]["seed"], log["options"]["timeouts"]["square"]) == (1.0, 3, 2.0)
        with receiving() as rx:
            url = rx.url("/hook")
            created = httpx.post(f"{manifest['providers']['square']}/v2/webhooks/subscriptions",
                                 headers={"Authorization": f"Bearer {square['app_access_token']}"},
                                 json={"subscription": {"event_types": ["order.created"], "notification_url": url}})
            assert created.status_code == 200, created.text
            key = created.json()["subscription"]["signature_key"]
            assert key == square["webhook_signature_key"]
            sale = httpx.post(manifest["sales_url"], json={"provider": "square"}).json()["sale"]
            assert httpx.post(f"{manifest['webhooks_url']}/wait", json={"timeout": 10}).json()["idle"]
            got = rx.on("/hook")
            assert [r.json()["data"]["id"] for r in got] == [sale["sale_id"]] * 2  # dup:1 sends each event twice
            assert all(square_valid(key, url, r) for r in got)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_a_bad_webhooks_spec_is_refused(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--webhooks", "dup:7")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "--webhooks" in err
