"""The API's routers: health, accounts, OAuth linking, synchronization."""
