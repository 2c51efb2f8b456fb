"""The canary runner: one thread per source, a small state machine per (canary, agent).

Each due canary: skip it if the agent is paused, over budget or its canary spend cap for
the day is used ("skipped"); else create a task marked ``[canary]`` and assigned to the
agent, wait for its answer (the agent's newest comment) or a terminal status, score it,
record pass/fail/timeout/error, and cancel the task. A failing platform or a write that is
refused is recorded as "error"; it never reaches the poll loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from agentwatch.canary.suite import Canary, Suite
from agentwatch.model import Agent, CompanySnapshot, Snapshot
from agentwatch.source import SourceError
from agentwatch.source.paperclip.canary_api import CanaryAPI, CanaryPermissionError

log = logging.getLogger("agentwatch.canary")

OUTCOMES = ("pass", "fail", "timeout", "error", "skipped")
HISTORY = 50


@dataclass
class InFlight:
    canary: Canary
    company_id: str
    agent_id: str
    task_id: str
    identifier: str
    started: float


@dataclass
class CanaryRecord:
    """Results of one canary on one agent."""

    company: str
    agent: str
    role: str
    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, outcome) -> count
    score: dict[str, float] = field(default_factory=dict)  # model -> last score
    durations: list[float] = field(default_factory=list)  # seconds, bounded
    last_success: float | None = None
    consecutive_failures: int = 0
    spend_usd: float = 0.0
    spend_day: str = ""
    spend_today_usd: float = 0.0
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))  # (time, passed)


class CanaryRunner:
    def __init__(
        self,
        suite: Suite,
        api: CanaryAPI,
        source: str,
        snapshot: Callable[[], Snapshot | None],
        title_prefix: str = "[canary]",
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
        model_of: Callable[[str], str] | None = None,
    ) -> None:
        self.suite = suite
        self.api = api
        self.source = source
        self.snapshot = snapshot
        self.title_prefix = title_prefix
        self.check_interval = check_interval
        self.clock = clock
        self.model_of = model_of or (lambda agent_id: "")  # the model the agent is known to use
        self.records: dict[tuple[str, str], CanaryRecord] = {}  # (canary, agent id)
        self.next_due: dict[tuple[str, str], float] = {}
        self.in_flight: dict[tuple[str, str], InFlight] = {}
        self.write_checked = False
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"canary-{self.source}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except CanaryPermissionError as exc:
                log.error("canary disabled: no write permission", extra={"source": self.source, "error": str(exc)})
                return
            except Exception:  # never let a bug kill the thread silently
                log.exception("canary tick failed", extra={"source": self.source})
            self._stop.wait(self.check_interval)

    # -- one step -------------------------------------------------------------------------------

    def tick(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        if not self.write_checked:
            self.api.check_write_access(list(snapshot.companies))
            self.write_checked = True
        now = self.clock()
        for key, flight in list(self.in_flight.items()):
            self._advance(key, flight, snapshot, now)
        for cs in snapshot.companies.values():
            for agent in cs.agents.values():
                for canary in self.suite.canaries:
                    if canary.targets(agent):
                        self._maybe_start(canary, cs, agent, now)

    def _record(self, canary: Canary, cs: CompanySnapshot | None, agent_id: str, agent: Agent | None) -> CanaryRecord:
        key = (canary.name, agent_id)
        rec = self.records.get(key)
        if rec is None:
            rec = self.records[key] = CanaryRecord(
                company=cs.company.name if cs else "", agent=agent.name if agent else agent_id[:8], role=agent.role if agent else ""
            )
        return rec

    def _finish(self, canary: Canary, agent_id: str, outcome: str, model: str, now: float, **extra) -> None:
        with self.lock:
            rec = self.records[(canary.name, agent_id)]
            key = (model or "unknown", outcome)
            rec.runs[key] = rec.runs.get(key, 0) + 1
            if outcome == "skipped":
                return
            if "score" in extra:
                rec.score[model or "unknown"] = extra["score"]
            if "duration" in extra:
                rec.durations.append(extra["duration"])
                del rec.durations[:-1000]
            spend = extra.get("spend", 0.0)
            rec.spend_usd += spend
            day = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d")
            if rec.spend_day != day:
                rec.spend_day, rec.spend_today_usd = day, 0.0
            rec.spend_today_usd += spend
            if outcome == "pass":
                rec.last_success = now
                rec.consecutive_failures = 0
            else:
                rec.consecutive_failures += 1
            if outcome in ("pass", "fail", "timeout"):
                rec.history.append((now, outcome == "pass"))

    def _skip_reason(self, canary: Canary, cs: CompanySnapshot, agent: Agent, rec: CanaryRecord, now: float) -> str | None:
        if agent.status in ("paused", "terminated", "pending_approval"):
            return "agent_paused"
        if agent.budget_monthly_usd > 0 and agent.spent_monthly_usd >= agent.budget_monthly_usd:
            return "over_budget"
        if any(p.scope_id == agent.id and p.status == "hard_stop" for p in cs.policies):
            return "over_budget"
        day = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d")
        if rec.spend_day == day and rec.spend_today_usd >= canary.max_spend_per_day:
            return "spend_cap"
        return None

    def _maybe_start(self, canary: Canary, cs: CompanySnapshot, agent: Agent, now: float) -> None:
        key = (canary.name, agent.id)
        if key in self.in_flight or now < self.next_due.get(key, 0.0):
            return
        self.next_due[key] = now + canary.interval
        with self.lock:
            rec = self._record(canary, cs, agent.id, agent)
        reason = self._skip_reason(canary, cs, agent, rec, now)
        if reason is not None:
            log.info("canary skipped", extra={"source": self.source, "canary": canary.name, "agent_id": agent.id, "reason": reason})
            self._finish(canary, agent.id, "skipped", self.model_of(agent.id) or agent.model, now)
            return
        title = f"{self.title_prefix} {canary.name}: {canary.title}"
        try:
            task_id, identifier = self.api.create_task(cs.company.id, agent.id, title, canary.description)
        except SourceError as exc:
            if exc.status in (401, 403):
                raise CanaryPermissionError(str(exc)) from None
            log.warning(
                "canary task could not be created",
                extra={"source": self.source, "canary": canary.name, "agent_id": agent.id, "error": str(exc)},
            )
            self._finish(canary, agent.id, "error", self.model_of(agent.id) or agent.model, now)
            return
        log.info("canary started", extra={"source": self.source, "canary": canary.name, "agent_id": agent.id, "task_id": task_id})
        self.in_flight[key] = InFlight(canary, cs.company.id, agent.id, task_id, identifier, now)

    def _advance(self, key, flight: InFlight, snapshot: Snapshot, now: float) -> None:
        canary = flight.canary
        cs = snapshot.companies.get(flight.company_id)
        agent = cs.agents.get(flight.agent_id) if cs else None
        fallback_model = self.model_of(flight.agent_id) or (agent.model if agent else "")
        try:
            state = self.api.task_state(flight.task_id, flight.agent_id)
        except SourceError as exc:
            if now - flight.started <= canary.timeout:
                return  # try again on the next tick
            state = None
            log.warning(
                "canary state unreadable",
                extra={"source": self.source, "canary": canary.name, "task_id": flight.task_id, "error": str(exc)},
            )
        duration = now - flight.started
        model = (state.model if state else "") or fallback_model
        spend = state.spend_usd if state else 0.0
        if state is not None and state.answer is not None:
            result = canary.scorer.score(state.answer)
            outcome = "pass" if result.passed else "fail"
            self._finish(canary, flight.agent_id, outcome, model, now, score=result.value, duration=duration, spend=spend)
        elif state is not None and state.status in ("done", "cancelled"):
            self._finish(canary, flight.agent_id, "fail", model, now, score=0.0, duration=duration, spend=spend)
            outcome = "fail"
        elif duration > canary.timeout:
            outcome = "timeout" if state is not None else "error"
            self._finish(canary, flight.agent_id, outcome, model, now, score=0.0, duration=duration, spend=spend)
        else:
            return
        log.info(
            "canary finished",
            extra={
                "source": self.source,
                "canary": canary.name,
                "agent_id": flight.agent_id,
                "task_id": flight.task_id,
                "outcome": outcome,
                "model": model,
            },
        )
        del self.in_flight[key]
        try:
            self.api.close_task(flight.task_id)
        except SourceError as exc:
            log.warning("canary task could not be closed", extra={"source": self.source, "task_id": flight.task_id, "error": str(exc)})

    def view(self) -> dict[tuple[str, str], CanaryRecord]:
        with self.lock:
            return {
                k: CanaryRecord(
                    r.company,
                    r.agent,
                    r.role,
                    dict(r.runs),
                    dict(r.score),
                    list(r.durations),
                    r.last_success,
                    r.consecutive_failures,
                    r.spend_usd,
                    r.spend_day,
                    r.spend_today_usd,
                    deque(r.history, maxlen=HISTORY),
                )
                for k, r in self.records.items()
            }
