"""The budget families: the company's budget and spend, its rolling-window spend and open
incidents (written fresh each build: a few lines per company), and each budget policy (a store
entry: its lines change only when the policy or its spend does)."""

from __future__ import annotations

import msgspec

from agentwatch.exposition import registry as r
from agentwatch.exposition.agents import with_extra
from agentwatch.exposition.families import Families
from agentwatch.model import BudgetPolicy, CompanySnapshot

POLICY_STATUSES = ("ok", "warning", "hard_stop")


def company_budget(w: Families, base: dict[str, str], cs: CompanySnapshot) -> None:
    company = cs.company
    w.add(r.COMPANY_BUDGET, base, company.budget_monthly_usd)
    w.add(r.COMPANY_SPEND, base, company.spent_monthly_usd)
    for spend in cs.window_spend:
        w.add(r.COMPANY_WINDOW_SPEND, {**base, "window": spend.window, "provider": spend.provider}, spend.cost_usd)


def open_incidents(w: Families, base: dict[str, str], cs: CompanySnapshot) -> None:
    """The company's open budget incidents by scope type and threshold."""
    counts: dict[tuple[str, str], int] = {}
    for incident in cs.incidents:
        if incident.status == "open":
            key = (incident.scope_type, incident.threshold_type)
            counts[key] = counts.get(key, 0) + 1
    for (scope_type, threshold), n in sorted(counts.items()):
        w.add(r.INCIDENTS_OPEN, {**base, "scope_type": scope_type, "threshold": threshold}, n)


class Policy(msgspec.Struct, frozen=True, gc=False):
    """A budget policy as its lines show it."""

    source: str
    company: str
    scope_type: str
    scope: str
    window: str
    amount_usd: float
    observed_usd: float
    warn_ratio: float
    hard_stop_enabled: bool
    status: str

    @classmethod
    def of(cls, base: dict[str, str], p: BudgetPolicy) -> Policy:
        return cls(
            base["source"],
            base["company"],
            p.scope_type,
            p.scope_name,
            p.window_kind,
            p.amount_usd,
            p.observed_usd,
            p.warn_ratio,
            p.hard_stop_enabled,
            p.status,
        )

    def render(self, w: Families) -> None:
        plain = {"source": self.source, "company": self.company, "scope_type": self.scope_type, "scope": self.scope}
        labels = w.labels({**plain, "window": self.window})
        w.add(r.POLICY_AMOUNT, labels, self.amount_usd)
        w.add(r.POLICY_OBSERVED, labels, self.observed_usd)
        w.add(r.POLICY_UTILIZATION, labels, self.observed_usd / self.amount_usd if self.amount_usd > 0 else 0.0)
        w.add(r.POLICY_WARN, labels, self.warn_ratio)
        w.add(r.POLICY_HARD_STOP, labels, float(self.hard_stop_enabled))
        for status in with_extra(POLICY_STATUSES, self.status):
            w.add(r.POLICY_STATUS, labels, 1.0 if self.status == status else 0.0, ("status", status))
