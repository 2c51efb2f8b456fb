"""Tolerant parsers: Paperclip JSON in, domain objects out.

Schema drift must never crash the exporter. A row that lacks its id is dropped (and
counted by the caller); every other missing or mistyped field falls back to a neutral
value. A response of the wrong top-level shape raises ``SchemaError`` (a ``SourceError``).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from sys import intern
from types import GenericAlias
from typing import Any, Callable, Generic, Iterable, TypeVar

import msgspec

from agentwatch.model import (
    Agent,
    Approval,
    BudgetIncident,
    BudgetPolicy,
    Company,
    CostRow,
    Heartbeat,
    Issue,
    Run,
    WindowSpend,
)
from agentwatch.source.base import SchemaError

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)
JsonObject = dict[str, Any]  # a JSON object as ``json.loads`` decodes it


def as_list(payload: Any, what: str) -> list[Any]:
    if not isinstance(payload, list):
        raise SchemaError(f"{what}: expected a JSON array, got {type(payload).__name__}")
    return payload


def as_dict(payload: Any, what: str) -> JsonObject:
    if not isinstance(payload, dict):
        raise SchemaError(f"{what}: expected a JSON object, got {type(payload).__name__}")
    return payload


def text(value: Any, default: str = "") -> str:
    if value.__class__ is str:
        return value
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    return default


def number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        f = float(value)
        return f if math.isfinite(f) else default
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return default
        return f if math.isfinite(f) else default
    return default


def integer(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    f = number(value, math.nan)
    return None if math.isnan(f) else int(f)


def cents_to_usd(value: Any) -> float:
    return number(value) / 100.0


def _datetime(value: Any) -> datetime | None:
    if value.__class__ is not str or not value:
        return None
    try:
        return datetime.fromisoformat(value)  # Python 3.11 reads the trailing Z itself
    except ValueError:
        return None


def timestamp(value: Any) -> float | None:
    """ISO-8601 (``2026-11-24T05:10:46.834Z``, or a ``datetime`` msgspec decoded it into) to Unix
    seconds; ``None`` if absent or invalid. (A typed row's timestamps are a ``datetime`` or none:
    those two come first.)"""
    if value.__class__ is datetime:
        return value.timestamp()
    if value is None:
        return None
    value = _datetime(value)
    return None if value is None else value.timestamp()


def parse_rows(rows: Iterable[Any], parse: Callable[[Any], T | None]) -> tuple[list[T], int]:
    """Parse every row (a JSON object, or a typed row msgspec decoded: ``IssueRow``, ``AgentRow``
    and the others); return the parsed objects and the number of rows dropped."""
    out: list[T] = []
    dropped = 0
    for row in rows:
        obj = parse(row) if isinstance(row, (dict, msgspec.Struct)) else None
        if obj is None:
            dropped += 1
        else:
            out.append(obj)
    return out, dropped


class CompanyRow(msgspec.Struct, rename="camel", gc=False):
    """A company of ``/api/companies`` as agentwatch reads it, typed (see ``IssueRow``); the
    status stays a JSON value: a missing one is ``active``, an empty one stays empty."""

    id: str | None = None
    name: str | None = None
    status: Any = None
    budget_monthly_cents: float | None = None
    spent_monthly_cents: float | None = None


def company(data: CompanyRow | JsonObject) -> Company | None:
    row = company_row(data)
    if row is None:
        return None
    cid = row.id
    if not cid:
        return None
    return Company(
        id=cid,
        name=row.name or cid,
        status=text(row.status, "active"),
        budget_monthly_usd=cents_to_usd(row.budget_monthly_cents),
        spent_monthly_usd=cents_to_usd(row.spent_monthly_cents),
    )


def _heartbeat(runtime_config: Any) -> Heartbeat:
    hb = runtime_config.get("heartbeat") if isinstance(runtime_config, dict) else None
    if not isinstance(hb, dict):
        return Heartbeat()
    return Heartbeat(enabled=hb.get("enabled") is True, interval_seconds=max(0.0, number(hb.get("intervalSec"))))


class AgentRow(msgspec.Struct, rename="camel", gc=False):
    """The fields of an agent row that agentwatch reads, typed as Paperclip sends them (see
    ``IssueRow``); the two configs stay JSON values, read by ``agent`` with their own checks."""

    id: str | None = None
    company_id: str | None = None
    name: str | None = None
    role: str | None = None
    title: str | None = None
    status: str | None = None
    adapter_type: str | None = None
    adapter_config: Any = None
    pause_reason: str | None = None
    budget_monthly_cents: float | None = None
    spent_monthly_cents: float | None = None
    last_heartbeat_at: datetime | None = None
    runtime_config: Any = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def agent(data: AgentRow | JsonObject) -> Agent | None:
    row = agent_row(data)
    if row is None:
        return None
    aid = row.id
    if not aid:
        return None
    adapter_config = row.adapter_config
    return Agent(
        id=aid,
        company_id=row.company_id or "",
        name=row.name or aid,
        role=row.role or "general",
        title=row.title or "",
        status=row.status or "unknown",
        adapter_type=row.adapter_type or "",
        model=text(adapter_config.get("model")) if isinstance(adapter_config, dict) else "",
        pause_reason=row.pause_reason or "",
        budget_monthly_usd=cents_to_usd(row.budget_monthly_cents),
        spent_monthly_usd=cents_to_usd(row.spent_monthly_cents),
        last_heartbeat_at=timestamp(row.last_heartbeat_at),
        heartbeat=_heartbeat(row.runtime_config),
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
        run_timeout_seconds=_run_timeout(adapter_config),
    )


def _run_timeout(adapter_config: Any) -> float:
    """The adapter's limit on one run, in seconds (0 = none): ``timeoutSec`` for the process and
    CLI adapters, ``timeoutMs`` for the http adapter."""
    if not isinstance(adapter_config, dict):
        return 0.0
    if "timeoutSec" in adapter_config:
        return max(0.0, number(adapter_config.get("timeoutSec")))
    return max(0.0, number(adapter_config.get("timeoutMs")) / 1000.0)


class SchedulerHeartbeatRow(msgspec.Struct, rename="camel", gc=False):
    """A row of ``/api/instance/scheduler-heartbeats`` as agentwatch reads it, typed (see
    ``IssueRow``); the two flags stay JSON values: only ``true`` counts."""

    id: str | None = None
    heartbeat_enabled: Any = None
    interval_sec: float | None = None
    scheduler_active: Any = None
    last_heartbeat_at: datetime | None = None


def scheduler_heartbeat(data: SchedulerHeartbeatRow | JsonObject) -> tuple[str, Heartbeat, float | None] | None:
    """A row of ``/api/instance/scheduler-heartbeats``: (agent id, schedule, last heartbeat)."""
    row = scheduler_heartbeat_row(data)
    if row is None:
        return None
    aid = row.id
    if not aid:
        return None
    hb = Heartbeat(
        enabled=row.heartbeat_enabled is True,
        interval_seconds=max(0.0, number(row.interval_sec)),
        scheduler_active=row.scheduler_active is True,
    )
    return aid, hb, timestamp(row.last_heartbeat_at)


def _unblock_owner(descriptor: Any) -> str | None:
    if not isinstance(descriptor, dict):
        return None
    owner = descriptor.get("owner")
    if owner == "board":
        return "board"
    if isinstance(owner, dict):
        if owner.get("userId"):
            return "user"
        if owner.get("agentId"):
            return "agent"
    return None


def _recovery_owner(action: Any) -> str | None:
    """Paperclip's own recovery (``activeRecoveryAction``) that hands the task to the board or a person."""
    if not isinstance(action, dict) or action.get("status") not in ("active", "escalated"):
        return None
    owner = action.get("ownerType")
    return owner if owner in ("board", "user") else None


def _recovery_kind(action: Any) -> str | None:
    """The kind of Paperclip's active recovery on a task (``missing_disposition``, ...), or None."""
    if not isinstance(action, dict) or action.get("status") not in ("active", "escalated"):
        return None
    return intern(text(action.get("kind"))[:64] or "unknown")


def _labels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = []
    for item in value:
        name = text(item.get("name")) if isinstance(item, dict) else text(item)
        if name:
            names.append(name)
    return tuple(names)


class _Blocker(msgspec.Struct, gc=False):
    """One entry of ``blockedBy``: only its id is read."""

    id: str | None = None


class IssueRow(msgspec.Struct, rename="camel", gc=False):
    """The fields of an issue row that agentwatch reads, typed as Paperclip sends them; Paperclip
    sends about 40, and decoding skips the others without building them. msgspec decodes a
    well-formed page straight into these rows, timestamps included; ``issue_row`` cleans a row
    of any other shape into one, value by value, so that one odd value costs that value, not the
    row."""

    id: str | None = None
    identifier: str | None = None
    status: str | None = None
    title: str | None = None
    assignee_agent_id: str | None = None
    assignee_user_id: str | None = None
    parent_id: str | None = None
    execution_run_id: str | None = None
    checkout_run_id: str | None = None
    blocked_by: list[_Blocker] | None = None
    unblock_descriptor: Any = None
    active_recovery_action: Any = None
    labels: Any = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _blockers(value: Any) -> list[_Blocker] | None:
    """``blockedBy`` as a list of blockers: objects with an id, or bare ids; anything else is none."""
    if not isinstance(value, list):
        return None
    return [_Blocker(text(item.get("id")) if isinstance(item, dict) else text(item)) for item in value]


def _text_or_none(value: Any) -> str | None:
    return text(value) or None


def _bool_or_none(value: Any) -> bool | None:
    return value if value.__class__ is bool else None


def _number_or_none(value: Any) -> float | None:
    f = number(value, math.nan)
    return None if math.isnan(f) else f


def _kept(value: Any) -> Any:
    return value  # a field typed Any: the parser reads it with its own checks


_CLEANERS: dict[Any, Callable[[Any], Any]] = {
    str | None: _text_or_none,
    float | None: _number_or_none,
    bool | None: _bool_or_none,
    datetime | None: _datetime,
    list[_Blocker] | None: _blockers,
}


class RowCleaner(Generic[S]):
    """A typed row from a decoded JSON value, each value cleaned to its field's type (strings
    from numbers too, a number from a numeric string, an invalid timestamp as none); ``None`` if
    the value is not an object. The row-by-row path of a page msgspec rejects, and of a parser
    handed a dict, so that one odd value costs that value, not the row. A typed row is returned
    as it is, so every parser but the issues' (100k rows a resync: it checks inline) starts here."""

    def __init__(self, struct: type[S]) -> None:
        self.struct = struct
        self.fields = tuple((f.encode_name, self._cleaner(struct, f)) for f in msgspec.structs.fields(struct))

    @staticmethod
    def _cleaner(struct: type[S], field: msgspec.structs.FieldInfo) -> Callable[[Any], Any]:
        if field.type is Any:
            return _kept
        if field.type not in _CLEANERS:
            raise TypeError(f"{struct.__name__}.{field.name}: no cleaner for {field.type}")
        return _CLEANERS[field.type]

    def __call__(self, row: Any) -> S | None:
        if row.__class__ is self.struct:
            return row
        if not isinstance(row, dict):
            return None
        get = row.get
        return self.struct(*[clean(get(key)) for key, clean in self.fields])


class TypedPage(Generic[S]):
    """Decode a JSON array of rows into typed rows (``None`` for a row that is not an object).

    A well-formed page is decoded by msgspec straight into rows: no dict per row, no string for
    a field agentwatch does not read. A page msgspec rejects (a row that is not an object, a
    value of another type, a timestamp that is not RFC 3339) is decoded again by ``json.loads``
    and cleaned row by row (``RowCleaner``). Anything but an array is returned as decoded, for
    the caller's ``as_list``; invalid JSON raises ``ValueError``."""

    def __init__(self, clean: RowCleaner[S]) -> None:
        self.clean = clean
        self._decoder: msgspec.json.Decoder[list[S]] = msgspec.json.Decoder(GenericAlias(list, (clean.struct,)))

    def __call__(self, raw: bytes | memoryview) -> list[S | None] | Any:
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError:
            payload = json.loads(bytes(raw))
        return [self.clean(row) for row in payload] if isinstance(payload, list) else payload


def issue(data: IssueRow | JsonObject, canary_prefix: str = "", canary_label: str = "") -> Issue | None:
    # the hottest parser (100k rows per full resync): every value is already of its field's type.
    # Ids and enums are interned: 100k issues hold the same few agents and statuses,
    # and an issue's id is held again as its children's parent and its dependants' blocker.
    row = data if data.__class__ is IssueRow else issue_row(data)
    if row is None:
        return None
    iid = row.id
    if not iid:
        return None
    title = row.title or ""
    labels = _labels(row.labels) if row.labels else ()
    unblock, recovery, blockers = row.unblock_descriptor, row.active_recovery_action, row.blocked_by
    agent, user, parent = row.assignee_agent_id, row.assignee_user_id, row.parent_id
    started, completed, created, updated = row.started_at, row.completed_at, row.created_at, row.updated_at
    # positional, in the order of Issue's fields (a third of the cost of keywords, 100k times)
    return Issue(
        intern(iid),  # id
        row.identifier or iid[:8],
        intern(row.status or "unknown"),
        intern(agent) if agent else None,  # assignee_agent_id
        intern(user) if user else None,  # assignee_user_id
        intern(parent) if parent else None,  # parent_id
        tuple([intern(b.id) for b in blockers if b.id]) if blockers else (),
        row.execution_run_id or None,
        row.checkout_run_id or None,
        (_unblock_owner(unblock) if unblock else None) or (_recovery_owner(recovery) if recovery else None),
        labels,
        None if started is None else started.timestamp(),
        None if completed is None else completed.timestamp(),
        None if created is None else created.timestamp(),
        None if updated is None else updated.timestamp(),
        bool(canary_prefix and title.startswith(canary_prefix)) or bool(canary_label and canary_label in labels),
        _recovery_kind(recovery) if recovery else None,
    )


class RunRow(msgspec.Struct, rename="camel", gc=False):
    """A heartbeat run as agentwatch reads it, typed (see ``IssueRow``); the context snapshot and
    the usage stay JSON values, read by ``run`` with their own checks."""

    id: str | None = None
    company_id: str | None = None
    agent_id: str | None = None
    status: str | None = None
    invocation_source: str | None = None
    error_code: str | None = None
    issue_id: str | None = None
    liveness_state: str | None = None
    retry_of_run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    created_at: datetime | None = None
    context_snapshot: Any = None
    usage_json: Any = None
    session_id_before: str | None = None
    session_id_after: str | None = None


MAX_SESSION_ID = 256  # a session id is only compared with another: a longer one is junk, kept short


def run(data: RunRow | JsonObject) -> Run | None:
    row = run_row(data)
    if row is None:
        return None
    rid = row.id
    if not rid:
        return None
    context = row.context_snapshot if isinstance(row.context_snapshot, dict) else {}
    usage = row.usage_json if isinstance(row.usage_json, dict) else {}
    cost = usage.get("costUsd")
    return Run(
        id=rid,
        company_id=row.company_id or "",
        agent_id=row.agent_id or "",
        status=row.status or "unknown",
        invocation_source=row.invocation_source or "",
        error_code=row.error_code or "",
        issue_id=text(context.get("issueId")) or row.issue_id or None,
        liveness_state=row.liveness_state or "",
        retry_of_run_id=row.retry_of_run_id or None,
        started_at=timestamp(row.started_at),
        finished_at=timestamp(row.finished_at),
        created_at=timestamp(row.created_at),
        input_tokens=integer(usage.get("inputTokens")),
        output_tokens=integer(usage.get("outputTokens")),
        cost_usd=None if cost is None else number(cost),
        model=text(usage.get("model")),
        session_id_before=row.session_id_before[:MAX_SESSION_ID] if row.session_id_before else None,
        session_id_after=row.session_id_after[:MAX_SESSION_ID] if row.session_id_after else None,
    )


class CostByModelRow(msgspec.Struct, rename="camel", gc=False):
    """A row of ``costs/by-agent-model`` as agentwatch reads it, typed (see ``IssueRow``)."""

    agent_id: str | None = None
    provider: str | None = None
    biller: str | None = None
    billing_type: str | None = None
    model: str | None = None
    cost_cents: float | None = None
    input_tokens: float | None = None
    cached_input_tokens: float | None = None
    output_tokens: float | None = None


def cost_row(data: CostByModelRow | JsonObject, company_id: str = "") -> CostRow | None:
    row = cost_by_model_row(data)
    if row is None:
        return None
    aid = row.agent_id
    if not aid:
        return None
    return CostRow(
        company_id=company_id,
        agent_id=aid,
        provider=row.provider or "unknown",
        biller=row.biller or "unknown",
        billing_type=row.billing_type or "unknown",
        model=row.model or "unknown",
        cost_usd=cents_to_usd(row.cost_cents),
        input_tokens=integer(row.input_tokens) or 0,
        cached_input_tokens=integer(row.cached_input_tokens) or 0,
        output_tokens=integer(row.output_tokens) or 0,
    )


class WindowSpendRow(msgspec.Struct, rename="camel", gc=False):
    """A row of ``costs/window-spend`` as agentwatch reads it, typed (see ``IssueRow``)."""

    window: str | None = None
    provider: str | None = None
    cost_cents: float | None = None


def window_spend(data: WindowSpendRow | JsonObject, company_id: str = "") -> WindowSpend | None:
    row = window_spend_row(data)
    if row is None:
        return None
    window = row.window
    if not window:
        return None
    return WindowSpend(
        company_id=company_id,
        provider=row.provider or "unknown",
        window=window,
        cost_usd=cents_to_usd(row.cost_cents),
    )


class BudgetPolicyRow(msgspec.Struct, rename="camel", gc=False):
    """A policy of ``budgets/overview`` as agentwatch reads it, typed (see ``IssueRow``)."""

    policy_id: str | None = None
    company_id: str | None = None
    scope_type: str | None = None
    scope_id: str | None = None
    scope_name: str | None = None
    window_kind: str | None = None
    amount: float | None = None
    observed_amount: float | None = None
    warn_percent: float | None = None
    hard_stop_enabled: bool | None = None
    status: str | None = None
    paused: bool | None = None
    pause_reason: str | None = None


def budget_policy(data: BudgetPolicyRow | JsonObject) -> BudgetPolicy | None:
    row = budget_policy_row(data)
    if row is None:
        return None
    pid = row.policy_id
    if not pid:
        return None
    return BudgetPolicy(
        id=pid,
        company_id=row.company_id or "",
        scope_type=row.scope_type or "unknown",
        scope_id=row.scope_id or "",
        scope_name=row.scope_name or row.scope_id or "",
        window_kind=row.window_kind or "unknown",
        amount_usd=cents_to_usd(row.amount),
        observed_usd=cents_to_usd(row.observed_amount),
        warn_ratio=number(row.warn_percent, 80.0) / 100.0,
        hard_stop_enabled=row.hard_stop_enabled is True,
        status=row.status or "unknown",
        paused=row.paused is True,
        pause_reason=row.pause_reason or "",
    )


class BudgetIncidentRow(msgspec.Struct, rename="camel", gc=False):
    """An active incident of ``budgets/overview`` as agentwatch reads it, typed (see ``IssueRow``)."""

    id: str | None = None
    company_id: str | None = None
    policy_id: str | None = None
    scope_type: str | None = None
    scope_id: str | None = None
    threshold_type: str | None = None
    status: str | None = None
    created_at: datetime | None = None


def budget_incident(data: BudgetIncidentRow | JsonObject) -> BudgetIncident | None:
    row = budget_incident_row(data)
    if row is None:
        return None
    iid = row.id
    if not iid:
        return None
    return BudgetIncident(
        id=iid,
        company_id=row.company_id or "",
        policy_id=row.policy_id or "",
        scope_type=row.scope_type or "unknown",
        scope_id=row.scope_id or "",
        threshold_type=row.threshold_type or "unknown",
        status=row.status or "open",
        created_at=timestamp(row.created_at),
    )


class ApprovalRow(msgspec.Struct, rename="camel", gc=False):
    """An approval as agentwatch reads it, typed (see ``IssueRow``)."""

    id: str | None = None
    company_id: str | None = None
    type: str | None = None
    status: str | None = None
    requested_by_agent_id: str | None = None
    created_at: datetime | None = None


def approval(data: ApprovalRow | JsonObject) -> Approval | None:
    row = approval_row(data)
    if row is None:
        return None
    aid = row.id
    if not aid:
        return None
    return Approval(
        id=aid,
        company_id=row.company_id or "",
        type=row.type or "unknown",
        status=row.status or "unknown",
        requested_by_agent_id=row.requested_by_agent_id or None,
        created_at=timestamp(row.created_at),
    )


# the typed rows' cleaners; the page decoder of the issues (``TypedPage``). The other
# endpoints' rows are decoded one by one, when they change (``kept_rows.KeptRows``).
issue_row = RowCleaner(IssueRow)
issue_page = TypedPage(issue_row)  # a page of ``/issues``
company_row = RowCleaner(CompanyRow)  # ``/api/companies``
agent_row = RowCleaner(AgentRow)  # ``/companies/{id}/agents``
cost_by_model_row = RowCleaner(CostByModelRow)  # ``/companies/{id}/costs/by-agent-model``
window_spend_row = RowCleaner(WindowSpendRow)  # ``/companies/{id}/costs/window-spend``
run_row = RowCleaner(RunRow)  # ``/companies/{id}/heartbeat-runs`` and ``live-runs``
approval_row = RowCleaner(ApprovalRow)  # ``/companies/{id}/approvals``
scheduler_heartbeat_row = RowCleaner(SchedulerHeartbeatRow)  # ``/api/instance/scheduler-heartbeats``
budget_policy_row = RowCleaner(BudgetPolicyRow)  # the two arrays of ``budgets/overview``
budget_incident_row = RowCleaner(BudgetIncidentRow)
