"""The fleet metrics of one source: the five health signals and their raw inputs.

``build()`` runs in the poller after each successful poll; a scrape only merges the
prebuilt families, so it never waits on the platform.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from agentwatch.analysis import agents as agent_analysis
from agentwatch.analysis.agents import GapStats
from agentwatch.analysis.budget import days_in_month, expected_daily_spend
from agentwatch.analysis.company import CompanyAnalyses
from agentwatch.analysis.context import ContextWindows
from agentwatch.analysis.escalations import EscalationSignals, escalation_signals
from agentwatch.analysis.histogram import Histogram
from agentwatch.analysis.ledger import RUN_DURATION_BUCKETS, LedgerView, RunLedger
from agentwatch.analysis.loops import LoopIndex
from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.analysis.tasks import TASK_DURATION_BUCKETS, UNASSIGNED, TaskSignals
from agentwatch.analysis.work import WorkIndex
from agentwatch.config import Settings, Thresholds
from agentwatch.exposition import failure_modes
from agentwatch.exposition.canary import agent_model
from agentwatch.exposition.families import Families, KeptBlocks, LabelSet
from agentwatch.model import AGENT_STATUSES, ISSUE_STATUSES, Agent, BudgetPolicy, CompanySnapshot, CostRow, Run, Snapshot

log = logging.getLogger("agentwatch.exposition")

POLICY_STATUSES = ("ok", "warning", "hard_stop")
# the task families, in the order they are written: (name, HELP, TYPE)
TASK_FAMILIES = (
    ("agentwatch_agent_tasks", "Tasks per assignee and status (queue depth; canaries excluded).", "gauge"),
    ("agentwatch_company_tasks", "Tasks by status (canaries excluded).", "gauge"),
    ("agentwatch_canary_tasks", "Canary tasks by status (kept out of every other task metric).", "gauge"),
    (
        "agentwatch_agent_tasks_completed",
        "Tasks completed (status done) by the agent, from platform state: restart-safe; a reopened task lowers it.",
        "counter",
    ),
    ("agentwatch_agent_task_duration_seconds", "Duration of completed tasks, startedAt to completedAt.", "histogram"),
    (
        "agentwatch_agent_oldest_in_progress_task_age_seconds",
        "Age of the agent's oldest in-progress task since startedAt (0 = none).",
        "gauge",
    ),
    (
        "agentwatch_agent_stale_locks",
        "Tasks whose execution or checkout lock points at a run that has ended (Paperclip #2912, #3819).",
        "gauge",
    ),
    (
        "agentwatch_agent_tasks_blocked_on_human",
        "The agent's blocked tasks that wait on the board or a person (an unexpected escalation), parked tasks apart.",
        "gauge",
    ),
    (
        "agentwatch_agent_tasks_parked",
        "The agent's tasks the platform's own recovery parked (blocked, a board decision asked, e.g. a missing disposition).",
        "gauge",
    ),
)
_NO_DURATIONS = Histogram(TASK_DURATION_BUCKETS)  # an agent with no completed task: all zero
UNASSIGNED_LABEL = "(unassigned)"


def agent_labels(cs: CompanySnapshot) -> dict[str, str]:
    """A readable, unique ``agent`` label per agent id: its name, made unique by an id suffix."""
    names: dict[str, int] = {}
    for agent in cs.agents.values():
        names[agent.name] = names.get(agent.name, 0) + 1
    return {a.id: a.name if names[a.name] == 1 else f"{a.name} ({a.id[:8]})" for a in cs.agents.values()}


class FleetBuilder:
    def __init__(self, settings: Settings, windows: ContextWindows | None = None) -> None:
        self.settings = settings
        self.windows = windows or ContextWindows(settings.analysis.context_windows)
        self._resolved: dict[tuple[str, str, str], Thresholds] = {}  # (role, overriding name, overriding id)
        self._kept = KeptBlocks()  # lines that change only when their agent does (Families.kept)
        # each agent's labels as the last build wrote them, by (company id, agent id): an agent's
        # LabelSet lives as long as its labels stay, with the places of its further labels
        self._label_sets: dict[tuple[str, str], LabelSet] = {}
        self._next_label_sets: dict[tuple[str, str], LabelSet] = {}
        # what is worked out once from a company's rows, with the rows it came from (``_derived``)
        self._held_derived: dict[tuple[str, str], tuple[object, object]] = {}
        self._next_derived: dict[tuple[str, str], tuple[object, object]] = {}

    def build(
        self,
        snapshot: Snapshot,
        ledger: RunLedger,
        now: float,
        analyses: dict[str, CompanyAnalyses] | None = None,
        models: ModelTracker | None = None,
    ) -> tuple[Families, dict[str, int]]:
        """Families for one snapshot, and the number of series dropped by the cardinality guard.
        ``analyses``: the poller's, per company id, updated with this snapshot; a company without
        them is analysed from scratch."""
        self._kept.next_build()
        self._label_sets, self._next_label_sets = self._next_label_sets, {}
        self._held_derived, self._next_derived = self._next_derived, {}
        f = Families(self._kept)
        dropped = {"companies": 0, "agents": 0}
        limits = self.settings.limits
        companies = sorted(snapshot.companies.values(), key=lambda c: c.company.id)
        if len(companies) > limits.max_companies:
            dropped["companies"] = len(companies) - limits.max_companies
            companies = companies[: limits.max_companies]
        agent_budget = limits.max_agents
        view = ledger.view()
        for cs in companies:
            kept = sorted(cs.agents)[: max(0, agent_budget)]
            dropped["agents"] += len(cs.agents) - len(kept)
            agent_budget -= len(kept)
            if len(kept) < len(cs.agents):
                cs = _with_agents(cs, set(kept))
            held = (analyses or {}).get(cs.company.id) or CompanyAnalyses.of(cs, now)
            try:
                self._company(f, snapshot.source, cs, now, view, held, models or ModelTracker())
            except BaseException:
                # a block taken and not put back would leave its bytes in place: start afresh
                self._kept = KeptBlocks()
                raise
        return f, dropped

    # -- per company -------------------------------------------------------------------------

    def _company(
        self,
        f: Families,
        source: str,
        cs: CompanySnapshot,
        now: float,
        view: LedgerView,
        held: CompanyAnalyses,
        models: ModelTracker,
    ) -> None:
        company = cs.company
        base = {"source": source, "company": company.name}
        names = agent_labels(cs)
        written: dict[str, LabelSet] = {}
        previous, label_sets = self._label_sets, self._next_label_sets

        def alabels(agent_id: str) -> LabelSet:
            """The agent's labels, written once (``Families.labels``) while they stay; not to be changed."""
            labels = written.get(agent_id)
            if labels is None:
                agent = cs.agents.get(agent_id)
                if agent is None:
                    plain = {**base, "agent": UNASSIGNED_LABEL if agent_id == UNASSIGNED else agent_id[:8], "role": ""}
                else:
                    plain = {**base, "agent": names[agent_id], "role": agent.role}
                key = (company.id, agent_id)
                labels = previous.get(key)
                if labels is None or labels != plain:
                    labels = f.labels(plain)
                written[agent_id] = label_sets[key] = labels
            return labels

        f.info("agentwatch_company", "Company metadata.", {**base, "company_id": company.id, "status": company.status})
        f.gauge("agentwatch_company_budget_monthly_usd", "Company monthly budget (0 = none).", base, company.budget_monthly_usd)
        f.gauge("agentwatch_company_spend_month_usd", "Company spend in the current UTC month.", base, company.spent_monthly_usd)
        for w in cs.window_spend:
            f.gauge(
                "agentwatch_company_window_spend_usd",
                "Company spend over a rolling window (5h, 24h, 7d) per provider.",
                {**base, "window": w.window, "provider": w.provider},
                w.cost_usd,
            )

        tasks = held.tasks.signals(cs, now)
        approvals = self._derived("approvals", cs.company.id, cs.approvals, lambda: _Approvals.of(cs, self.settings.escalations))
        self._company_tasks(f, base, cs, alabels, tasks)
        self._agents(f, cs, now, alabels, view, tasks, approvals, held.loops, held.work, models)
        self._runs(f, cs, alabels, view)
        self._budget(f, base, cs)
        self._escalations(f, base, now, approvals.signals)
        failure_modes.context(f, cs, alabels, held.tracker, view, self.windows, held.streaks)
        failure_modes.deadlocks(f, base, held.deps, self.settings, now)

    def _derived(self, name: str, company_id: str, key: object, compute):
        """``compute()``, worked out again only when ``key`` differs from the last build's (an
        equality check: the source hands out the rows that did not change as the same objects,
        so comparing their lists is an identity check per row)."""
        held = self._held_derived.get((name, company_id))
        value = held[1] if held is not None and held[0] == key else compute()
        self._next_derived[(name, company_id)] = (key, value)
        return value

    def _thresholds(self, cs: CompanySnapshot):
        """``resolved(agent_id)``: the agent's thresholds. Agents without overrides of their own
        share one object per role, resolved once for the builder's life (the config is fixed)."""
        cfg = self.settings.thresholds
        cache = self._resolved

        def resolved(agent_id: str):
            agent = cs.agents.get(agent_id)
            if agent is None:
                return cfg.defaults
            key = (agent.role, agent.name if agent.name in cfg.agents else "", agent.id if agent.id in cfg.agents else "")
            found = cache.get(key)
            if found is None:
                found = cache[key] = cfg.resolve(*key[1:], agent.role)
            return found

        return resolved

    def _agents(
        self,
        f: Families,
        cs: CompanySnapshot,
        now: float,
        alabels,
        view: LedgerView,
        tasks: TaskSignals,
        approvals: "_Approvals",
        loops: LoopIndex,
        work: WorkIndex,
        models: ModelTracker,
    ) -> None:
        """Every agent's lines, agent by agent. What the agent is and does (its metadata and
        status, activity, spend, requested approvals, thresholds and model) is one block kept
        whole between polls: added again on one check while its rows, runs, costs, approvals,
        thresholds and model are those of the last poll (the source hands out unchanged rows as
        the same objects, so that check is mostly identity), and otherwise written through the
        blocks of ``_agent``, each kept on its own inputs. Its tasks and loops are blocks of their
        own (in a steady poll they change for most agents at work), and the two ages that move
        with the clock are written afresh."""
        # the families whose lines, written in blocks, carry no HELP of their own
        f.declare("agentwatch_agent_approvals_requested", "Approvals requested by the agent, by type and class.", "counter")
        f.declare(
            "agentwatch_agent_approval_requests",
            "Approvals requested by the agent, by class (expected gate or unexpected escalation): both classes from the "
            "agent's first poll on, at 0 before its first request, so that rate() sees a first burst.",
            "counter",
        )
        cid = cs.company.id
        runs_by_agent = self._derived("runs", cid, cs.runs, lambda: agent_analysis.runs_by_agent(cs.runs))
        costs_by_agent = self._derived("costs", cid, cs.costs, lambda: _rows_by_agent(cs.costs))
        phantom = agent_analysis.phantom_running(cs)
        live_by_agent = agent_analysis.runs_by_agent([r for r in cs.live_runs if r.live])
        last_finished, in_flight = view.last_finished, cs.in_flight_spend
        days = days_in_month(now)
        resolved = self._thresholds(cs)
        dumped: dict[int, list] = {}  # agents of a role share one resolved object: its items, once
        loop_signals = failure_modes.loop_signals(f, loops, resolved, now)
        work_signals = failure_modes.work_signals(f, work, resolved, now)
        agent_ids, ages = sorted(cs.agents), []  # and each one's labels
        for agent_id in agent_ids:
            agent = cs.agents[agent_id]
            labels = alabels(agent_id)
            agent_runs = runs_by_agent.get(agent_id, ())
            live = live_by_agent.get(agent_id, ())
            starts = [r.started_at for r in live if r.started_at is not None]
            model = models.agents.get(agent_id)
            inputs = (
                labels.body,
                agent,
                agent_runs,
                live,
                max(0.0, now - min(starts)) if starts else 0.0,
                last_finished.get((cid, agent_id)),
                in_flight.get(agent_id, 0.0),
                days,
                agent_id in phantom,
                costs_by_agent.get(agent_id, ()),
                approvals.requested.get(agent_id, ()),
                resolved(agent_id),
                None if model is None else (model.current, model.adapter_model, model.recorded_model, model.changed_at),
            )
            f.kept(("agent", cid, agent_id), inputs, _agent, f, cid, labels, dumped, *inputs[1:])
            _agent_tasks(f, cid, agent_id, labels, tasks)
            failure_modes.agent_loops(f, cid, agent_id, labels, loop_signals.get(agent_id))
            failure_modes.agent_work(f, cid, agent_id, labels, work_signals.get(agent_id))
            ages.append(labels)
        # the ages that move with the clock: every line new at every poll, written at once
        oldest = tasks.oldest_in_progress_age
        f.gauges(
            "agentwatch_agent_oldest_in_progress_task_age_seconds",
            "",
            [(labels, oldest.get(aid, 0.0)) for aid, labels in zip(agent_ids, ages, strict=False)],
        )
        failure_modes.progress_ages(f, agent_ids, ages, loop_signals)

    def _company_tasks(self, f: Families, base: dict, cs: CompanySnapshot, alabels, signals: TaskSignals) -> None:
        """The company's tasks by status, its canaries, and the queue of the unassigned tasks."""
        for name, doc, typ in TASK_FAMILIES:  # in this order, whichever lines are kept
            f.declare(name, doc, typ)
        for status in (*ISSUE_STATUSES, *sorted(signals.by_status.keys() - set(ISSUE_STATUSES))):
            f.gauge("agentwatch_company_tasks", "", {**base, "status": status}, signals.by_status.get(status, 0))
        for status in (*ISSUE_STATUSES, *sorted(signals.canaries.keys() - set(ISSUE_STATUSES))):
            f.gauge("agentwatch_canary_tasks", "", {**base, "status": status}, signals.canaries.get(status, 0))
        if signals.by_agent.get(UNASSIGNED):  # the unassigned tasks have their queue depth alone
            labels = alabels(UNASSIGNED)
            inputs = (labels.body, signals.queue_stamps.get(UNASSIGNED))
            f.kept(("agent tasks", cs.company.id, UNASSIGNED), inputs, _agent_queue, f, labels, signals, UNASSIGNED, None)

    def _runs(self, f: Families, cs: CompanySnapshot, alabels, view: LedgerView) -> None:
        cid = cs.company.id
        f.declare("agentwatch_agent_runs", "Finished heartbeat runs seen since the exporter started.", "counter")
        for (company_id, agent_id, source, status, error_code), n in sorted(view.runs.items()):
            if company_id != cid or agent_id not in cs.agents:
                continue
            f.counter(
                "agentwatch_agent_runs",
                "",
                {**alabels(agent_id), "invocation_source": source, "status": status, "error_code": error_code},
                n,
            )
        for (company_id, agent_id), hist in sorted(view.durations.items()):
            if company_id != cid or agent_id not in cs.agents:
                continue
            f.histogram(
                "agentwatch_agent_run_duration_seconds",
                "Duration of finished heartbeat runs seen since the exporter started.",
                alabels(agent_id),
                RUN_DURATION_BUCKETS,
                hist.counts,
                hist.count,
                hist.total,
            )

    def _budget(self, f: Families, base: dict, cs: CompanySnapshot) -> None:
        """The budget policies and open incidents (each agent's cost lines are in ``_agent``)."""
        for policy in cs.policies:  # a policy's lines change only when the policy or its spend does
            f.kept(("budget policy", cs.company.id, policy.id), (base, policy), _policy, f, base, policy)
        open_incidents: dict[tuple[str, str], int] = {}
        for incident in cs.incidents:
            if incident.status == "open":
                key = (incident.scope_type, incident.threshold_type)
                open_incidents[key] = open_incidents.get(key, 0) + 1
        f.declare("agentwatch_budget_incidents_open", "Open budget incidents by scope type and threshold (soft, hard).", "gauge")
        for (scope_type, threshold), n in sorted(open_incidents.items()):
            f.gauge("agentwatch_budget_incidents_open", "", {**base, "scope_type": scope_type, "threshold": threshold}, n)

    def _escalations(self, f: Families, base: dict, now: float, signals: EscalationSignals) -> None:
        """The company's approvals (each agent's requested approvals are in ``_agent``)."""
        f.declare("agentwatch_approvals", "Approvals by type, status and class (expected gate or unexpected escalation).", "gauge")
        for (typ, status, cls), n in sorted(signals.approvals.items()):
            f.gauge("agentwatch_approvals", "", {**base, "type": typ, "status": status, "class": cls}, n)
        f.declare("agentwatch_approval_oldest_pending_age_seconds", "Age of the oldest pending approval by type.", "gauge")
        for (typ, cls), created in sorted(signals.oldest_pending.items()):
            f.gauge(
                "agentwatch_approval_oldest_pending_age_seconds",
                "",
                {**base, "type": typ, "class": cls},
                max(0.0, now - created),
            )


class _Approvals(NamedTuple):
    """The company's escalation signals, and per agent the approvals it requested: (type,
    class, count), sorted."""

    signals: EscalationSignals
    requested: dict[str, tuple[tuple[str, str, int], ...]]

    @classmethod
    def of(cls, cs: CompanySnapshot, config) -> "_Approvals":
        signals = escalation_signals(cs, config)
        requested: dict[str, list[tuple[str, str, int]]] = {}
        for (agent_id, typ, kind), n in sorted(signals.requested_by_agent.items()):
            requested.setdefault(agent_id, []).append((typ, kind, n))
        return cls(signals, {agent_id: tuple(counts) for agent_id, counts in requested.items()})


def _rows_by_agent(rows: list[CostRow]) -> dict[str, list[CostRow]]:
    grouped: dict[str, list[CostRow]] = {}
    for row in rows:
        grouped.setdefault(row.agent_id, []).append(row)
    return grouped


def _agent(
    f: Families,
    cid: str,
    labels: LabelSet,
    dumped: dict[int, list],
    agent: Agent,
    runs: list[Run],
    live: list[Run],
    oldest_live_run_age: float,
    last_run_finished_at: float | None,
    in_flight_spend_usd: float,
    days: int,
    phantom: bool,
    costs: list[CostRow],
    requested: tuple[tuple[str, str, int], ...],
    thresholds: Thresholds,
    model: tuple[str, str, str, float] | None,
) -> None:
    """What the agent is and does, each part a block of its own (``FleetBuilder._agents``)."""
    aid, hb = agent.id, agent.heartbeat
    f.kept(
        ("agent description", cid, aid),
        (
            labels.body,
            agent.title,
            agent.adapter_type,
            agent.model,
            agent.status,
            agent.pause_reason,
            hb,
            agent.run_timeout_seconds,
            agent.created_at,
        ),
        _describe_agent,
        f,
        agent,
        labels,
    )
    activity = AgentActivity(
        phantom,
        agent.last_heartbeat_at,
        last_run_finished_at,
        agent_analysis.heartbeat_gaps(runs),
        agent_analysis.consecutive_failures(runs),
        agent.spent_monthly_usd,
        agent.budget_monthly_usd,
        expected_daily_spend(agent.budget_monthly_usd, days),
        in_flight_spend_usd,
        len(live),
        oldest_live_run_age,
    )
    f.kept(("agent activity", cid, aid), (labels.body, activity), _agent_activity, f, labels, activity)
    if costs:  # an agent's cost lines change only when it spends
        f.kept(("agent costs", cid, aid), (labels.body, costs), _costs, f, labels, costs)
    # an agent's lines change only when it asks for more
    f.kept(("agent approvals", cid, aid), (labels.body, requested), _requested, f, labels, requested)
    failure_modes.agent_thresholds(f, cid, aid, labels, thresholds, dumped)
    if model is not None:
        agent_model(f, aid, labels, *model)


def _queue_of(signals: TaskSignals, agent_id: str) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((signals.by_agent.get(agent_id) or {}).items()))


def _agent_tasks(f: Families, cid: str, agent_id: str, labels: LabelSet, signals: TaskSignals) -> None:
    """The agent's queue, stale locks, tasks blocked on a person, completions and durations, in
    two blocks kept on their own inputs: the stamps ``TaskIndex`` gives an agent's queue and
    completions anew whenever they change, and its stale locks (they change with the runs)."""
    stale = signals.stale_locks
    locks = (stale.get((agent_id, "execution"), 0), stale.get((agent_id, "checkout"), 0))
    inputs = (labels.body, signals.queue_stamps.get(agent_id), locks)
    f.kept(("agent tasks", cid, agent_id), inputs, _agent_queue, f, labels, signals, agent_id, locks)
    inputs = (labels.body, signals.completion_stamps.get(agent_id))
    f.kept(("agent completions", cid, agent_id), inputs, _completions, f, labels, signals, agent_id)


def _agent_queue(f: Families, labels: LabelSet, signals: TaskSignals, agent_id: str, locks: tuple[int, int] | None) -> None:
    """``_queue`` for an agent, or (``locks`` None) for the unassigned tasks."""
    held = None if locks is None else (*locks, signals.blocked_on_human.get(agent_id, 0), signals.parked.get(agent_id, 0))
    _queue(f, labels, _queue_of(signals, agent_id), held)


def _queue(f: Families, labels: LabelSet, queue: tuple[tuple[str, int], ...], held: tuple[int, int, int, int] | None) -> None:
    """The agent's tasks by status, and ``held``: its stale execution and checkout locks, its
    tasks blocked on a person and its parked tasks (None for the unassigned tasks). They change only when one of its
    tasks changes status, is handed over or holds a lock, so ``_agent_tasks`` keeps their lines between polls."""
    for status, n in queue:
        f.gauge("agentwatch_agent_tasks", "", labels, n, ("status", status))
    if held is not None:
        f.gauge("agentwatch_agent_stale_locks", "", labels, held[0], ("lock", "execution"))
        f.gauge("agentwatch_agent_stale_locks", "", labels, held[1], ("lock", "checkout"))
        f.gauge("agentwatch_agent_tasks_blocked_on_human", "", labels, held[2])
        f.gauge("agentwatch_agent_tasks_parked", "", labels, held[3])


def _requested(f: Families, labels: LabelSet, counts: tuple[tuple[str, str, int], ...]) -> None:
    by_class = dict.fromkeys(("expected", "unexpected"), 0)
    for typ, cls, n in counts:
        f.counter("agentwatch_agent_approvals_requested", "", {**labels, "type": typ, "class": cls}, n)
        by_class[cls] = by_class.get(cls, 0) + n
    for cls, n in by_class.items():
        f.counter("agentwatch_agent_approval_requests", "", labels, n, ("class", cls))


def _completions(f: Families, labels: LabelSet, signals: TaskSignals, agent_id: str) -> None:
    """The agent's completed tasks and their durations: they change only when one of its tasks
    is completed or reopened, so ``_agent_tasks`` keeps their lines between polls."""
    f.counter("agentwatch_agent_tasks_completed", "", labels, signals.completed.get(agent_id, 0))
    durations = signals.durations.get(agent_id) or _NO_DURATIONS  # held in milliseconds
    f.histogram(
        "agentwatch_agent_task_duration_seconds",
        "",
        labels,
        TASK_DURATION_BUCKETS,
        durations.counts,
        durations.count,
        durations.total / 1000.0,
    )


def _policy(f: Families, base: dict[str, str], policy: BudgetPolicy) -> None:
    labels = f.labels({**base, "scope_type": policy.scope_type, "scope": policy.scope_name, "window": policy.window_kind})
    f.gauge("agentwatch_budget_policy_amount_usd", "Budget policy limit.", labels, policy.amount_usd)
    f.gauge("agentwatch_budget_policy_observed_usd", "Spend counted against the policy in its window.", labels, policy.observed_usd)
    f.gauge(
        "agentwatch_budget_policy_utilization_ratio",
        "Observed spend over the limit (1 = limit reached).",
        labels,
        policy.observed_usd / policy.amount_usd if policy.amount_usd > 0 else 0.0,
    )
    f.gauge("agentwatch_budget_policy_warn_ratio", "Utilization at which the platform warns.", labels, policy.warn_ratio)
    f.gauge(
        "agentwatch_budget_policy_hard_stop_enabled", "1 when reaching the limit pauses the scope.", labels, float(policy.hard_stop_enabled)
    )
    for status in _with_extra(POLICY_STATUSES, policy.status):
        f.gauge(
            "agentwatch_budget_policy_status",
            "Budget policy status as a state set (ok, warning, hard_stop).",
            labels,
            1.0 if policy.status == status else 0.0,
            ("status", status),
        )


def _costs(f: Families, labels: LabelSet, rows: list[CostRow]) -> None:
    for row in rows:
        by_model = f.labels(
            {**labels, "provider": row.provider, "biller": row.biller, "model": row.model, "billing_type": row.billing_type}
        )
        f.counter(
            "agentwatch_agent_cost_usd",
            "All-time spend per agent and model (platform cost events): restart-safe, no monthly reset.",
            by_model,
            row.cost_usd,
        )
        for kind, n in (("input", row.input_tokens), ("cached_input", row.cached_input_tokens), ("output", row.output_tokens)):
            f.counter("agentwatch_agent_tokens", "All-time tokens per agent and model.", by_model, n, ("kind", kind))


class AgentActivity(NamedTuple):
    """What the agent has been doing, as its gauges show it; an agent that did nothing since the
    last poll has an equal one, and ``_agents`` keeps its lines."""

    running_without_live_run: bool
    last_heartbeat_at: float | None
    last_run_finished_at: float | None
    gaps: GapStats | None
    consecutive_failed_runs: int
    spend_month_usd: float
    budget_monthly_usd: float
    expected_daily_usd: float
    in_flight_spend_usd: float
    live_runs: int
    oldest_live_run_age: float


def _agent_activity(f: Families, labels: LabelSet, a: AgentActivity) -> None:
    f.gauge(
        "agentwatch_agent_running_without_live_run",
        "1 when the agent's status is running but it has no live run (Paperclip #2912, #9348).",
        labels,
        1.0 if a.running_without_live_run else 0.0,
    )
    if a.last_heartbeat_at is not None:
        f.gauge(
            "agentwatch_agent_last_heartbeat_timestamp_seconds",
            "End of the agent's last run of any kind (Paperclip lastHeartbeatAt).",
            labels,
            a.last_heartbeat_at,
        )
    if a.last_run_finished_at is not None:
        f.gauge(
            "agentwatch_agent_last_run_finished_timestamp_seconds",
            "End of the agent's newest finished run seen by the exporter. Unlike lastHeartbeatAt, which "
            "the scheduler bumps even while a run hangs, this stops when runs stop finishing.",
            labels,
            a.last_run_finished_at,
        )
    gaps = a.gaps
    if gaps is not None:
        f.gauge("agentwatch_agent_heartbeat_gaps", "Gaps between timer wakes in the recent run window.", labels, gaps.count)
        f.gauge("agentwatch_agent_heartbeat_gap_mean_seconds", "Mean gap between timer wakes.", labels, gaps.mean)
        f.gauge("agentwatch_agent_heartbeat_gap_stddev_seconds", "Standard deviation of gaps between timer wakes.", labels, gaps.stddev)
        f.gauge("agentwatch_agent_heartbeat_gap_max_seconds", "Longest gap between timer wakes.", labels, gaps.maximum)
    f.gauge(
        "agentwatch_agent_consecutive_failed_runs",
        "Failed or timed-out runs in a row, newest first (Paperclip #6390).",
        labels,
        a.consecutive_failed_runs,
    )
    f.gauge("agentwatch_agent_spend_month_usd", "Agent spend in the current UTC month.", labels, a.spend_month_usd)
    f.gauge("agentwatch_agent_budget_monthly_usd", "Agent monthly budget (0 = none).", labels, a.budget_monthly_usd)
    f.gauge(
        "agentwatch_agent_budget_expected_daily_usd",
        "Expected daily spend: the monthly budget spread over the days of the month.",
        labels,
        a.expected_daily_usd,
    )
    f.gauge(
        "agentwatch_agent_in_flight_spend_usd",
        "Spend recorded since the agent's oldest live run started; 0 with no live run (Paperclip #11276).",
        labels,
        a.in_flight_spend_usd,
    )
    f.gauge("agentwatch_agent_live_runs", "Queued or running runs.", labels, a.live_runs)
    f.gauge(
        "agentwatch_agent_oldest_live_run_age_seconds", "Age of the agent's oldest running run (0 = none).", labels, a.oldest_live_run_age
    )


def _describe_agent(f: Families, agent: Agent, labels: LabelSet) -> None:
    """What the agent is: its metadata, status, pause and heartbeat schedule. These change when
    the agent is edited or changes status, so ``_agents`` keeps their lines between polls."""
    f.info(
        "agentwatch_agent",
        "Agent metadata: id, title, adapter type and configured model.",
        {**labels, "agent_id": agent.id, "title": agent.title, "adapter_type": agent.adapter_type, "model": agent.model},
    )
    for status in _statuses(agent):
        f.gauge(
            "agentwatch_agent_status",
            "Agent status as a state set: 1 for the current status.",
            labels,
            1.0 if agent.status == status else 0.0,
            ("status", status),
        )
    if agent.status == "paused":
        f.gauge(
            "agentwatch_agent_paused",
            "1 while the agent is paused, by pause reason (budget = paused by a budget hard stop).",
            labels,
            1.0,
            ("reason", agent.pause_reason or "unknown"),
        )
    hb = agent.heartbeat
    f.gauge("agentwatch_agent_heartbeat_enabled", "1 when the heartbeat timer is enabled.", labels, float(hb.enabled))
    f.gauge(
        "agentwatch_agent_heartbeat_interval_seconds",
        "Configured heartbeat interval (0 = no timer).",
        labels,
        hb.interval_seconds,
    )
    if hb.scheduler_active is not None:
        f.gauge(
            "agentwatch_agent_heartbeat_scheduler_active",
            "1 when the platform scheduler will wake the agent on its timer.",
            labels,
            float(hb.scheduler_active),
        )
    f.gauge(
        "agentwatch_agent_run_timeout_seconds",
        "The adapter's limit on one run (timeoutSec; 0 = none): a live run older than this has outlived it.",
        labels,
        agent.run_timeout_seconds,
    )
    if agent.created_at is not None:
        f.gauge(
            "agentwatch_agent_created_timestamp_seconds",
            "When the agent was created: the heartbeat reference of an agent that has never finished a run.",
            labels,
            agent.created_at,
        )


def _statuses(agent: Agent) -> tuple[str, ...]:
    return _with_extra(AGENT_STATUSES, agent.status)


def _with_extra(known: tuple[str, ...], value: str) -> tuple[str, ...]:
    return known if value in known else (*known, value)


def _with_agents(cs: CompanySnapshot, keep: set[str]) -> CompanySnapshot:
    """A shallow copy of ``cs`` restricted to ``keep`` agents (the cardinality guard)."""
    from dataclasses import replace

    return replace(cs, agents={k: v for k, v in cs.agents.items() if k in keep})
