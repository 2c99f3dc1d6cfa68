"""Per-provider ingestion from the registry: raw assets, sync jobs, day-window backfills."""
