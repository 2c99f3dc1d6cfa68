"""What location discovery shares across the providers: the :class:`Location` shape, the retry
policy of an interactive call and the translation of the sources' typed errors into one-line
:class:`DiscoveryError` messages.

Discovery goes through each provider's own API client (the session, retries and error parsing
the source uses), in its ``helpers`` module:

* ``dlt_sources.square.helpers.discover_locations(base_url, token_provider)`` and
  ``merchant_id_of(locations)``;
* ``dlt_sources.toast.helpers.discover_restaurants(base_url, token_provider, restaurant_guids)``
  (the machine-client login: ``dlt_sources.toast.auth.login``);
* ``dlt_sources.lightspeed.helpers.discover_outlets(base_url, token_provider)``.

**What a caller catches**: :class:`DiscoveryError`, for every failure (provider unreachable or
failing, credentials or token refused, a permission missing, an unexpected answer), and its
subclass :class:`DiscoveryUnavailable` when the provider cannot list the locations for these
credentials (pass the location ids instead). Nothing else escapes but programming errors. The
message is one line saying what to check and never contains a token or secret; the typed source
error behind it (``TokenRejected``, ``ReauthorizationRequired``, ``MissingScopes``,
``RetriesExhausted``, ``ApiError``) is its ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypedDict

import requests

from dlt_sources.common.errors import (
    ApiError,
    DiscoveryError,
    MissingScopes,
    ReauthorizationRequired,
    RetriesExhausted,
    ServerUnreachable,
    TokenRejected,
)
from dlt_sources.common.retry import RetryPolicy

# an operator waits for the answer: a budget of seconds (a sync's is minutes), a short backoff
DISCOVERY_RETRY_POLICY = RetryPolicy(max_elapsed=20.0, max_attempts=8, max_delay=5.0, timeout=20.0)


class Location(TypedDict):
    """One location as discovery returns it (a plain dict: callers read these keys)."""

    location_id: str
    name: str | None
    timezone: str | None
    currency: str | None
    merchant_id: str | None
    business_name: str | None
    status: str | None


def unreachable(provider: str, base_url: str, exc: RetriesExhausted) -> DiscoveryError:
    """A :class:`RetriesExhausted` as a discovery message (no answer at all, or only 429/5xx)."""
    if exc.status is None:
        return DiscoveryError(f"could not reach {provider} at {base_url}: {exc}")
    return DiscoveryError(f"{provider} at {base_url} kept failing ({exc}); try again later")


@contextmanager
def discovery_errors(provider: str, base_url: str, *, rejected: Callable[[TokenRejected], str],
                     refused: Callable[[ReauthorizationRequired], str] = str) -> Iterator[None]:
    """Turn the sources' typed errors raised inside the block into :class:`DiscoveryError`.

    ``rejected``: the message when the API refused the access token; ``refused``: when a refresh
    or login was refused (default: that error's own message). A :class:`DiscoveryError` (e.g. from
    a discovery error mapper) passes unchanged.
    """
    try:
        yield
    except DiscoveryError:
        raise
    except TokenRejected as exc:
        raise DiscoveryError(rejected(exc)) from exc
    except ReauthorizationRequired as exc:
        raise DiscoveryError(refused(exc)) from exc
    except RetriesExhausted as exc:
        raise unreachable(provider, base_url, exc) from exc
    except ServerUnreachable as exc:  # a local sandbox that is not running: said at once
        raise DiscoveryError(f"could not reach {provider} at {base_url}: {exc}") from exc
    except (ApiError, MissingScopes) as exc:
        raise DiscoveryError(str(exc)) from exc
    except requests.RequestException as exc:  # a malformed URL, too many redirects, ...
        raise DiscoveryError(f"could not reach {provider} at {base_url}: {type(exc).__name__}: {exc}") from exc


def error_detail(codes_and_details: list[tuple[str, str]]) -> str:
    """``code: detail; ...`` of at most three provider errors (empty parts left out)."""
    parts = [f"{code}: {detail}".strip(": ") for code, detail in codes_and_details[:3]]
    return "; ".join(p for p in parts if p)
