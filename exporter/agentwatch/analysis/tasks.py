"""Task (issue) signals: queue depth, completions, durations, ages and stale locks."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from agentwatch.model import TERMINAL_ISSUE_STATUSES, CompanySnapshot, Issue, Run

UNASSIGNED = ""


@dataclass
class TaskSignals:
    # (agent_id or "", status, canary) -> count of tasks
    by_agent_status: Counter = field(default_factory=Counter)
    # agent_id -> completed (done) task count, canaries excluded
    completed: Counter = field(default_factory=Counter)
    # agent_id -> durations (startedAt -> completedAt) of done tasks, canaries excluded
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # agent_id -> ages of in-progress tasks, canaries excluded
    in_progress_ages: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # agent_id -> (lock kind) -> count of locks held by a run that has ended
    stale_locks: Counter = field(default_factory=Counter)


def task_signals(cs: CompanySnapshot, now: float) -> TaskSignals:
    out = TaskSignals()
    ended = ended_run_ids(cs.runs, cs.live_runs)
    live = {r.id for r in cs.live_runs if r.live}
    live_complete = cs.live_runs_known and len(cs.live_runs) < 50  # the list is capped at 50 rows
    issues = cs.issues.values()
    # one pass over 100k issues per poll: the queue depth counted by Counter (in C), completions
    # read from it, the rest only for the issues it concerns
    out.by_agent_status = Counter([(i.assignee_agent_id or UNASSIGNED, i.status, i.is_canary) for i in issues])
    out.completed.update({agent: n for (agent, status, canary), n in out.by_agent_status.items() if status == "done" and not canary})
    durations, ages, stale = out.durations, out.in_progress_ages, out.stale_locks
    for issue in issues:
        if issue.is_canary:
            continue
        agent = issue.assignee_agent_id or UNASSIGNED
        status = issue.status
        if status == "done":
            if issue.started_at is not None and issue.completed_at is not None:
                took = issue.completed_at - issue.started_at
                durations[agent].append(took if took > 0.0 else 0.0)
        elif status == "in_progress":
            start = issue.started_at if issue.started_at is not None else issue.created_at
            if start is not None:
                age = now - start
                ages[agent].append(age if age > 0.0 else 0.0)
        if issue.execution_run_id or issue.checkout_run_id:
            for kind, run_id in (("execution", issue.execution_run_id), ("checkout", issue.checkout_run_id)):
                if run_id and is_stale_lock(run_id, ended, live, live_complete):
                    stale[(agent, kind)] += 1
    return out


def ended_run_ids(runs: Iterable[Run], live_runs: Iterable[Run]) -> set[str]:
    live = {r.id for r in live_runs if r.live}
    return {r.id for r in runs if not r.live and r.id not in live}


def is_stale_lock(run_id: str, ended: set[str], live: set[str], live_complete: bool) -> bool:
    """A lock is stale when its run is known to have ended, or is not live and the live list is complete."""
    if run_id in ended:
        return True
    return live_complete and run_id not in live


def open_issue(issue: Issue) -> bool:
    return issue.status not in TERMINAL_ISSUE_STATUSES
