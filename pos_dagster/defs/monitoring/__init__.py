"""Monitoring: sync health, freshness, transaction volume and the app store's retention."""
