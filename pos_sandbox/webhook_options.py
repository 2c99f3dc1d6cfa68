"""Options of the webhook delivery engine, and their spec-string form (``sandbox serve --webhooks``).

Defaults are each provider's documented behaviour (``shared/providers.md`` §1.10, §2.9, §3A):

=============  ===========  =============================================================
provider       deadline     retries (delays after attempt 1, 2, …)
=============  ===========  =============================================================
square         10 s         1, 2, 4, 8, 16, 32 min, then hourly until 24 h after the first
                            attempt (Square's current docs say 24 h; the exact schedule is
                            UNCONFIRMED) — 28 retries
toast          2 s          5 min, then 10 min; only after a timeout, 404, 429 or 5xx
lightspeed     5 s          20 retries with exponential back-off over ≈ 48 h: 30 s doubling,
                            capped at 4 h (the exact curve is UNCONFIRMED)
=============  ===========  =============================================================

Spec strings are comma separated; each part is ``kind:value`` or ``option=value``::

    "dup:0.1,reorder:0.2,delay:2s,drop:0.05,seed=3"
    "scale=0.001,timeout=0.5s"                    # tests: retries 1000x sooner, 0.5 s deadline
    "retries.toast=none,lightspeed.signature=base64,lightspeed.signed=payload"

Kinds: ``dup`` (probability that a delivery is sent twice), ``reorder`` (probability that it is
held back ``hold`` seconds, so later ones overtake it), ``drop`` (probability that it is never
sent), ``delay`` (fixed latency before the first attempt), ``jitter`` (extra seeded random latency
up to that long). Options: ``seed``, ``hold`` (default 1 s), ``scale`` (multiplies every retry
delay and Toast's back-off windows), ``timeout`` (every provider's deadline) or
``timeout.<provider>``, ``retries.<provider>`` (``none`` or delays separated by ``/``, e.g.
``1s/2s/4s``, before scaling), ``lightspeed.signature`` (``hex`` | ``base64``),
``lightspeed.signed`` (``body`` — the raw form-encoded body — | ``payload`` — the decoded
``payload`` JSON), ``log_limit``. ``off`` turns deliveries off. Durations take ``ms``, ``s``,
``m`` or ``h`` (bare numbers are seconds). Fault decisions are drawn from
``(seed, kind, subscription id, event id)``: the same run gives the same decisions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PROVIDERS = ("square", "toast", "lightspeed")
DEFAULT_TIMEOUTS: dict[str, float] = {"square": 10.0, "toast": 2.0, "lightspeed": 5.0}


def _square_schedule() -> tuple[float, ...]:
    delays = [60.0 * 2**k for k in range(6)]  # 1, 2, 4, 8, 16, 32 minutes
    total = sum(delays)
    while total + 3600 <= 24 * 3600:
        delays.append(3600.0)
        total += 3600
    return tuple(delays)


def _lightspeed_schedule() -> tuple[float, ...]:
    return tuple(min(30.0 * 2**k, 4 * 3600.0) for k in range(20))


DEFAULT_SCHEDULES: dict[str, tuple[float, ...]] = {
    "square": _square_schedule(),
    "toast": (300.0, 600.0),
    "lightspeed": _lightspeed_schedule(),
}
KINDS = ("dup", "reorder", "drop", "delay", "jitter")
SIGNATURE_ENCODINGS = ("hex", "base64")
SIGNED_INPUTS = ("body", "payload")


def parse_duration(text: str) -> float:
    raw = text.strip().lower()
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if raw.endswith(suffix) and raw[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(raw[: -len(suffix)]) * factor
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 2s, 1m)") from None
    if value < 0:
        raise ValueError(f"a duration must not be negative: {text!r}")
    return value


@dataclass(frozen=True)
class WebhookOptions:
    """Everything configurable about deliveries (see the module docstring)."""

    dup: float = 0.0
    reorder: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    hold: float = 1.0
    seed: int = 0
    time_scale: float = 1.0
    timeouts: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    schedules: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_SCHEDULES))
    lightspeed_signature: str = "hex"
    lightspeed_signed: str = "body"
    log_limit: int = 100_000
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("dup", "reorder", "drop"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        for name in ("delay", "jitter", "hold"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.time_scale <= 0:
            raise ValueError("scale must be positive")
        if self.lightspeed_signature not in SIGNATURE_ENCODINGS:
            raise ValueError(f"lightspeed.signature must be one of {', '.join(SIGNATURE_ENCODINGS)}")
        if self.lightspeed_signed not in SIGNED_INPUTS:
            raise ValueError(f"lightspeed.signed must be one of {', '.join(SIGNED_INPUTS)}")
        timeouts = {**DEFAULT_TIMEOUTS, **dict(self.timeouts)}
        schedules = {**DEFAULT_SCHEDULES, **{k: tuple(v) for k, v in dict(self.schedules).items()}}
        for provider in list(timeouts) + list(schedules):
            if provider not in PROVIDERS:
                raise ValueError(f"unknown provider {provider!r}")
        if any(t <= 0 for t in timeouts.values()):
            raise ValueError("timeouts must be positive")
        object.__setattr__(self, "timeouts", timeouts)
        object.__setattr__(self, "schedules", schedules)

    # ------------------------------------------------------------------ derived
    def timeout(self, provider: str) -> float:
        return self.timeouts[provider]

    def retry_delay(self, provider: str, failed_attempt: int) -> float | None:
        """Real seconds to wait after attempt number ``failed_attempt`` failed; None: give up."""
        schedule = self.schedules[provider]
        if failed_attempt > len(schedule):
            return None
        return schedule[failed_attempt - 1] * self.time_scale

    def draw(self, kind: str, *parts: object) -> float:
        """A seeded uniform number in [0, 1) for one decision."""
        digest = hashlib.blake2b("|".join(map(str, (self.seed, kind, *parts))).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def describe(self) -> dict[str, Any]:
        return {"dup": self.dup, "reorder": self.reorder, "drop": self.drop, "delay": self.delay,
                "jitter": self.jitter, "hold": self.hold, "seed": self.seed, "scale": self.time_scale,
                "timeouts": dict(self.timeouts), "retries": {k: len(v) for k, v in self.schedules.items()},
                "lightspeed_signature": self.lightspeed_signature, "lightspeed_signed": self.lightspeed_signed,
                "enabled": self.enabled}

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, spec: str | None, **overrides: Any) -> WebhookOptions:
        """Options from a spec string (module docstring); keyword ``overrides`` win."""
        values: dict[str, Any] = {}
        timeouts: dict[str, float] = {}
        schedules: dict[str, tuple[float, ...]] = {}
        for part in (p.strip() for p in (spec or "").split(",")):
            if not part:
                continue
            if part.lower() in ("off", "none"):
                values["enabled"] = False
            elif "=" in part:
                name, value = (s.strip() for s in part.split("=", 1))
                cls._option(name.lower(), value, values, timeouts, schedules)
            elif ":" in part:
                kind, value = (s.strip() for s in part.split(":", 1))
                kind = kind.lower()
                if kind not in KINDS:
                    raise ValueError(f"unknown webhook fault {kind!r}: use {', '.join(KINDS)}")
                values[kind] = parse_duration(value) if kind in ("delay", "jitter") else float(value)
            else:
                raise ValueError(f"cannot parse webhook option {part!r} (kind:value or option=value)")
        if timeouts:
            values["timeouts"] = {**DEFAULT_TIMEOUTS, **timeouts}
        if schedules:
            values["schedules"] = {**DEFAULT_SCHEDULES, **schedules}
        return cls(**(values | overrides))

    @staticmethod
    def _option(name: str, value: str, values: dict[str, Any], timeouts: dict[str, float],
                schedules: dict[str, tuple[float, ...]]) -> None:
        if name == "seed":
            values["seed"] = int(value)
        elif name in ("scale", "time_scale"):
            values["time_scale"] = float(value)
        elif name == "hold":
            values["hold"] = parse_duration(value)
        elif name == "log_limit":
            values["log_limit"] = int(value)
        elif name == "timeout":
            timeouts.update(dict.fromkeys(PROVIDERS, parse_duration(value)))
        elif name.startswith("timeout."):
            timeouts[name.split(".", 1)[1]] = parse_duration(value)
        elif name.startswith("retries."):
            provider = name.split(".", 1)[1]
            schedules[provider] = () if value.lower() in ("none", "0") else \
                tuple(parse_duration(v) for v in value.split("/") if v.strip())
        elif name == "lightspeed.signature":
            values["lightspeed_signature"] = value.lower()
        elif name == "lightspeed.signed":
            values["lightspeed_signed"] = value.lower()
        else:
            raise ValueError(f"unknown webhook option {name!r}")

    def with_(self, **changes: Any) -> WebhookOptions:
        return replace(self, **changes)
