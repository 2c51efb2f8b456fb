"""The metrics store (``exposition/store.py``): an entry's bytes are rendered from its value
alone, kept while an equal value is upserted, and dropped when a build does not upsert it; and
the fleet families built through a store that lived through many builds are, byte for byte,
those a fresh builder writes for the same snapshot."""

from __future__ import annotations

import time
from dataclasses import replace

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentwatch.analysis.company import CompanyAnalyses
from agentwatch.analysis.ledger import RunLedger
from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.config import Settings
from agentwatch.exposition import registry
from agentwatch.exposition.families import Families, Family, join_rendered
from agentwatch.exposition.fleet import FleetBuilder
from agentwatch.exposition.store import MetricsStore
from agentwatch.model import Agent, Approval, CompanySnapshot, CostRow, Heartbeat, Run, Snapshot, SourceCapabilities
from agentwatch.source.paperclip import parse
from replay import load

A = Family("a", "gauge", "A.")
B = Family("b", "counter", "B.")
FRESH = Family("fresh", "gauge", "Written fresh.", declared=True)
REGISTRY = (FRESH, A, B)
RENDERS: list[str] = []  # the values rendered, by name


class Value(msgspec.Struct, frozen=True):
    name: str
    x: float
    also_b: bool = True

    def render(self, w: Families) -> None:
        RENDERS.append(self.name)
        w.add(A, {"entity": self.name}, self.x)
        if self.also_b:
            w.add(B, {"entity": self.name}, self.x * 2, ("kind", "k"))


def everything(store: MetricsStore, fresh: Families | None = None) -> bytes:
    return join_rendered([store.render(fresh or Families(), lambda family: True, True)])


def build(store: MetricsStore, values: dict[str, Value]) -> bytes:
    store.begin()
    for name, value in values.items():
        store.upsert(("e", name), value)
    store.delete_unseen()
    fresh = Families()
    fresh.add(FRESH, {}, 1.0)
    return everything(store, fresh)


def test_an_equal_value_keeps_its_bytes_and_a_changed_one_renders_again():
    store = MetricsStore(REGISTRY)
    RENDERS.clear()
    first = build(store, {"x": Value("x", 1.0), "y": Value("y", 2.0)})
    assert build(store, {"x": Value("x", 1.0), "y": Value("y", 2.0)}) == first
    assert RENDERS == ["x", "y"]  # equal values: nothing rendered again
    changed = build(store, {"x": Value("x", 1.0), "y": Value("y", 3.0)})
    assert RENDERS == ["x", "y", "y"] and b'a{entity="y"} 3.0' in changed and b'a{entity="y"} 2.0' not in changed


def test_the_entries_a_build_does_not_upsert_are_deleted_with_their_bytes():
    store = MetricsStore(REGISTRY)
    build(store, {"x": Value("x", 1.0), "y": Value("y", 2.0)})
    out = build(store, {"y": Value("y", 2.0)})
    assert len(store) == 1 and b'entity="x"' not in out
    assert build(store, {}) == b"# HELP fresh Written fresh.\n# TYPE fresh gauge\nfresh 1.0\n"  # a and b: no series, not declared
    assert len(store) == 0


def test_a_family_an_entry_stops_writing_loses_its_bytes():
    store = MetricsStore(REGISTRY)
    build(store, {"x": Value("x", 1.0)})
    assert b'b_total{entity="x"' not in build(store, {"x": Value("x", 1.0, also_b=False)})


def test_entries_come_out_in_key_order_whatever_order_they_came_in():
    """A store that lived through builds renders what a fresh store renders for the same values."""
    lived = MetricsStore(REGISTRY)
    for names in (["m", "c"], ["z", "m"], ["a", "z", "m", "q"], ["q", "b", "a"]):
        values = {n: Value(n, float(len(n) + ord(n[0]))) for n in names}
        assert build(lived, values) == build(MetricsStore(REGISTRY), dict(sorted(values.items())))


def test_a_build_that_raises_half_way_leaves_a_store_that_renders_the_next_build_right():
    class Failing(Value, frozen=True):
        def render(self, w: Families) -> None:
            w.add(A, {"entity": self.name}, -1.0)
            raise RuntimeError("mid-render")

    store = MetricsStore(REGISTRY)
    build(store, {"x": Value("x", 1.0), "y": Value("y", 2.0)})
    store.begin()
    store.upsert(("e", "x"), Value("x", 5.0))  # rendered and held
    with pytest.raises(RuntimeError):
        store.upsert(("e", "y"), Failing("y", 7.0))
    # never ended: no entry deleted; the next build holds what it upserts, and nothing else
    values = {"x": Value("x", 1.0), "y": Value("y", 2.0)}
    assert build(store, values) == build(MetricsStore(REGISTRY), values)
    assert build(store, {"y": Value("y", 2.0)}) == build(MetricsStore(REGISTRY), {"y": Value("y", 2.0)})


def test_a_family_outside_the_registry_is_refused():
    store = MetricsStore((A,))
    store.begin()
    with pytest.raises(KeyError):
        store.upsert(("e", "x"), Value("x", 1.0))


def test_a_family_is_absent_without_the_capability_that_feeds_it_and_declared_ones_show_empty():
    gated = Family("gated", "gauge", "Needs budgets.", ("budgets",), declared=True)
    store = MetricsStore((A, gated))
    store.begin()
    fresh = Families()
    fresh.add(gated, {}, 1.0)
    off = SourceCapabilities(budgets=False)
    out = join_rendered([store.render(fresh, lambda f: all(getattr(off, n) for n in f.needs), True)])
    assert out == b""  # gated: no HELP, no TYPE; a: no series and not declared
    assert join_rendered([store.render(Families(), lambda f: True, True)]) == b"# HELP gated Needs budgets.\n# TYPE gated gauge\n"


# -- the fleet families over polls whose agents change -----------------------------------------

CONFIG = {
    "thresholds": {
        "roles": {"engineer": {"loop_min_calls": 30}, "qa": {"stuck_factor": 5}},
        "agents": {"Renamed": {"budget_soft_ratio": 0.5}},
    }
}


def base_snapshot() -> CompanySnapshot:
    company = parse.company(load("api_companies.json")[0])
    cs = CompanySnapshot(company=company)
    for row in load("api_companies_{companyId}_agents.json"):
        agent = parse.agent(row)
        if agent is not None:
            cs.agents[agent.id] = agent
    for row in load("api_companies_{companyId}_issues__view-compact.json"):
        issue = parse.issue(row)
        if issue is not None:
            cs.issues[issue.id] = issue
    cs.runs = parse.parse_rows(load("api_companies_{companyId}_heartbeat-runs__limit-50.json"), parse.run)[0]
    cs.costs = parse.parse_rows(load("api_companies_{companyId}_costs_by-agent-model.json"), parse.cost_row)[0]
    cs.policies = parse.parse_rows(load("api_companies_{companyId}_budgets_overview.json")["policies"], parse.budget_policy)[0]
    return cs


EDITS = st.tuples(
    st.integers(0, 50),
    st.sampled_from(
        [
            "name",
            "role",
            "status",
            "pause",
            "heartbeat",
            "title",
            "model",
            "remove",
            "spend",
            "cost",
            "complete",
            "reopen",
            "policy",
            "lock",
            "handoff",
            "start",
            "block",
            "approval",
            "run",
            "failed run",
            "live run",
            "end runs",
            "in flight",
            "unassigned",
        ]
    ),
)


AGENT_EDITS = {"name", "role", "status", "pause", "heartbeat", "title", "model", "spend"}  # edits of the agent's row


def agent_edit(agent: Agent, what: str) -> dict[str, object]:
    """The fields an edit of the agent's row (``AGENT_EDITS``) changes, and their new values."""
    if what == "name":
        return {"name": "Renamed" if agent.name != "Renamed" else "Named again"}
    if what == "role":
        return {"role": {"engineer": "qa", "qa": "pm"}.get(agent.role, "engineer")}
    if what == "status":
        return {"status": "running" if agent.status != "running" else "idle"}
    if what == "pause":
        return {"status": "paused", "pause_reason": "budget" if agent.pause_reason != "budget" else "manual"}
    if what == "heartbeat":
        return {"heartbeat": Heartbeat(not agent.heartbeat.enabled, agent.heartbeat.interval_seconds + 60, True)}
    if what == "title":
        return {"title": agent.title + "!"}
    if what == "model":
        return {"model": agent.model + "-next"}
    return {"spent_monthly_usd": agent.spent_monthly_usd + 1.5}  # "spend"


class _Poll:
    """The rows of the next poll, as ``edited`` changes them: one method per kind of edit."""

    def __init__(self, cs: CompanySnapshot, fresh: bool) -> None:
        self.cs = cs
        self.agents, self.costs, self.policies = dict(cs.agents), list(cs.costs), list(cs.policies)
        if fresh:
            self.agents = {k: replace(a, heartbeat=replace(a.heartbeat)) for k, a in self.agents.items()}
            self.costs, self.policies = [replace(row) for row in self.costs], [replace(policy) for policy in self.policies]
        self.issues = dict(cs.issues)
        self.approvals, self.runs, self.live_runs = list(cs.approvals), list(cs.runs), list(cs.live_runs)
        self.in_flight = dict(cs.in_flight_spend)

    # the edits of one kind of row: the method that makes each
    ROW_EDITS = {
        "policy": "policy",
        "cost": "cost",
        "unassigned": "unassigned",
        "approval": "approval",
        "end runs": "end_runs",
        "in flight": "spend_in_flight",
    }

    def snapshot(self) -> CompanySnapshot:
        return replace(
            self.cs,
            agents=self.agents,
            costs=self.costs,
            issues=self.issues,
            policies=self.policies,
            approvals=self.approvals,
            runs=self.runs,
            live_runs=self.live_runs,
            in_flight_spend=self.in_flight,
        )

    def apply(self, pick: int, what: str) -> None:
        aid = sorted(self.agents)[pick % len(self.agents)]
        agent = self.agents[aid]
        if what in ("complete", "reopen"):
            self.completion(pick, agent, what == "complete")
        elif what in ("lock", "handoff", "start", "block"):
            self.queue(pick, agent, what)
        elif what in ("run", "failed run", "live run"):
            self.run(pick, agent, what)
        elif what in AGENT_EDITS:  # a new object with the edit
            self.agents[aid] = replace(agent, **agent_edit(agent, what))
        elif what in self.ROW_EDITS:
            getattr(self, self.ROW_EDITS[what])(pick, agent)
        else:
            del self.agents[agent.id]

    def policy(self, pick: int, agent) -> None:  # spend counted against a policy, which may reach its limit
        if self.policies:
            n = pick % len(self.policies)
            observed = self.policies[n].observed_usd + 10.0
            status = "hard_stop" if observed >= self.policies[n].amount_usd else "warning"
            self.policies[n] = replace(self.policies[n], observed_usd=observed, status=status)

    def cost(self, pick: int, agent) -> None:  # one of the agent's models, or a new one
        mine = [n for n, row in enumerate(self.costs) if row.agent_id == agent.id]
        if mine and pick % 2:
            row = self.costs[mine[0]]
            self.costs[mine[0]] = replace(row, cost_usd=row.cost_usd + 0.25, output_tokens=row.output_tokens + 100)
        else:
            self.costs.append(CostRow("", agent.id, "anthropic", "anthropic", "metered_api", f"model-{pick}", 0.5, 10, 0, 5))

    def _task_of(self, pick: int, agent):
        mine = [i for i in self.issues.values() if i.assignee_agent_id == agent.id] or list(self.issues.values())
        return sorted(mine, key=lambda i: i.id)[pick % len(mine)]

    def completion(self, pick: int, agent, done: bool) -> None:  # one of the agent's tasks is done, or done no more
        issue = self._task_of(pick, agent)
        started = issue.started_at or issue.created_at or 0.0
        self.issues[issue.id] = msgspec.structs.replace(
            issue,
            status="done" if done else "todo",
            started_at=started if done else issue.started_at,
            completed_at=started + 60.0 * (1 + pick) if done else None,
        )

    def queue(self, pick: int, agent, what: str) -> None:  # one of the agent's tasks moves in the queue or the locks
        issue = self._task_of(pick, agent)
        if what == "lock":  # a lock on the newest live run, else on an ended run; or none any more
            locked = self.live_runs[-1].id if self.live_runs else self.cs.runs[pick % len(self.cs.runs)].id
            change = {"execution_run_id": None if issue.execution_run_id else locked}
        elif what == "handoff":
            change = {"assignee_agent_id": sorted(self.agents)[(pick + 1) % len(self.agents)]}
        elif what == "start":
            change = {"status": "in_progress", "started_at": time.time() - 600.0 * pick}
        else:
            change = {"status": "blocked", "unblock_owner": "board"}
        self.issues[issue.id] = msgspec.structs.replace(issue, **change)

    def unassigned(self, pick: int, agent) -> None:  # an unassigned task moves on; or, with none, one is unassigned
        loose = sorted((i for i in self.issues.values() if not i.assignee_agent_id and not i.is_canary), key=lambda i: i.id)
        if loose:
            issue = loose[pick % len(loose)]
            change = {"status": {"todo": "in_progress", "in_progress": "blocked"}.get(issue.status, "todo")}
        else:
            issue = sorted(self.issues.values(), key=lambda i: i.id)[pick % len(self.issues)]
            change = {"assignee_agent_id": None}
        self.issues[issue.id] = msgspec.structs.replace(issue, **change)

    def approval(self, pick: int, agent) -> None:  # one of two agents asks for one more approval, of one of two types
        asking = sorted(self.agents)[pick % 2 % len(self.agents)]
        kind = ("hire_agent", "approve_ceo_strategy")[pick // 2 % 2]
        self.approvals.append(Approval(f"ap-{len(self.approvals)}", "c", kind, "pending", asking, 1.0))

    def run(self, pick: int, agent, what: str) -> None:  # the agent's newest run: finished, failed, or still going
        started = time.time() - 300.0 * (pick + 1)
        live = what == "live run"
        run = Run(
            f"run-{len(self.runs)}-{len(self.live_runs)}",
            self.cs.company.id,
            agent.id,
            "running" if live else "failed" if what == "failed run" else "succeeded",
            "timer",
            "" if what != "failed run" else "adapter_failed",
            started_at=started,
            created_at=started,
            finished_at=None if live else started + 60.0,
        )
        (self.live_runs if live else self.runs).append(run)

    def end_runs(self, pick: int, agent) -> None:  # every live run ends: a lock held by one is stale from now on
        self.runs.extend(replace(run, status="succeeded", finished_at=time.time()) for run in self.live_runs)
        self.live_runs = []

    def spend_in_flight(self, pick: int, agent) -> None:
        self.in_flight[agent.id] = self.in_flight.get(agent.id, 0.0) + 0.5


def edited(cs: CompanySnapshot, edits, fresh: bool) -> CompanySnapshot:
    """A new poll of ``cs`` with ``edits``: the rows that did not change are the objects of the
    last poll, as the source hands them out, and an edited row is a new object; ``fresh``: every
    agent, cost and policy row a new object, as equal rows of another source would be."""
    poll = _Poll(cs, fresh)
    for pick, what in edits:
        if not poll.agents:
            break
        poll.apply(pick, what)
    return poll.snapshot()


def fleet_text(builder: FleetBuilder, snapshot: Snapshot, ledger: RunLedger, now: float, analyses=None, models=None) -> bytes:
    fleet, _ = builder.build(snapshot, ledger, now, analyses, models)
    return join_rendered([fleet.render()])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(EDITS, max_size=4), min_size=1, max_size=5), st.booleans())
# the same agent's lines changed at one poll and again at the next
@example([[(0, "approval")], [(2, "approval")], [(0, "approval"), (1, "approval")]], False)
@example([[(3, "lock"), (3, "block")], [(3, "lock")], [(3, "handoff"), (3, "start")], [(3, "block")]], False)
# a lock on a live run goes stale when the run ends, with no change to the task
@example([[(3, "live run")], [(3, "lock")], [(3, "end runs")]], False)
# an older run of the same agent: its last finished run stays, its timer gaps do not
@example([[(3, "run")], [(8, "failed run")]], False)
# the unassigned tasks' queue, changed at one poll and again at the next
@example([[(1, "unassigned")], [(2, "unassigned")], [(2, "unassigned")]], False)
# an agent removed, then a renamed one: entries leave, and their keys come back out of order
@example([[(0, "remove")], [(1, "name"), (2, "pause")], [(1, "cost")]], True)
def test_the_fleet_families_from_a_lived_store_are_byte_for_byte_those_of_a_fresh_one(polls, copies):
    """A builder whose store lived through every poll against a fresh builder, both from the
    analyses kept across polls as the poller keeps them (their agreement with analyses from
    scratch is tests/test_tracker_incremental.py's and tests/test_task_index.py's)."""
    cfg = Settings(**CONFIG)
    lived = FleetBuilder(cfg)
    ledger = RunLedger(lived.windows, cfg.analysis.context_high_ratio)
    models = ModelTracker()
    analyses = CompanyAnalyses()
    cs = base_snapshot()
    now = time.time()
    for edits in [[]] + polls:
        cs = edited(cs, edits, copies)
        snapshot = Snapshot(source="kept", taken_at=now, companies={cs.company.id: cs})
        ledger.record(cs.company.id, cs.runs)
        models.update(cs, now)
        analyses.update(cs, now)
        ours = fleet_text(lived, snapshot, ledger, now, {cs.company.id: analyses}, models)
        assert ours == fleet_text(FleetBuilder(cfg), snapshot, ledger, now, {cs.company.id: analyses}, models)
        now += 30.0


def test_a_steady_build_renders_only_what_changed():
    cfg = Settings(**CONFIG)
    builder = FleetBuilder(cfg)
    cs = base_snapshot()
    ledger = RunLedger(builder.windows, cfg.analysis.context_high_ratio)
    now = time.time()
    snapshot = Snapshot(source="s", taken_at=now, companies={cs.company.id: cs})
    first = fleet_text(builder, snapshot, ledger, now)
    held = builder.store.rendered
    assert fleet_text(builder, snapshot, ledger, now) == first and builder.store.rendered == held
    spent = edited(cs, [(0, "spend")], False)
    fleet_text(builder, Snapshot(source="s", taken_at=now, companies={cs.company.id: spent}), ledger, now)
    assert builder.store.rendered == held + 1  # the one agent's activity


def test_a_failed_fleet_build_leaves_a_store_that_renders_the_next_build_right(monkeypatch):
    """A build that raised half-way (here: the activity of an agent that spent more) is
    followed by one whose output is a fresh builder's: the agent is paused no more and has
    no pause line left behind."""
    cfg = Settings()
    builder = FleetBuilder(cfg)
    cs = base_snapshot()
    aid = sorted(cs.agents)[0]
    paused = replace(cs, agents={**cs.agents, aid: replace(cs.agents[aid], status="paused", pause_reason="manual")})
    ledger = RunLedger(builder.windows, cfg.analysis.context_high_ratio)
    now = time.time()
    fleet_text(builder, Snapshot(source="kept", taken_at=now, companies={cs.company.id: paused}), ledger, now)
    spent = replace(paused, agents={**paused.agents, aid: replace(paused.agents[aid], spent_monthly_usd=99.0)})

    def failing(self, w):
        raise RuntimeError("mid-build")

    monkeypatch.setattr("agentwatch.exposition.agents.AgentActivity.render", failing)
    with pytest.raises(RuntimeError):
        fleet_text(builder, Snapshot(source="kept", taken_at=now, companies={cs.company.id: spent}), ledger, now)
    monkeypatch.undo()
    snapshot = Snapshot(source="kept", taken_at=now, companies={cs.company.id: cs})
    ours, fresh = fleet_text(builder, snapshot, ledger, now), fleet_text(FleetBuilder(cfg), snapshot, ledger, now)
    name = cs.agents[aid].name
    assert ours == fresh and not any(
        f'agent="{name}"' in line for line in ours.decode().splitlines() if line.startswith("agentwatch_agent_paused{")
    )


@pytest.mark.parametrize("capability", [f for f in SourceCapabilities.__dataclass_fields__])
def test_the_families_a_source_cannot_fill_are_absent(capability):
    """A source without a capability shows no family fed by it (no HELP, no TYPE, no series);
    every other family is as with every capability."""
    cfg = Settings()
    cs = base_snapshot()
    now = time.time()
    ledger = RunLedger(FleetBuilder(cfg).windows, cfg.analysis.context_high_ratio)
    full = Snapshot(source="s", taken_at=now, companies={cs.company.id: cs})
    lacking = replace(full, capabilities=SourceCapabilities(**{capability: False}))
    gated = {f.sample for f in registry.FLEET if capability in f.needs}
    assert gated, f"no family needs {capability}"
    everything_, without = fleet_text(FleetBuilder(cfg), full, ledger, now), fleet_text(FleetBuilder(cfg), lacking, ledger, now)
    kept = [line for line in everything_.decode().splitlines() if not any(_of(line, name) for name in gated)]
    assert without.decode().splitlines() == kept
    assert not any(_of(line, name) for line in without.decode().splitlines() for name in gated)


def _of(line: str, sample: str) -> bool:
    """Whether ``line`` (a sample, HELP or TYPE line) belongs to the family whose samples are named ``sample``."""
    name = line.split(" ")[2] if line.startswith("#") else line.split("{")[0].split(" ")[0]
    return name == sample or name.removeprefix(sample) in ("_bucket", "_count", "_sum")


def test_the_budget_families_are_absent_for_a_source_without_budgets():
    cfg = Settings()
    cs = base_snapshot()
    assert cs.policies
    now = time.time()
    ledger = RunLedger(FleetBuilder(cfg).windows, cfg.analysis.context_high_ratio)
    snapshot = Snapshot(source="s", taken_at=now, capabilities=SourceCapabilities(budgets=False), companies={cs.company.id: cs})
    text = fleet_text(FleetBuilder(cfg), snapshot, ledger, now)
    assert b"agentwatch_budget_" not in text and b"agentwatch_company_budget_monthly_usd" not in text
    assert b"agentwatch_agent_info{" in text
