"""The sandbox server: every provider emulator on one loopback port, plus sandbox controls.

Layout of the served URL space (``BASE`` = ``http://127.0.0.1:<port>``):

* ``BASE/square``      the Square emulator (``/v2/...``, ``/oauth2/...``)
* ``BASE/toast``       the Toast emulator, once built
* ``BASE/lightspeed``  the Lightspeed emulator, once built
* ``BASE/lightspeed_r`` the Lightspeed R-Series emulator (``/API/V3/...``, ``/auth/oauth/...``)
* ``BASE/_sandbox/clock``   ``GET`` the clock, ``POST {"now": RFC3339}`` or ``{"advance_seconds": N}``
* ``BASE/_sandbox/world``   the world's parameters
* ``BASE/_sandbox/truth``   the ledger as of the clock (``?as_of=RFC3339`` to pick another instant)
* ``BASE/_sandbox/webhooks`` (+ ``/wait``), ``BASE/_sandbox/sales``: the webhook delivery log and
  the make-a-sale-now control (:mod:`pos_sandbox.webhook_http`)

Webhooks: every emulator owns its subscriptions (Square's Webhook Subscriptions API, Lightspeed's
``/api/webhooks``, Toast's sandbox control) and a webhook adapter; the server runs one
:class:`~pos_sandbox.webhook_engine.WebhookEngine` over all of them (``app.state.webhooks``),
configured by ``webhooks=`` (a :class:`~pos_sandbox.webhook_options.WebhookOptions` or its spec
string, see that module).

Tests and the demo start it in-process with :class:`SandboxServer`; ``pos-sync sandbox serve``
runs it in the foreground.
"""

from __future__ import annotations

import importlib
import inspect
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from pos_sandbox.credentials import DemoCredentials, demo_credentials
from pos_sandbox.ledger import compute_truth
from pos_sandbox.webhook_engine import WebhookEngine
from pos_sandbox.webhook_http import sandbox_routes
from pos_sandbox.webhook_options import WebhookOptions
from pos_sandbox.world import World

# provider -> (module, factory name)
EMULATORS: dict[str, tuple[str, str]] = {
    "square": ("pos_sandbox.square", "create_square_app"),
    "toast": ("pos_sandbox.toast", "create_toast_app"),
    "lightspeed": ("pos_sandbox.lightspeed", "create_lightspeed_app"),
    "lightspeed_r": ("pos_sandbox.lightspeed_r", "create_lightspeed_r_app"),
}


def parse_instant(value: str) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp needs a time zone offset: {value!r}")
    return parsed.astimezone(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def available_emulators(providers: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    """Factories of the emulators that exist for the world's providers."""
    found: dict[str, Callable[..., Any]] = {}
    for provider in providers:
        module_name, factory = EMULATORS[provider]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        found[provider] = getattr(module, factory)
    return found


def _options_for(factory: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The emulator options a factory declares (each provider takes its own knobs, e.g.
    Lightspeed's ``refresh_grace_seconds``); factories with ``**kwargs`` get them all."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}


def webhook_options(webhooks: WebhookOptions | str | None) -> WebhookOptions:
    if isinstance(webhooks, WebhookOptions):
        return webhooks
    return WebhookOptions.parse(webhooks)


def create_webhook_engine(world: World, apps: dict[str, Any], options: WebhookOptions) -> WebhookEngine:
    """One engine over the webhook adapters of the emulator ``apps`` (provider -> Starlette app);
    Square revocations publish ``oauth.authorization.revoked``. Not started."""
    adapters = []
    for provider, app in apps.items():
        emulator = getattr(app.state, provider)
        adapter = emulator.webhooks
        if adapter is None:  # no webhook product (Lightspeed R-Series)
            continue
        if provider == "lightspeed":
            adapter.options = options
        adapters.append(adapter)
    engine = WebhookEngine(world, adapters, options)
    if "square" in apps:
        square = apps["square"].state.square

        def revoked(merchant_id: str, client_id: str) -> None:
            if merchant_id in square.accounts:
                engine.publish(square.webhooks.revoked(merchant_id, client_id))

        square.store.revocation_listeners.append(revoked)
    return engine


def create_app(world: World, faults: Any = None, credentials: dict[str, DemoCredentials] | None = None,
               webhooks: WebhookOptions | str | None = None, **emulator_options: Any) -> Starlette:
    creds = credentials or demo_credentials(world)
    mounts: list[Any] = []
    apps: dict[str, Any] = {}
    for provider, factory in available_emulators(world.providers).items():
        provider_creds = {k: v for k, v in creds.items() if v.provider == provider}
        options = _options_for(factory, emulator_options)
        apps[provider] = factory(world, provider_creds, faults, **options)
        mounts.append(Mount(f"/{provider}", app=apps[provider]))
    engine = create_webhook_engine(world, apps, webhook_options(webhooks))

    async def clock(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await request.json()
            if "now" in body:
                world.set_now(parse_instant(str(body["now"])))
            elif "advance_seconds" in body:
                world.advance(timedelta(seconds=float(body["advance_seconds"])))
            else:
                return JSONResponse({"error": "give 'now' (RFC 3339) or 'advance_seconds'"}, status_code=400)
        return JSONResponse({"now": _iso(world.now), "window_end": _iso(world.window_end_utc)})

    async def world_info(request: Request) -> JSONResponse:
        return JSONResponse(world.describe())

    async def truth(request: Request) -> JSONResponse:
        as_of = request.query_params.get("as_of")
        return JSONResponse(compute_truth(world, parse_instant(as_of) if as_of else None))

    routes = [
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/world", world_info),
        Route("/_sandbox/truth", truth),
        *sandbox_routes(world, engine, parse_instant),
        *mounts,
    ]
    app = Starlette(routes=routes)
    app.state.webhooks = engine
    return app


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SandboxServer:
    """Runs the sandbox on loopback in a background thread (``with SandboxServer(world) as s:``)."""

    def __init__(self, world: World, faults: Any = None, port: int = 0, host: str = "127.0.0.1",
                 webhooks: WebhookOptions | str | None = None, **emulator_options: Any) -> None:
        self.world = world
        self.credentials = demo_credentials(world)
        self.app = create_app(world, faults, self.credentials, webhooks, **emulator_options)
        self.webhooks: WebhookEngine = self.app.state.webhooks
        self.host = host
        self.port = port or free_port(host)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def provider_url(self, provider: str) -> str:
        return f"{self.base_url}/{provider}"

    def manifest(self) -> dict[str, Any]:
        """What ``sandbox serve`` prints first: base URLs, demo credentials, webhook keys."""
        served = available_emulators(self.world.providers)
        return {
            "base_url": self.base_url,
            "providers": {p: self.provider_url(p) for p in served},
            "clock_url": f"{self.base_url}/_sandbox/clock",
            "webhooks_url": f"{self.base_url}/_sandbox/webhooks",
            "sales_url": f"{self.base_url}/_sandbox/sales",
            "world": self.world.describe(),
            "accounts": [
                {
                    **cred.public(),
                    "base_url": self.provider_url(cred.provider),
                    "location_ids": list(self.world.account_by_id[cred.account_id].location_ids),
                }
                for cred in self.credentials.values()
                if cred.provider in served
            ],
        }

    def start(self) -> SandboxServer:
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="pos-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server did not start on {self.base_url}")
            time.sleep(0.02)
        self.webhooks.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
