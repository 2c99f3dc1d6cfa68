"""How dlt resources become Dagster assets: ``raw/<provider>/<resource>``, no phantom upstream
dependencies, skippable (a no-change sync emits no materialization, so nothing downstream fires)."""

from __future__ import annotations

import dagster as dg
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData


class PosDltTranslator(DagsterDltTranslator):
    def __init__(self, provider: str) -> None:
        self.provider = provider

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey(["raw", self.provider, data.resource.name]),
            deps=[],
            group_name=f"raw_{self.provider}",
            skippable=True,
        ).merge_attributes(kinds={self.provider}, tags={"pos/provider": self.provider})
