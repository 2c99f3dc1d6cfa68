"""``pos-sync accounts`` end to end, against a real local HTTP server standing in for Square."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pos_sync.appstore import account_credentials, dispose_engines
from pos_sync.cli import main

GOOD_TOKEN = "EAAAl-good-SECRET-token-111"
REFRESH = "EQAAl-refresh-SECRET-222"
SECRETS = (GOOD_TOKEN, REFRESH, "toast-SECRET-333", "ls-access-SECRET-444", "ls-refresh-SECRET-555")

LOCATIONS = {
    "locations": [
        {"id": "LOC-CENTRO", "name": "Centro", "timezone": "Europe/Madrid", "currency": "EUR",
         "merchant_id": "MERCH-1", "business_name": "VUE Madrid", "status": "ACTIVE"},
        {"id": "LOC-NORTE", "name": "Norte", "timezone": "Europe/Madrid", "currency": "EUR",
         "merchant_id": "MERCH-1", "business_name": "VUE Madrid", "status": "ACTIVE"},
    ]
}


class FakeSquare:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append({"path": self.path, "headers": dict(self.headers)})
                if self.path != "/v2/locations":
                    self._send(404, {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND"}]})
                elif self.headers.get("Authorization") != f"Bearer {GOOD_TOKEN}":
                    self._send(401, {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED",
                                                 "detail": "This request could not be authorized."}]})
                else:
                    self._send(200, LOCATIONS)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)


@pytest.fixture()
def square() -> Iterator[FakeSquare]:
    fake = FakeSquare()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    dispose_engines()


@pytest.fixture(autouse=True)
def offline_toast_lightspeed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Toast and Lightspeed discovery without a network: the ids given come back as found (Toast
    without ids: the partners API is unavailable; Lightspeed: two outlets). The real calls run
    against the sandbox in tests/dlt_sources/test_discovery.py and tests/pos_dagster/."""
    from dlt_sources.common.auth import TokenSet
    from dlt_sources.common.errors import DiscoveryUnavailable
    from pos_sync.providers.lightspeed import link as lightspeed_link
    from pos_sync.providers.toast import link as toast_link

    def restaurants(_base: str, _tokens: Any, ids: list[str] | None = None, **_kw: Any) -> list[dict[str, Any]]:
        if not ids:
            raise DiscoveryUnavailable("partners API unavailable; pass the restaurant GUIDs with --location")
        return [{"location_id": i} for i in ids]

    monkeypatch.setattr(toast_link, "discover_restaurants", restaurants)
    monkeypatch.setattr(toast_link, "login", lambda *a, **k: TokenSet("toast-token"))
    # the store the token reaches: the one whose host the URL names (as on Lightspeed itself)
    monkeypatch.setattr(lightspeed_link, "retailer_domain_prefix",
                        lambda base, *_a, **_k: (urlsplit(base).hostname or "").split(".")[0])
    monkeypatch.setattr(lightspeed_link, "discover_outlets",
                        lambda *_a, **_k: [{"location_id": i} for i in ("outlet-1", "outlet-2")])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_accounts_round_trip(square: FakeSquare, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "accounts", "add", "square", "--tenant", "t1", "--access-token", GOOD_TOKEN,
        "--refresh-token", REFRESH, "--expires-at", "2030-01-01T00:00:00Z", "--base-url", square.url, "--json",
    )
    assert code == 0, err
    added = json.loads(out)  # exactly one JSON document on stdout
    assert added["created"] is True
    assert (added["provider"], added["merchant_id"], added["name"]) == ("square", "MERCH-1", "VUE Madrid")
    assert added["location_ids"] == ["LOC-CENTRO", "LOC-NORTE"]
    assert added["token_expires_at"] == "2030-01-01T00:00:00+00:00"
    assert "discovering" in err
    [request] = square.requests
    assert request["path"] == "/v2/locations"
    assert request["headers"]["Authorization"] == f"Bearer {GOOD_TOKEN}"
    assert request["headers"]["Square-Version"] == "2025-08-20"
    creds = account_credentials(added["id"])
    assert (creds.access_token, creds.refresh_token, creds.base_url) == (GOOD_TOKEN, REFRESH, square.url)

    code, out, err = run(capsys, "accounts", "add", "toast", "--tenant", "t2", "--client-id", "cid-1",
                         "--client-secret", "toast-SECRET-333", "--location", "guid-a,guid-b", "--json")
    assert code == 0, err
    toast = json.loads(out)
    assert (toast["merchant_id"], toast["location_ids"]) == ("cid-1", ["guid-a", "guid-b"])

    code, out, err = run(capsys, "accounts", "add", "lightspeed", "--tenant", "t1", "--domain-prefix", "Panaderia",
                         "--access-token", "ls-access-SECRET-444", "--refresh-token", "ls-refresh-SECRET-555",
                         "--location", "outlet-1")
    assert code == 0, err
    assert "added lightspeed account" in out

    code, out, err = run(capsys, "accounts", "list", "--json")
    assert code == 0, err
    accounts = json.loads(out)
    assert isinstance(accounts, list) and len(accounts) == 3
    for secret in SECRETS:
        assert secret not in out
    required = {"id", "tenant_id", "provider", "name", "merchant_id", "location_ids", "status", "last_sync_at",
                "last_successful_sync_at", "sync_frequency_minutes"}
    for acc in accounts:
        assert required <= set(acc)
    lightspeed = next(a for a in accounts if a["provider"] == "lightspeed")
    assert (lightspeed["merchant_id"], lightspeed["extra"]) == ("panaderia", {"domain_prefix": "panaderia"})

    code, out, _ = run(capsys, "accounts", "list", "--tenant", "t1", "--json")
    assert {a["provider"] for a in json.loads(out)} == {"square", "lightspeed"}

    code, out, _ = run(capsys, "accounts", "list")
    assert code == 0 and added["id"] in out and "LOC-CENTRO,LOC-NORTE" in out
    assert all(secret not in out for secret in SECRETS)

    code, out, err = run(capsys, "accounts", "remove", added["id"])
    assert code == 0, err
    assert "KEPT" in out
    code, out, err = run(capsys, "accounts", "remove", toast["id"], "--json")
    assert code == 0, err
    assert json.loads(out)["warehouse_data"] == "kept"

    code, out, _ = run(capsys, "accounts", "list", "--json")
    assert [a["provider"] for a in json.loads(out)] == ["lightspeed"]
    code, out, err = run(capsys, "accounts", "remove", added["id"], "--json")
    assert code == 1 and out == "" and "no POS account" in err


def test_add_square_again_updates_and_restricts_locations(square: FakeSquare, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("accounts", "add", "square", "--tenant", "t1", "--access-token", GOOD_TOKEN, "--base-url", square.url)
    code, out, _ = run(capsys, *base, "--json")
    first = json.loads(out)
    code, out, err = run(capsys, *base, "--location", "LOC-NORTE", "--name", "Norte only", "--json")
    assert code == 0, err
    second = json.loads(out)
    assert (second["id"], second["created"]) == (first["id"], False)
    assert (second["location_ids"], second["name"]) == (["LOC-NORTE"], "Norte only")

    code, out, err = run(capsys, *base, "--location", "LOC-NOPE")
    assert code == 1 and out == ""
    assert "LOC-NOPE" in err and "LOC-CENTRO" in err


def test_add_square_errors_are_clear_and_leak_nothing(square: FakeSquare, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "accounts", "add", "square", "--tenant", "t1", "--access-token", "bad-SECRET-999",
                         "--base-url", square.url, "--json")
    assert code == 1 and out == ""
    assert "401" in err and "rejected the access token" in err
    assert "bad-SECRET-999" not in err

    square.server.shutdown()
    square.server.server_close()
    code, out, err = run(capsys, "accounts", "add", "square", "--tenant", "t1", "--access-token", GOOD_TOKEN,
                         "--base-url", square.url)
    assert code == 1 and "could not reach Square" in err and GOOD_TOKEN not in err

    code, out, _ = run(capsys, "accounts", "list", "--json")
    assert json.loads(out) == []


def test_secret_from_stdin(square: FakeSquare, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(GOOD_TOKEN + "\n"))
    code, out, err = run(capsys, "accounts", "add", "square", "--tenant", "t1", "--access-token", "-",
                         "--base-url", square.url, "--json")
    assert code == 0, err
    assert account_credentials(json.loads(out)["id"]).access_token == GOOD_TOKEN


def test_remove_purge(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, "accounts", "add", "toast", "--tenant", "t1", "--client-id", "c", "--client-secret",
                       "s", "--location", "r1", "--json")
    account_id = json.loads(out)["id"]

    monkeypatch.setitem(sys.modules, "pos_sync.warehouse.purge", None)
    code, out, err = run(capsys, "accounts", "remove", account_id, "--purge", "--json")
    assert code == 1 and out == "" and "not installed" in err
    code, out, _ = run(capsys, "accounts", "list", "--json")
    assert [a["id"] for a in json.loads(out)] == [account_id]

    calls: list[tuple[Any, ...]] = []
    module = types.ModuleType("pos_sync.warehouse.purge")
    module.purge_account_data = lambda *args: calls.append(args) or {"deleted": 3}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pos_sync.warehouse.purge", module)
    code, out, err = run(capsys, "accounts", "remove", account_id, "--purge", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["purged"], result["warehouse_data"], result["purge_result"]) == (True, "purged", {"deleted": 3})
    assert calls == [(account_id, "toast", ["r1"])]
    dispose_engines()


def test_toast_without_locations_needs_the_partners_api_lightspeed_discovers_outlets(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "accounts", "add", "toast", "--tenant", "t1", "--client-id", "c", "--client-secret", "s")
    assert code == 1 and out == "" and "--location" in err
    code, out, err = run(capsys, "accounts", "add", "lightspeed", "--tenant", "t1", "--domain-prefix", "x",
                         "--access-token", "a", "--refresh-token", "r", "--json")
    assert code == 0, err
    assert json.loads(out)["location_ids"] == ["outlet-1", "outlet-2"]
    code, out, err = run(capsys, "accounts", "add", "lightspeed", "--tenant", "t1", "--domain-prefix", "x",
                         "--access-token", "a", "--refresh-token", "r", "--location", "outlet-9")
    assert code == 1 and "outlet-9" in err and "outlet-1" in err
    code, out, _ = run(capsys, "accounts", "list", "--json")
    assert [a["provider"] for a in json.loads(out)] == ["lightspeed"]
    dispose_engines()


# ---------------------------------------------------------------------- what a command imports
HEAVY = ("dlt", "dagster", "pandas", "pyarrow", "duckdb", "httpx")
REPO = Path(__file__).resolve().parents[2]
# runs one command in a fresh interpreter, then names the heavy packages it left imported (stderr)
CHILD = """
import json, sys
from pos_sync.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
sys.stderr.write("IMPORTED " + json.dumps(sorted(m for m in HEAVY if m in sys.modules)) + "\\n")
sys.exit(code)
""".replace("HEAVY", repr(HEAVY))


def imported_by(*argv: str) -> tuple[int, str, list[str]]:
    """(exit code, stdout, heavy packages imported) of ``pos-sync <argv>`` in a new process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("IMPORTED ")]
    return done.returncode, done.stdout, json.loads(line.removeprefix("IMPORTED "))


def test_help_and_accounts_add_load_no_dlt_dagster_or_pandas(square: FakeSquare) -> None:
    """Listing the providers (every ``--help``) and linking an account (discovery over HTTP, the app
    store) need none of dlt, Dagster, pandas, pyarrow, DuckDB or httpx: a command that imports them
    pays for it at every start (dlt alone: ~0.4 s)."""
    code, out, heavy = imported_by("accounts", "--help")
    assert code == 0 and "add" in out
    assert heavy == []

    code, out, heavy = imported_by("accounts", "add", "square", "--tenant", "t1", "--access-token", GOOD_TOKEN,
                                   "--base-url", square.url, "--json")
    assert code == 0 and json.loads(out)["location_ids"] == ["LOC-CENTRO", "LOC-NORTE"]
    assert [r["path"] for r in square.requests] == ["/v2/locations"]
    assert heavy == []


def test_the_dlt_sources_load_dlt_only_when_the_source_is_asked_for() -> None:
    """``dlt_sources.<provider>``, its settings and helpers (client, tokens, discovery) import no
    dlt; the source itself does, on first use, and is the function its package names."""
    probe = """
import sys
import dlt_sources.square, dlt_sources.square.settings, dlt_sources.square.helpers, dlt_sources.toast.helpers
import dlt_sources.lightspeed.helpers, dlt_sources.lightspeed_r.helpers, pos_sync.providers
before = "dlt" in sys.modules
from dlt_sources.square import square_source
from dlt_sources.square.source import square_source as defined
print(before, "dlt" in sys.modules, square_source is defined)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]
