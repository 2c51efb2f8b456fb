"""The company of the live-events benchmark (``bench/live_events.py``) and what happens in it.

- **Background**: ``agents`` process agents (``tests/harness/fake-agent.sh``) on heartbeat
  timers, their intervals spread evenly over 2/3 to 4/3 of ``interval`` so that the scheduler's
  10 s ticks wake a few at a time; runs last 1 to 5 s, every other agent reports a cost of 1 to
  3 cents a run; and unassigned issues moved between backlog and todo at a steady pace.
- **Probes** (no timer): run lanes (a run of ``run_seconds`` that succeeds or fails), cost lanes
  (a cost event), issue lanes (an issue of the lane's agent moved between backlog and todo; the
  agent does not wake on demand, so the move starts no run). Each lane makes one change, waits
  until every exporter showed it (``View.expect``), then waits a random gap of up to ``gap``
  seconds (the slow poll's interval, so the changes fall at every phase of its polls).
- **Faults**: agents whose runs fail three times in a row (the ``runs_failing_consecutive``
  threshold), one after another at staggered times, for the page latency.
"""

from __future__ import annotations

import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from live_events_watch import Expectation, View

ENDED = ("succeeded", "failed", "timed_out", "cancelled", "error")
FAILS_TO_PAGE = 3  # the runs_failing_consecutive threshold (its default)


def ts(text: str) -> float:
    """A timestamp (ISO 8601, ``Z``; Prometheus gives nanoseconds) as a Unix time."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")).timestamp()


def agent_body(root: Path, name: str, env: dict[str, str], interval: int = 0, wake: bool = True, timeout: int = 60) -> dict:
    return {
        "name": name,
        "role": "engineer",
        "adapterType": "process",
        "adapterConfig": {"command": "/bin/bash", "args": [str(root / "bin" / "fake-agent.sh")], "env": env, "timeoutSec": timeout},
        "runtimeConfig": {"heartbeat": {"enabled": interval > 0, "intervalSec": interval, "wakeOnDemand": wake}},
        "budgetMonthlyCents": 1_000_000,
    }


@dataclass
class Fleet:
    company: str
    background: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)  # the background's unassigned issues
    runs: list[tuple[str, str, bool]] = field(default_factory=list)  # (id, name, fails)
    costs: list[tuple[str, str]] = field(default_factory=list)
    tasks: list[tuple[str, str, str]] = field(default_factory=list)  # (agent id, agent name, issue id)
    faults: list[tuple[str, str]] = field(default_factory=list)


def build(api, root: Path, company: str, args) -> Fleet:
    """Every agent and issue of the benchmark, created side by side."""
    fleet = Fleet(company)
    n, base = args.agents, args.interval

    def make(body: dict) -> str:
        return api.post(f"/api/companies/{company}/agents", body)["id"]

    def worker(i: int) -> str:
        env = {"FAKE_SLEEP_SEC": str(1 + i % 5), "FAKE_COST_CENTS": str(1 + i % 3) if i % 2 == 0 else "0"}
        return make(agent_body(root, f"Worker {i:03d}", env, interval=round(base * (2 / 3 + (2 / 3) * i / max(n, 1)))))

    slow = {"FAKE_SLEEP_SEC": str(args.run_seconds)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        fleet.background = list(pool.map(worker, range(n)))
        fleet.issues = list(
            pool.map(lambda i: api.create_issue(company, f"Chore {i}", status=("backlog", "todo")[i % 2])["id"], range(args.issues))
        )
        for i in range(args.run_lanes):
            for fails in (False, True):
                name = f"Probe run {'fail' if fails else 'ok'} {i + 1}"
                env = {**slow, "FAKE_EXIT_CODE": "3"} if fails else slow
                fleet.runs.append((make(agent_body(root, name, env, timeout=args.run_seconds + 60)), name, fails))
        for i in range(args.cost_lanes):
            name = f"Probe cost {i + 1}"
            fleet.costs.append((make(agent_body(root, name, {}, wake=False)), name))
        for i in range(args.issue_lanes):
            name = f"Probe issue {i + 1}"
            agent = make(agent_body(root, name, {}, wake=False))
            fleet.tasks.append((agent, name, api.create_issue(company, f"{name} task", status="backlog", assigneeAgentId=agent)["id"]))
        for i in range(args.faults):
            name = f"Fault {i + 1}"
            fleet.faults.append((make(agent_body(root, name, {"FAKE_SLEEP_SEC": "1", "FAKE_EXIT_CODE": "3"})), name))
    return fleet


class Lanes:
    """The threads that change the company: background issue moves, probe lanes and faults."""

    def __init__(self, api, view: View, fleet: Fleet, args, stop: threading.Event) -> None:
        self.api, self.view, self.fleet, self.args, self.stop = api, view, fleet, args, stop
        self.timeout = args.sample_timeout
        self.until = float("inf")  # no lane starts a change after this time
        self.samples: list[Expectation] = []
        self.faults: dict[str, Expectation] = {}  # fault agent name -> its last failed run's end, and who showed it
        self.issue_moves = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._rng = random.Random(args.seed)

    def start_background(self) -> None:
        self._spawn("background-issues", self._background_issues)

    def start_probes(self, until: float, faults_at: list[float]) -> None:
        self.until = until
        for agent, name, fails in self.fleet.runs:
            self._spawn(name, lambda a=agent, n=name, f=fails: self._run_lane(a, n, f))
        for agent, name in self.fleet.costs:
            self._spawn(name, lambda a=agent, n=name: self._cost_lane(a, n))
        for _agent, name, issue in self.fleet.tasks:
            self._spawn(name, lambda n=name, i=issue: self._issue_lane(n, i))
        for (agent, name), at in zip(self.fleet.faults, faults_at, strict=True):
            self._spawn(name, lambda a=agent, n=name, t=at: self._fault(a, n, t))

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self, name: str, body: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                body()
            except Exception as exc:  # a lane that breaks is reported, not fatal
                with self._lock:
                    self.errors.append(f"{name}: {type(exc).__name__}: {exc}")

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _more(self) -> bool:
        """Wait a random gap; whether the lane makes another change."""
        self.stop.wait(self._rng.uniform(0, self.args.gap))
        return not self.stop.is_set() and time.time() < self.until

    def _record(self, *exps: Expectation) -> None:
        for exp in exps:
            if not exp.done.wait(self.timeout):
                self.view.give_up(exp)
            with self._lock:
                self.samples.append(exp)

    # -- the lanes -------------------------------------------------------------------------

    def _background_issues(self) -> None:
        """One unassigned issue after another moved between backlog and todo, ``issue_changes``
        a minute on a fixed schedule."""
        statuses = {iid: ("backlog", "todo")[i % 2] for i, iid in enumerate(self.fleet.issues)}
        if self.args.issue_changes <= 0 or not statuses:
            return
        pace, order, began = 60.0 / self.args.issue_changes, list(statuses), time.monotonic()
        i = 0
        while not self.stop.wait(max(0.0, began + (i + 1) * pace - time.monotonic())):
            iid = order[i % len(order)]
            statuses[iid] = "todo" if statuses[iid] == "backlog" else "backlog"
            try:
                self.api.patch_issue(iid, status=statuses[iid])
                self.issue_moves += 1
            except Exception:  # a busy platform: the next one
                pass
            i += 1

    def _run_lane(self, agent: str, name: str, fails: bool) -> None:
        status = "failed" if fails else "succeeded"
        while self._more():
            start = self.view.expect("run_start", name, ("live_runs", name, ""), lambda v, b: v >= b + 1)
            end = self.view.expect("run_fail" if fails else "run_finish", name, ("runs_total", name, status), lambda v, b: v >= b + 1)
            run = self.api.invoke_heartbeat(agent)
            if run is None:
                self.view.give_up(start)
                self.view.give_up(end)
                continue
            start.t0 = ts(run["createdAt"])
            finished = self._finished(run["id"], self.args.run_seconds + 90, not_before=self.args.run_seconds - 1)
            end.t0 = ts(finished["finishedAt"]) if finished and finished.get("finishedAt") else None
            self._record(start, end)
            self.view.settle(("live_runs", name, ""), lambda v: v == 0, self.timeout)

    def _cost_lane(self, agent: str, name: str) -> None:
        while self._more():
            cents = self._rng.randint(1, 9)
            exp = self.view.expect("cost", name, ("cost_usd_total", name, ""), lambda v, b, c=cents: v >= b + c / 100 - 1e-9)
            body = {
                "agentId": agent,
                "provider": "anthropic",
                "biller": "anthropic",
                "billingType": "metered_api",
                "model": "claude-sonnet-4-5",
                "inputTokens": 1000,
                "cachedInputTokens": 0,
                "outputTokens": 200,
                "costCents": cents,
                "occurredAt": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
            exp.t0 = ts(self.api.post(f"/api/companies/{self.fleet.company}/cost-events", body)["createdAt"])
            self._record(exp)

    def _issue_lane(self, name: str, issue: str) -> None:
        status = "backlog"
        while self._more():
            status, step = ("todo", 1) if status == "backlog" else ("backlog", -1)
            exp = self.view.expect("issue", name, ("tasks", name, "todo"), lambda v, b, s=step: v == b + s)
            exp.t0 = ts(self.api.patch_issue(issue, status=status)["updatedAt"])
            self._record(exp)

    def _fault(self, agent: str, name: str, at: float) -> None:
        """``FAILS_TO_PAGE`` failed runs in a row, from ``at`` on; the end of the last is the
        injection (``t0`` of the fault's expectation, which the exporters meet when they show
        that many failures in a row)."""
        if self.stop.wait(max(0.0, at - time.time())):
            return
        exp = self.view.expect("fault", name, ("consecutive_failed_runs", name, ""), lambda v, b: v >= FAILS_TO_PAGE)
        finished: dict[str, Any] | None = None
        for _ in range(FAILS_TO_PAGE):
            run = self.api.invoke_heartbeat(agent)
            while run is None and not self.stop.wait(0.5):
                run = self.api.invoke_heartbeat(agent)
            if run is None:
                return
            finished = self._finished(run["id"], 90)
        if finished and finished.get("finishedAt"):
            exp.t0 = ts(finished["finishedAt"])
        with self._lock:
            self.faults[name] = exp

    def _finished(self, run_id: str, timeout: float, not_before: float = 0.0) -> dict[str, Any] | None:
        """The run once it ended, read again every half second after ``not_before`` seconds (the
        run's own length: the benchmark's reads are load on the platform too)."""
        deadline = time.monotonic() + timeout
        self.stop.wait(not_before)
        while time.monotonic() < deadline and not self.stop.is_set():
            run = self.api.get(f"/api/heartbeat-runs/{run_id}")
            if run.get("status") in ENDED:
                return run
            self.stop.wait(0.5)
        return None
