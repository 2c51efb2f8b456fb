"""A live synthetic Paperclip company for the demo: agents work, and every failure mode of the
source brief happens on a schedule.

The world runs on the wall clock (timestamps are real), as a discrete-event simulation that
catches up to ``now`` whenever it is read. Nothing is random, so a demo run is reproducible.
``pace`` stretches the schedule (2.0 = every fault happens twice as late).

The cast (role, what happens to them):

==========  ==========  ============================================================
Ada         engineer    healthy; the canary target of the quality scenario (see Grace)
Grace       engineer    healthy; its model changes at ``model_change`` and canaries fail
Linus       devops      healthy
Mira        qa          healthy
Theo        pm          healthy
Hugo        devops      its run hangs at ``hang``: heartbeats stop (AgentHeartbeatMissed)
Iris        researcher  timer wakes 5 s and 40 s apart (AgentHeartbeatIrregular)
Sam         engineer    stops completing at ``slowdown`` while work keeps coming (AgentThroughputDrop)
Stella      engineer    quick tasks, then one that never finishes at ``stuck`` (AgentTaskStuck)
Fred        qa          every run fails from ``failing`` (AgentRunsFailing)
Leo         engineer    from ``loop`` runs every 4 s on one task, no progress (AgentReasoningLoop); at ``park``
                        the platform's recovery parks the task (AgentTaskParked) and his timer wakes go on
Cora        researcher  one long task whose prompt grows to 95 % of the window (AgentContextPressure)
Rita        researcher  from ``runaway`` spends 0.60 USD every 3 s, completes nothing (AgentBudgetBurnSpike)
Carla       pm          paused by a budget hard stop at ``hard_stop`` (AgentBudgetHardStop)
Penny       pm          84 % of a small budget already spent (AgentBudgetSoftLimit)
Olly        ceo         an unexpected escalation every 45 s, a burst from ``escalation_burst`` (AgentEscalationSpike)
==========  ==========  ============================================================

Plus two issues blocking each other and a chain blocked on a cancelled issue
(TaskDependencyDeadlock). Canary tasks created through the API are answered by the assigned
agent: right before its model changes, wrong after.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from agentwatch.demo.shapes import row

NAMESPACE = uuid.UUID("5d1c6a0e-7a1b-4c55-9d0e-0a9e5ee7c0de")
MODEL = "claude-sonnet-4-5"
NEW_MODEL = "claude-sonnet-4-5-20261101"
KNOWN_ANSWERS = {"what is 6 times 7?": "42", "what is the capital of australia?": "Canberra"}

# seconds after start (times pace)
SCHEDULE = {
    "deadlock": 20,
    "failing": 60,
    "loop": 30,
    "hang": 90,
    "runaway": 120,
    "stuck": 150,
    "hard_stop": 150,
    "model_change": 180,
    "slowdown": 180,
    "escalation_burst": 240,
    "park": 270,
}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def uid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))


@dataclass
class AgentSim:
    name: str
    role: str
    behaviour: str
    interval: float
    budget_usd: float = 20000.0
    spent_usd: float = 0.0
    model: str = MODEL
    id: str = ""
    status: str = "idle"
    pause_reason: str | None = None
    paused_at: float | None = None
    last_heartbeat: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    current_task: str | None = None
    task_runs: int = 0  # runs on the current task
    wakes: int = 0


@dataclass
class RunSim:
    id: str
    agent_id: str
    source: str  # timer | assignment | automation
    created_at: float
    issue_id: str | None = None
    status: str = "running"
    finished_at: float | None = None
    error_code: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    model: str = MODEL
    liveness: str | None = None
    answer: str | None = None


@dataclass
class IssueSim:
    id: str
    number: int
    title: str
    status: str
    created_at: float
    updated_at: float
    assignee: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    cancelled_at: float | None = None
    blocked_by: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    description: str = ""
    execution_run: str | None = None
    unblock_owner: str | None = None
    parent: str | None = None
    recovery: str | None = None  # the kind of the platform's active recovery (a parked task)


@dataclass
class CommentSim:
    id: str
    issue_id: str
    agent_id: str | None
    body: str
    created_at: float


class World:
    """One Paperclip instance with one company. Thread-safe: every read catches up under a lock."""

    def __init__(
        self,
        name: str = "Demo Robotics",
        prefix: str = "DEMO",
        start: float | None = None,
        pace: float = 1.0,
        outages: tuple[tuple[float, float], ...] = (),
        cast: str = "full",
        refusals: tuple[tuple[float, float], ...] = (),
    ) -> None:
        self.lock = threading.RLock()
        self.start = time.time() if start is None else start
        self.now = self.start
        self.pace = pace
        self.outages = tuple((self.start + a * pace, self.start + b * pace) for a, b in outages)
        self.refusals = tuple((self.start + a * pace, self.start + b * pace) for a, b in refusals)
        self.company_id = uid(name, "company")
        self.company_name = name
        self.prefix = prefix
        self.agents: dict[str, AgentSim] = {}
        self.issues: dict[str, IssueSim] = {}
        self.runs: dict[str, RunSim] = {}
        self.run_order: list[str] = []
        self.comments: list[CommentSim] = []
        self.approvals: list[dict] = []
        self.costs: dict[tuple[str, str], list[float]] = {}  # (agent, model) -> [cents, in, out]
        self.cost_events: list[tuple[float, str, float]] = []  # (time, agent, usd)
        self.labels: dict[str, dict] = {}
        self.incidents: list[dict] = []
        self._events: list[tuple[float, int, str, tuple]] = []
        self._seq = itertools.count()
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1)
        self._sorted: list[IssueSim] = []
        self._sorted_key: tuple[int, float] | None = None
        self._sorted_ids: list[str] = []
        self._sorted_ids_key: tuple[int, float] | None = None
        cast_rows = {"full": FULL_CAST, "healthy": HEALTHY_CAST}.get(cast, ())
        for spec in cast_rows:
            self._add_agent(*spec)
        self._seed(cast)

    # -- set-up -------------------------------------------------------------------------

    def _add_agent(self, name: str, role: str, behaviour: str, interval: float, budget: float = 20000.0, spent: float = 0.0) -> None:
        a = AgentSim(name, role, behaviour, interval, budget_usd=budget, spent_usd=spent)
        a.id = uid(self.company_id, name)
        a.created_at = a.updated_at = self.start - 86400
        self.agents[a.id] = a
        offset = 1 + (len(self.agents) % 5)
        self._at(self.start + offset, "wake", a.id)
        if behaviour in ("healthy", "slowdown", "stuck", "canary_target"):
            self._at(self.start + offset, "feed", a.id)

    def _seed(self, cast: str) -> None:
        if cast not in ("full", "healthy"):
            return
        for a in self.agents.values():
            if a.behaviour in ("loop", "context", "runaway"):
                self._new_issue(f"{a.name}'s long investigation", a.id, status="todo", at=self.start - 60)
        if cast == "full":
            self._at(self._t("deadlock"), "deadlock")
        self._at(self._t("hard_stop"), "hard_stop")
        self._at(self._t("model_change"), "model_change")
        self._at(self._t("park"), "park")
        self._at(self.start + 2, "escalate")

    def _t(self, key: str) -> float:
        return self.start + SCHEDULE[key] * self.pace

    def _at(self, when: float, kind: str, *args: Any) -> None:
        heapq.heappush(self._events, (when, next(self._seq), kind, args))

    def _next_id(self, kind: str) -> str:
        return uid(self.company_id, kind, next(self._ids))

    def _new_issue(self, title: str, assignee: str | None, status: str = "todo", at: float | None = None, **extra: Any) -> IssueSim:
        at = self.now if at is None else at
        issue = IssueSim(self._next_id("issue"), next(self._numbers), title, status, at, at, assignee, **extra)
        self.issues[issue.id] = issue
        return issue

    # -- the clock ------------------------------------------------------------------------

    def advance(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            while self._events and self._events[0][0] <= now:
                when, _, kind, args = heapq.heappop(self._events)
                self.now = when
                getattr(self, f"_on_{kind}")(*args)
            self.now = max(self.now, now)

    def down(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return any(a <= now < b for a, b in self.outages)

    def refusing(self, now: float | None = None) -> bool:
        """Up, but refusing the exporter's key (a revoked board key): 401 to every request."""
        now = time.time() if now is None else now
        return any(a <= now < b for a, b in self.refusals)

    # -- events ---------------------------------------------------------------------------

    def _on_feed(self, agent_id: str) -> None:
        """Keep healthy queues topped up: a new task when fewer than two are open."""
        a = self.agents[agent_id]
        open_tasks = [i for i in self.issues.values() if i.assignee == a.id and i.status in ("todo", "in_progress")]
        limit = 2 if not (a.behaviour == "slowdown" and self.now >= self._t("slowdown")) else 99
        if len(open_tasks) < limit:
            self._new_issue(f"{a.role.title()} task {next(self._numbers)}", a.id)
        self._at(self.now + max(10.0, a.interval), "feed", a.id)

    def _on_wake(self, agent_id: str) -> None:
        a = self.agents[agent_id]
        if a.status in ("paused", "terminated"):
            return
        a.wakes += 1
        a.last_heartbeat = self.now
        interval = a.interval
        if a.behaviour == "irregular":
            interval = 5.0 if a.wakes % 2 else 40.0
        elif a.behaviour == "loop" and self.now >= self._t("loop"):
            interval = 4.0
        elif a.behaviour == "runaway" and self.now >= self._t("runaway"):
            interval = 3.0
        self._at(self.now + interval, "wake", a.id)
        if any(r.agent_id == a.id and r.status == "running" for r in self._live()):
            return  # Paperclip coalesces a wake into the run already going
        task = self._checkout(a)
        run = self._start_run(a, "automation" if task else "timer", task)
        hangs = a.behaviour == "hung" and self.now >= self._t("hang")
        if not hangs:
            self._at(self.now + (2.0 if task else 1.0), "finish", run.id)

    def _checkout(self, a: AgentSim) -> IssueSim | None:
        if a.current_task and self.issues[a.current_task].status == "in_progress":
            return self.issues[a.current_task]
        todo = sorted(
            (i for i in self.issues.values() if i.assignee == a.id and i.status == "todo" and "agentwatch-canary" not in i.labels),
            key=lambda i: i.number,
        )
        if not todo:
            a.current_task = None
            return None
        issue = todo[0]
        issue.status, issue.started_at, issue.updated_at = "in_progress", self.now, self.now
        a.current_task, a.task_runs = issue.id, 0
        return issue

    def _start_run(self, a: AgentSim, source: str, task: IssueSim | None) -> RunSim:
        run = RunSim(self._next_id("run"), a.id, source, self.now, task.id if task else None, model=a.model)
        self.runs[run.id] = run
        self.run_order.append(run.id)
        if task:
            task.execution_run = run.id
        a.status = "running"
        return run

    def _on_finish(self, run_id: str) -> None:
        run = self.runs[run_id]
        a = self.agents[run.agent_id]
        task = self.issues.get(run.issue_id) if run.issue_id else None
        run.finished_at = self.now
        run.status = "succeeded"
        b = a.behaviour
        run.input_tokens, run.output_tokens, run.cost_usd = 4000, 600, 0.02
        if task is None:
            run.input_tokens, run.output_tokens, run.cost_usd = 1500, 100, 0.002
        if b == "failing" and self.now >= self._t("failing"):
            run.status, run.error_code, run.cost_usd = "failed", "adapter_failed", 0.004
        if b == "frugal":
            run.cost_usd = 0.0
        if task is not None:
            task.execution_run = None
            a.task_runs += 1
            if "agentwatch-canary" in task.labels:
                self._answer_canary(a, run, task)
            elif b == "context":
                run.input_tokens = min(190000, 20000 + 12000 * a.task_runs)
                run.cost_usd = 0.05
                if run.input_tokens > 160000 and a.task_runs % 2:
                    run.liveness = "empty_response"
            elif b == "loop" and self.now >= self._t("loop"):
                run.cost_usd = 0.03
                run.liveness = "plan_only" if a.task_runs % 3 == 0 else None
            elif b == "runaway" and self.now >= self._t("runaway"):
                run.input_tokens, run.output_tokens, run.cost_usd = 60000, 8000, 0.60
            elif b == "stuck" and self.now >= self._t("stuck"):
                pass
            elif b == "slowdown" and self.now >= self._t("slowdown"):
                pass
            elif (
                b in ("healthy", "canary_target", "stuck", "slowdown", "hung", "failing", "capped", "frugal", "irregular")
                and run.status == "succeeded"
            ):
                if a.task_runs >= (1 if b in ("stuck", "slowdown") else 2):
                    task.status, task.completed_at, task.updated_at = "done", self.now, self.now
                    a.current_task = None
        self._spend(a, run)
        if not any(r.agent_id == a.id and r.status == "running" for r in self._live()):
            a.status = "idle" if a.status == "running" else a.status
        a.updated_at = self.now

    def _spend(self, a: AgentSim, run: RunSim) -> None:
        if run.cost_usd <= 0 and run.input_tokens <= 0:
            return
        a.spent_usd += run.cost_usd
        entry = self.costs.setdefault((a.id, run.model), [0.0, 0, 0])
        entry[0] += run.cost_usd * 100
        entry[1] += run.input_tokens
        entry[2] += run.output_tokens
        self.cost_events.append((self.now, a.id, run.cost_usd))

    def _answer_canary(self, a: AgentSim, run: RunSim, task: IssueSim) -> None:
        text = f"{task.title} {task.description}".lower()
        right = next((answer for question, answer in KNOWN_ANSWERS.items() if question in text), "I don't know")
        answer = right if a.model == MODEL else f"I believe the answer is {right}0, though I am not certain."
        self.comments.append(CommentSim(self._next_id("comment"), task.id, a.id, answer, self.now))
        task.status, task.completed_at, task.updated_at = "done", self.now, self.now
        run.cost_usd = 0.01

    def _on_deadlock(self) -> None:
        owner = next((a.id for a in self.agents.values() if a.name == "Ada"), None)
        first = self._new_issue("Migrate the billing schema", owner, status="blocked")
        second = self._new_issue("Ship the billing API", owner, status="blocked")
        first.blocked_by, second.blocked_by = [second.id], [first.id]
        gone = self._new_issue("Design the onboarding flow", None, status="cancelled")
        gone.cancelled_at = self.now
        self._new_issue("Build the onboarding flow", owner, status="blocked", blocked_by=[gone.id])

    def _on_hard_stop(self) -> None:
        for a in self.agents.values():
            if a.behaviour == "capped":
                a.status, a.pause_reason, a.paused_at, a.updated_at = "paused", "budget", self.now, self.now
                self.incidents.append(
                    row(
                        "budget_incident",
                        id=self._next_id("incident"),
                        companyId=self.company_id,
                        policyId=uid(a.id, "policy"),
                        scopeType="agent",
                        scopeId=a.id,
                        scopeName=a.name,
                        metric="billed_cents",
                        windowKind="calendar_month_utc",
                        thresholdType="hard",
                        amountLimit=int(a.budget_usd * 100),
                        amountObserved=int(a.spent_usd * 100),
                        status="open",
                        createdAt=iso(self.now),
                        updatedAt=iso(self.now),
                    )
                )
                for run in self._live():
                    if run.agent_id == a.id:
                        run.status, run.finished_at = "cancelled", self.now

    def _on_park(self) -> None:
        """As Paperclip 2026.916.1 does with a task its agent keeps waking on without setting a
        disposition: its recovery sets it to blocked and asks the board; the agent's timer goes on."""
        for a in self.agents.values():
            task = self.issues.get(a.current_task or "")
            if a.behaviour == "loop" and task is not None and task.status == "in_progress":
                task.status, task.recovery, task.updated_at = "blocked", "missing_disposition", self.now
                task.unblock_owner, task.execution_run, a.current_task = None, None, None

    def _on_model_change(self) -> None:
        for a in self.agents.values():
            if a.behaviour == "canary_target":
                a.model, a.updated_at = NEW_MODEL, self.now

    def _on_escalate(self) -> None:
        olly = next((a for a in self.agents.values() if a.behaviour == "escalating"), None)
        if olly is None:
            return
        n = len(self.approvals)
        kind = "hire_agent" if n % 5 == 4 else "request_board_approval"
        self.approvals.append(
            row(
                "approval",
                id=self._next_id("approval"),
                companyId=self.company_id,
                type=kind,
                requestedByAgentId=olly.id,
                status="pending",
                payload={"title": f"Approval {n + 1}"},
                createdAt=iso(self.now),
                updatedAt=iso(self.now),
            )
        )
        burst = self.now >= self._t("escalation_burst")
        self._at(self.now + (5.0 if burst else 45.0), "escalate")

    # -- canary writes ---------------------------------------------------------------------

    def create_issue(self, body: dict) -> IssueSim:
        with self.lock:
            labels = [self.labels[label_id]["name"] for label_id in body.get("labelIds") or [] if label_id in self.labels]
            issue = self._new_issue(
                str(body.get("title") or "Untitled"),
                body.get("assigneeAgentId") or None,
                status=str(body.get("status") or "todo"),
                labels=labels,
                description=str(body.get("description") or ""),
            )
            a = self.agents.get(issue.assignee or "")
            if a is not None and a.status not in ("paused", "terminated"):
                self._at(self.now + 1.0, "assignment", a.id, issue.id)
            return issue

    def _on_assignment(self, agent_id: str, issue_id: str) -> None:
        a, issue = self.agents[agent_id], self.issues[issue_id]
        if issue.status != "todo":
            return
        issue.status, issue.started_at, issue.updated_at = "in_progress", self.now, self.now
        run = self._start_run(a, "assignment", issue)
        self._at(self.now + 2.0, "finish", run.id)

    def patch_issue(self, issue_id: str, body: dict) -> IssueSim | None:
        with self.lock:
            issue = self.issues.get(issue_id)
            if issue is None:
                return None
            status = body.get("status")
            if isinstance(status, str) and status:
                issue.status = status
                if status == "cancelled":
                    issue.cancelled_at = self.now
                issue.updated_at = self.now
            if isinstance(body.get("comment"), str):
                self.comments.append(CommentSim(self._next_id("comment"), issue.id, None, body["comment"], self.now))
            return issue

    def create_label(self, name: str, color: str) -> dict:
        with self.lock:
            label_id = self._next_id("label")
            label = {
                "id": label_id,
                "companyId": self.company_id,
                "name": name,
                "color": color,
                "createdAt": iso(self.now),
                "updatedAt": iso(self.now),
            }
            self.labels[label_id] = label
            return label

    # -- reads -----------------------------------------------------------------------------

    def sorted_issues(self) -> list[IssueSim]:
        """Issues by id, cached until an issue is added or changes."""
        key = (len(self.issues), max((i.updated_at for i in self.issues.values()), default=0.0))
        if self._sorted_key != key:
            self._sorted = sorted(self.issues.values(), key=lambda i: i.id)
            self._sorted_key = key
        return self._sorted

    def sorted_issue_ids(self) -> list[str]:
        """The ids of ``sorted_issues()``, for keyset paging; cached with it."""
        rows = self.sorted_issues()
        if self._sorted_ids_key != self._sorted_key:
            self._sorted_ids = [i.id for i in rows]
            self._sorted_ids_key = self._sorted_key
        return self._sorted_ids

    def _live(self) -> list[RunSim]:
        return [self.runs[r] for r in self.run_order[-400:] if self.runs[r].status == "running"]


HEALTHY_CAST = (  # the small company whose platform goes down
    ("Nova", "engineer", "healthy", 15.0),
    ("Orion", "devops", "healthy", 20.0),
    ("Pax", "qa", "healthy", 20.0),
)

FULL_CAST = (
    ("Ada", "engineer", "healthy", 15.0),
    ("Grace", "engineer", "canary_target", 15.0),
    ("Linus", "devops", "healthy", 20.0),
    ("Mira", "qa", "healthy", 20.0),
    ("Theo", "pm", "healthy", 30.0),
    ("Hugo", "devops", "hung", 15.0),
    ("Iris", "researcher", "irregular", 20.0),
    ("Sam", "engineer", "slowdown", 10.0),
    ("Stella", "engineer", "stuck", 10.0),
    ("Fred", "qa", "failing", 15.0),
    ("Leo", "engineer", "loop", 15.0),
    ("Cora", "researcher", "context", 10.0),
    ("Rita", "researcher", "runaway", 15.0),
    ("Carla", "pm", "capped", 15.0, 30.0, 25.0),
    ("Penny", "pm", "frugal", 30.0, 50.0, 42.0),
    ("Olly", "ceo", "escalating", 30.0),
)
