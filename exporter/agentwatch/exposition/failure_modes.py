"""Metric families for the failure modes: reasoning loops, context pressure, dependency deadlocks."""

from __future__ import annotations

from typing import Callable

from agentwatch.analysis import dependencies
from agentwatch.analysis.context import RATIO_BUCKETS, ContextWindows, growth
from agentwatch.analysis.ledger import LedgerView
from agentwatch.analysis.loops import LoopIndex, LoopSignals
from agentwatch.analysis.progress import TaskTracker
from agentwatch.analysis.sessions import ContextStreaks
from agentwatch.analysis.work import WorkIndex, WorkSignals
from agentwatch.config import Settings, Thresholds
from agentwatch.exposition.families import Families, LabelSet
from agentwatch.model import CompanySnapshot

Labels = Callable[[str], LabelSet]

OLDEST_PROGRESS_AGE = "agentwatch_agent_oldest_progress_age_seconds"  # the one that moves with the clock

LOOP_GAUGES = (
    (
        "agentwatch_agent_looping_tasks",
        "looping_tasks",
        "In-progress tasks without progression for longer than the loop_min_age threshold and with more than "
        "loop_min_calls runs or LLM calls since (a reasoning loop).",
    ),
    (
        "agentwatch_agent_max_runs_without_progress",
        "max_runs_without_progress",
        "Most runs on one in-progress task since its last progression.",
    ),
    (
        "agentwatch_agent_max_llm_calls_without_progress",
        "max_calls_without_progress",
        "Most LLM calls (runs that reported LLM usage) on one in-progress task since its last progression.",
    ),
    (
        OLDEST_PROGRESS_AGE,
        "oldest_progress_age",
        "Longest time an in-progress task of the agent has gone without progression (0 = none in progress).",
    ),
    (
        "agentwatch_agent_looping_spend_usd",
        "looping_spend_usd",
        "Spend since their last progression on the agent's tasks that look like a loop.",
    ),
    (
        "agentwatch_agent_unproductive_runs_without_progress",
        "unproductive_runs",
        "Runs with liveness empty_response or plan_only, or retries, on in-progress tasks since their last progression.",
    ),
)


_NO_LOOPS = LoopSignals()


def loop_signals(f: Families, index: LoopIndex, thresholds, now: float) -> dict[str, LoopSignals]:
    """The loop families declared, and each agent's signals (``thresholds(agent_id)`` gives the
    agent's resolved ``Thresholds``), for ``agent_loops``."""
    for name, _, doc in LOOP_GAUGES:  # the families in this order, whichever lines are kept
        f.declare(name, doc, "gauge")
    return index.signals(now, loop_limits(thresholds))


def loop_limits(thresholds) -> Callable[[str], tuple[float, float]]:
    """Per agent id, its (loop_min_age, loop_min_calls), from ``thresholds(agent_id)``."""

    def limits(agent_id: str) -> tuple[float, float]:
        t = thresholds(agent_id)
        return t.loop_min_age, t.loop_min_calls

    return limits


def agent_loops(f: Families, cid: str, agent_id: str, labels: LabelSet, s: LoopSignals | None) -> None:
    """An agent's loop gauges: kept between polls while their values stay (``Families.kept``),
    but for the age, which moves with the clock (``progress_ages``)."""
    s = s or _NO_LOOPS
    values = (s.looping_tasks, s.max_runs_without_progress, s.max_calls_without_progress, s.looping_spend_usd, s.unproductive_runs)
    f.kept(("agent loops", cid, agent_id), (labels.body, values), _loop_gauges, f, labels, s)


WORK_GAUGES = (
    (
        "agentwatch_agent_work_looping",
        "1 when the agent's work (its tasks in progress and its parked tasks) has gone longer than loop_min_age without "
        "progression with more than loop_min_calls runs or LLM calls since, timer runs included (a loop at the agent level).",
    ),
    (
        "agentwatch_agent_work_runs_without_progress",
        "Runs of the agent, timer runs included, since its work last progressed (0 = no work in progress or parked).",
    ),
    (
        "agentwatch_agent_work_spend_without_progress_usd",
        "Spend reported by the agent's runs since its work last progressed.",
    ),
)
_NO_WORK = WorkSignals()


def work_signals(f: Families, index: WorkIndex, thresholds, now: float) -> dict[str, WorkSignals]:
    """The agent-level loop families declared, and each agent's signals, for ``agent_work``."""
    for name, doc in WORK_GAUGES:
        f.declare(name, doc, "gauge")
    return index.signals(now, loop_limits(thresholds))


def agent_work(f: Families, cid: str, agent_id: str, labels: LabelSet, s: WorkSignals | None) -> None:
    """An agent's agent-level loop gauges, kept between polls while their values stay."""
    s = s or _NO_WORK
    values = (float(s.looping), s.runs_without_progress, s.spend_without_progress_usd)
    f.kept(("agent work", cid, agent_id), (labels.body, values), _work_gauges, f, labels, values)


def _work_gauges(f: Families, labels: LabelSet, values: tuple[float, int, float]) -> None:
    for (name, _), value in zip(WORK_GAUGES, values, strict=False):
        f.gauge(name, "", labels, value)


def progress_ages(f: Families, agent_ids: list[str], labels: list[LabelSet], signals: dict[str, LoopSignals]) -> None:
    """The oldest progression of each agent's in-progress tasks: new at every poll."""
    f.gauges(OLDEST_PROGRESS_AGE, "", [(l, (signals.get(aid) or _NO_LOOPS).oldest_progress_age) for aid, l in zip(agent_ids, labels, strict=False)])


def _loop_gauges(f: Families, labels: LabelSet, s: LoopSignals) -> None:
    for name, attr, doc in LOOP_GAUGES:
        if name != OLDEST_PROGRESS_AGE:
            f.gauge(name, doc, labels, getattr(s, attr))


def context(
    f: Families,
    cs: CompanySnapshot,
    alabels: Labels,
    tracker: TaskTracker,
    view: LedgerView,
    windows: ContextWindows,
    streaks: ContextStreaks | None = None,
) -> None:
    """The context families. The latest ratio and the growth are, per agent and model, the
    highest of the agent's open tasks (``tracker``) and of its context streak (``streaks``: the
    runs that name no task, such as timer wakes; ``analysis/sessions.py``)."""
    cid = cs.company.id
    f.declare(
        "agentwatch_agent_context_window_ratio",
        "Prompt (input) tokens of finished runs over the model's context window, per agent and model.",
        "histogram",
    )
    for (company_id, agent_id, model), hist in sorted(view.context.items()):
        if company_id == cid and agent_id in cs.agents:
            f.histogram(
                "agentwatch_agent_context_window_ratio",
                "",
                {**alabels(agent_id), "model": model},
                RATIO_BUCKETS,
                hist.counts,
                hist.count,
                hist.total,
            )
    f.declare(
        "agentwatch_agent_context_runs",
        "Finished runs by prompt band (high = at or above analysis.context_high_ratio of the window, low, or "
        "unknown when the model's window is not known) and outcome (ok, failed, empty).",
        "counter",
    )
    for (company_id, agent_id, model, band, outcome), n in sorted(view.context_outcomes.items()):
        if company_id == cid and agent_id in cs.agents:
            f.counter("agentwatch_agent_context_runs", "", {**alabels(agent_id), "model": model, "band": band, "outcome": outcome}, n)
    f.declare(
        "agentwatch_agent_run_liveness",
        "Finished runs by the platform's liveness verdict (completed, advanced, plan_only, empty_response, ...).",
        "counter",
    )
    for (company_id, agent_id, state), n in sorted(view.liveness.items()):
        if company_id == cid and agent_id in cs.agents:
            f.counter("agentwatch_agent_run_liveness", "", alabels(agent_id), n, ("liveness_state", state))
    latest: dict[tuple[str, str], float] = {}
    growths: dict[tuple[str, str], float] = {}
    for task in tracker.prompted():
        if not task.agent_id or task.agent_id not in cs.agents:
            continue
        key = (task.agent_id, task.model or "unknown")
        ratio = windows.ratio(task.model, task.last_input_tokens)
        if ratio is not None:
            latest[key] = max(latest.get(key, 0.0), ratio)
        g = growth(task.first_input_tokens, task.last_input_tokens)
        if g is not None:
            growths[key] = max(growths.get(key, 0.0), g)
    for agent_id, streak in streaks.streaks.items() if streaks is not None else ():
        if agent_id not in cs.agents:
            continue
        key = (agent_id, streak.model or "unknown")
        ratio = windows.ratio(streak.model, streak.last_input_tokens)
        if ratio is not None:
            latest[key] = max(latest.get(key, 0.0), ratio)
        g = growth(streak.first_input_tokens, streak.last_input_tokens)
        if g is not None:
            growths[key] = max(growths.get(key, 0.0), g)
    f.declare(
        "agentwatch_agent_context_latest_ratio",
        "Highest prompt-to-window ratio of the latest run on any open task, or of the agent's latest run that "
        "names no task (timer wakes), per agent and model.",
        "gauge",
    )
    f.declare(
        "agentwatch_agent_context_growth_ratio",
        "Highest growth of prompt tokens from the first to the latest run on one open task, or over the agent's "
        "current streak of runs that name no task, such as timer wakes; 1 = flat.",
        "gauge",
    )
    per_agent: dict[str, list[tuple[str, float | None, float | None]]] = {}
    for agent_id, model in sorted(latest.keys() | growths.keys()):
        per_agent.setdefault(agent_id, []).append((model, latest.get((agent_id, model)), growths.get((agent_id, model))))
    for agent_id, values in per_agent.items():  # an agent's lines change only when its prompts do
        labels = alabels(agent_id)
        f.kept(("agent context", cid, agent_id), (labels.body, values), _context_gauges, f, labels, values)


def _context_gauges(f: Families, labels: LabelSet, values: list[tuple[str, float | None, float | None]]) -> None:
    for model, latest, growth_ratio in values:
        if latest is not None:
            f.gauge("agentwatch_agent_context_latest_ratio", "", labels, latest, ("model", model))
        if growth_ratio is not None:
            f.gauge("agentwatch_agent_context_growth_ratio", "", labels, growth_ratio, ("model", model))


def agent_thresholds(f: Families, cid: str, agent_id: str, labels: LabelSet, resolved: Thresholds, dumped: dict[int, list]) -> None:
    """The agent's resolved thresholds, for the alerting rules to join on. Their lines change
    only with the agent's labels or thresholds, so they are kept between polls (``Families.kept``).
    ``dumped``: per resolved object (agents of a role share one), its items, listed once per build."""
    f.kept(("agentwatch_agent_threshold", cid, agent_id), (labels.body, resolved), _thresholds, f, labels, resolved, dumped)


def _thresholds(f: Families, labels: LabelSet, resolved: Thresholds, dumped: dict[int, list]) -> None:
    items = dumped.get(id(resolved))
    if items is None:
        items = dumped[id(resolved)] = list(resolved.model_dump().items())
    for name, value in items:
        f.gauge(
            "agentwatch_agent_threshold",
            "Alert thresholds resolved for the agent from the config (agent, then role, then defaults).",
            labels,
            value,
            ("threshold", name),
        )


def deadlocks(f: Families, base: dict[str, str], index: dependencies.DependencyIndex, settings: Settings, now: float) -> None:
    """``index``: the company's dependency report, updated with this poll's issues."""
    report = index.report(now, top_n=settings.limits.top_n)
    f.gauge(
        "agentwatch_dependency_graph_edges",
        "Unresolved dependency edges (blockedBy, and children holding a blocked parent).",
        base,
        report.edges,
    )
    f.gauge(
        "agentwatch_dependency_missing_blockers", "Dependency edges that point at an issue not in the list.", base, report.missing_edges
    )
    f.gauge("agentwatch_dependency_cycles", "Dependency cycles (strongly connected components).", base, report.cycles)
    f.gauge(
        "agentwatch_dependency_longest_chain_length", "Issues on the longest chain of unresolved dependencies.", base, report.longest_chain
    )
    f.gauge("agentwatch_dependency_stalled_tasks", "Tasks that wait on a chain whose end cannot move.", base, report.stalled_tasks)
    for cause in dependencies.CAUSES:
        f.gauge(
            "agentwatch_dependency_stalled_chains",
            "Stalled dependency chains (counted by their most downstream task) by the cause at the chain's end.",
            {**base, "cause": cause},
            report.stalled_by_cause.get(cause, 0),
        )
    f.gauge(
        "agentwatch_dependency_oldest_stalled_chain_age_seconds",
        "Age of the oldest stalled chain, since its stuck end last changed (0 = none).",
        base,
        max(0.0, now - report.oldest_stalled_since) if report.oldest_stalled_since is not None else 0.0,
    )
    f.declare(
        "agentwatch_dependency_stalled_chain_age_seconds",
        "Top-N stalled chains (limits.top_n), oldest first, by the identifier of their head task.",
        "gauge",
    )
    f.declare(
        "agentwatch_dependency_stalled_chain_length",
        "Top-N stalled chains: issues on the chain, by the identifier of their head task.",
        "gauge",
    )
    for chain in report.heads:
        labels = {**base, "issue": chain.identifier, "cause": chain.cause}
        age = max(0.0, now - chain.since) if chain.since is not None else 0.0
        f.gauge("agentwatch_dependency_stalled_chain_age_seconds", "", labels, age)
        f.gauge("agentwatch_dependency_stalled_chain_length", "", labels, chain.length)
