"""Sets the matrix up on one real Paperclip server and watches it page.

One Paperclip server holds every variant's company and the healthy control company. One agentwatch
(``main``, poll every 1 s) watches them all but the ``restart`` company, which a second agentwatch
watches with a small runs window (``runs_limit``): that one is stopped and started again on the same
config in the middle of its variants' faults. One Prometheus scrapes both every second and evaluates
the shipped rules every second with every ``for`` divided by 60 (ranges unchanged); one Alertmanager
runs the shipped routing (waits squashed to 1 s) into the incident webhook receiver.

Ages are compressed only through the documented thresholds of the exporter config
(``thresholds.defaults``, ``COMPRESSED``); a key ``config.Thresholds`` does not know fails the run. Each variant's recipe runs on its own thread with its
own API session, injects its fault and marks the time (``Ctx.fault``); the driver then records,
per variant and alert, when the alert first fired in Prometheus (the ``ALERTS`` series) and when it
reached the webhook, with which receiver and labels. Nothing may fire for the control company.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from agentwatch.config import Thresholds
from detection import platform
from detection.scenarios import COMPANIES, CONTROL, Variant
from harness.exporter import ExporterProcess
from harness.monitoring import Alertmanager, IncidentReceiver, Prometheus
from harness.paperclip import APIError, PaperclipAPI

RULES_FOR_FACTOR = 60
RESTART_RUNS_LIMIT = 5
# Ages compressed through the exporter config; every key is a documented threshold.
COMPRESSED: dict[str, Any] = {
    "deadlock_min_age": "5s",  # 1 h
    "loop_min_age": "20s",  # 4 h
    "loop_min_calls": 3,  # 20
    "run_max_age": "120s",  # 2 h / 60
    "stuck_floor_age": "1440s",  # 24 h / 60
}
CONTROL_MIN_WATCH = 150.0  # the control is watched at least this long, whatever the variants do
SETUP_TIMEOUT = 300.0  # a variant whose fault is not injected by then is given up
# series whose moves over the run go into the evidence of a variant that did not page
HISTORY = (
    "agentwatch_agent_approvals_requested_total",
    "agentwatch_agent_approval_requests_total",
    "agentwatch_agent_cost_usd_total",
    "agentwatch_agent_tasks_parked",
    "agentwatch_agent_work_looping",
    "agentwatch_agent_looping_tasks",
    "agentwatch_agent_max_runs_without_progress",
)
CONTROL_INTERVAL = 30  # the control's timers (see control())
HANG_ENV = {"FAKE_SLEEP_SEC": "3000"}
OK_ENV = {"FAKE_SLEEP_SEC": "1"}


def now() -> float:
    return time.time()


@dataclass
class Outcome:
    """One (variant, alert) row of the matrix."""

    variant: str
    failure: str
    title: str
    alert: str
    company: str
    source: str
    target: str | None = None  # the agent name the alert must carry (None: company-wide)
    ci: bool = False
    rule_present: bool = True
    fault_at: float | None = None
    not_applicable: str | None = None
    fired_at: float | None = None
    fired_before_fault: bool = False
    paged_at: float | None = None
    receiver: str | None = None
    labels_ok: bool | None = None
    label_problems: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)  # other alerts that fired for the same target
    notes: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        return self.fired_at is not None

    @property
    def paged(self) -> bool:
        return self.paged_at is not None and bool(self.labels_ok)

    @property
    def to_fire(self) -> float | None:
        return None if self.fired_at is None or self.fault_at is None else self.fired_at - self.fault_at

    @property
    def to_page(self) -> float | None:
        return None if self.paged_at is None or self.fault_at is None else self.paged_at - self.fault_at

    @property
    def verdict(self) -> str:
        if self.not_applicable:
            return "n/a"
        if self.fault_at is None:
            return "not injected"
        if self.paged:
            return "paged"
        return "fired, no page" if self.fired else "MISSED"


@dataclass
class Results:
    outcomes: list[Outcome]
    control_alerts: list[str]  # what fired (Prometheus) or paged (webhook) for the control company
    thresholds: dict[str, Any]
    missing_thresholds: list[str]
    started_at: float
    finished_at: float
    setup_seconds: float
    restart_at: float | None
    notes: list[str]
    workdir: str
    control_evidence: list[str] = field(default_factory=list)
    tree: str = ""  # the commit the matrix ran against (set by bench/detection.py)

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at

    def to_json(self) -> dict:
        out = asdict(self)
        for o, row in zip(self.outcomes, out["outcomes"], strict=False):
            row.update(verdict=o.verdict, to_fire=o.to_fire, to_page=o.to_page)
        return out


class Ctx:
    """What a recipe sees: its own API session, its company, the run's stop event and the restart
    barrier. A recipe marks the fault with ``fault()`` and says what the alert must name with
    ``target`` (an agent name; None for a company-wide alert)."""

    def __init__(self, matrix: "Matrix", variant: Variant | None, company_id: str, company_name: str) -> None:
        self.matrix = matrix
        self.variant = variant
        self.api = PaperclipAPI(matrix.url)
        self.root = matrix.root
        self.company = company_id
        self.company_name = company_name
        self.target: str | None = None
        self.fault_at: float | None = None
        self.not_applicable: str | None = None
        self.notes: list[str] = []
        self.agents: dict[str, str] = {}  # name -> id, paused at the end
        self.issues: dict[str, str] = {}
        self.ready = threading.Event()
        self.done = threading.Event()  # the recipe returned
        self.error: str | None = None

    # -- platform --------------------------------------------------------------------------------
    def agent(self, name: str, role: str = "engineer", **kwargs) -> str:
        agent_id = platform.create_agent(self.api, self.company, name, role, self.root, **kwargs)
        self.agents[name] = agent_id
        return agent_id

    def issue(self, key: str, title: str, **fields) -> str:
        """Titles must differ within a company: Paperclip 2026.916.1 answered a second create with the
        title of an existing issue of the company (one after the other, or in parallel) with that
        issue, no new one (the recipes of one company run in parallel)."""
        issue_id = self.api.create_issue(self.company, title, **fields)["id"]
        self.issues[key] = issue_id
        return issue_id

    # -- timeline --------------------------------------------------------------------------------
    def fault(self, what: str | None = None) -> None:
        if self.fault_at is None:
            self.fault_at = now()
            self.matrix.log(f"[{self.name}] fault injected{': ' + what if what else ''}")

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.matrix.log(f"[{self.name}] {text}")

    def since_fault(self) -> str:
        return "" if self.fault_at is None else f"fault+{now() - self.fault_at:.0f}s"

    def sleep(self, seconds: float) -> bool:
        """False once the run is over."""
        return not self.matrix.stop.wait(seconds)

    @property
    def stopped(self) -> bool:
        return self.matrix.stop.is_set()

    def wait(self, predicate: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
        """``predicate()`` once truthy, else None when time runs out or the run ends."""
        deadline = now() + timeout
        while now() < deadline and not self.stopped:
            try:
                value = predicate()
            except (requests.RequestException, APIError):
                value = None
            if value:
                return value
            self.sleep(interval)
        return None

    # -- the exporter restart --------------------------------------------------------------------
    def ready_for_restart(self) -> None:
        self.note(f"ready for the exporter restart ({self.since_fault()})")
        self.ready.set()

    def wait_restarted(self, timeout: float) -> bool:
        return self.matrix.restarted.wait(timeout)

    def wait_earlier_stages(self, stage: int, timeout: float = 300) -> None:
        """Wait until every variant of the restart exporter with an earlier stage has injected its
        fault (or given up), so that all are in the middle of their faults at the restart."""
        deadline = now() + timeout
        while now() < deadline and not self.stopped:
            earlier = [c for c in self.matrix.restart_ctxs if c.variant.params["restart"] < stage]
            if all(c.fault_at is not None or c.done.is_set() for c in earlier):
                return
            self.sleep(1)
        self.note(f"the earlier restart stages were not ready in {timeout:.0f} s")

    @property
    def name(self) -> str:
        return self.variant.id if self.variant else CONTROL


# ---------------------------------------------------------------------------------------------
# Recipes: one per kind of fault. Each injects as a platform user would meet the fault.
# ---------------------------------------------------------------------------------------------


def hang(
    ctx: Ctx, agent: str, adapter: str, interval: int, history: int = 0, timeout: int = 3600, restart: int = 0, fillers: int = 0
) -> None:
    """A run that never ends: on the agent's very first run (``history`` 0) or after ``history``
    good runs; on a timer, or (``interval`` 0) on an assigned task."""
    ctx.target = agent
    if restart:
        ctx.wait_earlier_stages(restart)
    for n in range(fillers):  # healthy neighbours whose runs push the hung agent's out of the window
        ctx.agent(f"Filler {n + 1} {agent.split()[0]}", "general", env=OK_ENV, interval=10, budget_cents=10000)
    role = "devops"
    if history == 0:
        aid = ctx.agent(agent, role, adapter=adapter, env=dict(HANG_ENV), interval=interval, timeout=timeout, budget_cents=10000)
        if interval == 0:
            ctx.issue("task", f"Run the nightly migration ({agent})", status="todo", assigneeAgentId=aid)
        ctx.fault()
    else:
        aid = ctx.agent(agent, role, adapter=adapter, env=dict(OK_ENV), interval=interval, timeout=timeout, budget_cents=10000)
        good = ctx.wait(
            lambda: len([r for r in platform.agent_runs(ctx.api, ctx.company, aid) if r["status"] == "succeeded"]) >= history,
            timeout=180,
            interval=2,
        )
        if not good:
            ctx.note(f"only {len(platform.agent_runs(ctx.api, ctx.company, aid))} runs before the hang (wanted {history} good ones)")
        platform.set_adapter(ctx.api, aid, ctx.root, adapter, dict(HANG_ENV), timeout)
        ctx.fault()
    fault_at = ctx.fault_at

    def hung_run():
        for run in platform.agent_runs(ctx.api, ctx.company, aid, limit=5):
            started = platform.ts(run.get("startedAt"))
            if run["status"] == "running" and started and started >= fault_at - 1:
                return run
        return None

    run = ctx.wait(hung_run, timeout=120, interval=2)
    if not run:
        ctx.note("no hung run started within 120 s of the fault")
        return
    started = platform.ts(run["startedAt"])
    ctx.note(f"hung run ({run['invocationSource']}) started at fault+{started - fault_at:.0f}s")
    if restart:

        def pushed_out():
            if now() - started < 10:
                return None
            window = ctx.api.runs(ctx.company, limit=RESTART_RUNS_LIMIT)
            return not [r for r in window if r["agentId"] == aid and r["status"] != "running"]

        if ctx.wait(pushed_out, timeout=150, interval=2):
            ctx.note(f"its last finished run is out of the newest {RESTART_RUNS_LIMIT} runs of the company")
        else:
            ctx.note(f"its last finished run is still in the newest {RESTART_RUNS_LIMIT} runs at the restart")
        ctx.ready_for_restart()


def context(
    ctx: Ctx,
    agent: str,
    interval: int = 10,
    task: bool = False,
    wake_every: float = 0,
    restart: int = 0,
    start: int = 8000,
    step: int = 40000,
) -> None:
    """A claude_local agent whose prompt grows every run, whatever wakes it."""
    ctx.target = agent
    if restart:
        ctx.wait_earlier_stages(restart)
    env = {
        "FAKE_INPUT_TOKENS": str(start),
        "FAKE_TOKENS_STEP": str(step),
        "FAKE_COST_USD": "0.02",
        "FAKE_ANSWER": "Read another part of the archive.",
    }
    aid = ctx.agent(agent, "researcher", adapter="claude", env=env, interval=interval, budget_cents=10000)
    issue = ctx.issue("task", f"Summarise the archive ({agent})", status="todo", assigneeAgentId=aid) if task else None
    ctx.fault()
    last_wake = now()
    noted = 0
    while not ctx.stopped:
        runs = platform.agent_runs(ctx.api, ctx.company, aid)
        finished = [r for r in runs if r.get("finishedAt")]
        if len(finished) > noted:
            noted = len(finished)
            top = max(((r.get("usageJson") or {}).get("inputTokens") or 0) for r in finished)
            if top >= 0.8 * 200000 and not any("crossed" in n for n in ctx.notes):
                ctx.note(f"a prompt crossed 80 % of the window after {noted} finished runs ({ctx.since_fault()}); {_sessions(finished)}")
        if restart and not ctx.ready.is_set() and noted >= 2:
            ctx.ready_for_restart()
        if issue and wake_every:
            last_wake = _wake_when_due(ctx, aid, issue, wake_every, last_wake)
        ctx.sleep(2)


def _wake_when_due(ctx: Ctx, agent_id: str, issue_id: str, every: float, last: float) -> float:
    """Wakes the agent on its task when ``every`` seconds have passed since ``last``; returns the
    time of the last wake."""
    if now() - last < every:
        return last
    try:
        ctx.api.wake_on_issue(agent_id, issue_id, reason="continue_task")
    except APIError as exc:
        ctx.note(f"wake refused: {exc}")
    return now()


def _sessions(runs: list[dict]) -> str:
    """How the runs' adapter sessions chained (what the platform did with the agent's session)."""
    runs = sorted(runs, key=lambda r: r.get("createdAt") or "")
    if not any("sessionIdAfter" in r for r in runs):
        return "the runs carry no session ids"
    resumed = sum(
        1 for a, b in zip(runs, runs[1:], strict=False) if b.get("sessionIdBefore") and b.get("sessionIdBefore") == a.get("sessionIdAfter")
    )
    fresh = sum(1 for r in runs if not r.get("sessionIdBefore"))
    kinds = sorted({f"{r.get('invocationSource')}{'+issue' if (r.get('contextSnapshot') or {}).get('issueId') else ''}" for r in runs})
    return f"runs {'/'.join(kinds)}: {resumed} resumed the previous run's session, {fresh} started with none"


def escalation(ctx: Ctx, agent: str, count: int, spacing: float, restart: int = 0) -> None:
    """A new agent, no runs and no history, asks the board for decisions again and again."""
    ctx.target = agent
    aid = ctx.agent(agent, "pm", budget_cents=10000)
    ctx.sleep(3)  # it is in the fleet for a poll or two before it asks
    if restart:
        ctx.wait_earlier_stages(restart)
    for i in range(count):
        if ctx.stopped:
            return
        ctx.api.create_approval(
            ctx.company, "request_board_approval", aid, {"title": f"Need a board decision ({i + 1})", "summary": "Unsure how to proceed."}
        )
        ctx.fault("first request_board_approval")
        if restart and i == count // 2 - 1:
            ctx.ready_for_restart()
            if not ctx.wait_restarted(120):
                ctx.note("no exporter restart within 120 s")
        elif spacing and i < count - 1:
            ctx.sleep(spacing)
    ctx.note(f"{count} approvals requested ({ctx.since_fault()})")


def burn(ctx: Ctx, agent: str, adapter: str, interval: int, invoke_every: float = 0, usd: float = 5.0) -> None:
    """A new agent with no budget that spends fast."""
    ctx.target = agent
    env = {"FAKE_COST_CENTS": str(int(usd * 100))} if adapter == "process" else {"FAKE_COST_USD": f"{usd:.2f}"}
    aid = ctx.agent(agent, "researcher", adapter=adapter, env=env, interval=interval, budget_cents=0)
    if not invoke_every:
        ctx.fault()
        return
    while not ctx.stopped:
        ctx.api.invoke_heartbeat(aid)
        ctx.fault("first invoke")
        ctx.sleep(invoke_every)


def loop(
    ctx: Ctx, agent: str, adapter: str, interval: int, wake_every: float = 0, status: str = "todo", set_status: str = "in_progress"
) -> None:
    """An agent that keeps working on its task and never sets a disposition; Paperclip's recovery
    is left to do what it does (it parks the task)."""
    ctx.target = agent
    if adapter == "process":
        env = {"FAKE_ANSWER": "Revising the plan.", "FAKE_COST_CENTS": "3"}
        if set_status:
            env["FAKE_SET_STATUS"] = set_status
    else:
        env = {"FAKE_ANSWER": "Revising the plan.", "FAKE_COST_USD": "0.03", "FAKE_INPUT_TOKENS": "12000"}
    aid = ctx.agent(agent, "engineer", adapter=adapter, env=env, interval=interval, budget_cents=10000)
    iid = ctx.issue("task", f"Refactor the billing module ({agent})", status=status, assigneeAgentId=aid)
    ctx.fault()
    last_wake, seen = now(), None
    while not ctx.stopped:
        issue = ctx.api.get(f"/api/issues/{iid}")
        state = (issue["status"], (issue.get("activeRecoveryAction") or {}).get("kind"))
        if state != seen:
            seen = state
            ctx.note(f"task {state[0]}{' recovery=' + state[1] if state[1] else ''} ({ctx.since_fault()})")
        if wake_every:
            last_wake = _wake_when_due(ctx, aid, iid, wake_every, last_wake)
        ctx.sleep(1)


def deadlock(ctx: Ctx, how: str, chain: int = 2) -> None:
    """A blocked chain that was healthy (its end open and assigned to an available agent that is
    not woken by assignments) until the fault."""
    ctx.target = None
    tag = how.replace("_", " ").title()
    owner = ctx.agent(f"Owner {tag}", "engineer", interval=0, wake_on_demand=False)
    worker = ctx.agent(f"Worker {tag}", "engineer", interval=0, wake_on_demand=False)
    spare = ctx.agent(f"Paused {tag}", "engineer", interval=0, wake_on_demand=False) if how == "reassign_paused" else None
    if spare:
        ctx.api.pause_agent(spare)
    end = ctx.issue("end", "Design the schema", status="todo", assigneeAgentId=owner)
    prev = end
    for n in range(1, chain):
        prev = ctx.issue(f"dep{n}", f"Build on the schema ({n})", status="blocked", assigneeAgentId=worker, blockedByIssueIds=[prev])
    ctx.sleep(8)  # a healthy chain for a few polls first
    if how == "cancel":
        ctx.api.patch_issue(end, status="cancelled")
    elif how == "reassign_paused":
        ctx.api.patch_issue(end, assigneeAgentId=spare)
    elif how == "delete":
        platform.delete_issue(ctx.api, end)
        left = ctx.api.get(f"/api/issues/{ctx.issues['dep1']}")
        ctx.note(f"after the delete the dependent is {left['status']} with {len(left.get('blockedBy') or [])} blockers")
    elif how == "pause_end":
        ctx.api.pause_agent(owner)
    elif how == "cycle":
        try:
            ctx.api.patch_issue(end, blockedByIssueIds=[prev])
        except APIError as exc:
            ctx.not_applicable = f"the API rejects cycles ({exc})"
            ctx.note(ctx.not_applicable)
            return
    else:
        raise ValueError(how)
    ctx.fault()


def control(ctx: Ctx) -> None:
    """The healthy company: agents on timers and on assignments that finish their tasks, a
    dependency that resolves, modest spend, one expected approval (hire_agent)."""
    done = {"FAKE_SET_STATUS": "done", "FAKE_ANSWER": "Done.", "FAKE_COST_CENTS": "1"}
    # Timers of 30 s: at 10 s, the scheduler's own tick, Paperclip wakes an agent every ~20 s (the
    # due check runs a tick after the claim that set lastHeartbeatAt), twice its interval, and
    # AgentHeartbeatIrregular fires for it, healthy or not (docs/detection.md).
    carl = ctx.agent("Calm Carl", "engineer", env=done, interval=CONTROL_INTERVAL, budget_cents=10000)
    sam = ctx.agent("Steady Sam", "engineer", env=done, interval=0, budget_cents=10000)
    ctx.agent(
        "Quiet Quinn",
        "researcher",
        adapter="claude",
        interval=CONTROL_INTERVAL,
        budget_cents=0,
        env={"FAKE_INPUT_TOKENS": "20000", "FAKE_TOKENS_STEP": "0", "FAKE_COST_USD": "0.01", "FAKE_ANSWER": "All quiet."},
    )
    ctx.issue("routine", "Routine work", status="todo", assigneeAgentId=carl)
    spec = ctx.issue("spec", "Write the spec", status="todo", assigneeAgentId=sam)
    ctx.issue("impl", "Implement the spec", status="blocked", assigneeAgentId=sam, blockedByIssueIds=[spec])
    ctx.issue("changelog", "Write the changelog", status="todo", assigneeAgentId=sam)
    ctx.api.create_approval(ctx.company, "hire_agent", sam, {"name": "Frontend Bot", "role": "engineer"})
    if ctx.sleep(60):
        ctx.issue("followup", "Routine follow-up", status="todo", assigneeAgentId=carl)
    if ctx.sleep(60):
        statuses = {k: ctx.api.get(f"/api/issues/{v}")["status"] for k, v in ctx.issues.items()}
        ctx.note("control tasks: " + ", ".join(f"{k}={s}" for k, s in statuses.items()))


RECIPES: dict[str, Callable[..., None]] = {
    "hang": hang,
    "context": context,
    "escalation": escalation,
    "burn": burn,
    "loop": loop,
    "deadlock": deadlock,
}


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


class Matrix:
    def __init__(
        self,
        url: str,
        root: Path,
        variants: tuple[Variant, ...],
        workdir: Path,
        log: Callable[[str], None] | None = None,
        max_duration: float = 1200.0,
    ) -> None:
        self.url, self.root, self.variants, self.workdir = url, root, variants, workdir
        self.suffix = uuid.uuid4().hex[:4]
        self.stop = threading.Event()
        self.restarted = threading.Event()
        self.t0 = now()
        self.max_duration = max_duration
        self._log = log or (lambda line: print(line, flush=True))
        self.restart_ctxs: list[Ctx] = []

    def log(self, line: str) -> None:
        self._log(f"{now() - self.t0:6.0f}s {line}")

    # -- setup -----------------------------------------------------------------------------------
    def thresholds(self) -> tuple[dict[str, Any], list[str]]:
        Thresholds(**COMPRESSED)  # every key is a documented threshold: one the config does not know fails here
        return dict(COMPRESSED), []

    def run(self) -> Results:
        api = PaperclipAPI(self.url)
        keys = [CONTROL] + sorted({v.company for v in self.variants}, key=list(COMPANIES).index)
        companies: dict[str, tuple[str, str]] = {}  # key -> (id, name)
        for key in keys:
            name = f"{COMPANIES[key][0]} {self.suffix}"
            companies[key] = (api.create_company(name, budget_cents=500000 if key == CONTROL else 50_000_000), name)
        thresholds, missing = self.thresholds()
        notes = [f"thresholds not in this tree's config (left out): {', '.join(missing)}"] if missing else []
        parts: list = []
        hook = IncidentReceiver(self.workdir / "incidents")
        parts.append(hook)
        self._clock_arrivals(hook)
        try:
            am = Alertmanager(self._dir("alertmanager"), hook.url, secret_file=hook.secret_file)
            parts.append(am)
            by_exporter: dict[str, list[str]] = {}
            for key in keys:
                by_exporter.setdefault(COMPANIES[key][1], []).append(companies[key][0])
            exporters: dict[str, ExporterProcess] = {}
            for name, ids in by_exporter.items():
                source: dict[str, Any] = {"name": f"detection-{name}", "url": self.url, "companies": ids}
                if name == "restart":
                    source["runs_limit"] = RESTART_RUNS_LIMIT
                config = {"poll_interval": "1s", "thresholds": {"defaults": thresholds}, "sources": [source]}
                exporters[name] = ExporterProcess(config, self._dir(f"exporter-{name}"))
                exporters[name].start()
                parts.append(exporters[name])
            prom = Prometheus(
                self._dir("prometheus"),
                [e.url.removeprefix("http://") for e in exporters.values()],
                am.url,
                rules_for_factor=RULES_FOR_FACTOR,
            )
            parts.append(prom)
            rules = self._rule_names(prom)
            setup = now() - self.t0
            self.log(f"stack up in {setup:.0f}s: {len(keys)} companies, exporters {', '.join(exporters)}, Prometheus {prom.url}")
            ctxs = self._start_recipes(companies)
            restart_at = self._watch(ctxs, exporters.get("restart"), hook)
            finished = now()
            self.stop.set()
            for _ctx, thread in ctxs:
                thread.join(15)
            results = self._collect(ctxs, companies, exporters, prom, hook, rules, thresholds, missing, notes, setup, restart_at, finished)
            self._pause_everything(ctxs)
            return results
        finally:
            self.stop.set()
            for part in reversed(parts):
                try:
                    part.stop()
                except Exception:
                    pass

    def _clock_arrivals(self, hook) -> None:
        """The incident log stamps whole seconds; the arrival of every notification is clocked here
        to the millisecond, by wrapping this receiver's store (in this process)."""
        self.arrivals: list[dict] = []
        store, record = hook.store, hook.store.record_alerts

        def clocked(events, moment):
            at = now()
            for e in events:
                self.arrivals.append(
                    {"at": at, "event": e.status, "receiver": e.receiver, "labels": dict(e.labels), "incident": e.incident}
                )
            return record(events, moment)

        store.record_alerts = clocked

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def _rule_names(prom) -> set[str]:
        groups = requests.get(prom.url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
        return {r["name"] for g in groups for r in g["rules"] if r.get("type") == "alerting"}

    def _start_recipes(self, companies) -> list[tuple[Ctx, threading.Thread]]:
        out = []
        jobs: list[tuple[Ctx, Callable[[], None]]] = []
        control_ctx = Ctx(self, None, *companies[CONTROL])
        jobs.append((control_ctx, lambda c=control_ctx: control(c)))
        for variant in self.variants:
            ctx = Ctx(self, variant, *companies[variant.company])
            if variant.params.get("restart"):
                self.restart_ctxs.append(ctx)
            jobs.append((ctx, lambda c=ctx, v=variant: RECIPES[v.recipe](c, **v.params)))
        for ctx, job in jobs:

            def body(ctx=ctx, job=job):
                try:
                    job()
                except Exception as exc:  # recorded on the variant; never stops the others
                    if not ctx.stopped:
                        ctx.error = f"{type(exc).__name__}: {exc}"
                        ctx.note(f"recipe error: {ctx.error}\n{traceback.format_exc(limit=3)}")
                finally:
                    ctx.done.set()

            thread = threading.Thread(target=body, name=ctx.name, daemon=True)
            thread.start()
            out.append((ctx, thread))
        return out

    # -- watching --------------------------------------------------------------------------------
    def _watch(self, ctxs, restart_exporter, hook) -> float | None:
        restart_at = None
        restart_deadline = now() + 480  # the restart happens even if a stage never gets ready
        paged_seen: set[tuple[str, str]] = set()
        while True:
            t = now()
            if (
                restart_exporter is not None
                and restart_at is None
                and self.restart_ctxs
                and (all(c.ready.is_set() or c.done.is_set() for c in self.restart_ctxs) or t > restart_deadline)
            ):
                self.log("restarting the restart exporter (stop its process, start a new one on the same config)")
                restart_exporter.stop()
                restart_exporter.start()
                restart_at = now()
                self.restarted.set()
                self.log(f"restart exporter serving again after {restart_at - t:.1f}s")
            pages = {
                (a["labels"].get("alertname"), a["labels"].get("agent") or a["labels"].get("company")) for _, a in hook.alerts("firing")
            }
            for key in sorted(pages - paged_seen, key=str):
                self.log(f"page: {key[0]} for {key[1]}")
            paged_seen |= pages
            pending = [c for c, _ in ctxs if c.variant is not None and not self._settled(c, pages, t)]
            if not pending and t - self.t0 >= CONTROL_MIN_WATCH and (restart_at is not None or not self.restart_ctxs):
                return restart_at
            if t - self.t0 > self.max_duration:
                self.log(f"giving up after {self.max_duration:.0f}s; still pending: {', '.join(c.name for c in pending)}")
                return restart_at
            time.sleep(2)

    @staticmethod
    def _control_agents(ctxs) -> set[str]:
        return {name for c, _ in ctxs if c.variant is None for name in c.agents}

    def _settled(self, ctx: Ctx, pages, t: float) -> bool:
        if ctx.not_applicable or ctx.error:
            return True
        if ctx.fault_at is None:
            return t - self.t0 > SETUP_TIMEOUT
        want = {(a, ctx.target or ctx.company_name) for a in ctx.variant.alerts}
        return want <= pages or t > ctx.fault_at + ctx.variant.wait

    # -- results ---------------------------------------------------------------------------------
    def _collect(self, ctxs, companies, exporters, prom, hook, rules, thresholds, missing, notes, setup, restart_at, finished) -> Results:
        firing = self._alerts_history(prom, finished)
        records = [r for r in self.arrivals if r["event"] == "firing"]
        outcomes = []
        control_name = companies[CONTROL][1]
        for ctx, _ in ctxs:
            v = ctx.variant
            if v is None:
                continue
            exporter = COMPANIES[v.company][1]
            for alert in v.alerts:
                o = Outcome(
                    v.id,
                    v.failure,
                    v.title,
                    alert,
                    ctx.company_name,
                    f"detection-{exporter}",
                    ctx.target,
                    v.ci,
                    rule_present=alert in rules,
                    fault_at=ctx.fault_at,
                    not_applicable=ctx.not_applicable,
                    notes=list(ctx.notes),
                )
                if ctx.error:
                    o.notes.append(f"recipe error: {ctx.error}")
                if not o.rule_present:
                    o.notes.append(f"no alert rule {alert} in the shipped rules")
                if restart_at and v.params.get("restart") and ctx.fault_at:
                    o.notes.append(f"exporter restarted at fault+{restart_at - ctx.fault_at:.0f}s")
                self._match(o, firing, records)
                if ctx.fault_at is not None and not o.paged and not o.not_applicable:
                    o.evidence = self._evidence(ctx, prom)
                outcomes.append(o)
        control_agents = self._control_agents(ctxs)
        control_alerts = sorted(
            {
                f"{labels.get('alertname')} {labels.get('agent') or labels.get('company')} (Prometheus)"
                for labels, _ in firing
                if labels.get("company") == control_name or labels.get("agent") in control_agents
            }
            | {
                f"{r['labels'].get('alertname')} {r['labels'].get('agent') or r['labels'].get('company')} (webhook {r['receiver']})"
                for r in records
                if r["labels"].get("company") == control_name or r["labels"].get("agent") in control_agents
            }
        )
        control_ctx = next(c for c, _ in ctxs if c.variant is None)
        notes = notes + [f"control: {n}" for n in control_ctx.notes]
        control_evidence = []
        for name in sorted({labels.get("agent") for labels, _ in firing if labels.get("agent") in control_agents}):
            control_evidence += [f"{name}: {line}" for line in self._evidence(control_ctx, prom, target=name)]
        results = Results(
            outcomes, control_alerts, thresholds, missing, self.t0, finished, setup, restart_at, notes, str(self.workdir), control_evidence
        )
        (self.workdir / "results.json").write_text(json.dumps(results.to_json(), indent=1, default=str))
        return results

    def _alerts_history(self, prom, end: float) -> list[tuple[dict, list[float]]]:
        """Every firing alert series since the start, with the times it was firing."""
        body = requests.get(
            prom.url + "/api/v1/query_range",
            timeout=60,
            params={
                "query": 'ALERTS{alertstate="firing", alertname!="Watchdog"}',
                "start": f"{self.t0:.3f}",
                "end": f"{end + 2:.3f}",
                "step": "1",
            },
        ).json()
        return [(s["metric"], [float(t) for t, _ in s["values"]]) for s in body["data"]["result"]]

    @staticmethod
    def _match(o: Outcome, firing, records) -> None:
        def ours(labels: dict) -> bool:
            if labels.get("alertname") != o.alert:
                return False
            return labels.get("agent") == o.target if o.target else labels.get("company") == o.company

        if o.fault_at is None:
            return
        times = sorted(t for labels, ts in firing if ours(labels) for t in ts)
        after = [t for t in times if t >= o.fault_at - 1]
        o.fired_at = after[0] if after else None
        o.fired_before_fault = bool(times) and times[0] < o.fault_at - 1
        if o.fired_before_fault:
            o.notes.append("fired before the fault was injected")
        hits = sorted(((r["at"], r) for r in records if ours(r["labels"])), key=lambda hit: hit[0])
        hits = [hit for hit in hits if hit[0] >= o.fault_at - 1]
        if hits:
            o.paged_at, first = hits[0][0], hits[0][1]
            # every receiver the first episode reached (a budget alert goes to cost, and on)
            o.receiver = "+".join(sorted({r["receiver"] for _, r in hits if r["incident"] == first["incident"]}))
            labels = first["labels"]
            problems = []
            if labels.get("company") != o.company:
                problems.append(f"company={labels.get('company')!r}")
            if labels.get("source") != o.source:
                problems.append(f"source={labels.get('source')!r}")
            if o.target and labels.get("agent") != o.target:
                problems.append(f"agent={labels.get('agent')!r}")
            o.labels_ok, o.label_problems = not problems, problems
        if o.target:
            also = {labels.get("alertname") for labels, _ in firing if labels.get("agent") == o.target}
        else:  # a company-wide alert: what fired in the company, for whom
            also = {
                f"{labels.get('alertname')} ({labels['agent']})" if labels.get("agent") else labels.get("alertname")
                for labels, _ in firing
                if labels.get("company") == o.company
            }
        o.also = sorted(a for a in also if a and a != o.alert)

    def _evidence(self, ctx: Ctx, prom, target: str | None = None) -> list[str]:
        """What Prometheus and the platform held for a variant that did not page (or for a control
        agent that did)."""
        lines = []
        target = target or ctx.target
        try:
            if target:
                selector = f'{{__name__=~"agentwatch_agent_.+", agent="{target}"}}'
            else:
                selector = f'{{__name__=~"agentwatch_dependency_.+", company="{ctx.company_name}"}}'
            for s in prom.query(selector):
                name = s["metric"]["__name__"]
                if name.endswith(("_bucket", "_info")) or name in ("agentwatch_agent_threshold",):
                    continue
                extra = {
                    k: v for k, v in s["metric"].items() if k in ("status", "cause", "model", "class", "type", "reason", "issue", "kind")
                }
                lines.append(f"{name}{extra or ''} = {s['value'][1]}")
        except Exception as exc:  # evidence only
            lines.append(f"prometheus: {exc!r}")
        if target:
            lines += self._history(prom, target, ctx.fault_at)
        try:
            for name, aid in ctx.agents.items():
                if target and name != target:
                    continue
                agent = ctx.api.get(f"/api/agents/{aid}")
                lines.append(f"platform agent {name}: status={agent.get('status')} lastHeartbeatAt={agent.get('lastHeartbeatAt')}")
                lines += ["  run " + platform.run_line(r) for r in platform.agent_runs(ctx.api, ctx.company, aid, limit=8)]
            for key, iid in ctx.issues.items():
                try:
                    issue = ctx.api.get(f"/api/issues/{iid}")
                except APIError as exc:
                    lines.append(f"platform issue {key}: {exc}")
                    continue
                recovery = (issue.get("activeRecoveryAction") or {}).get("kind")
                lines.append(
                    f"platform issue {key} {issue.get('identifier')}: {issue.get('status')}"
                    f"{' recovery=' + recovery if recovery else ''} blockedBy={len(issue.get('blockedBy') or [])}"
                )
        except Exception as exc:
            lines.append(f"platform: {exc!r}")
        return lines

    def _history(self, prom, agent: str, fault_at: float | None) -> list[str]:
        """How a few series of the agent moved over the run: their first and last samples and
        every change of value (a counter born at its final value shows here)."""
        lines = []
        zero = fault_at or self.t0
        for name in HISTORY:
            try:
                body = requests.get(
                    prom.url + "/api/v1/query_range",
                    timeout=30,
                    params={"query": f'{name}{{agent="{agent}"}}', "start": f"{self.t0:.3f}", "end": f"{now():.3f}", "step": "1"},
                ).json()
            except Exception as exc:  # evidence only
                lines.append(f"{name}: {exc!r}")
                continue
            for series in body.get("data", {}).get("result", []):
                changes, last = [], None
                for t, v in series["values"]:
                    if v != last:
                        changes.append(f"fault{float(t) - zero:+.0f}s={float(v):g}")
                        last = v
                extra = {k: v for k, v in series["metric"].items() if k in ("type", "class", "model")}
                lines.append(f"history {name}{extra or ''}: " + ", ".join(changes[:12]) + (" ..." if len(changes) > 12 else ""))
        return lines

    def _pause_everything(self, ctxs) -> None:
        """Stop the fleet's runs (hung runs included) so that the server is left quiet."""
        for ctx, _ in ctxs:
            for aid in ctx.agents.values():
                try:
                    ctx.api.pause_agent(aid)
                except Exception:
                    pass
