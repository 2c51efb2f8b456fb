"""Per-task progression tracking, across polls, for the reasoning-loop and context detectors.

*Progression* on an in-progress task is: a status change (the task leaves ``in_progress``;
re-entering sets a new ``startedAt``), a handoff (the assignee changes) or a new subtask
(a child issue appears). A comment alone is **not** progression: an agent stuck in a loop
typically keeps commenting, and a comment bumps ``updatedAt``, so neither counts.

For every in-progress task the tracker keeps what happened since its last progression:
the runs on it (from ``contextSnapshot.issueId``), the LLM calls (runs that reported LLM
usage) and their spend (the runs' reported ``costUsd``), the unproductive runs (liveness
``empty_response`` / ``plan_only``), and the prompt size of its first and latest run. Runs
are deduplicated by id, so the short windows the API returns add up over polls. The API
does not tie cost events to runs, so an adapter that reports no usage (``process``) shows
runs but no LLM calls or spend here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentwatch.model import CompanySnapshot

UNPRODUCTIVE_LIVENESS = frozenset({"empty_response", "plan_only"})


@dataclass
class TaskProgress:
    issue_id: str
    identifier: str
    agent_id: str | None
    progressed_at: float
    runs: set[str] = field(default_factory=set)
    llm_calls: int = 0
    spend_usd: float = 0.0
    unproductive_runs: int = 0
    model: str = ""
    first_input_tokens: int | None = None
    first_run_at: float | None = None
    last_input_tokens: int | None = None
    last_run_at: float | None = None


class TaskTracker:
    """Keeps a ``TaskProgress`` for every in-progress task of one company."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskProgress] = {}

    def update(self, cs: CompanySnapshot, now: float) -> None:
        newest_child: dict[str, float] = {}
        for issue in cs.issues.values():
            if issue.parent_id and issue.created_at is not None:
                newest_child[issue.parent_id] = max(newest_child.get(issue.parent_id, 0.0), issue.created_at)
        current: dict[str, TaskProgress] = {}
        for issue in cs.issues.values():
            if issue.status != "in_progress" or issue.is_canary:
                continue
            # the latest status change (startedAt) or new subtask
            progressed = max(issue.started_at or issue.created_at or now, newest_child.get(issue.id, 0.0))
            prev = self.tasks.get(issue.id)
            if prev is not None and prev.agent_id != issue.assignee_agent_id:
                progressed = now  # a handoff
            elif prev is not None:
                progressed = max(progressed, prev.progressed_at)
            if prev is None or progressed > prev.progressed_at:
                current[issue.id] = TaskProgress(issue.id, issue.identifier, issue.assignee_agent_id, progressed)
            else:
                current[issue.id] = prev
        self.tasks = current

        for run in sorted(cs.runs, key=lambda r: (r.created_at or 0.0, r.id)):
            task = self.tasks.get(run.issue_id or "")
            if task is None:
                continue
            when = run.created_at or run.started_at or 0.0
            if when < task.progressed_at or run.id in task.runs or run.live:
                continue
            task.runs.add(run.id)
            if run.liveness_state in UNPRODUCTIVE_LIVENESS:
                task.unproductive_runs += 1
            if run.input_tokens is not None or run.cost_usd is not None:
                task.llm_calls += 1
                task.spend_usd += run.cost_usd or 0.0
            if run.input_tokens is not None:
                if task.first_input_tokens is None:
                    task.first_input_tokens, task.first_run_at = run.input_tokens, when
                task.last_input_tokens, task.last_run_at = run.input_tokens, when
                task.model = run.model or task.model
