"""A ``requests`` session with the retry, auth-refresh and error rules every POS source needs.

Why not dlt's own retrying session (``dlt.sources.helpers.requests.Client``)? It retries 429/5xx
and connection errors and honours ``Retry-After``, but it cannot do all of what these sources need:

* a retry budget by **elapsed time** per request (dlt only caps single waits and attempts), and
  once a request of the run gave up, one attempt for the others (the run ends early, see
  :mod:`dlt_sources.common.pace`);
* **pacing** of the whole client: after a 429 (or, per provider, a streak of them) every request
  waits out ``Retry-After`` (a shared gate: several threads page at once), plus the provider's
  documented rate limits (:mod:`dlt_sources.common.pacing`);
* retries, 429s and seconds waited **counted** per run (:class:`~dlt_sources.common.pace.SyncPace`);
* **full jitter** (dlt's tenacity wait is exponential without jitter);
* on ``401``: refresh the OAuth token **once** and re-send the same request with the new token
  (the ``Authorization`` header must be rewritten on the prepared request, per attempt); again
  only when other requests were using the refused token too (accepted, or in flight: parallel
  streams wore it out) — never when one request alone got a token refused as soon as its own
  refresh issued it — and at most :data:`MAX_REFRESHES_PER_REQUEST` refreshes of its own (a token
  another stream's refresh produced costs this request none; the bound is there to end the loop,
  not to judge the refresh: every token it counts was used by other requests);
* turning provider error bodies into typed errors (:class:`MissingScopes`, :class:`InvalidCursor`)
  instead of an ``HTTPError`` or, worse, an empty page.

So :class:`ApiSession` subclasses ``requests.Session`` and overrides ``send``. It plugs into dlt's
``RESTClient(session=...)``, so pagination still uses dlt's paginators. Call ``RESTClient.paginate``
with ``hooks={"response": []}``: errors are raised here, after retries, not by dlt's
raise-for-status hook on the first 429.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import requests
import requests.auth
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from dlt_sources.common.errors import ApiError, RetriesExhausted, ServerUnreachable, TokenRejected
from dlt_sources.common.pace import SyncPace
from dlt_sources.common.pacing import Pacer, Pacing
from dlt_sources.common.retry import SYNC_RETRY_POLICY, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from dlt_sources.common.auth import TokenProvider

log = logging.getLogger(__name__)

ErrorMapper = Callable[[PreparedRequest, Response], Exception | None]
TRANSIENT_EXCEPTIONS: tuple[type[Exception], ...] = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)


LOOPBACK_HOSTS = {"localhost", "::1", "[::1]"}
# refreshes one request may run itself after 401s (see ApiSession.send): each one's token worked for
# other requests, worn out before this one's re-send; under load one request lost 3 such races in a row
MAX_REFRESHES_PER_REQUEST = 10
CONNECTIONS_PER_HOST = 32  # kept open per host by one ApiSession (requests' default: 10)


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def connection_refused(exc: BaseException) -> bool:
    """Whether a transport error is a refused connection (nothing listens on the port)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "Connection refused" in str(current):
            return True
        todo += [current.__cause__, current.__context__, *current.args, getattr(current, "reason", None)]
    return False


def send_with_retries(send: Callable[[], Response], policy: RetryPolicy, what: str, *,
                      pacer: Pacer | None = None, pace: SyncPace | None = None,
                      path: str = "", headers: Mapping[str, str] | None = None, url: str | None = None) -> Response:
    """Call ``send`` until it returns a non-retryable response; raise :class:`RetriesExhausted`.

    Retryable: statuses in ``policy.retry_statuses`` and :data:`TRANSIENT_EXCEPTIONS`. The wait
    before a retry is the answer's ``Retry-After`` (seconds or HTTP-date) or the policy's jittered
    backoff (its exponent counts only the failures without a ``Retry-After``). A 429 also closes
    ``pacer``'s gate for that long, so every request of the client waits (with
    ``Pacing.gate_after`` > 1 only once that many 429s came in a row); each send first passes
    the gate and the rate limits of ``pacer`` for ``path``/``headers``. The budget is
    ``policy.max_elapsed`` seconds from the first send (:class:`RetryPolicy`); once a request of the
    run gave up (``pace.budget_spent``), later ones are sent once. ``pace`` counts it all.
    A refused connection to a loopback ``url`` before the run got any answer (the sandbox is not
    running) raises :class:`ServerUnreachable` at once: no retry would start the server. Once the
    server has answered in this run, a refused connection is an outage (a restart): retried.
    """
    pace = pace if pace is not None else SyncPace()
    once = pace.budget_spent
    started = policy.clock()
    slept, attempt, guessed, own_until = 0.0, 0, 0, 0.0
    while True:
        attempt += 1
        if pacer is not None:
            pace.throttled(pacer.throttle(path, headers or {}, policy.sleep, own_until=own_until))
        pace.sent()
        response: Response | None = None
        sent_at = time.perf_counter()
        try:
            response = send()
        except BaseException as exc:
            if pacer is not None:
                pacer.settle(None)
            if not isinstance(exc, TRANSIENT_EXCEPTIONS):
                raise
            pace.answered(time.perf_counter() - sent_at)
            if url is not None and not pace.responses and is_loopback(url) and connection_refused(exc):
                pace.failed_attempt(None)
                raise ServerUnreachable(f"{what}: nothing listens at {url} (connection refused)", url=url) from exc
            failure = f"{type(exc).__name__}: {exc}"
        else:
            pace.answered(time.perf_counter() - sent_at)
            pace.responded()
            if pacer is not None:
                pacer.settle(response.headers)
            if response.status_code not in policy.retry_statuses:
                if pacer is not None:
                    pacer.succeeded()
                return response
            failure = f"HTTP {response.status_code}"
        status = response.status_code if response is not None else None
        pace.failed_attempt(status)
        delay, asked, guessed = _delay(response, policy, guessed)
        refusal = "the run's retry budget is spent: one attempt per request" if once else policy.refusal(
            attempt=attempt, elapsed=policy.clock() - started, slept=slept, delay=delay)
        if refusal is not None:
            pace.exhausted()
            log.warning("%s: %s (last: %s)", what, refusal, failure)
            raise RetriesExhausted(f"{what}: {refusal} (last: {failure})", status=status,
                                   body=response.text[:2000] if response is not None else None)
        log.info("%s: %s, retry %d in %.2fs", what, failure, attempt, delay)
        if response is not None:
            response.close()
        if status == 429 and pacer is not None:
            # every request of the client waits too, once the 429s come gate_after in a row
            own_until = pacer.rate_limited(delay)
        policy.sleep(delay)
        slept += delay
        pace.retried(delay, asked=asked)


def _delay(response: Response | None, policy: RetryPolicy, guessed: int) -> tuple[float, bool, int]:
    """(seconds before the retry, whether the provider asked for them, backoff draws so far)."""
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
    if retry_after is not None:
        return retry_after, True, guessed
    return policy.backoff(guessed), False, guessed + 1


class _HeadersAsSent(requests.auth.AuthBase):
    """The request's own ``Authorization`` header goes out as it is (see :class:`NoNetrcSession`)."""

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        return request


class NoNetrcSession(requests.Session):
    """A ``requests`` session that never reads ``~/.netrc``. With no ``auth`` set, ``requests`` looks
    the host up there on every request (a file lookup per page, under the GIL the parallel streams
    share), and on every redirect whatever ``auth`` is — and an entry for the provider's host
    replaces the source's bearer token (or adds Basic credentials to a token request) with its own.
    Credentials are the sources' business alone: the ``Authorization`` header they set, or an
    ``auth=`` given with a request. Proxies and CA bundles from the environment still apply."""

    def __init__(self) -> None:
        super().__init__()
        self.auth = _HeadersAsSent()

    def rebuild_auth(self, prepared_request: PreparedRequest, response: Response) -> None:
        """On a redirect, ``requests`` drops the ``Authorization`` header when the host changes (kept,
        and the request marked so that no credentials are added back: :func:`credentials_withheld`),
        then asks ``~/.netrc`` for new ones (not done)."""
        if self.should_strip_auth(response.request.url, prepared_request.url):
            prepared_request.headers.pop("Authorization", None)
            setattr(prepared_request, _WITHHELD, True)


_WITHHELD = "_pos_credentials_withheld"


def credentials_withheld(request: PreparedRequest) -> bool:
    """Whether ``request`` follows a redirect to another host: it must not carry the source's token."""
    return bool(getattr(request, _WITHHELD, False))


class ApiSession(NoNetrcSession):
    """Bearer auth from a :class:`TokenProvider`, retries bounded by time, pacing, typed errors (see
    module doc).

    ``error_mapper(request, response)`` turns a non-2xx response into the exception to raise
    (return None for the generic :class:`ApiError`). ``pacing``: the provider's rules (the client's
    cool-down gate after a 429, its rate limits); default: the gate only. ``pace``: the run's
    :class:`SyncPace` (default: a new one), also handed to the token provider, so its logins and
    refreshes count in this run too. ``request_count`` counts HTTP requests sent, retries and
    re-sends included.
    """

    def __init__(self, token_provider: TokenProvider | None = None, *, policy: RetryPolicy | None = None,
                 error_mapper: ErrorMapper | None = None, provider: str = "provider",
                 pacing: Pacing | None = None, pace: SyncPace | None = None) -> None:
        super().__init__()
        self.token_provider = token_provider
        self.policy = policy or SYNC_RETRY_POLICY
        self.error_mapper = error_mapper
        self.provider = provider
        self.pacer = (pacing or Pacing()).pacer(clock=self.policy.clock)
        self.pace = pace if pace is not None else SyncPace()
        if token_provider is not None:  # its logins and refreshes count in this run (the latest session's)
            token_provider.pace = self.pace
        self.request_count = 0
        self._count_lock = threading.Lock()
        self._accepted_tokens: set[str] = set()  # access tokens the provider answered other than 401
        self._tokens_in_flight: Counter[str] = Counter()  # access token -> requests sending it now
        # the sources page several streams at once (parallel resources, Square's location and time
        # slices, each with a page fetched ahead): keep a connection per thread instead of
        # discarding what does not fit requests' default pool of 10
        for scheme in ("http://", "https://"):
            self.mount(scheme, HTTPAdapter(pool_connections=4, pool_maxsize=CONNECTIONS_PER_HOST))

    def _send_once(self, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        with self._count_lock:
            self.request_count += 1
        if kwargs.get("timeout") is None:  # Session.request passes timeout=None: no timeout at all
            kwargs["timeout"] = self.policy.timeout
        authorization = str(request.headers.get("Authorization") or "")
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
        if token is not None:
            with self._count_lock:
                self._tokens_in_flight[token] += 1
        try:
            response = super().send(request, **kwargs)
        except BaseException:
            if token is not None:
                with self._count_lock:
                    self._tokens_in_flight[token] -= 1
            raise
        if token is not None:
            # accepted before it stops counting as in flight, under one lock: in between, a parallel
            # request refused right after its own refresh saw the token neither accepted nor in
            # flight and took a token the provider had just accepted (and then expired) for a
            # broken refresh
            with self._count_lock:
                if response.status_code != 401:
                    self._accepted_tokens.add(token)  # any answer but 401, retried attempts too
                self._tokens_in_flight[token] -= 1
        return response

    def _token_in_use(self, token: str) -> bool:
        """Whether the provider accepted ``token`` for some request, or other requests are sending it."""
        with self._count_lock:
            return token in self._accepted_tokens or self._tokens_in_flight[token] > 0

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        what = f"{self.provider} {request.method} {_path(request)}"
        refreshed, own_refresh = 0, False
        while True:
            token = None
            if self.token_provider is not None and not credentials_withheld(request):
                token = self.token_provider.get()
                request.headers["Authorization"] = f"Bearer {token}"
            response = send_with_retries(lambda: self._send_once(request, dict(kwargs)), self.policy, what,
                                         pacer=self.pacer, pace=self.pace, path=_path(request),
                                         headers=request.headers, url=request.url)
            if response.status_code == 401 and self.token_provider is not None and token is not None:
                # refused right after this request's own refresh: the refresh is broken, unless other
                # requests were using the token too (accepted, or still in flight: streams run in
                # parallel, it may have expired since, e.g. after a number of uses); a token another
                # stream's refresh produced does not count as this request's refresh
                in_use = own_refresh and self._token_in_use(token)
                if own_refresh and (refreshed >= MAX_REFRESHES_PER_REQUEST or not in_use):
                    why = (f"after {refreshed} refreshes of its own, each token worn out by other requests first"
                           if in_use else "right after refreshing the access token")
                    raise TokenRejected(
                        f"{what}: still 401 Unauthorized {why} ({_body_snippet(response)}). "
                        f"{self.token_provider.reconnect_hint}",
                        status=401, body=response.text[:2000],
                    )
                _, own_refresh = self.token_provider.renew_rejected(token, reason=_body_snippet(response),
                                                                    body=response.text[:2000])
                refreshed += own_refresh  # another stream's refresh is not this request's to count
                continue
            if response.status_code >= 400:
                mapped = self.error_mapper(request, response) if self.error_mapper else None
                if mapped is not None:
                    raise mapped
                raise ApiError(f"{what}: HTTP {response.status_code}: {_body_snippet(response)}",
                               status=response.status_code, body=response.text[:2000])
            return parse_json_once(response)


def parse_json_once(response: Response) -> Response:
    """Make ``response.json()`` parse the body once (with orjson) and return that same object after.

    dlt's ``RESTClient.paginate`` calls ``response.json()`` for the data selector and again in the
    cursor paginator, and the sources read the payload too: three parses of every page with
    ``requests``' (simple)json, the largest client-side cost of a historical import. Callers must
    not mutate the returned object (none here do: rows are copied before shaping). Calls with
    arguments, and bodies orjson refuses, go to ``requests``' own ``json`` (same exceptions).
    """
    cache: list[Any] = []
    # a weak reference: the function is stored on the response, and a strong one would make a
    # reference cycle, which kept every page's response and its parsed rows until Python's next
    # full collection (hundreds of pages at once during a historical import)
    own = weakref.ref(response)

    def json(**kwargs: Any) -> Any:
        this = own()
        if this is None:  # only a reference to the function itself kept, not to its response
            raise RuntimeError("response.json() called after its response was freed")
        if kwargs:
            return Response.json(this, **kwargs)
        if not cache:
            try:
                cache.append(orjson.loads(this.content))
            except (orjson.JSONDecodeError, TypeError):
                return Response.json(this)
        return cache[0]

    response.json = json  # type: ignore[method-assign]
    return response


def _path(request: PreparedRequest) -> str:
    return urlsplit(request.url or "").path


def _body_snippet(response: Response, limit: int = 500) -> str:
    text = response.text or ""
    return text[:limit] if text else "(empty body)"
