"""The service's HTTP API (FastAPI): tenants authenticated by API key or JWT, accounts, OAuth
linking a merchant clicks through, sync control and history — on the same core functions as the
CLI. ``create_app()`` builds it; ``pos-sync api serve`` runs it on uvicorn."""
