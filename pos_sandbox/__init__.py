"""Provider sandbox: a deterministic bakery world, its ground-truth ledger and faithful
emulators of the Square, Toast and Lightspeed APIs.

The sandbox shares no code with the connectors (``dlt_sources``) or the transforms: an emulator
that reused the connector's parsing would agree with its bugs. Product code never imports it;
only the demo command and the tests start it.
"""
