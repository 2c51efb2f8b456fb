"""Per-task progression tracking, across polls, for the reasoning-loop and context detectors.

*Progression* on a task is: a status change (seen between polls, or ``startedAt`` when the
task entered ``in_progress``), a handoff (the assignee changes) or a new subtask (a child
issue appears). A comment alone is **not** progression: an agent stuck in a loop
typically keeps commenting, and a comment bumps ``updatedAt``, so neither counts.

For every open task the tracker keeps what happened since its last progression
(prompt sizes span the whole task, across progressions):
the runs on it (from ``contextSnapshot.issueId``), the LLM calls (runs that reported LLM
usage) and their spend (the runs' reported ``costUsd``), the unproductive runs (liveness
``empty_response`` / ``plan_only``, and retries of a failed run), and the prompt size of its first and latest run. Runs
are deduplicated by id, so the short windows the API returns add up over polls. The API
does not tie cost events to runs, so an adapter that reports no usage (``process``) shows
runs but no LLM calls or spend here.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentwatch.model import TERMINAL_ISSUE_STATUSES, CompanySnapshot

UNPRODUCTIVE_LIVENESS = frozenset({"empty_response", "plan_only"})


@dataclass(slots=True)
class TaskProgress:
    issue_id: str
    identifier: str
    agent_id: str | None
    progressed_at: float
    status: str = "in_progress"
    runs: frozenset[str] | set[str] = frozenset()  # a set from the first run on: most open tasks have none
    llm_calls: int = 0
    spend_usd: float = 0.0
    unproductive_runs: int = 0
    model: str = ""
    first_input_tokens: int | None = None
    first_run_at: float | None = None
    last_input_tokens: int | None = None
    last_run_at: float | None = None

    def progressed(self, at: float, agent_id: str | None) -> "TaskProgress":
        """The same task after a progression: loop counters restart, prompt growth spans the task."""
        return TaskProgress(
            self.issue_id, self.identifier, agent_id, at, status=self.status, model=self.model,
            first_input_tokens=self.first_input_tokens, first_run_at=self.first_run_at,
            last_input_tokens=self.last_input_tokens, last_run_at=self.last_run_at,
        )


class TaskTracker:
    """Keeps a ``TaskProgress`` for every open task of one company (loops count only those in progress)."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskProgress] = {}

    def update(self, cs: CompanySnapshot, now: float) -> None:
        newest_child: dict[str, float] = {}
        for issue in cs.issues.values():
            if issue.parent_id and issue.created_at is not None:
                if issue.created_at > newest_child.get(issue.parent_id, 0.0):
                    newest_child[issue.parent_id] = issue.created_at
        current: dict[str, TaskProgress] = {}
        held = self.tasks
        for issue in cs.issues.values():
            if issue.status in TERMINAL_ISSUE_STATUSES or issue.is_canary:
                continue
            # the latest status change we know of (startedAt for in_progress), or a new subtask
            # (conditionals rather than min and max: this runs for every open task, every poll)
            progressed = (issue.started_at if issue.status == "in_progress" else None) or issue.created_at or now
            child = newest_child.get(issue.id, 0.0)
            if child > progressed:
                progressed = child
            if progressed > now:
                progressed = now
            prev = held.get(issue.id)
            if prev is not None:
                if prev.agent_id != issue.assignee_agent_id or prev.status != issue.status:
                    progressed = now  # a handoff or a status change seen between polls
                else:
                    progressed = max(progressed, prev.progressed_at)
            if prev is None:
                task = TaskProgress(issue.id, issue.identifier, issue.assignee_agent_id, progressed, status=issue.status)
            elif progressed > prev.progressed_at:
                task = prev.progressed(progressed, issue.assignee_agent_id)
            else:
                task = prev
            task.status = issue.status
            current[issue.id] = task
        self.tasks = current

        for run in sorted(cs.runs, key=lambda r: (r.created_at or 0.0, r.id)):
            task = self.tasks.get(run.issue_id or "")
            if task is None or run.live:
                continue
            when = run.created_at or run.started_at or 0.0
            if run.input_tokens is not None:  # prompt growth spans the whole task
                if task.first_run_at is None or when < task.first_run_at:
                    task.first_input_tokens, task.first_run_at = run.input_tokens, when
                if task.last_run_at is None or when > task.last_run_at:
                    task.last_input_tokens, task.last_run_at = run.input_tokens, when
                    task.model = run.model or task.model
            if when < task.progressed_at or run.id in task.runs:
                continue
            if not task.runs:
                task.runs = set()
            task.runs.add(run.id)
            if run.liveness_state in UNPRODUCTIVE_LIVENESS or run.retry_of_run_id:
                task.unproductive_runs += 1
            if run.input_tokens is not None or run.cost_usd is not None:
                task.llm_calls += 1
                task.spend_usd += run.cost_usd or 0.0
