"""The Dagster resources over the service core: settings, app store, warehouse and clock.

Assets, ops, sensors and checks receive these instead of reading the environment or opening
stores themselves. The settings are pos-sync's environment, parsed once per process
(:func:`pos_sync.settings.load_settings`); a deployment may pin a value in the resource config
instead (e.g. ``PosSettings(warehouse_url=dg.EnvVar("WAREHOUSE_URL"))`` in its own definitions),
which the UI shows.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from pos_sync.settings import Settings, load_settings

if TYPE_CHECKING:  # imported where used: loading the definitions opens no store (every run worker loads them)
    import dlt

    from pos_sync.appstore import AppStore
    from pos_sync.warehouse.sql import Warehouse


class PosSettings(dg.ConfigurableResource):
    """pos-sync's settings (``POS_HOME``, store URLs, keys, defaults): the environment, unless a
    field here pins a value."""

    pos_home: str | None = None
    database_url: str | None = None
    warehouse_url: str | None = None

    def get(self) -> Settings:
        settings = load_settings()
        pinned = {k: v for k, v in {"database_url": self.database_url, "warehouse_url": self.warehouse_url}.items()
                  if v is not None}
        if self.pos_home is not None:
            pinned["pos_home"] = Path(self.pos_home).expanduser().resolve()
        return dataclasses.replace(settings, **pinned) if pinned else settings


class AppStoreResource(dg.ConfigurableResource):
    """Accounts, encrypted credentials and sync logs."""

    settings: PosSettings

    def store(self) -> AppStore:
        from pos_sync.appstore import AppStore

        return AppStore(self.settings.get())


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: the dlt pipelines of an account and the SQL connection of the canonical build."""

    settings: PosSettings

    def connect(self) -> Warehouse:
        from pos_sync.warehouse.sql import Warehouse

        return Warehouse(self.settings.get())

    def pipeline(self, provider: str, account_id: str, mode: str = "incremental") -> dlt.Pipeline:
        from pos_sync.warehouse.pipelines import account_pipeline

        return account_pipeline(provider, account_id, mode, self.settings.get())


class ClockResource(dg.ConfigurableResource):
    """The connector's "now": ``POS_NOW`` when injected (a sandbox world synced as if current),
    else real UTC time. Schedules and sync frequencies use the wall clock, not this."""

    settings: PosSettings

    def now(self) -> datetime:
        return self.settings.get().utcnow()


def pos_resources() -> dict[str, object]:
    """The resources every pos-sync definition may ask for, by name."""
    from dagster_dlt import DagsterDltResource

    settings = PosSettings()
    return {
        "pos_settings": settings,
        "appstore": AppStoreResource(settings=settings),
        "warehouse": WarehouseResource(settings=settings),
        "clock": ClockResource(settings=settings),
        "dlt_runner": DagsterDltResource(),
    }
