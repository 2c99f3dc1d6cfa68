"""Raw asset keys: ``raw/<provider>/<resource>`` for every dlt resource of a provider's source.

:func:`raw_key` names them at definition time (from the registry's resource names, no source
built); :class:`PosDltTranslator` gives dagster-dlt the same keys at run time, so the
materializations of a run land on the declared assets."""

from __future__ import annotations

import dagster as dg
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData


def raw_key(provider: str, resource: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", provider, resource])


class PosDltTranslator(DagsterDltTranslator):
    def __init__(self, provider: str) -> None:
        self.provider = provider

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        return super().get_asset_spec(data).replace_attributes(key=raw_key(self.provider, data.resource.name),
                                                               deps=[])
