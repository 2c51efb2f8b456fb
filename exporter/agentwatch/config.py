"""Configuration: a YAML file, overridden by ``AGENTWATCH_*`` environment variables.

With no file, one Paperclip source comes from ``AGENTWATCH_PAPERCLIP_URL`` and
``AGENTWATCH_PAPERCLIP_TOKEN`` / ``AGENTWATCH_PAPERCLIP_TOKEN_FILE``. Every value is
validated; ``load()`` raises ``ConfigError`` naming every bad key and its value, with a
"did you mean" for a misspelt key (``agentwatch.check`` adds the files the keys name).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_LISTEN_ADDRESS = "0.0.0.0:10133"
DEFAULT_PAPERCLIP_URL = "http://127.0.0.1:3100"

M = TypeVar("M", bound=BaseModel)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class ConfigError(Exception):
    """Configuration values are invalid. Each of ``errors`` names one key and its value; the
    message is all of them, so a caller that prints one line still says everything."""

    def __init__(self, *errors: str) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


_URL_HOST = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")


def http_url(value: str) -> str:
    """An http(s) URL a client can open: the one check of every URL-valued key, so that
    ``http://paperclip internal:3100`` or ``http://:99999`` fails at start-up, not at the first poll."""
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("a URL has no spaces")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("the host in brackets is not an IPv6 address") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("expected an http:// or https:// URL")
    host = parts.hostname or ""
    if not host:
        raise ValueError("the URL names no host")
    if not (_URL_HOST.match(host) or _is_ipv6(host)):
        raise ValueError(f"{host!r} is not a host name")
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ValueError("the port must be a number from 1 to 65535")
    return value


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


HttpUrlStr = Annotated[str, AfterValidator(http_url)]


def parse_duration(value: Any) -> float:
    """``30``, ``"30"``, ``"30s"``, ``"5m"``, ``"1.5h"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("expected a duration such as 30s, 5m or 1h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class KeysOf:
    """``Annotated`` metadata of a mapping kept as written whose keys are ``model``'s fields:
    where a misspelt key there finds its "did you mean" (pydantic ignores it)."""

    model: type[BaseModel]


def source_name(value: str) -> str:
    """A source's name, the ``source`` label of its series."""
    if not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", value):
        raise ValueError("use 1-64 letters, digits, '_', '.', ':' or '-'")
    return value


def read_secret_file(path: Path) -> str:
    """The secret in ``path``; the error says why not, for a caller that names the key and the path."""
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc.strerror}") from None


def read_token(path: Path) -> str:
    """``read_secret_file`` for a model validator, whose error names no key: the message names the file."""
    try:
        return read_secret_file(path)
    except ValueError as exc:
        raise ValueError(f"token_file {str(path)!r} {exc}") from None


def readable_token_file(value: Path | None, info: ValidationInfo) -> Path | None:
    """A ``token_file`` field validator: an unreadable file is an error of its own key, reported
    beside the other fields' errors (the model validator that reads it runs only when all pass).
    A token given inline (``token`` beside ``token_file``) wins, and then the file is not read."""
    inline = info.data.get((info.field_name or "token_file").removesuffix("_file"))
    if value is not None and inline is None:
        read_secret_file(value)
    return value


class CanaryConfig(StrictModel):
    """The canary runner of one source (off by default)."""

    enabled: bool = False
    suite_file: Path | None = None
    token: SecretStr | None = None  # a separate token for the canary's writes; defaults to the source token
    token_file: Path | None = None
    check_interval: float = 5.0

    _token_file = field_validator("token_file")(readable_token_file)

    @field_validator("check_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @model_validator(mode="after")
    def _token(self) -> "CanaryConfig":
        if self.enabled and self.suite_file is None:
            raise ValueError("canary.enabled needs canary.suite_file")
        if self.token_file is not None and self.token is None:
            self.token = SecretStr(read_token(self.token_file))
        return self


class LiveEventsConfig(StrictModel):
    """Paperclip's live-events WebSocket, one per company: its events trigger a targeted refresh
    of what they name, and the full poll slows to ``full_poll_interval`` while every socket is
    open (README "How it polls")."""

    enabled: bool = True  # connect where the server offers the socket; off: poll alone
    # the socket's bearer token, if not the source's: Paperclip's socket takes an agent API key of
    # the company (or none in local_trusted) and refuses a board key with 403 (2026.916.1)
    token: SecretStr | None = None
    token_file: Path | None = None
    full_poll_interval: float = 300.0  # the safety-net poll while every company's socket is open
    debounce: float = 0.25  # how long events are gathered into one refresh after the first
    min_refresh_interval: float = 1.0  # the least time between the starts of two targeted refreshes
    ping_timeout: float = 75.0  # no frame and no ping for this long: the socket is dead
    reconnect_min: float = 1.0  # the first reconnect's backoff (jittered, doubling)
    reconnect_max: float = 60.0  # the longest backoff
    unavailable_retry: float = 600.0  # after a 404, 401 or 403: how long before trying the socket again
    max_frame_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)  # a larger frame drops the socket

    _token_file = field_validator("token_file")(readable_token_file)

    @field_validator(
        "full_poll_interval",
        "debounce",
        "min_refresh_interval",
        "ping_timeout",
        "reconnect_min",
        "reconnect_max",
        "unavailable_retry",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @model_validator(mode="after")
    def _backoff(self) -> "LiveEventsConfig":
        if self.reconnect_max < self.reconnect_min:
            raise ValueError(f"reconnect_max ({self.reconnect_max:g}s) is less than reconnect_min ({self.reconnect_min:g}s)")
        if self.token_file is not None and self.token is None:
            self.token = SecretStr(read_token(self.token_file))
        return self


class SourceConfig(StrictModel):
    """One Paperclip instance. ``name`` becomes the ``source`` label."""

    type: Literal["paperclip"] = "paperclip"
    name: str = "paperclip"
    url: HttpUrlStr = DEFAULT_PAPERCLIP_URL
    token: SecretStr | None = None
    token_file: Path | None = None
    companies: list[str] = Field(default_factory=list)  # allowlist of company ids or names; empty = all
    poll_interval: float | None = None  # seconds; defaults to the global poll_interval
    timeout: float = 10.0
    retries: int = Field(default=2, ge=0, le=10)
    max_concurrency: int = Field(default=8, ge=1, le=8)
    full_resync_interval: float = 600.0
    runs_limit: int = Field(default=200, ge=1, le=1000)
    issue_page_size: int = Field(default=1000, ge=1, le=1000)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    live_events: LiveEventsConfig = Field(default_factory=LiveEventsConfig)

    _token_file = field_validator("token_file")(readable_token_file)

    @field_validator("poll_interval", "timeout", "full_resync_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return value.rstrip("/")  # checked by ``http_url`` first

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return source_name(value)

    @model_validator(mode="after")
    def _token(self) -> "SourceConfig":
        self.read_token_file()
        return self

    def read_token_file(self) -> None:
        """Read ``token_file`` into ``token``, unless a token is given."""
        if self.token_file is not None and self.token is None:
            self.token = SecretStr(read_token(self.token_file))


class PriceConfig(StrictModel):
    """The price of one model, in US dollars per million tokens (overrides the shipped table)."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)  # default: the input price

    def cost(self, input_tokens: int, output_tokens: int, cached: int = 0) -> float:
        cached_price = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        return ((input_tokens - cached) * self.input_per_mtok + cached * cached_price + output_tokens * self.output_per_mtok) / 1e6


class OtelAgentConfig(StrictModel):
    """What a framework cannot report about an agent (or every agent of a role): its role, the
    cadence it is expected to work at, its monthly budget and the longest an invocation may run."""

    role: str | None = None
    heartbeat_interval: float | None = None  # expected time between invocations; None: learnt from history
    budget_monthly_usd: float = Field(default=0.0, ge=0)
    run_timeout: float | None = None  # an invocation open longer than this hangs; None: the source's

    @field_validator("heartbeat_interval", "run_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


class OtelSourceConfig(StrictModel):
    """Agents of any framework, read from the OTLP/HTTP traces they export (docs/otel.md).
    ``name`` becomes the ``source`` label; the fleet is one company of that name."""

    type: Literal["otel"] = "otel"
    name: str = "otel"
    listen_address: str = "127.0.0.1:4318"
    token: SecretStr | None = None  # a bearer token clients must send (besides the web config's basic auth)
    token_file: Path | None = None
    poll_interval: float | None = None  # how often the spans taken in are analysed; defaults to the global one
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    queue_size: int = Field(default=64, ge=1, le=100_000)
    queue_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    agents: dict[str, OtelAgentConfig] = Field(default_factory=dict)  # by agent name or id
    roles: dict[str, OtelAgentConfig] = Field(default_factory=dict)  # defaults for every agent of a role
    accept_unknown_agents: bool = True  # False: spans of an agent not under ``agents`` are counted and dropped
    agent_from_service_name: bool = False  # spans that name no agent belong to the resource's service.name
    escalation_tools: list[str] = Field(default_factory=lambda: ["request_human_approval", "ask_human", "human_approval"])
    interrupt_errors: list[str] = Field(default_factory=lambda: ["GraphInterrupt", "NodeInterrupt", "Interrupt"])
    prices: dict[str, PriceConfig] = Field(default_factory=dict)  # model -> price, over genai-prices
    run_timeout: float = 1800.0  # an invocation whose work is seen but whose span never ends hangs after this
    conversation_idle_timeout: float = 900.0  # an answered conversation with no turn for this long is done
    learn_heartbeat_after: int = Field(default=12, ge=3)  # regular invocations before a cadence is learnt
    trace_idle_timeout: float = 6 * 3600.0
    max_traces: int = Field(default=10_000, ge=1)
    max_tasks: int = Field(default=50_000, ge=1)
    canary_suite_file: Path | None = None  # the suite that scores the canary answers the agents' harness reports

    _token_file = field_validator("token_file")(readable_token_file)

    @field_validator("poll_interval", "run_timeout", "trace_idle_timeout", "conversation_idle_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("listen_address")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen_address(value)
        return value

    @field_validator("queue_bytes")
    @classmethod
    def _request_fits(cls, value: int, info: ValidationInfo) -> int:
        largest = info.data.get("max_request_bytes", 0)
        if value < largest:  # else the OTLP receiver refuses to start
            raise ValueError(f"less than max_request_bytes ({largest}): a request must fit in the queue")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return source_name(value)

    @model_validator(mode="after")
    def _token(self) -> "OtelSourceConfig":
        if self.token_file is not None and self.token is None:
            self.token = SecretStr(read_token(self.token_file))
        return self

    def agent(self, key: str, name: str, role: str) -> OtelAgentConfig:
        """The configured facts of an agent: its own entry over its role's."""
        own = self.agents.get(key) or self.agents.get(name) or OtelAgentConfig()
        by_role = self.roles.get(own.role or role) or OtelAgentConfig()
        merged = {**by_role.model_dump(exclude_none=True), **own.model_dump(exclude_none=True, exclude_defaults=True)}
        return OtelAgentConfig(**merged)


def _source_type(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "paperclip"))
    return str(getattr(value, "type", "paperclip"))


SOURCE_TYPES = ("paperclip", "otel")
AnySourceConfig = Annotated[
    Annotated[SourceConfig, Tag("paperclip")] | Annotated[OtelSourceConfig, Tag("otel")],
    Discriminator(_source_type),
]


class EscalationConfig(StrictModel):
    """Which approval types are expected gates and which are unexpected escalations."""

    expected: list[str] = Field(default_factory=lambda: ["hire_agent", "approve_ceo_strategy"])
    unexpected: list[str] = Field(default_factory=lambda: ["budget_override_required", "request_board_approval"])
    # A type in neither list is classified as this.
    default: str = Field(default="unexpected", pattern="^(expected|unexpected)$")


class LimitsConfig(StrictModel):
    """Cardinality guards."""

    max_companies: int = Field(default=100, ge=1)
    max_agents: int = Field(default=2000, ge=1)
    top_n: int = Field(default=10, ge=0, le=1000)


class CanaryMarkerConfig(StrictModel):
    """How canary tasks are recognised, so that they are kept out of real-work metrics."""

    title_prefix: str = "[canary]"
    label: str = "agentwatch-canary"


class AnalysisConfig(StrictModel):
    """Definitions used by the context detector (alert thresholds live in ``thresholds``)."""

    context_high_ratio: float = Field(default=0.8, gt=0, le=1)  # prompt / window marking "high" runs
    context_windows: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)  # model -> window, overrides the table


class UiConfig(StrictModel):
    """What the landing page at ``/`` shows beyond agentwatch's own state (all optional)."""

    # queried by the exporter itself (/api/v1/alerts) for the firing alerts on the landing page
    prometheus_url: HttpUrlStr | None = None
    # the links the landing page lists, name -> URL as a browser reaches it (Grafana, Alertmanager, ...)
    links: dict[str, HttpUrlStr] = Field(default_factory=dict)


class Thresholds(StrictModel):
    """Every alert threshold, in one place. The brief's numbers are the defaults.

    The exporter resolves them per agent (agent, then role, then defaults) and exposes them as
    ``agentwatch_agent_threshold{threshold=...}``; the alerting rules join on that series, so
    tuning never means editing PromQL. Durations are seconds (or "30m", "4h").
    """

    heartbeat_missed_factor: float = Field(default=3.0, gt=0)  # no heartbeat for this many intervals
    heartbeat_irregular_factor: float = Field(default=2.0, gt=0)  # mean gap this many intervals
    heartbeat_gap_cv: float = Field(default=0.5, gt=0)  # or stddev/mean of the gaps above this
    throughput_drop_ratio: float = Field(default=0.5, gt=0, le=1)  # completions below this share of the baseline
    stuck_factor: float = Field(default=3.0, gt=0)  # in progress this many times the average duration
    runs_failing_consecutive: float = Field(default=3.0, ge=1)  # failed runs in a row
    runs_failure_ratio: float = Field(default=0.5, gt=0, le=1)  # or this share of runs failing
    loop_min_age: float = 4 * 3600.0  # a task in progress this long without progression ...
    loop_min_calls: float = Field(default=20.0, ge=1)  # ... with more runs or LLM calls than this is a loop
    # or this many unproductive runs (empty answers, plan-only runs, retries, calls after a repeated
    # identical tool call) on in-progress tasks since their progression
    loop_unproductive_runs: float = Field(default=10.0, ge=1)
    context_ratio: float = Field(default=0.8, gt=0)  # prompt / window of the latest run
    context_growth: float = Field(default=1.5, gt=1)  # latest prompt / first prompt on a task
    burn_spike_factor: float = Field(default=2.0, gt=1)  # spend rate this many times the expected one
    budget_soft_ratio: float = Field(default=0.8, gt=0, le=1)  # share of the budget used
    escalation_spike_factor: float = Field(default=2.0, gt=1)  # unexpected escalations above the baseline
    canary_consecutive_failures: float = Field(default=3.0, ge=1)
    model_quality_drop: float = Field(default=0.3, gt=0, le=1)  # pass-ratio drop after a model change
    deadlock_min_age: float = 3600.0  # a stalled chain this old pages
    stale_data_age: float = 600.0  # served data older than this: AgentwatchDataStale
    run_max_age: float = 2 * 3600.0  # a live run this old hangs, for an agent with no heartbeat timer and no adapter timeout
    # Cold-start floors: what a baseline alert compares with when neither the agent nor its role has a
    # baseline (a new agent, a new role, the first day after Prometheus starts). Escalations and spend
    # are also never judged below their floor while the agent has no baseline of its own (for spend:
    # no budget).
    escalation_floor_per_hour: float = Field(default=3.0, gt=0)  # AgentEscalationSpike: unexpected escalations/h
    burn_floor_usd_per_hour: float = Field(default=5.0, gt=0)  # AgentBudgetBurnSpike, agent with no budget: USD/h
    throughput_floor_per_day: float = Field(default=1.0, ge=0)  # AgentThroughputDrop: completions/day, queue standing (0: off)
    stuck_floor_age: float = 24 * 3600.0  # AgentTaskStuck: in progress this long without progression

    @field_validator("loop_min_age", "deadlock_min_age", "stale_data_age", "run_max_age", "stuck_floor_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)


_THRESHOLD_OVERRIDES = TypeAdapter(dict[str, Thresholds])


class ThresholdsConfig(StrictModel):
    defaults: Thresholds = Field(default_factory=Thresholds)
    # kept as written (``resolve`` and ``tune`` merge only the keys given), validated as Thresholds
    roles: dict[str, Annotated[dict[str, Any], KeysOf(Thresholds)]] = Field(default_factory=dict)
    agents: dict[str, Annotated[dict[str, Any], KeysOf(Thresholds)]] = Field(default_factory=dict)  # by agent name or id

    @field_validator("roles", "agents")
    @classmethod
    def _known_keys(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        _THRESHOLD_OVERRIDES.validate_python(value)  # every error, at thresholds.roles.<scope>.<key>
        return value

    def resolve(self, agent_name: str = "", agent_id: str = "", role: str = "") -> Thresholds:
        merged = self.defaults.model_dump()
        for overrides in (self.roles.get(role), self.agents.get(agent_name), self.agents.get(agent_id)):
            if overrides:
                merged.update(Thresholds(**overrides).model_dump(include=set(overrides)))
        return Thresholds(**merged)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTWATCH_", env_nested_delimiter="__", extra="forbid")

    poll_interval: float = 30.0
    listen_address: str = DEFAULT_LISTEN_ADDRESS
    web_config_file: Path | None = None  # TLS and basic auth, exporter-toolkit format (agentwatch/webconfig.py)
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    log_format: str = Field(default="logfmt", pattern="^(logfmt|json)$")
    sources: list[AnySourceConfig] = Field(default_factory=list)
    escalations: EscalationConfig = Field(default_factory=EscalationConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    canary_marker: CanaryMarkerConfig = Field(default_factory=CanaryMarkerConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    # Single-source shorthand (the usual env-only setup).
    paperclip_url: HttpUrlStr | None = None
    paperclip_token: SecretStr | None = None
    paperclip_token_file: Path | None = None

    _token_file = field_validator("paperclip_token_file")(readable_token_file)

    @field_validator("poll_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("listen_address")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen_address(value)
        return value

    @model_validator(mode="after")
    def _default_source(self) -> "Settings":
        if not self.sources:
            self.sources = [
                SourceConfig(
                    url=self.paperclip_url or DEFAULT_PAPERCLIP_URL,
                    token=self.paperclip_token,
                    token_file=self.paperclip_token_file,
                )
            ]
        elif (self.paperclip_url or self.paperclip_token or self.paperclip_token_file) and self.paperclip_sources:
            # The env shorthand overrides the first Paperclip source of the file.
            first = self.paperclip_sources[0]
            if self.paperclip_url:
                first.url = SourceConfig(url=self.paperclip_url).url
            if self.paperclip_token_file:
                first.token_file = self.paperclip_token_file
                first.token = None
                first.read_token_file()
            if self.paperclip_token:
                first.token = self.paperclip_token
        names = [s.name for s in self.sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, {duplicates[0]!r} is repeated")
        for source in self.sources:
            if source.poll_interval is None:
                source.poll_interval = self.poll_interval
        return self

    @property
    def paperclip_sources(self) -> list[SourceConfig]:
        return [s for s in self.sources if isinstance(s, SourceConfig)]

    @property
    def otel_sources(self) -> list[OtelSourceConfig]:
        return [s for s in self.sources if isinstance(s, OtelSourceConfig)]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first (it wins), then the YAML file passed as init kwargs.
        return env_settings, init_settings


def split_listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected HOST:PORT, for example 0.0.0.0:10133")
    return host.strip("[]") or "0.0.0.0", int(port)


def describe_error(error: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """One pydantic error as ``key=value: message``, with secrets and nested values hidden; an
    unknown key as ``key: unknown key (did you mean 'k'?)``, the guess among ``model``'s keys there."""
    raw = list(error.get("loc", ()))
    # a source's type tag is in the location of its errors (``sources.0.otel.url``): leave it out
    loc = [str(p) for i, p in enumerate(raw) if not (p in SOURCE_TYPES and i and isinstance(raw[i - 1], int))]
    key = ".".join(loc) or "(root)"
    value = error.get("input")
    if error.get("type") == "union_tag_invalid":
        tag = value.get("type") if isinstance(value, dict) else value
        return f"{key}.type={tag!r}: expected one of {', '.join(SOURCE_TYPES)}"
    if error.get("type") == "extra_forbidden":
        guess = difflib.get_close_matches(str(raw[-1]), keys_beside(model, raw), n=1) if model and raw else []
        return f"{key}: unknown key" + (f" (did you mean {guess[0]!r}?)" if guess else "")
    msg = error.get("msg", "invalid").removeprefix("Value error, ")
    if isinstance(value, (dict, list)) and error.get("type") not in ("missing",):
        return f"{key}: {msg}" if loc else msg  # a section's error: the message names what is wrong in it
    if isinstance(value, SecretStr) or any(_secret_key(part) for part in loc):
        value = "**********"
    return f"{key}={value!r}: {msg}"


def _secret_key(part: str) -> bool:
    """A key whose value is a secret (``token``, ``paperclip_token``, ``secret``), not the path of one (``token_file``)."""
    part = part.lower()
    return ("token" in part or "secret" in part) and not part.endswith("_file")


def keys_beside(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys allowed where the last part of ``loc`` stands: the fields of the model holding it."""
    annotation: Any = model
    for part in loc[:-1]:
        annotation = _inside(annotation, part)
    annotation = _unannotated(annotation)
    return list(annotation.model_fields) if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _unannotated(annotation: Any) -> Any:
    """``annotation`` without ``Annotated``, or the model a ``KeysOf`` names."""
    while get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        annotation = next((m.model for m in metadata if isinstance(m, KeysOf)), base)
    return annotation


def _inside(annotation: Any, part: str | int) -> Any:
    """The type at ``part`` of a value of type ``annotation`` (``Any`` where it cannot be followed)."""
    annotation = _unannotated(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else Any
    if origin in (list, dict) and args:
        return args[-1]
    if origin in (Union, types.UnionType):
        for member in args:  # a tagged union: ``part`` is the tag (``sources.0.otel``)
            base, *metadata = get_args(member) if get_origin(member) is Annotated else (member,)
            if any(isinstance(m, Tag) and m.tag == part for m in metadata):
                return base
        members = [a for a in args if a is not type(None)]
        return _inside(members[0], part) if len(members) == 1 else Any
    return Any


def read_yaml_mapping(path: str | os.PathLike[str], key: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (empty file: ``{}``); ``ConfigError`` names ``key`` and the path."""
    try:
        raw = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{key}={str(path)!r}: cannot be read: {exc.strerror}") from None
    try:
        loaded = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{key}={str(path)!r}: not valid YAML{where}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{key}={str(path)!r}: expected a mapping at the top level")
    return loaded


def load(path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the YAML file (if any), apply env and ``overrides`` (CLI flags), and validate."""
    data: dict[str, Any] = {}
    if path is not None:
        data.update(read_yaml_mapping(path, "config.file"))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return build(Settings, data)


def build(model: type[M], data: dict[str, Any]) -> M:
    """``model(**data)``, or ``ConfigError`` naming every bad key and its value. (A model
    validator runs only once its fields are valid: its errors come in the next round.)"""
    try:
        return model(**data)
    except ValidationError as exc:
        raise ConfigError(*dict.fromkeys(describe_error(error, model) for error in exc.errors(include_url=False))) from None
    except ValueError as exc:  # raised outside field validation (e.g. a model validator)
        raise ConfigError(str(exc)) from None
