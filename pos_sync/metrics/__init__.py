"""Prometheus metrics of pos-sync: the service spec's five families and the series pos-sync adds.

``spec`` names every family once (name, help, labels, buckets); ``collector`` reads the app store
at scrape time. Nothing here is imported by the sync path: a sync writes the app store, and the
numbers are read from there by whichever process serves ``/metrics`` (docs/metrics.md).
"""
