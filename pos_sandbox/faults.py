"""Deterministic, seeded fault injection shared by every provider emulator.

A :class:`FaultPlan` decides, for each request an emulator receives, whether to inject a fault.
Decisions never use wall-clock randomness: they derive from ``(seed, key, n)`` where ``key``
identifies the request (by default ``METHOD path?sorted-query``; ``key_mode="route"`` uses only
``METHOD path``) and ``n`` counts the requests seen so far with that key. The same plan and the
same sequence of requests therefore see the same faults, run after run; a client that retries
the same request gets a fresh draw (the counter moved on), as it would against a flaky server.

Spec strings (:meth:`FaultPlan.parse`) are comma separated; each part is ``kind:probability``,
``option=value`` or a preset name::

    "429:0.05,429-noretry:0.02,500:0.02,503:0.02,slow:0.01,expire:0.01,seed=7,slow_ms=300"
    "flaky"            # a preset: none | flaky | storm
    "storm,seed=3"

Fault kinds:

``429``          429 with ``Retry-After: 1`` (seconds; ``retry_after=`` sets another value, e.g. 0.2
                 for fast tests: delta-seconds with a fraction, which real providers do not send)
``429-noretry``  429 without a ``Retry-After`` header
``500`` ``502`` ``503`` ``504`` (any 4xx/5xx number): that status with the provider's error body
``slow``         sleep ``slow_ms`` (default 300 ms), then serve the request normally
``expire``       the access token presented with the request is marked expired (through the
                 emulator's ``expire_token`` hook) and the request goes on: the emulator answers
                 with its own "token expired" error and the client must refresh
``reset``        the TCP connection is reset (RST, no response): the client sees "connection
                 reset by peer" (needs uvicorn; elsewhere the request fails with an exception)
``cursor-expire`` every pagination cursor the emulator issued so far expires (its
                 ``expire_cursors`` hook) and the request goes on: a request carrying one gets the
                 provider's own answer (Square: 400 ``INVALID_CURSOR``). Emulators whose provider
                 pages without expiring tokens (Toast's page numbers, Lightspeed's ``after``
                 versions) have no hook: the fault changes nothing there

Explicit schedules for tests: ``schedule={3: "503", 4: "503"}`` fails the 3rd and 4th request the
plan sees (1-based, counting every request the middleware applies to);
``expire_after=N`` expires the presented token after every N authorized requests (requests that
present a token the emulator accepts). A read timeout is ``slow`` with ``slow_ms`` above the
client's timeout. Options in spec strings: ``seed``, ``slow_ms``,
``expire_after``, ``key_mode`` (``request`` | ``route``), ``retry_after`` (seconds, default 1).

:class:`FaultMiddleware` is a plain ASGI middleware. Each emulator passes ``render_error`` (a
callback returning the provider-specific body and headers for a status fault), optionally
``expire_token`` / ``token_valid`` hooks and an ``applies`` predicate that selects the paths
subject to faults. ``plan.injected`` counts the faults injected so far, ``plan.log`` records each
one as ``(request number, key, kind)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
import threading
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRESETS: dict[str, str] = {
    "none": "",
    "flaky": "429:0.03,429-noretry:0.01,500:0.01,503:0.02,slow:0.02,expire:0.005",
    "storm": "429:0.35,429-noretry:0.15,503:0.02",
}
NON_STATUS_KINDS = ("slow", "expire", "reset", "cursor-expire")
DEFAULT_SLOW_MS = 300
DEFAULT_RETRY_AFTER = 1.0  # seconds, the Retry-After of an injected 429


def _status_of(kind: str) -> int | None:
    head = kind.split("-", 1)[0]
    if head.isdigit() and 400 <= int(head) <= 599:
        return int(head)
    return None


def _check_kind(kind: str) -> str:
    if kind in NON_STATUS_KINDS or kind == "429-noretry" or (_status_of(kind) is not None and "-" not in kind):
        return kind
    raise ValueError(f"unknown fault kind {kind!r}: use a 4xx/5xx status, 429-noretry, slow, expire, reset "
                     "or cursor-expire")


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: ``kind`` as in the spec string; ``status`` for status faults."""

    kind: str
    status: int | None = None
    retry_after: float | None = None  # seconds, for 429 (None: no header)
    slow_ms: int = 0

    @classmethod
    def of(cls, kind: str, slow_ms: int = DEFAULT_SLOW_MS, retry_after: float = DEFAULT_RETRY_AFTER) -> Fault:
        kind = _check_kind(kind)
        if kind == "slow":
            return cls(kind, slow_ms=slow_ms)
        if kind in ("expire", "reset", "cursor-expire"):
            return cls(kind)
        if kind == "429-noretry":
            return cls(kind, status=429)
        status = _status_of(kind)
        return cls(kind, status=status, retry_after=retry_after if status == 429 else None)

    @property
    def retry_after_header(self) -> str | None:
        """``Retry-After`` as delta-seconds (``1``, or ``0.2`` for a fractional test value)."""
        if self.retry_after is None:
            return None
        return str(int(self.retry_after)) if float(self.retry_after).is_integer() else f"{self.retry_after:g}"


@dataclass
class FaultPlan:
    """What to inject, and the record of what was injected."""

    probabilities: dict[str, float] = field(default_factory=dict)  # kind -> probability, in order
    seed: int = 0
    slow_ms: int = DEFAULT_SLOW_MS
    schedule: dict[int, str] = field(default_factory=dict)  # request number (1-based) -> kind
    expire_after: int | None = None  # expire the token after every N authorized requests
    key_mode: str = "request"  # request: METHOD path?query | route: METHOD path
    retry_after: float = DEFAULT_RETRY_AFTER  # seconds, the Retry-After of an injected 429

    def __post_init__(self) -> None:
        for kind in list(self.probabilities) + list(self.schedule.values()):
            _check_kind(kind)
        total = sum(self.probabilities.values())
        if any(p < 0 for p in self.probabilities.values()) or total > 1.0 + 1e-9:
            raise ValueError("fault probabilities must be >= 0 and sum to at most 1")
        if self.key_mode not in ("request", "route"):
            raise ValueError("key_mode must be 'request' or 'route'")
        if self.expire_after is not None and self.expire_after < 1:
            raise ValueError("expire_after must be at least 1")
        if self.retry_after < 0:
            raise ValueError("retry_after must not be negative")
        self._lock = threading.Lock()
        self.reset()

    # ------------------------------------------------------------------ construction
    @classmethod
    def parse(cls, spec: str | None, *, seed: int | None = None) -> FaultPlan:
        """Parse a spec string (see the module docstring). ``seed`` overrides ``seed=`` in it."""
        probabilities: dict[str, float] = {}
        options: dict[str, str] = {}
        parts = [p.strip() for p in (spec or "").split(",") if p.strip()]
        expanded: list[str] = []
        for part in parts:
            if part.lower() in PRESETS:
                expanded.extend(p for p in PRESETS[part.lower()].split(",") if p)
            else:
                expanded.append(part)
        for part in expanded:
            if "=" in part:
                name, value = (s.strip() for s in part.split("=", 1))
                if name not in ("seed", "slow_ms", "expire_after", "key_mode", "retry_after"):
                    raise ValueError(f"unknown fault option {name!r}")
                options[name] = value
            elif ":" in part:
                kind, prob = (s.strip() for s in part.rsplit(":", 1))
                probabilities[_check_kind(kind.lower())] = probabilities.get(kind.lower(), 0.0) + float(prob)
            else:
                raise ValueError(f"cannot parse fault spec part {part!r} (expected kind:probability, "
                                 f"option=value or one of {', '.join(PRESETS)})")
        return cls(
            probabilities=probabilities,
            seed=seed if seed is not None else int(options.get("seed", 0)),
            slow_ms=int(options.get("slow_ms", DEFAULT_SLOW_MS)),
            expire_after=int(options["expire_after"]) if "expire_after" in options else None,
            key_mode=options.get("key_mode", "request"),
            retry_after=float(options.get("retry_after", DEFAULT_RETRY_AFTER)),
        )

    @classmethod
    def preset(cls, name: str, *, seed: int = 0) -> FaultPlan:
        if name not in PRESETS:
            raise ValueError(f"unknown fault preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls.parse(name, seed=seed)

    @classmethod
    def none(cls) -> FaultPlan:
        return cls()

    @property
    def active(self) -> bool:
        return bool(self.probabilities or self.schedule or self.expire_after)

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every counter: the next request is request #1 again."""
        with self._lock:
            self.requests = 0
            self.authorized = 0
            self.per_key: defaultdict[str, int] = defaultdict(int)
            self.injected: Counter[str] = Counter()
            self.log: list[tuple[int, str, str]] = []

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "authorized": self.authorized, "injected": dict(self.injected)}

    # ------------------------------------------------------------------ decisions
    def _draw(self, key: str, n: int) -> float:
        digest = hashlib.blake2b(f"{self.seed}|{key}|{n}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def decide(self, key: str) -> tuple[int, Fault | None]:
        """Count one request with ``key``; return (request number, fault or None)."""
        with self._lock:
            self.requests += 1
            number = self.requests
            self.per_key[key] += 1
            n = self.per_key[key]
            kind = self.schedule.get(number)
            if kind is None and self.probabilities:
                u = self._draw(key, n)
                acc = 0.0
                for candidate, p in self.probabilities.items():
                    acc += p
                    if u < acc:
                        kind = candidate
                        break
            if kind is None:
                return number, None
            self.injected[kind] += 1
            self.log.append((number, key, kind))
            return number, Fault.of(kind, self.slow_ms, self.retry_after)

    def note_authorized(self, key: str) -> bool:
        """Count one request that presents an accepted token; True when ``expire_after`` fires."""
        if self.expire_after is None:
            return False
        with self._lock:
            self.authorized += 1
            if self.authorized % (self.expire_after + 1) == 0:
                self.injected["expire"] += 1
                self.log.append((self.requests, key, "expire"))
                return True
            return False

    def request_key(self, method: str, path: str, query: str) -> str:
        if self.key_mode == "route":
            return f"{method} {path}"
        canonical = "&".join(sorted(p for p in query.split("&") if p))
        return f"{method} {path}?{canonical}" if canonical else f"{method} {path}"


ErrorRenderer = Callable[[Fault], tuple[bytes, Mapping[str, str]]]


def authorization_header(scope: Scope) -> str | None:
    """The ``Authorization`` header of an ASGI request (what the emulators' token hooks look at)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


class FaultMiddleware:
    """ASGI middleware that applies a :class:`FaultPlan` to the requests ``applies`` selects.

    ``render_error(fault)`` returns ``(body, headers)`` for status faults (the middleware adds
    ``Retry-After`` for 429 when the fault carries it). ``token_valid(scope)`` tells whether the
    request presents a token the emulator accepts (for ``expire_after``); ``expire_token(scope)``
    marks that token expired; ``expire_cursors()`` expires every pagination cursor issued so far.
    """

    def __init__(
        self,
        app: ASGIApp,
        plan: FaultPlan,
        render_error: ErrorRenderer,
        *,
        applies: Callable[[str], bool] = lambda path: True,
        token_valid: Callable[[Scope], bool] | None = None,
        expire_token: Callable[[Scope], bool] | None = None,
        expire_cursors: Callable[[], object] | None = None,
    ) -> None:
        self.app = app
        self.plan = plan
        self.render_error = render_error
        self.applies = applies
        self.token_valid = token_valid
        self.expire_token = expire_token
        self.expire_cursors = expire_cursors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Mounted under a prefix (SandboxServer serves /square, /toast, ...), Starlette keeps the
        # full path in scope["path"] and the prefix in root_path: match on the app-relative path.
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if scope["type"] != "http" or not self.plan.active or not self.applies(path):
            await self.app(scope, receive, send)
            return
        key = self.plan.request_key(scope["method"], path, scope.get("query_string", b"").decode("latin-1"))
        _, fault = self.plan.decide(key)
        if (
            fault is None
            and self.plan.expire_after is not None
            and self.token_valid is not None
            and self.token_valid(scope)
            and self.plan.note_authorized(key)
        ):
            fault = Fault.of("expire")
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.slow_ms / 1000)
            elif fault.kind == "expire":
                if self.expire_token is not None:
                    self.expire_token(scope)
            elif fault.kind == "cursor-expire":
                if self.expire_cursors is not None:
                    self.expire_cursors()
            elif fault.kind == "reset":
                await reset_connection(send)
                return
            else:
                await self._send_error(fault, send)
                return
        await self.app(scope, receive, send)

    async def _send_error(self, fault: Fault, send: Send) -> None:
        body, headers = self.render_error(fault)
        raw = [(b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if fault.retry_after_header is not None:
            raw.append((b"retry-after", fault.retry_after_header.encode()))
        await send({"type": "http.response.start", "status": fault.status or 500, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _transport_of(send: Send) -> Any:
    """The asyncio transport under an ASGI ``send``: uvicorn's ``RequestResponseCycle.send``,
    found through the closures Starlette's middlewares wrap it in (None when there is none)."""
    seen: set[int] = set()
    stack: list[Any] = [send]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        owner = getattr(obj, "__self__", None)
        if owner is not None and hasattr(owner, "transport"):
            return owner.transport
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if callable(value):
                stack.append(value)
    return None


async def reset_connection(send: Send) -> None:
    """Reset the request's TCP connection (SO_LINGER 0, then abort: the peer gets an RST and no
    response). Without a transport to reach (not uvicorn) raise ``ConnectionResetError``."""
    transport = _transport_of(send)
    if transport is None:
        raise ConnectionResetError("injected connection reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(3):  # let uvicorn see the connection lost: it then sends no 500 of its own
        await asyncio.sleep(0)
