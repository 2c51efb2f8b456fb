"""Tolerant parsers: Paperclip JSON in, domain objects out.

Schema drift must never crash the exporter. A row that lacks its id is dropped (and
counted by the caller); every other missing or mistyped field falls back to a neutral
value. A response of the wrong top-level shape raises ``SchemaError``.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any, Callable, Iterable, TypeVar

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

T = TypeVar("T")


class SchemaError(ValueError):
    """The response does not have the shape the endpoint documents."""


def as_list(payload: Any, what: str) -> list:
    if not isinstance(payload, list):
        raise SchemaError(f"{what}: expected a JSON array, got {type(payload).__name__}")
    return payload


def as_dict(payload: Any, what: str) -> dict:
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


def timestamp(value: Any) -> float | None:
    """ISO-8601 (``2026-11-24T05:10:46.834Z``, or a ``datetime`` msgspec decoded it into) to Unix
    seconds; ``None`` if absent or invalid."""
    if value.__class__ is datetime:
        return value.timestamp()
    if value.__class__ is not str or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()  # Python 3.11 reads the trailing Z itself
    except ValueError:
        return None


def shared(value: str) -> str:
    """One copy of a string that repeats across many rows (ids of companies and agents, enums:
    100k issues hold the same few values; an issue's id, held again as its children's parent and
    its dependants' blocker, and by every later poll that returns the row again)."""
    return sys.intern(value) if len(value) < 64 else value


def parse_rows(rows: Iterable[Any], parse: Callable[[Any], T | None]) -> tuple[list[T], int]:
    """Parse every row (a JSON object, or an ``IssueRow`` msgspec decoded); return the parsed
    objects and the number of rows dropped."""
    out: list[T] = []
    dropped = 0
    for row in rows:
        obj = parse(row) if isinstance(row, (dict, IssueRow)) else None
        if obj is None:
            dropped += 1
        else:
            out.append(obj)
    return out, dropped


def company(row: dict) -> Company | None:
    cid = text(row.get("id"))
    if not cid:
        return None
    return Company(
        id=cid,
        name=text(row.get("name")) or cid,
        status=text(row.get("status"), "active"),
        budget_monthly_usd=cents_to_usd(row.get("budgetMonthlyCents")),
        spent_monthly_usd=cents_to_usd(row.get("spentMonthlyCents")),
    )


def _heartbeat(runtime_config: Any) -> Heartbeat:
    hb = runtime_config.get("heartbeat") if isinstance(runtime_config, dict) else None
    if not isinstance(hb, dict):
        return Heartbeat()
    return Heartbeat(enabled=hb.get("enabled") is True, interval_seconds=max(0.0, number(hb.get("intervalSec"))))


def agent(row: dict) -> Agent | None:
    aid = text(row.get("id"))
    if not aid:
        return None
    adapter_config = row.get("adapterConfig") if isinstance(row.get("adapterConfig"), dict) else {}
    return Agent(
        id=aid,
        company_id=text(row.get("companyId")),
        name=text(row.get("name")) or aid,
        role=text(row.get("role"), "general") or "general",
        title=text(row.get("title")),
        status=text(row.get("status"), "unknown") or "unknown",
        adapter_type=text(row.get("adapterType")),
        model=text(adapter_config.get("model")),
        pause_reason=text(row.get("pauseReason")),
        budget_monthly_usd=cents_to_usd(row.get("budgetMonthlyCents")),
        spent_monthly_usd=cents_to_usd(row.get("spentMonthlyCents")),
        last_heartbeat_at=timestamp(row.get("lastHeartbeatAt")),
        heartbeat=_heartbeat(row.get("runtimeConfig")),
        created_at=timestamp(row.get("createdAt")),
        updated_at=timestamp(row.get("updatedAt")),
    )


def scheduler_heartbeat(row: dict) -> tuple[str, Heartbeat, float | None] | None:
    """A row of ``/api/instance/scheduler-heartbeats``: (agent id, schedule, last heartbeat)."""
    aid = text(row.get("id"))
    if not aid:
        return None
    hb = Heartbeat(
        enabled=row.get("heartbeatEnabled") is True,
        interval_seconds=max(0.0, number(row.get("intervalSec"))),
        scheduler_active=row.get("schedulerActive") is True,
    )
    return aid, hb, timestamp(row.get("lastHeartbeatAt"))


def _blocked_by(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    ids = []
    for item in value:
        if isinstance(item, dict):
            bid = text(item.get("id"))
        else:
            bid = text(item)
        if bid:
            ids.append(shared(bid))
    return tuple(ids)


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


def _labels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = []
    for item in value:
        name = text(item.get("name")) if isinstance(item, dict) else text(item)
        if name:
            names.append(name)
    return tuple(names)


class IssueRow(msgspec.Struct, rename="camel", gc=False):
    """The fields of an issue row that agentwatch reads; Paperclip sends about 40, and decoding
    skips the others without building them. Values stay untyped so that one odd value costs that
    value, not the row: ``issue()`` cleans each one."""

    id: Any = None
    company_id: Any = None
    identifier: Any = None
    status: Any = None
    title: Any = None
    priority: Any = None
    assignee_agent_id: Any = None
    assignee_user_id: Any = None
    parent_id: Any = None
    blocked_by: Any = None
    execution_run_id: Any = None
    checkout_run_id: Any = None
    unblock_descriptor: Any = None
    active_recovery_action: Any = None
    labels: Any = None
    started_at: Any = None
    completed_at: Any = None
    created_at: Any = None
    updated_at: Any = None


class _TimedIssueRow(IssueRow, rename="camel", gc=False):
    """The fast path: timestamps decoded to ``datetime`` by msgspec itself."""

    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


_ISSUE_PAGE = msgspec.json.Decoder(list[_TimedIssueRow])
_ISSUE_KEYS = IssueRow.__struct_encode_fields__


def issue_row(row: Any) -> IssueRow | None:
    """An issue row from a decoded JSON value; ``None`` if it is not an object."""
    if row.__class__ is IssueRow or row.__class__ is _TimedIssueRow:
        return row
    if not isinstance(row, dict):
        return None
    get = row.get
    return IssueRow(*[get(key) for key in _ISSUE_KEYS])


def issue_page(raw: bytes) -> Any:
    """Decode one page of ``/issues`` into ``IssueRow``s (``None`` for a row that is not an object).

    Well-formed pages are decoded by msgspec straight into rows: no dict per row, no string for
    a field agentwatch does not read. A page msgspec rejects (a row that is not an object, a
    timestamp that is not RFC 3339) is decoded again by ``json.loads`` and converted row by row,
    so a bad row or value costs only itself. Anything but an array is returned as decoded, for
    the caller's ``as_list``; invalid JSON raises ``ValueError``.
    """
    try:
        return _ISSUE_PAGE.decode(raw)
    except msgspec.DecodeError:
        payload = json.loads(raw)
    return [issue_row(row) for row in payload] if isinstance(payload, list) else payload


def _optional_id(value: Any) -> str | None:
    """An optional id or enum value: one shared copy; ``None`` when absent or empty."""
    if value is None:
        return None
    value = value if value.__class__ is str else text(value)
    return shared(value) if value else None


def _seconds(value: Any) -> float:
    """A timestamp msgspec decoded (a datetime), or one of the row-by-row fallback's (a string)."""
    return value.timestamp() if value.__class__ is datetime else timestamp(value)


def issue(row: IssueRow | dict, canary_prefix: str = "", canary_label: str = "") -> Issue | None:
    # the hottest parser (100k rows per full resync): strings take a fast path, anything else goes
    # through text(), which turns numbers into strings and other types into the default; absent
    # values (most optional fields of most rows) skip their converter
    row = issue_row(row)
    if row is None:
        return None
    iid = row.id
    iid = iid if iid.__class__ is str else text(iid)
    if not iid:
        return None
    title = row.title
    title = title if title.__class__ is str else text(title)
    labels = _labels(row.labels) if row.labels else ()
    is_canary = bool(canary_prefix and title.startswith(canary_prefix)) or bool(canary_label and canary_label in labels)
    status = row.status
    status = status if status.__class__ is str and status else (text(status) or "unknown")
    identifier = row.identifier
    identifier = (identifier if identifier.__class__ is str else text(identifier)) or iid[:8]
    unblock = row.unblock_descriptor
    recovery = row.active_recovery_action
    started, completed, created, updated = row.started_at, row.completed_at, row.created_at, row.updated_at
    execution, checkout = row.execution_run_id, row.checkout_run_id
    # positional, in the order of Issue's fields (a third of the cost of keywords, 100k times)
    return Issue(
        shared(iid),  # id
        _optional_id(row.company_id) or "",  # company_id
        identifier,
        shared(status),
        _optional_id(row.priority) or "",  # priority
        _optional_id(row.assignee_agent_id),
        _optional_id(row.assignee_user_id),
        _optional_id(row.parent_id),
        _blocked_by(row.blocked_by) if row.blocked_by else (),
        None if execution is None else text(execution) or None,  # execution_run_id
        None if checkout is None else text(checkout) or None,  # checkout_run_id
        (_unblock_owner(unblock) if unblock else None) or (_recovery_owner(recovery) if recovery else None),
        labels,
        None if started is None else _seconds(started),
        None if completed is None else _seconds(completed),
        None if created is None else _seconds(created),
        None if updated is None else _seconds(updated),
        is_canary,
    )


def run(row: dict) -> Run | None:
    rid = text(row.get("id"))
    if not rid:
        return None
    context = row.get("contextSnapshot") if isinstance(row.get("contextSnapshot"), dict) else {}
    usage = row.get("usageJson") if isinstance(row.get("usageJson"), dict) else {}
    cost = usage.get("costUsd")
    return Run(
        id=rid,
        company_id=text(row.get("companyId")),
        agent_id=text(row.get("agentId")),
        status=text(row.get("status"), "unknown") or "unknown",
        invocation_source=text(row.get("invocationSource")),
        error_code=text(row.get("errorCode")),
        issue_id=text(context.get("issueId")) or text(row.get("issueId")) or None,
        liveness_state=text(row.get("livenessState")),
        retry_of_run_id=text(row.get("retryOfRunId")) or None,
        started_at=timestamp(row.get("startedAt")),
        finished_at=timestamp(row.get("finishedAt")),
        created_at=timestamp(row.get("createdAt")),
        input_tokens=integer(usage.get("inputTokens")),
        output_tokens=integer(usage.get("outputTokens")),
        cost_usd=None if cost is None else number(cost),
        model=text(usage.get("model")),
    )


def cost_row(row: dict) -> CostRow | None:
    aid = text(row.get("agentId"))
    if not aid:
        return None
    return CostRow(
        company_id="",
        agent_id=aid,
        provider=text(row.get("provider"), "unknown") or "unknown",
        biller=text(row.get("biller"), "unknown") or "unknown",
        billing_type=text(row.get("billingType"), "unknown") or "unknown",
        model=text(row.get("model"), "unknown") or "unknown",
        cost_usd=cents_to_usd(row.get("costCents")),
        input_tokens=integer(row.get("inputTokens")) or 0,
        cached_input_tokens=integer(row.get("cachedInputTokens")) or 0,
        output_tokens=integer(row.get("outputTokens")) or 0,
    )


def window_spend(row: dict) -> WindowSpend | None:
    window = text(row.get("window"))
    if not window:
        return None
    return WindowSpend(
        company_id="",
        provider=text(row.get("provider"), "unknown") or "unknown",
        window=window,
        cost_usd=cents_to_usd(row.get("costCents")),
    )


def budget_policy(row: dict) -> BudgetPolicy | None:
    pid = text(row.get("policyId"))
    if not pid:
        return None
    return BudgetPolicy(
        id=pid,
        company_id=text(row.get("companyId")),
        scope_type=text(row.get("scopeType"), "unknown") or "unknown",
        scope_id=text(row.get("scopeId")),
        scope_name=text(row.get("scopeName")) or text(row.get("scopeId")),
        window_kind=text(row.get("windowKind"), "unknown") or "unknown",
        amount_usd=cents_to_usd(row.get("amount")),
        observed_usd=cents_to_usd(row.get("observedAmount")),
        warn_ratio=number(row.get("warnPercent"), 80.0) / 100.0,
        hard_stop_enabled=row.get("hardStopEnabled") is True,
        status=text(row.get("status"), "unknown") or "unknown",
        paused=row.get("paused") is True,
        pause_reason=text(row.get("pauseReason")),
    )


def budget_incident(row: dict) -> BudgetIncident | None:
    iid = text(row.get("id"))
    if not iid:
        return None
    return BudgetIncident(
        id=iid,
        company_id=text(row.get("companyId")),
        policy_id=text(row.get("policyId")),
        scope_type=text(row.get("scopeType"), "unknown") or "unknown",
        scope_id=text(row.get("scopeId")),
        threshold_type=text(row.get("thresholdType"), "unknown") or "unknown",
        status=text(row.get("status"), "open") or "open",
        created_at=timestamp(row.get("createdAt")),
    )


def approval(row: dict) -> Approval | None:
    aid = text(row.get("id"))
    if not aid:
        return None
    return Approval(
        id=aid,
        company_id=text(row.get("companyId")),
        type=text(row.get("type"), "unknown") or "unknown",
        status=text(row.get("status"), "unknown") or "unknown",
        requested_by_agent_id=text(row.get("requestedByAgentId")) or None,
        created_at=timestamp(row.get("createdAt")),
    )
