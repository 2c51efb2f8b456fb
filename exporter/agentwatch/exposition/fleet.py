"""The fleet metrics of one source: the five health signals and their raw inputs.

``FleetBuilder.build()`` runs in the poller after each successful poll; a scrape only joins
the rendered families, so it never waits on the platform. This module only orchestrates: each
domain module (agents, tasks, runs, context, loops, budget, escalations, deadlocks) says what
its lines are. Per entity (an agent's aspect, a budget policy) the build hands the store
(``store.MetricsStore``) a frozen value that renders itself; the store renders it again only
when it changed, and drops what the build did not hand it. Lines that move with the clock and
the small company lines are written fresh in every build.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from agentwatch.analysis import agents as agent_analysis
from agentwatch.analysis.budget import days_in_month
from agentwatch.analysis.company import CompanyAnalyses
from agentwatch.analysis.context import ContextWindows
from agentwatch.analysis.ledger import LedgerView, RunLedger
from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.analysis.tasks import UNASSIGNED, TaskSignals
from agentwatch.config import Settings, Thresholds
from agentwatch.exposition import budget, context, deadlocks, escalations, loops, registry, runs, tasks
from agentwatch.exposition.agents import AgentActivity, agent_profile, grouped_by_agent, runs_by_agent
from agentwatch.exposition.derived import Derived
from agentwatch.exposition.families import Families, Family, LabelSet, Rendered
from agentwatch.exposition.store import MetricsStore
from agentwatch.model import CompanySnapshot, Snapshot, SourceCapabilities

log = logging.getLogger("agentwatch.exposition")

UNASSIGNED_LABEL = "(unassigned)"


@dataclass(frozen=True, slots=True)
class Fleet:
    """The fleet's families as one build rendered them."""

    rendered: Rendered

    def render(self) -> Rendered:
        return self.rendered


@dataclass(frozen=True, slots=True)
class _Build:
    """What every company of one build shares."""

    source: str
    now: float
    view: LedgerView
    models: ModelTracker
    fresh: Families
    labels: dict[tuple[str, str], LabelSet]  # the agents' labels of this build, by (company id, agent id)


@dataclass(frozen=True, slots=True)
class Resolved:
    """An agent's thresholds as the config resolves them, with their (name, value) items and the
    (loop_min_age, loop_min_calls) the loop signals ask for."""

    thresholds: Thresholds
    items: tuple[tuple[str, float], ...]
    loop_limits: tuple[float, float]

    @classmethod
    def of(cls, thresholds: Thresholds) -> Resolved:
        return cls(thresholds, tuple(thresholds.model_dump().items()), (thresholds.loop_min_age, thresholds.loop_min_calls))


def agent_labels(cs: CompanySnapshot) -> dict[str, str]:
    """A readable, unique ``agent`` label per agent id: its name, made unique by an id suffix."""
    names: dict[str, int] = {}
    for agent in cs.agents.values():
        names[agent.name] = names.get(agent.name, 0) + 1
    return {a.id: a.name if names[a.name] == 1 else f"{a.name} ({a.id[:8]})" for a in cs.agents.values()}


def shown_by(capabilities: SourceCapabilities) -> Callable[[Family], bool]:
    """Whether a family shows: every capability it needs, the source has."""
    return lambda family: all(getattr(capabilities, need) for need in family.needs)


class FleetBuilder:
    def __init__(self, settings: Settings, windows: ContextWindows | None = None) -> None:
        self.settings = settings
        self.windows = windows or ContextWindows(settings.analysis.context_windows)
        self.store = MetricsStore(registry.FLEET)
        self._derived = Derived()
        # per (role, overriding name, overriding id): the thresholds, resolved once for the
        # builder's life (the config is fixed); agents of a role share them
        self._resolved: dict[tuple[str, str, str], Resolved] = {}
        self._default = Resolved.of(settings.thresholds.defaults)
        # each agent's labels as the last build wrote them: equal labels stay the same object, so
        # that comparing the values that hold them is an identity check
        self._labels: dict[tuple[str, str], LabelSet] = {}
        self._shown_by: dict[SourceCapabilities, Callable[[Family], bool]] = {}

    def build(
        self,
        snapshot: Snapshot,
        ledger: RunLedger,
        now: float,
        analyses: Mapping[str, CompanyAnalyses] | None = None,
        models: ModelTracker | None = None,
    ) -> tuple[Fleet, dict[str, int]]:
        """Families for one snapshot, and the number of series dropped by the cardinality guard.
        ``analyses``: the poller's, per company id, updated with this snapshot; a company without
        them is analysed from scratch."""
        store = self.store
        store.begin()
        self._derived.begin()
        companies, dropped = self._guarded(snapshot)
        build = _Build(snapshot.source, now, ledger.view(), models or ModelTracker(), Families(store.pairs), {})
        for cs in companies:
            held = (analyses or {}).get(cs.company.id) or CompanyAnalyses.of(cs, now)
            self._company(build, cs, held)
        store.delete_unseen()
        self._derived.end()
        self._labels = build.labels
        return Fleet(store.render(build.fresh, self._shown(snapshot.capabilities), bool(companies))), dropped

    def _shown(self, capabilities: SourceCapabilities) -> Callable[[Family], bool]:
        """``shown_by(capabilities)``, worked out once per family for the builder's life."""
        shown = self._shown_by.get(capabilities)
        if shown is None:
            shown = self._shown_by[capabilities] = frozenset(filter(shown_by(capabilities), self.store.families)).__contains__
        return shown

    def _guarded(self, snapshot: Snapshot) -> tuple[list[CompanySnapshot], dict[str, int]]:
        """The companies and agents within the cardinality guard (``limits``), by id, and how many it left out."""
        limits = self.settings.limits
        companies = sorted(snapshot.companies.values(), key=lambda c: c.company.id)
        dropped = {"companies": max(0, len(companies) - limits.max_companies), "agents": 0}
        guarded, budget_left = [], limits.max_agents
        for cs in companies[: limits.max_companies]:
            kept = sorted(cs.agents)[: max(0, budget_left)]
            dropped["agents"] += len(cs.agents) - len(kept)
            budget_left -= len(kept)
            guarded.append(cs if len(kept) == len(cs.agents) else replace(cs, agents={k: cs.agents[k] for k in kept}))
        return guarded, dropped

    def _company(self, build: _Build, cs: CompanySnapshot, held: CompanyAnalyses) -> None:
        company, fresh, cid = cs.company, build.fresh, cs.company.id
        base = {"source": build.source, "company": company.name}
        fresh.add(registry.COMPANY_INFO, {**base, "company_id": company.id, "status": company.status}, 1.0)
        budget.company_budget(fresh, base, cs)
        labels = self._agent_labels(build, base, cs)
        signals = held.tasks.signals(cs, build.now)
        tasks.company_tasks(fresh, base, signals)
        if signals.by_agent.get(UNASSIGNED):  # the unassigned tasks have their queue depth alone
            unassigned = self._labels_of(build, cid, UNASSIGNED, {**base, "agent": UNASSIGNED_LABEL, "role": ""})
            self.store.upsert(("agent", cid, UNASSIGNED, "tasks"), tasks.unassigned_tasks(unassigned, signals))
        config = self.settings.escalations
        approvals = self._derived.of(
            "approvals", cid, cs.approvals, lambda rows: escalations.Approvals.of(replace(cs, approvals=list(rows)), config)
        )
        self._agents(build, cs, labels, signals, approvals, held)
        runs.runs(fresh, cid, labels, build.view)
        runs.context_runs(fresh, cid, labels, build.view)
        for agent_id, values in context.context_by_agent(labels, held.tracker, self.windows, held.streaks).items():
            self.store.upsert(("agent", cid, agent_id, "context"), context.AgentContext(labels[agent_id], values))
        for policy in cs.policies:  # a policy's lines change only when the policy or its spend does
            self.store.upsert(("policy", cid, policy.id), budget.Policy.of(base, policy))
        budget.open_incidents(fresh, base, cs)
        escalations.approvals(fresh, base, build.now, approvals.signals)
        deadlocks.deadlocks(fresh, base, held.deps, self.settings.limits.top_n, build.now)

    def _labels_of(self, build: _Build, cid: str, agent_id: str, plain: dict[str, str]) -> LabelSet:
        """The agent's labels: the last build's object while they are equal to ``plain``."""
        labels = self._labels.get((cid, agent_id))
        if labels is None or labels != plain:
            labels = build.fresh.labels(plain)
        build.labels[(cid, agent_id)] = labels
        return labels

    def _agent_labels(self, build: _Build, base: dict[str, str], cs: CompanySnapshot) -> dict[str, LabelSet]:
        """Each agent's labels, by agent id, in agent id order."""
        names = agent_labels(cs)
        cid = cs.company.id
        return {
            aid: self._labels_of(build, cid, aid, {**base, "agent": names[aid], "role": cs.agents[aid].role}) for aid in sorted(cs.agents)
        }

    def _thresholds(self, cs: CompanySnapshot) -> dict[str, Resolved]:
        """Each agent's resolved thresholds, by agent id."""
        cfg, cache = self.settings.thresholds, self._resolved
        out: dict[str, Resolved] = {}
        for agent in cs.agents.values():
            key = (agent.role, agent.name if agent.name in cfg.agents else "", agent.id if agent.id in cfg.agents else "")
            found = cache.get(key)
            if found is None:
                found = cache[key] = Resolved.of(cfg.resolve(key[1], key[2], agent.role))
            out[agent.id] = found
        return out

    def _agents(
        self,
        build: _Build,
        cs: CompanySnapshot,
        labels: dict[str, LabelSet],
        signals: TaskSignals,
        approvals: escalations.Approvals,
        held: CompanyAnalyses,
    ) -> None:
        """Every agent's entries, agent by agent, and its two ages that move with the clock."""
        cid, now, upsert = cs.company.id, build.now, self.store.upsert
        resolved, default = self._thresholds(cs), self._default

        def limits(agent_id: str) -> tuple[float, float]:  # an agent not shown: the defaults
            return resolved.get(agent_id, default).loop_limits

        loop_signals = held.loops.signals(now, limits)
        work_signals = held.work.signals(now, limits)
        activity = self._activity(build, cs)
        requested, tracked, agents = approvals.requested, build.models.agents, cs.agents
        for aid, lab in labels.items():
            upsert(
                ("agent", cid, aid, "profile"),
                agent_profile(lab, agents[aid], resolved[aid].items, tracked.get(aid), requested.get(aid, ())),
            )
            upsert(("agent", cid, aid, "activity"), activity(aid, lab))
            upsert(("agent", cid, aid, "tasks"), tasks.agent_tasks(lab, signals, aid))
            upsert(("agent", cid, aid, "completions"), tasks.agent_completions(lab, signals, aid))
            upsert(("agent", cid, aid, "loops"), loops.AgentLoops.of(lab, loop_signals.get(aid), work_signals.get(aid)))
        tasks.in_progress_ages(build.fresh, labels.items(), signals.oldest_in_progress_age)
        loops.progress_ages(build.fresh, labels.items(), loop_signals)

    def _activity(self, build: _Build, cs: CompanySnapshot) -> Callable[[str, LabelSet], AgentActivity]:
        """``activity(agent_id, labels)``: the agent's activity value in this build."""
        cid, now = cs.company.id, build.now
        agent_runs = self._derived.of("runs", cid, cs.runs, runs_by_agent)
        costs = self._derived.of("costs", cid, cs.costs, grouped_by_agent)
        phantom = agent_analysis.phantom_running(cs)
        live_by_agent = agent_analysis.runs_by_agent([run for run in cs.live_runs if run.live])
        last_finished, in_flight, days = build.view.last_finished, cs.in_flight_spend, days_in_month(now)

        def activity(aid: str, labels: LabelSet) -> AgentActivity:
            agent = cs.agents[aid]
            live = live_by_agent.get(aid, ())
            starts = [run.started_at for run in live if run.started_at is not None]
            return AgentActivity(
                labels,
                aid in phantom,
                agent.last_heartbeat_at,
                last_finished.get((cid, aid)),
                agent_runs.get(aid, ()),
                agent.spent_monthly_usd,
                agent.budget_monthly_usd,
                days,
                in_flight.get(aid, 0.0),
                len(live),
                max(0.0, now - min(starts)) if starts else 0.0,
                costs.get(aid, ()),
            )

        return activity
