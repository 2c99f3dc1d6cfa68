"""The Dagster instance the CLI uses: ``DAGSTER_HOME`` (default ``$POS_HOME/dagster``) with the
embedded-default ``dagster.yaml`` written there on first use (and brought up to date after an
upgrade: :mod:`pos_dagster.lib.instance_yaml`), so runs started from
``pos-sync sync`` / ``pos-sync demo`` show up in ``dagster dev`` pointed at the same home."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pos_dagster.lib.instance_yaml import default_instance_yaml, ensure_instance_yaml
from pos_sync.settings import Settings, ensure_home, load_settings

__all__ = ["default_instance_yaml", "get_instance"]


def get_instance(settings: Settings | None = None) -> dg.DagsterInstance:
    settings = settings or load_settings()
    ensure_home(settings)
    ensure_instance_yaml(Path(settings.dagster_home))
    return dg.DagsterInstance.from_config(str(settings.dagster_home))
