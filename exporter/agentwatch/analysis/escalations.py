"""Escalations: approval gates that are expected, and those that are not."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from agentwatch.config import EscalationConfig
from agentwatch.model import CompanySnapshot


def classify(approval_type: str, config: EscalationConfig) -> str:
    if approval_type in config.expected:
        return "expected"
    if approval_type in config.unexpected:
        return "unexpected"
    return config.default


@dataclass
class EscalationSignals:
    # (type, status, class) -> count
    approvals: Counter = field(default_factory=Counter)
    # (type, class) -> creation time of the oldest pending approval
    oldest_pending: dict[tuple[str, str], float] = field(default_factory=dict)
    # (agent_id, type, class) -> approvals the agent has requested (all time)
    requested_by_agent: Counter = field(default_factory=Counter)
    # the agent's blocked tasks that wait on the board or a person are a task signal
    # (``TaskSignals.blocked_on_human``), kept across polls with the others


def escalation_signals(cs: CompanySnapshot, config: EscalationConfig) -> EscalationSignals:
    out = EscalationSignals()
    for approval in cs.approvals:
        cls = classify(approval.type, config)
        out.approvals[(approval.type, approval.status, cls)] += 1
        if approval.status == "pending" and approval.created_at is not None:
            key = (approval.type, cls)
            out.oldest_pending[key] = min(out.oldest_pending.get(key, approval.created_at), approval.created_at)
        if approval.requested_by_agent_id:
            out.requested_by_agent[(approval.requested_by_agent_id, approval.type, cls)] += 1
    return out
