"""Events: what pos-sync tells the platform through RabbitMQ, and what it is asked to do.

* ``payloads`` — the published bodies (``pos.sync_completed``, ``pos.error``,
  ``pos.mapping_needed``), field for field as the spec writes them, plus ``event_id``; JSON
  schemas in ``schemas/``; ``jsonenc`` writes Decimals as exact number literals.
* ``emit`` — events into the app store's outbox, in the transaction of the state they describe.
* ``publisher`` — the outbox to the topic exchange, persistent, with publisher confirms.
* ``commands`` / ``consumer`` — the consumed messages (the orchestrator's daily trigger, the sales
  service's discrepancy) turned into sync requests; poison messages dead-lettered.

No Dagster here: the CLI worker (``pos-sync events …``) and the Dagster sensor both call in.
See ``docs/events.md``.
"""
