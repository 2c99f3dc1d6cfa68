"""How dlt resources become Dagster assets: ``raw/<provider>/<resource>``, no phantom upstream
dependencies.

Raw specs are deliberately *not* skippable: Dagster skips a downstream step when any upstream
output is missing, so a sync that changed payments but not the catalog would otherwise skip the
canonical build. Every sync materializes its raw assets (``rows_loaded`` says how much changed);
the canonical assets are the skippable ones — they materialize only when they processed new raw
loads, which is what downstream feeds react to."""

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
        ).merge_attributes(kinds={self.provider}, tags={"pos/provider": self.provider})
