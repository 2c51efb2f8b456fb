"""The domain model: what agentwatch knows about one platform, independent of its API.

The source layer turns API responses into these objects; the analysis layer reads them;
the exposition layer turns them into metric families. Times are Unix seconds (float),
money is US dollars (float), and a field the platform did not send is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from agentwatch.model.delta import IssueDelta

TERMINAL_ISSUE_STATUSES = frozenset({"done", "cancelled"})
ISSUE_STATUSES = ("backlog", "todo", "in_progress", "in_review", "blocked", "done", "cancelled")
LIVE_RUN_STATUSES = frozenset({"queued", "running", "scheduled_retry"})
FAILED_RUN_STATUSES = frozenset({"failed", "timed_out"})
# a run's liveness when it follows a tool call that repeated an earlier one (tool and arguments) in
# its conversation: the OpenTelemetry source's mark of a tool loop, counted as an unproductive run
REPEATED_TOOL_CALL = "repeated_tool_call"
AGENT_STATUSES = ("active", "idle", "running", "paused", "error", "pending_approval", "terminated")


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str
    status: str = "active"
    budget_monthly_usd: float = 0.0
    spent_monthly_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """An agent's heartbeat schedule (``runtimeConfig.heartbeat``)."""

    enabled: bool = False
    interval_seconds: float = 0.0
    scheduler_active: bool | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    company_id: str
    name: str
    role: str = "general"
    title: str = ""
    status: str = "idle"
    adapter_type: str = ""
    model: str = ""
    pause_reason: str = ""
    budget_monthly_usd: float = 0.0
    spent_monthly_usd: float = 0.0
    last_heartbeat_at: float | None = None
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    created_at: float | None = None
    updated_at: float | None = None
    run_timeout_seconds: float = 0.0  # the adapter's own limit on one run (0 = none)


class Issue(msgspec.Struct, frozen=True, gc=False):  # parse.issue passes the fields positionally: keep their order
    """A msgspec struct rather than a dataclass: 100k of them stay out of the garbage collector's
    passes (they hold only strings, tuples and numbers, so never a cycle) and are 16 bytes smaller."""

    id: str
    identifier: str
    status: str
    assignee_agent_id: str | None = None
    assignee_user_id: str | None = None
    parent_id: str | None = None
    blocked_by: tuple[str, ...] = ()
    execution_run_id: str | None = None
    checkout_run_id: str | None = None
    unblock_owner: str | None = None  # "board", "user" or "agent" when blocked with a descriptor
    labels: tuple[str, ...] = ()
    started_at: float | None = None
    completed_at: float | None = None
    created_at: float | None = None
    updated_at: float | None = None
    is_canary: bool = False
    # the kind of the platform's own active recovery on the task (Paperclip's ``activeRecoveryAction``,
    # e.g. ``missing_disposition``): a task the platform parked, waiting on a board decision
    recovery: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    company_id: str
    agent_id: str
    status: str
    invocation_source: str = ""
    error_code: str = ""
    issue_id: str | None = None
    liveness_state: str = ""
    retry_of_run_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    created_at: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    model: str = ""
    # the adapter session the run resumed (None: it started a new one, or none is known) and the
    # one it left (``sessionIdBefore``, ``sessionIdAfter``): runs of one conversation chain up
    session_id_before: str | None = None
    session_id_after: str | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE_RUN_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)


@dataclass(frozen=True, slots=True)
class CostRow:
    """All-time spend of one agent on one model (``costs/by-agent-model``)."""

    company_id: str
    agent_id: str
    provider: str
    biller: str
    billing_type: str
    model: str
    cost_usd: float
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class WindowSpend:
    company_id: str
    provider: str
    window: str
    cost_usd: float


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    id: str
    company_id: str
    scope_type: str
    scope_id: str
    scope_name: str
    window_kind: str
    amount_usd: float
    observed_usd: float
    warn_ratio: float
    hard_stop_enabled: bool
    status: str
    paused: bool
    pause_reason: str = ""


@dataclass(frozen=True, slots=True)
class BudgetIncident:
    id: str
    company_id: str
    policy_id: str
    scope_type: str
    scope_id: str
    threshold_type: str
    status: str
    created_at: float | None = None


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    company_id: str
    type: str
    status: str
    requested_by_agent_id: str | None = None
    created_at: float | None = None


@dataclass(frozen=True, slots=True)
class CanaryAnswer:
    """The answer an agent gave to a canary (a task with a known answer) that its own harness ran
    and reported (the OpenTelemetry source: a span naming the canary, with the answer)."""

    id: str
    company_id: str
    canary: str
    agent_id: str
    answer: str | None  # None: the agent gave none (it failed)
    model: str = ""
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(slots=True)
class CompanySnapshot:
    """Everything read about one company in one poll.

    A container, not a row: the source fills it field by field while it polls (the issues and
    their delta last), so it stays mutable; once the source's ``poll`` has returned it, nothing
    changes it. The rows it holds are frozen."""

    company: Company
    agents: dict[str, Agent] = field(default_factory=dict)
    issues: dict[str, Issue] = field(default_factory=dict)
    # what changed in ``issues`` since the source's previous snapshot of the company, as the
    # source knows it without a walk of every issue (None: not known); it holds the previous
    # snapshot's issues, so the poller drops it once its analyses have taken it in
    issue_delta: IssueDelta | None = None
    runs: list[Run] = field(default_factory=list)  # the recent window, newest first
    live_runs: list[Run] = field(default_factory=list)
    live_runs_known: bool = True  # False when the build or token has no live-runs endpoint
    costs: list[CostRow] = field(default_factory=list)
    window_spend: list[WindowSpend] = field(default_factory=list)
    # agent id -> spend recorded since the agent's oldest live run started (Paperclip #11276)
    in_flight_spend: dict[str, float] = field(default_factory=dict)
    policies: list[BudgetPolicy] = field(default_factory=list)
    incidents: list[BudgetIncident] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    canary_answers: list[CanaryAnswer] = field(default_factory=list)  # newest last


@dataclass(frozen=True, slots=True)
class SourceCapabilities:
    """What a source can report at all. A family fed only by a capability the source lacks is
    absent from /metrics, not zero: a framework with no budgets has no budget series, rather than
    budgets of 0 that look like a real, empty budget."""

    budgets: bool = True  # budget policies, incidents, monthly budgets and spend per agent and company
    schedules: bool = True  # heartbeat timers: enabled, interval, scheduler state
    approvals: bool = True  # approval requests (expected gates and escalations)
    costs: bool = True  # cost events: spend and tokens per agent and model
    live_runs: bool = True  # runs in flight, listed while they run
    window_spend: bool = True  # rolling-window spend per provider
    task_locks: bool = True  # execution and checkout locks held by a run


@dataclass(slots=True)
class Snapshot:
    """One source's view of the platform after a poll.

    Mutable for the same reason as ``CompanySnapshot``: the source adds the companies as their
    reads complete, then the schedules and the capabilities that held; after ``poll`` nothing
    changes it."""

    source: str
    taken_at: float
    version: str = ""
    # what the source reported about itself for this snapshot (a feature its platform lacks is off)
    capabilities: SourceCapabilities = SourceCapabilities()
    companies: dict[str, CompanySnapshot] = field(default_factory=dict)
    platform: str = "paperclip"  # the kind of source: the ``platform`` label of agentwatch_source_info
