"""pos-sync's service core, free of Dagster: settings, the provider registry, the app store,
the warehouse, ingest orchestration, the canonical build and the ``pos-sync`` CLI.

Dagster definitions live in ``pos_dagster`` and call into this package; where the core needs a
run it goes through :mod:`pos_sync.runner`, which ``pos_dagster.adapter`` implements.
"""
