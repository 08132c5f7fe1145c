"""What the simulator can be told: timing, image lifetime, faults and forced outcomes.

Every field can come from a CLI flag, an environment variable ``STUDIO_SIM_<FIELD>`` (for example
``STUDIO_SIM_RATE_429=0.2``) or ``POST /_sim/config`` while it runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_API_KEY = "studio-sim-demo-key"
ENV_PREFIX = "STUDIO_SIM_"


class Outcome(StrEnum):
    """How a simulated operation ends; ``PAUSED`` pauses midway and then succeeds."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    ABORTED = "ABORTED"
    PAUSED = "PAUSED"
    NEVER_FINISHES = "NEVER_FINISHES"


class DurationDistribution(StrEnum):
    """How long an operation takes: always ``operation_seconds``, or drawn per operation."""

    FIXED = "fixed"
    LOGNORMAL = "lognormal"


class SimSettings(BaseModel):
    """The simulator's knobs. Rates are probabilities per request, between 0 and 1."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    api_key: SecretStr = Field(default=SecretStr(DEFAULT_API_KEY), description="the accepted x-api-key")
    operation_seconds: float = Field(default=4.0, ge=0, description="CREATED -> SUCCESS, on the sim clock")
    image_ttl_seconds: float = Field(default=3600.0, gt=0, description="lifetime of every image URL")
    rate_429: float = Field(default=0.0, ge=0, le=1, description="share of API calls answered 429")
    rate_500: float = Field(default=0.0, ge=0, le=1, description="share of API calls answered 500")
    rate_drop: float = Field(default=0.0, ge=0, le=1, description="close the connection without answering")
    retry_after_seconds: int = Field(default=1, ge=0, description="Retry-After sent with a simulated 429")
    latency_seconds: float = Field(default=0.0, ge=0, le=60, description="real delay added to API calls")
    file_latency_seconds: float = Field(
        default=0.0, ge=0, le=60, description="real delay before an image link answers (a distant CDN)"
    )
    file_bandwidth_bytes_per_second: float | None = Field(
        default=None,
        gt=0,
        description="per-connection cap on image-link downloads, bytes per second (unset = unlimited)",
    )
    image_noise: float = Field(
        default=0.0,
        ge=0,
        le=64,
        description="sigma of the grain added to generated images, in 0-255 levels (0 = smooth, small PNGs)",
    )
    forced_outcome: Outcome | None = Field(
        default=None, description="outcome of every new operation: " + ", ".join(o.value for o in Outcome)
    )
    operation_fail_rate: float = Field(default=0.0, ge=0, le=1, description="share of new operations FAILED")
    failure_error: str = Field(
        default="simulated failure: the generator could not produce usable images",
        description="error text of a FAILED operation",
    )
    paused_seconds: float = Field(default=10.0, ge=0, description="how long a PAUSED operation pauses")
    default_output_width: int = Field(default=768, ge=16, le=4096, description="when no output_image_size")
    default_output_height: int = Field(default=1024, ge=16, le=4096, description="when no output_image_size")
    download_timeout_seconds: float = Field(default=10.0, gt=0, description="per input image URL")
    clock_frozen: bool = Field(default=False, description="sim time moves only by /_sim/clock/advance")
    seed: int | None = Field(
        default=None, description="seed of the fault dice and the duration draws, for repeatable runs"
    )
    duration_distribution: DurationDistribution = Field(
        default=DurationDistribution.FIXED,
        description="fixed (every operation takes operation_seconds) or lognormal (drawn per priority)",
    )
    online_median_seconds: float = Field(
        default=4.0, gt=0, description="lognormal: median duration of an online-priority operation"
    )
    offline_median_seconds: float = Field(
        default=20.0, gt=0, description="lognormal: median duration of an offline-priority operation"
    )
    duration_sigma: float = Field(
        default=0.5, ge=0, le=5, description="lognormal: spread (sigma of the log of the duration)"
    )
    rate_limit_per_second: float | None = Field(
        default=None, gt=0, description="token bucket per API key: requests per second (unset = unlimited)"
    )
    rate_limit_burst: int = Field(default=10, ge=1, description="token bucket size: requests allowed at once")
    max_unfinished_operations: int | None = Field(
        default=None, ge=0, description="per API key: creates refused (429) while this many are unfinished"
    )
    null_polls_after_create: int = Field(
        default=0, ge=0, description="the first N reads of a new operation answer null, as for an unknown id"
    )
    extra_answer_fields: bool = Field(
        default=False, description="add unknown fields and enum values to answers (a tolerant-reading probe)"
    )

    @property
    def uses_demo_key(self) -> bool:
        return self.api_key.get_secret_value() == DEFAULT_API_KEY

    def public_view(self) -> dict[str, Any]:
        """The settings as JSON, with the key shown only when it is the public demo default."""
        view = self.model_dump(mode="json", exclude={"api_key"})
        view["api_key"] = DEFAULT_API_KEY if self.uses_demo_key else "(custom key, not shown)"
        return view

    def updated(self, changes: Mapping[str, Any]) -> SimSettings:
        """A validated copy with ``changes`` applied; an unknown name is an error naming it."""
        merged = self.model_dump()
        merged["api_key"] = self.api_key.get_secret_value()
        merged.update(changes)
        return SimSettings.model_validate(merged)


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> SimSettings:
    """Settings from ``STUDIO_SIM_*`` variables, then ``overrides`` (CLI flags) on top."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name in SimSettings.model_fields:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = raw
    values.update({name: value for name, value in overrides.items() if value is not None})
    return SimSettings.model_validate(values)


def key_source(cli_key: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Where the accepted key came from, for the start-up banner (never the key itself)."""
    environ = os.environ if environ is None else environ
    if cli_key:
        return "--api-key"
    if environ.get(ENV_PREFIX + "API_KEY"):
        return f"environment variable {ENV_PREFIX}API_KEY"
    return f"public demo default {DEFAULT_API_KEY!r}"
