"""What a Paperclip live event says changed: the endpoints a targeted refresh reads again.

Events are triggers, not data. ``/api/companies/{id}/events/ws`` pushes one JSON object per
frame, ``{"id", "companyId", "type", "createdAt", "payload"}``; ``targets_of`` reads only its
``type`` and, for ``activity.logged``, the ``entityType`` and ``action`` of its payload, and
names what to read again through the same REST paths a poll reads. A run's start reads the
live runs alone: the run joins the recent runs when it ends. The in-flight spend (a request per
agent with a live run) is read again only when a cost is reported; a refresh of the live runs
alone drops the agents whose runs ended. A payload stripped for a
caller that may not see it (Paperclip strips them for callers that are not local) still names
its type, which is all the mapping needs.

The types as ``server/src/realtime`` and ``services/heartbeat`` send them (2026.916.1):

| event | what changed | refreshed |
|---|---|---|
| ``heartbeat.run.queued`` | a run was queued | live runs |
| ``heartbeat.run.status`` running | a run started | live runs |
| ``heartbeat.run.status`` ended | a run finished, failed or was cancelled; its cost landed | runs, live runs, costs, agents, companies |
| ``heartbeat.run.progress``, ``.event``, ``.log`` | output inside a run | nothing (read with the run) |
| ``agent.status`` | an agent's status | agents |
| ``activity.logged`` issue | an issue was created, changed or commented | issues |
| ``activity.logged`` approval | an approval was requested or decided | approvals, issues |
| ``activity.logged`` cost | a cost was reported | costs, in-flight spend, budgets, agents, companies |
| ``activity.logged`` budget | a budget, its threshold or incident changed (agents paused, approvals opened) | the same, and approvals |
| ``activity.logged`` company | a company was changed | companies |
| ``activity.logged`` agent | an agent was created, changed, paused | agents, the scheduler's table |
| ``activity.logged`` heartbeat_run | a run was invoked or cancelled | runs, live runs |
| anything else | nothing agentwatch reads | nothing |
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Target(str, Enum):
    """A part of a company's data that a targeted refresh reads again."""

    AGENTS = "agents"
    RUNS = "runs"
    LIVE_RUNS = "live_runs"
    COSTS = "costs"  # costs by agent and model, and window spend
    IN_FLIGHT_SPEND = "in_flight_spend"  # the spend of agents with live runs: one request per agent
    BUDGETS = "budgets"
    APPROVALS = "approvals"
    ISSUES = "issues"
    SCHEDULES = "schedules"  # the scheduler's table (instance-wide), and the agents merged with it
    COMPANIES = "companies"  # the companies' rows (instance-wide): their month spend, budget and status


EVERYTHING: frozenset[Target] = frozenset(Target)
NOTHING: frozenset[Target] = frozenset()

# the ``type`` label of ``agentwatch_live_events_received_total``: these, or "other"
KNOWN_TYPES = (
    "heartbeat.run.queued",
    "heartbeat.run.status",
    "heartbeat.run.progress",
    "heartbeat.run.event",
    "heartbeat.run.log",
    "agent.status",
    "activity.logged",
)

# a cost lands in the cost rows, the agent's and the company's month spend and the budgets; a
# budget action may also pause agents and open an approval, with no event of their own
_SPEND = frozenset({Target.COSTS, Target.IN_FLIGHT_SPEND, Target.BUDGETS, Target.AGENTS, Target.COMPANIES})
_BUDGET = _SPEND | {Target.APPROVALS}
RUN_ENDED = frozenset({Target.RUNS, Target.LIVE_RUNS, Target.COSTS, Target.AGENTS, Target.COMPANIES})
_RUN_LIVE_STATUSES = frozenset({"queued", "running", "scheduled_retry"})

_BY_TYPE: dict[str, frozenset[Target]] = {
    "heartbeat.run.queued": frozenset({Target.LIVE_RUNS}),
    "heartbeat.run.progress": NOTHING,
    "heartbeat.run.event": NOTHING,
    "heartbeat.run.log": NOTHING,
    "agent.status": frozenset({Target.AGENTS}),
}

_BY_ENTITY: dict[str, frozenset[Target]] = {
    "issue": frozenset({Target.ISSUES}),
    "approval": frozenset({Target.APPROVALS, Target.ISSUES}),
    "cost_event": _SPEND,
    "budget_policy": _BUDGET,
    "budget_incident": _BUDGET,
    "company": frozenset({Target.COMPANIES}),
    "agent": frozenset({Target.AGENTS, Target.SCHEDULES}),
    "heartbeat_run": frozenset({Target.RUNS, Target.LIVE_RUNS}),
}


def type_label(event: Any) -> str:
    """The event's type as a bounded label value: a known type, or ``other``."""
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if kind in KNOWN_TYPES else "other"


def targets_of(event: Any) -> frozenset[Target]:
    """What ``event`` (one decoded frame) says may have changed; nothing for an event agentwatch
    does not read, or a frame that is not an event."""
    if not isinstance(event, dict):
        return NOTHING
    kind = event.get("type")
    payload = event.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    if kind == "heartbeat.run.status":
        status = payload.get("status")
        if status in _RUN_LIVE_STATUSES:
            return frozenset({Target.LIVE_RUNS})
        return RUN_ENDED  # ended, or a status the payload does not name (stripped): read it all
    if kind == "activity.logged":
        return _activity_targets(payload)
    return _BY_TYPE.get(kind, NOTHING) if isinstance(kind, str) else NOTHING


def spend_agent(event: Any) -> str | None:
    """The agent a cost event names (Paperclip sets ``agentId`` when an agent reports its own
    cost), whose in-flight spend alone then needs reading; None: not one named."""
    payload = event.get("payload") if isinstance(event, dict) else None
    if not isinstance(payload, dict) or not str(payload.get("action") or "").startswith("cost."):
        return None
    agent = payload.get("agentId")
    return agent if isinstance(agent, str) and agent else None


def _activity_targets(payload: dict[str, Any]) -> frozenset[Target]:
    entity, action = payload.get("entityType"), payload.get("action")
    if isinstance(action, str):
        if "budget" in action:
            return _BUDGET
        if action.startswith("cost."):
            return _SPEND
        if action.startswith("approval."):
            return _BY_ENTITY["approval"]
    if not isinstance(entity, str):
        return EVERYTHING if not payload else NOTHING  # a stripped payload: it may be anything
    return _BY_ENTITY.get(entity, NOTHING)
