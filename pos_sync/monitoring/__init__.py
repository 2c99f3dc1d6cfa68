"""Sync health and transaction volume: computed by the Dagster monitoring assets from the app store
and the warehouse, published into app-store tables (:mod:`pos_sync.appstore.monitoring`) that the
analytics API reads. Free of Dagster."""
