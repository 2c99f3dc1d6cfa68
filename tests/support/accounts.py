"""A store's account in a running :class:`~pos_sandbox.server.SandboxServer`: its credentials
from the manifest, and linking it into the app store the way a merchant would
(``pos_sync.cli.demo.link_<provider>_account``: OAuth code flow, Toast's machine-client login)."""

from __future__ import annotations

from typing import Any

from pos_sandbox.server import SandboxServer


def manifest_account(server: SandboxServer, provider: str) -> dict[str, Any]:
    """The manifest's account of ``provider`` (base URL, credentials, location ids)."""
    return dict(next(a for a in server.manifest()["accounts"] if a["provider"] == provider))


def link_account(server: SandboxServer, tenant_id: str, provider: str, **options: Any) -> str:
    """Link the ``provider`` account of ``server`` for ``tenant_id``; the app store's account id.
    ``options`` go to the link function (e.g. Toast's ``historical_import_days``)."""
    from pos_sync.cli import demo

    links = {"square": demo.link_square_account, "toast": demo.link_toast_account,
             "lightspeed": demo.link_lightspeed_account}
    cred = manifest_account(server, provider)
    return str(links[provider](cred["base_url"], tenant_id, cred, **options))
