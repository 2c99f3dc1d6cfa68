"""``pos-sync topology up|down`` refuses what it cannot run with one line, never a traceback."""

from __future__ import annotations

import pytest

from pos_sync.cli import main
from pos_sync.cli.topology import dagster_pg_url, workspace_yaml


def test_up_without_postgresql_names_the_variable(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    assert main(["topology", "up"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: DAGSTER_PG_URL must be a postgresql:// URL for the topology (see docs/deploy.md)"]

    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql://postgres@127.0.0.1:5432/x")
    assert main(["topology", "up"]) == 1  # the app store is still SQLite (POS_DATABASE_URL unset)
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: POS_DATABASE_URL must be a postgresql:// URL for the topology (see docs/deploy.md)"]


def test_down_with_nothing_running_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "down"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: no topology is running here (no ") and line.endswith("state.json)")


def test_dagster_gets_psycopg2_urls_and_a_workspace_on_the_code_server() -> None:
    assert dagster_pg_url("postgresql://u@h:5432/d") == "postgresql+psycopg2://u@h:5432/d"
    assert dagster_pg_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg2://u@h/d"
    assert dagster_pg_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"
    import yaml

    [entry] = yaml.safe_load(workspace_yaml("127.0.0.1", 4266))["load_from"]
    assert entry == {"grpc_server": {"host": "127.0.0.1", "port": 4266, "location_name": "pos_dagster"}}
