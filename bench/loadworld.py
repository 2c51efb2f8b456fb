"""A Paperclip-shaped world at benchmark scale, served by the demo simulator's API.

Deterministic for a seed: ``agents`` agents in six roles, ``issues`` issues (60 % done, 10 %
todo, 10 % in progress, 5 % in review, 10 % blocked on one to three earlier issues, 5 %
cancelled; a fifth are subtasks), ten runs per agent, costs on two models per agent, one
approval per hundred issues. ``mutate`` changes a fraction of the issues, as a steady state
between two polls would.
"""

from __future__ import annotations

import random
import time

from agentwatch.demo.shapes import row
from agentwatch.demo.world import AgentSim, IssueSim, RunSim, World, iso, uid

ROLES = ("engineer", "qa", "devops", "researcher", "pm", "ceo")
STATUSES = (("done", 60), ("todo", 10), ("in_progress", 10), ("in_review", 5), ("blocked", 10), ("cancelled", 5))
MODELS = ("claude-sonnet-4-5", "gpt-5-mini")


def build(agents: int, issues: int, seed: int = 1, now: float | None = None) -> World:
    rnd = random.Random(seed)
    now = time.time() if now is None else now
    w = World(f"Load {agents}x{issues}", "LOAD", start=now, cast="none")
    ids = []
    for n in range(agents):
        a = AgentSim(f"agent-{n:04d}", ROLES[n % len(ROLES)], "healthy", 900.0)
        a.id = uid(w.company_id, "agent", n)
        a.created_at = a.updated_at = now - 30 * 86400
        a.last_heartbeat = now - rnd.uniform(0, 900)
        a.spent_usd = rnd.uniform(0, 500)
        w.agents[a.id] = a
        ids.append(a.id)
    weights = [s for _, s in STATUSES]
    names = [n for n, _ in STATUSES]
    issue_ids: list[str] = []
    for n in range(issues):
        status = rnd.choices(names, weights)[0]
        created = now - rnd.uniform(3600, 30 * 86400)
        issue = IssueSim(
            uid(w.company_id, "issue", n), n + 1, f"Task {n + 1}", status, created, created + rnd.uniform(0, 3600), assignee=ids[n % agents]
        )
        if status in ("in_progress", "in_review", "done", "blocked"):
            issue.started_at = created + rnd.uniform(0, 600)
        if status == "done":
            issue.completed_at = min(now - 60, issue.started_at + rnd.uniform(60, 7200))  # never in the future
            issue.updated_at = issue.completed_at
        if status == "blocked" and issue_ids:
            issue.blocked_by = rnd.sample(issue_ids[-5000:], min(len(issue_ids), rnd.randint(1, 3)))
        w.issues[issue.id] = issue
        issue_ids.append(issue.id)
    for n, issue_id in enumerate(issue_ids):
        if n % 5 == 4:
            w.issues[issue_id].parent = issue_ids[n - 1 - (n % 97)]
    for n in range(agents * 10):
        a = ids[n % agents]
        started = now - (n // agents) * 900 - rnd.uniform(0, 60)
        run = RunSim(
            uid(w.company_id, "run", n),
            a,
            "timer",
            started,
            status="succeeded",
            finished_at=started + 30,
            input_tokens=rnd.randint(1000, 50000),
            output_tokens=rnd.randint(100, 3000),
            cost_usd=round(rnd.uniform(0.001, 0.2), 4),
            model=MODELS[n % 2],
        )
        w.runs[run.id] = run
        w.run_order.append(run.id)
    w.run_order.sort(key=lambda r: w.runs[r].created_at)
    for a in ids:
        for model in MODELS:
            w.costs[(a, model)] = [rnd.uniform(100, 10000), rnd.randint(10**5, 10**7), rnd.randint(10**4, 10**6)]
    for n in range(max(1, issues // 100)):
        w.approvals.append(
            row(
                "approval",
                id=uid(w.company_id, "approval", n),
                companyId=w.company_id,
                type=("hire_agent", "request_board_approval")[n % 2],
                requestedByAgentId=ids[n % agents],
                status=("pending", "approved")[n % 2],
                createdAt=iso(now - n * 60),
                updatedAt=iso(now - n * 60),
            )
        )
    w.rnd = rnd
    return w


def mutate(w: World, fraction: float, now: float | None = None) -> dict[str, str]:
    """Change ``fraction`` of the issues (status and updatedAt), as between two steady-state polls.
    Returns each changed issue's new status, for the bench to check that the poll saw it."""
    now = time.time() if now is None else now
    issues = list(w.issues.values())
    changed = w.rnd.sample(issues, max(1, int(len(issues) * fraction)))
    for issue in changed:
        issue.status = {"todo": "in_progress", "in_progress": "in_review", "in_review": "done"}.get(issue.status, issue.status)
        issue.updated_at = now
        if issue.status == "done" and issue.completed_at is None:
            issue.completed_at = now
    return {issue.id: issue.status for issue in changed}
