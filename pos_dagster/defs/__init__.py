"""Every module below is loaded by ``dg.load_from_defs_folder`` (``pos_dagster/definitions.py``):
resources, per-provider ingestion (raw assets, sync jobs, backfills), canonical slices and their
checks, and the automation that keeps partitions and syncs in step with the app store."""
