"""Deterministic demo credentials of the sandbox's accounts (derived from the world's seed).

``webhook_signature_key``: Square — the ``signature_key`` the application's first webhook
subscription gets (later ones and rotations get fresh keys); Toast — the secret of the first
Toast webhook subscription; Lightspeed — the app's ``client_secret`` (X-Series signs with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pos_sandbox.world import World, _digest

SQUARE_SCOPES = (
    "MERCHANT_PROFILE_READ", "PAYMENTS_READ", "ORDERS_READ", "ITEMS_READ", "EMPLOYEES_READ",
    "CUSTOMERS_READ", "INVENTORY_READ",
)


def _token(prefix: str, length: int, *parts: object) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    digest = _digest(*parts) + _digest(*parts, "more")
    return prefix + "".join(alphabet[b % 64] for b in digest)[:length]


@dataclass(frozen=True)
class DemoCredentials:
    provider: str
    account_id: str  # Square merchant id / Toast client id / Lightspeed domain prefix
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    webhook_signature_key: str
    scopes: tuple[str, ...] = field(default=())
    # Square: the personal access token of the application's owner (the developer account), the
    # only credential the Webhook Subscriptions API accepts
    app_access_token: str = ""

    def public(self) -> dict[str, object]:
        extra: dict[str, object] = {"app_access_token": self.app_access_token} if self.app_access_token else {}
        return extra | {
            "provider": self.provider,
            "account_id": self.account_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "webhook_signature_key": self.webhook_signature_key,
            "scopes": list(self.scopes),
        }


def demo_credentials(world: World) -> dict[str, DemoCredentials]:
    """One set of credentials per account, keyed by account id."""
    out: dict[str, DemoCredentials] = {}
    for account in world.accounts:
        seed = world.seed
        if account.provider == "square":
            creds = DemoCredentials(
                provider="square",
                account_id=account.account_id,
                client_id=_token("sandbox-sq0idb-", 22, seed, "sq-client"),
                client_secret=_token("sandbox-sq0csb-", 43, seed, "sq-secret"),
                access_token=_token("EAAAl", 59, seed, "sq-access", account.account_id),
                refresh_token=_token("EQAAl", 59, seed, "sq-refresh", account.account_id),
                webhook_signature_key=_token("", 22, seed, "sq-webhook", account.account_id),
                scopes=SQUARE_SCOPES,
                app_access_token=_token("EAAAl", 59, seed, "sq-app-owner-pat"),
            )
        elif account.provider == "toast":
            creds = DemoCredentials(
                provider="toast",
                account_id=account.account_id,
                client_id=_token("", 32, seed, "toast-client-id"),
                client_secret=_token("", 64, seed, "toast-client-secret"),
                access_token="",
                refresh_token="",
                webhook_signature_key=_token("", 32, seed, "toast-webhook"),
                scopes=("orders:read", "menus:read", "restaurants:read", "config:read", "guest.pi:read",
                        "labor.employees:read", "device-details.info:read"),
            )
        elif account.provider == "lightspeed_r":
            creds = DemoCredentials(
                provider="lightspeed_r",
                account_id=account.account_id,
                client_id=_token("", 40, seed, "lsr-client-id"),
                client_secret=_token("", 40, seed, "lsr-client-secret"),
                access_token=_token("", 40, seed, "lsr-access", account.account_id),
                refresh_token=_token("", 40, seed, "lsr-refresh", account.account_id),
                webhook_signature_key="",  # R-Series has no webhook product
                scopes=("employee:all",),
            )
        else:
            creds = DemoCredentials(
                provider="lightspeed",
                account_id=account.account_id,
                client_id=_token("", 32, seed, "ls-client-id"),
                client_secret=_token("", 32, seed, "ls-client-secret"),
                access_token=_token("lsxs_at_", 32, seed, "ls-access", account.account_id),
                refresh_token=_token("lsxs_rt_", 32, seed, "ls-refresh", account.account_id),
                webhook_signature_key=_token("", 32, seed, "ls-client-secret"),
                scopes=("sales:read", "products:read", "outlets:read"),
            )
        out[account.account_id] = creds
    return out
