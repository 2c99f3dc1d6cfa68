"""The resources every definition may ask for (see ``pos_dagster/lib/resources.py``)."""

import dagster as dg

from pos_dagster.lib.resources import pos_resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=pos_resources())
