"""What describes one provider (:class:`ProviderSpec`), what a provider needs to build a run's
source (:class:`SourceRequest`), and the :class:`Registry` they are kept in."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from dlt_sources.common.auth import TokenProvider, TokenSet
from transforms.build import Builder

if TYPE_CHECKING:
    import dlt

    from pos_sync.appstore import AccountCredentials

CredentialKind = Literal["oauth", "machine_client"]
WindowKind = Literal["utc_day", "business_day"]


@dataclass(frozen=True)
class SourceRequest:
    """What a provider needs to build one run's dlt source of an account."""

    creds: AccountCredentials
    token_provider: TokenProvider  # the account's tokens (ProviderSpec.tokens), persisted on refresh
    pipeline: dlt.Pipeline  # the run's pipeline (the version guard asks its destination)
    now: datetime  # the connector's clock: upper bound of incremental reads
    initial_start: datetime  # where the account's first incremental read starts
    start: datetime | None = None  # both or neither: a stateless [start, end) window (backfill)
    end: datetime | None = None
    retry_policy: Any = None  # dlt_sources.common.RetryPolicy: how long one request waits out an outage
    # (value, kind) -> pseudonym: personal data hashed in the source (None: the tenant keeps it clear)
    pseudonymize: Callable[[Any, str], Any] | None = None
    # the account's first load into a dataset without its rows: transactional resources appended, not
    # merged (dlt_sources.common.rows.bulk_disposition); the run drops repeated keys after the load
    first_load: bool = False

    def source_kwargs(self) -> dict[str, Any]:
        """What every provider's source takes from the run: its HTTP retry budget and the
        pseudonymiser of personal data."""
        out: dict[str, Any] = {"pseudonymize": self.pseudonymize}
        if self.retry_policy is not None:
            out["retry_policy"] = self.retry_policy
        return out

    def clock_kwargs(self) -> dict[str, Any]:
        """The keyword arguments the time-windowed sources (Square, Toast) share: the tenant column,
        the window, where the first read starts and the run's upper bound."""
        return {"account_id": self.creds.account_id, "start": self.start, "end": self.end,
                "initial_start": self.initial_start, "now": self.now, "first_load": self.first_load,
                **self.source_kwargs()}


@dataclass(frozen=True)
class TokenRequest:
    """What a provider needs to build an account's token provider: the stored tokens and app
    credentials (an account's own client id/secret win over the environment's), and where to
    persist every refreshed :class:`TokenSet` (at once, encrypted)."""

    creds: AccountCredentials
    save_tokens: Callable[[TokenSet], None]
    app_client_id: str | None = None
    app_client_secret: str | None = None

    @property
    def client_id(self) -> str | None:
        return self.creds.client_id or self.app_client_id

    @property
    def client_secret(self) -> str | None:
        return self.creds.client_secret or self.app_client_secret

    @property
    def current(self) -> TokenSet | None:
        """The stored tokens (None when no access token is stored yet)."""
        c = self.creds
        if not c.access_token and not c.refresh_token:
            return None
        return TokenSet(access_token=c.access_token or "", refresh_token=c.refresh_token, expires_at=c.token_expires_at)


SourceFactory = Callable[[SourceRequest], Any]  # -> dlt.sources.DltSource
TokenFactory = Callable[[TokenRequest], TokenProvider]


@dataclass(frozen=True, eq=False)  # a spec is itself: compared and hashed by identity
class ProviderSpec:
    name: str  # "square": raw/<name>/<resource>, raw_<name> dataset, <name>_sync job
    label: str  # "Square"
    resources: tuple[str, ...]  # the dlt resources (raw tables) of its source
    transaction_tables: tuple[str, ...]  # raw tables whose rows count as transactions in the sync log
    build_source: SourceFactory
    tokens: TokenFactory  # the one credentials seam: every source takes a TokenProvider
    credential_kind: CredentialKind
    reauth_status: str  # account status when the authorization can no longer be refreshed
    default_base_url: str | None  # production API (a template with {domain_prefix} for per-store hosts)
    canonical: Builder | None = None  # transforms/<name>/build.py; None: raw only
    # canonical table -> the raw resources it is built from (the lineage the UI shows)
    canonical_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    local_business_day: bool = True  # business date = local calendar date (Toast has its own business day)
    windows: WindowKind | None = None  # day-window backfills: by UTC day, by business day, or none
    no_window_reason: str | None = None
    app_env: tuple[str, str] | None = None  # env vars of the OAuth app's client id and secret
    descriptions: Mapping[str, str] = field(default_factory=dict)  # "raw", "window_op", "backfill_job"
    cli_link: Any = None  # a pos_sync.providers.linking.LinkCommand: `pos-sync accounts add <name>`
    # room for what comes next: webhook verification, OAuth authorize/token endpoints
    webhooks: Any = None
    oauth: Any = None

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool of its API (rate limits hold across runs)."""
        return f"{self.name}_api"

    @property
    def dataset(self) -> str:
        return f"raw_{self.name}"


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, ProviderSpec] = {}

    def register(self, spec: ProviderSpec) -> ProviderSpec:
        if spec.name in self._specs and self._specs[spec.name] is not spec:
            raise ValueError(f"provider {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)

    def get(self, name: str) -> ProviderSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "none"
            raise UnknownProvider(f"unknown POS provider {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return list(self._specs)

    def __iter__(self) -> Iterator[ProviderSpec]:
        return iter(list(self._specs.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._specs


class UnknownProvider(LookupError):
    pass
