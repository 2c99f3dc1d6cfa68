"""One account's sync, free of Dagster: read the account once, build its provider's source,
keep its sync log and status honest (:mod:`.bookkeeping`). The Dagster assets and the tests call
the same code (:class:`~pos_sync.ingest.sync.AccountSync`)."""
