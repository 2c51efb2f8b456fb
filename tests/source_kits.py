"""The per-source kits of the source conformance suite (tests/test_source_conformance.py).

A kit tells the suite, for one source, how to start the source against recorded responses,
how to put that recorded platform into each fault, where the source's golden exposition and
recorded rows are, and which parser reads which recorded file. The suite's checks are the same
for every source; a new platform adds its kit to ``KITS`` (docs/sources.md).

The faults are named for what goes wrong, not for how a platform shows it: ``FAULT_KINDS``
maps each to the ``agentwatch_poll_failures_total`` kind the source must report for it, and
``TOLERATED_FAULTS`` are faults in the rows themselves, which a poll must survive.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from agentwatch.config import SourceConfig
from agentwatch.source import Source
from agentwatch.source.paperclip import parse
from agentwatch.source.paperclip.client import PaperclipSource
from otel_replay import OTEL_FIXTURES, OTEL_RECORDED_AT, OTEL_RECORDINGS, OtelReplay, otel_inject, otel_serve, otel_source, parse_export
from replay import COMPANY_ID, FIXTURES, ReplayServer

# a fault of the platform as a whole -> the failure kind the source reports for it
FAULT_KINDS = {
    "500": "http_5xx",
    "429": "rate_limited",
    "timeout": "timeout",  # answers later than the source's timeout (the suite sets 0.5 s)
    "garbage": "decode",  # a body that is not JSON (an HTML error page from a proxy)
    "truncated": "decode",  # a JSON body cut off half-way
    "401": "http_401",
    "403": "http_403",
    "wrong_shape": "schema",  # valid JSON of the wrong shape (an object for an array)
    "huge": "too_large",  # a body over the source's size limit
}
# faults in the rows: the poll succeeds, the rows read as well as they can
TOLERATED_FAULTS = ("missing_fields", "wrong_types")
RECORDED: Any = object()  # ``SourceKit.serve``'s value for "the recorded answer again"


@dataclass(frozen=True)
class SourceKit:
    """How the conformance suite drives one source."""

    name: str
    # a loopback server replaying the platform's recorded answers (``.url``; ``.stop()`` takes it down)
    recorded: Callable[[], AbstractContextManager[Any]]
    source: Callable[[SourceConfig], Source]  # a source for a config pointed at the recorded platform
    # put the recorded platform (and the source's limits) into a fault of FAULT_KINDS or
    # TOLERATED_FAULTS; None: well again
    inject: Callable[[Any, Source, str | None], None]
    serve: Callable[[Any, str, Any], None]  # make the recorded platform answer ``path`` with a JSON value (or RECORDED)
    endpoints: tuple[str, ...]  # the paths a poll reads, for the hostile-body check
    fixtures: Path  # the recorded answers
    parsers: Mapping[str, Callable[[Any], object | None]]  # recorded file -> the parser of its rows
    golden: Path  # the exposition of the recorded answers (AGENTWATCH_UPDATE_GOLDEN=1 rewrites it)
    recorded_at: float  # when the answers were recorded: the clock of the golden exposition
    kept_family: str  # a family the recorded answers fill, served on while the source is down
    knows_delta: bool = True  # whether each company snapshot after the first carries its issue delta
    # the faults of the platform as a whole this source meets -> the kind it reports for each
    faults: Mapping[str, str] = field(default_factory=lambda: dict(FAULT_KINDS))
    # whether agentwatch reads the platform (a URL it reaches: down means unreachable) rather than
    # being sent to (OpenTelemetry: its own receiver, which has no platform to reach)
    pull: bool = True


# -- Paperclip ---------------------------------------------------------------------------------

_REPLAY_FAULTS = {"timeout": "slow", "garbage": "malformed", "wrong_types": "drift"}
_LIMIT_FOR_HUGE = 200_000  # bytes: the recorded answers fit, the "huge" ones (2,000 times a list) do not


def _paperclip_inject(server: ReplayServer, source: Source, fault: str | None) -> None:
    assert isinstance(source, PaperclipSource)
    server.fault = None
    server.overrides.pop("/api/companies", None)
    if fault == "wrong_shape":
        server.overrides["/api/companies"] = {"not": "a list"}
    elif fault is not None:
        server.fault, server.slow_seconds = _REPLAY_FAULTS.get(fault, fault), 1.5
    if fault == "huge":
        server.limit, source.client.max_response_bytes = source.client.max_response_bytes, _LIMIT_FOR_HUGE
    elif hasattr(server, "limit"):
        source.client.max_response_bytes = server.limit


def _paperclip_serve(server: ReplayServer, path: str, value: Any) -> None:
    if value is RECORDED:
        server.overrides.pop(path, None)
    else:
        server.overrides[path] = value


PAPERCLIP = SourceKit(
    name="paperclip",
    recorded=ReplayServer,
    source=PaperclipSource,
    inject=_paperclip_inject,
    serve=_paperclip_serve,
    endpoints=(
        "/api/health",
        "/api/companies",
        "/api/instance/scheduler-heartbeats",
        *(
            f"/api/companies/{COMPANY_ID}/{path}"
            for path in (
                "agents",
                "issues",
                "heartbeat-runs",
                "live-runs",
                "costs/by-agent-model",
                "costs/window-spend",
                "budgets/overview",
                "approvals",
            )
        ),
    ),
    fixtures=FIXTURES,
    parsers={
        "api_companies.json": parse.company,
        "api_companies_{companyId}_agents.json": parse.agent,
        "api_instance_scheduler-heartbeats.json": parse.scheduler_heartbeat,
        "api_companies_{companyId}_issues__view-compact.json": parse.issue,
        "api_companies_{companyId}_heartbeat-runs__limit-50.json": parse.run,
        "api_companies_{companyId}_costs_by-agent-model.json": parse.cost_row,
        "api_companies_{companyId}_costs_window-spend.json": parse.window_spend,
        "api_companies_{companyId}_approvals.json": parse.approval,
    },
    golden=Path(__file__).parent / "golden" / "paperclip.prom",
    recorded_at=1795497120.0,  # the recorded answers were captured on 2026-11-24 around 05:11 UTC
    kept_family="agentwatch_company_tasks",
)

# -- OpenTelemetry -----------------------------------------------------------------------------

OTEL = SourceKit(
    name="otel",
    recorded=OtelReplay,
    source=otel_source,
    inject=otel_inject,
    serve=otel_serve,
    endpoints=("/v1/traces",),
    fixtures=OTEL_FIXTURES,
    parsers={name: parse_export for name in OTEL_RECORDINGS},
    golden=Path(__file__).parent / "golden" / "otel.prom",
    recorded_at=OTEL_RECORDED_AT,
    kept_family="agentwatch_agent_info",
    faults={"receiver_down": "unhealthy"},
    pull=False,
)

KITS = (PAPERCLIP, OTEL)
PULL_KITS = tuple(kit for kit in KITS if kit.pull)
