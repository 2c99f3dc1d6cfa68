"""pos-sync: Dagster definitions, app store, CLI and HTTP API."""
