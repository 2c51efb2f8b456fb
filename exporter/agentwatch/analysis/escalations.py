"""Escalations: approval gates that are expected, and those that are not.

Each approval type is classed by the config as an expected gate or an unexpected escalation, so
that the alerts can tell a routine sign-off from an agent that got stuck and asked for help.
The signals are worked out from the poll's approvals alone, a frozen value per poll.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from agentwatch.config import EscalationConfig
from agentwatch.model import CompanySnapshot


def classify(approval_type: str, config: EscalationConfig) -> str:
    if approval_type in config.expected:
        return "expected"
    if approval_type in config.unexpected:
        return "unexpected"
    return config.default


@dataclass(frozen=True, slots=True)
class EscalationSignals:
    # (type, status, class) -> count
    approvals: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    # (type, class) -> creation time of the oldest pending approval
    oldest_pending: Mapping[tuple[str, str], float] = field(default_factory=dict)
    # (agent_id, type, class) -> approvals the agent has requested (all time)
    requested_by_agent: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    # the agent's blocked tasks that wait on the board or a person are a task signal
    # (``TaskSignals.blocked_on_human``), kept across polls with the others


def escalation_signals(cs: CompanySnapshot, config: EscalationConfig) -> EscalationSignals:
    approvals: Counter[tuple[str, str, str]] = Counter()
    oldest: dict[tuple[str, str], float] = {}
    requested: Counter[tuple[str, str, str]] = Counter()
    for approval in cs.approvals:
        cls = classify(approval.type, config)
        approvals[(approval.type, approval.status, cls)] += 1
        if approval.status == "pending" and approval.created_at is not None:
            key = (approval.type, cls)
            oldest[key] = min(oldest.get(key, approval.created_at), approval.created_at)
        if approval.requested_by_agent_id:
            requested[(approval.requested_by_agent_id, approval.type, cls)] += 1
    return EscalationSignals(MappingProxyType(approvals), MappingProxyType(oldest), MappingProxyType(requested))
