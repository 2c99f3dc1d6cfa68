"""The one Definitions object of pos-sync (``workspace.yaml`` loads ``defs`` from here).

Assembled from the ``pos_dagster/defs/`` tree by ``dg.load_from_defs_folder`` (``[tool.dg]`` in
``pyproject.toml``): every module there contributes its part, most of them one per provider of
the registry (``pos_sync.providers``). :func:`build_definitions` assembles it again — after a
provider was registered, for instance. Loading touches nothing on disk.
"""

import warnings
from pathlib import Path

import dagster as dg

# Dagster flags its own sensor initializer's `owners` parameter as beta, once per sensor it builds
# (nothing of ours passes it): a warning no user can act on
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition", category=dg.BetaWarning)


def build_definitions() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


defs = build_definitions()
