"""The Dagster instance the CLI uses: ``DAGSTER_HOME`` (default ``$POS_HOME/dagster``) with the
embedded-default ``dagster.yaml`` written there on first use, so runs started from
``pos-sync sync`` / ``pos-sync demo`` show up in ``dagster dev`` pointed at the same home."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import dagster as dg

from pos_sync.settings import Settings, ensure_home, load_settings


def default_instance_yaml() -> str:
    return resources.files("pos_dagster").joinpath("instance_default.yaml").read_text()


def get_instance(settings: Settings | None = None) -> dg.DagsterInstance:
    settings = settings or load_settings()
    ensure_home(settings)
    config = Path(settings.dagster_home) / "dagster.yaml"
    if not config.exists():
        config.write_text(default_instance_yaml())
    return dg.DagsterInstance.from_config(str(settings.dagster_home))
