"""The warehouse: the dlt destination and pipelines (:mod:`.pipelines`), the SQL adapter the
canonical build writes through (:mod:`.sql`) and an account's erasure (:mod:`.purge`)."""
