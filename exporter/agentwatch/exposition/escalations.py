"""The escalation families: the company's approvals by type, status and class and the oldest
pending one (written fresh each build), and per agent the approvals it requested, grouped here
for the agents' entries (``agents.AgentApprovals``)."""

from __future__ import annotations

from typing import Mapping, NamedTuple

from agentwatch.analysis.escalations import EscalationSignals, escalation_signals
from agentwatch.config import EscalationConfig
from agentwatch.exposition import registry as r
from agentwatch.exposition.families import Families
from agentwatch.model import CompanySnapshot


class Approvals(NamedTuple):
    """The company's escalation signals, and per agent the approvals it requested: (type,
    class, count), sorted."""

    signals: EscalationSignals
    requested: Mapping[str, tuple[tuple[str, str, int], ...]]

    @classmethod
    def of(cls, cs: CompanySnapshot, config: EscalationConfig) -> Approvals:
        signals = escalation_signals(cs, config)
        requested: dict[str, list[tuple[str, str, int]]] = {}
        for (agent_id, typ, kind), n in sorted(signals.requested_by_agent.items()):
            requested.setdefault(agent_id, []).append((typ, kind, n))
        return cls(signals, {agent_id: tuple(counts) for agent_id, counts in requested.items()})


def approvals(w: Families, base: dict[str, str], now: float, signals: EscalationSignals) -> None:
    for (typ, status, cls), n in sorted(signals.approvals.items()):
        w.add(r.APPROVALS_BY_STATUS, {**base, "type": typ, "status": status, "class": cls}, n)
    for (typ, cls), created in sorted(signals.oldest_pending.items()):
        w.add(r.OLDEST_PENDING_APPROVAL, {**base, "type": typ, "class": cls}, max(0.0, now - created))
