"""Dagster assets: raw ingestion per provider, canonical tables, downstream feeds."""
