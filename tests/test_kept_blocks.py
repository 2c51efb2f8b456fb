"""Lines kept between builds (``Families.kept``): what comes out must be what writing the lines
again would give, whatever changed in between."""

from __future__ import annotations

import time
from dataclasses import replace

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentwatch.analysis.company import CompanyAnalyses
from agentwatch.analysis.ledger import RunLedger
from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.config import Settings
from agentwatch.exposition.families import Families, KeptBlocks, join_rendered
from agentwatch.exposition.fleet import FleetBuilder
from agentwatch.model import Approval, CompanySnapshot, CostRow, Heartbeat, Run, Snapshot
from agentwatch.source.paperclip import parse
from replay import load


def write_block(f: Families, labels, value: float, calls: list) -> None:
    calls.append(value)
    f.gauge("a", "A.", labels, value)
    f.gauge("b", "B.", labels, value * 2, ("kind", "x"))


def rendered(f: Families) -> dict[str, tuple[str, list[str]]]:
    """Each family's HELP and TYPE and its sample lines, sorted: a top-level block keeps its place
    in its families from build to build, so lines come out in another order than written afresh,
    which the exposition format does not care about."""
    out: dict[str, tuple[str, list[str]]] = {}
    for family in join_rendered([f.render()]).decode().split("# HELP ")[1:]:
        help_line, type_line, *samples = family.splitlines()
        assert help_line.split()[0] not in out  # a family's lines come together
        out[help_line.split()[0]] = (help_line + type_line, sorted(samples))
    return out


def test_a_block_is_written_once_while_its_inputs_stay_the_same():
    kept, calls = KeptBlocks(), []
    outputs = []
    for value in (1.0, 1.0, 2.0, 2.0):
        kept.next_build()
        f = Families(kept)
        f.gauge("first", "Before the block.", {}, 0.0)
        f.kept("k", value, write_block, f, f.labels({"agent": "x"}), value, calls)
        f.gauge("a", "A.", {"agent": "y"}, 5.0)  # the block's family, written after it
        outputs.append(rendered(f))
    assert calls == [1.0, 2.0]
    for value, out in zip((1.0, 1.0, 2.0, 2.0), outputs, strict=False):
        plain = Families()
        plain.gauge("first", "Before the block.", {}, 0.0)
        write_block(plain, plain.labels({"agent": "x"}), value, [])
        plain.gauge("a", "A.", {"agent": "y"}, 5.0)
        assert out == rendered(plain)


def test_a_block_not_asked_for_is_forgotten_by_the_next_build():
    kept = KeptBlocks()
    kept.next_build()
    f = Families(kept)
    for key in ("a", "b"):
        f.kept(key, 1, write_block, f, f.labels({"agent": key}), 1.0, [])
    assert len(kept) == 2
    kept.next_build()
    Families(kept).kept("a", 1, write_block, f, f.labels({"agent": "a"}), 1.0, [])
    assert len(kept) == 2  # "b" is still held from the build before
    kept.next_build()
    assert len(kept) == 1


def test_the_lines_of_a_block_not_asked_for_leave_the_build_that_does_not_ask_for_it():
    kept = KeptBlocks()
    outputs = []
    for keys in (("a", "b"), ("a",), ("b", "a"), ()):
        kept.next_build()
        f = Families(kept)
        for key in keys:
            f.kept(key, 1, write_block, f, f.labels({"agent": key}), 1.0, [])
        plain = Families()
        for key in keys:
            write_block(plain, plain.labels({"agent": key}), 1.0, [])
        assert rendered(f) == rendered(plain)
        outputs.append(rendered(f))
    assert 'a{agent="b"} 1.0' not in outputs[1]["a"][1] and outputs[3] == {}


def test_a_failed_build_leaves_no_bytes_of_its_blocks_behind(monkeypatch):
    """A build that raised inside a block took it without putting it back: the builder starts its
    store afresh (``FleetBuilder.build``), so the lines that block wrote do not stay in place
    when it is written again with fewer (here: its agent is paused no more)."""
    cfg = Settings()
    builder = FleetBuilder(cfg)
    cs = base_snapshot()
    aid = sorted(cs.agents)[0]
    paused = replace(cs, agents={**cs.agents, aid: replace(cs.agents[aid], status="paused", pause_reason="manual")})
    ledger = RunLedger(builder.windows, cfg.analysis.context_high_ratio)
    now = time.time()
    for poll, at_work in ((paused, False), (paused, True), (cs, False)):
        if at_work:  # the agent's activity is asked for when it spent more
            poll = replace(poll, agents={**poll.agents, aid: replace(poll.agents[aid], spent_monthly_usd=99.0)})

            def failing(*args):
                raise RuntimeError("mid-build")

            monkeypatch.setattr("agentwatch.exposition.fleet._agent_activity", failing)
        snapshot = Snapshot(source="kept", taken_at=now, companies={cs.company.id: poll})
        try:
            ours, _ = builder.build(snapshot, ledger, now)
        except RuntimeError:
            assert at_work
            monkeypatch.undo()
    fresh, _ = FleetBuilder(cfg).build(snapshot, ledger, now)
    name, expected = cs.agents[aid].name, rendered(fresh)
    assert not any(f'agent="{name}"' in line for line in expected.get("agentwatch_agent_paused", ("", []))[1])
    assert rendered(ours) == expected


def write_outer(f: Families, values: tuple[float, ...], calls: list) -> None:
    """A block of blocks: a line of its own, one inner block per value, and a family declared only."""
    calls.append(("outer", values))
    f.gauge("a", "A.", {"agent": "all"}, sum(values))
    for n, value in enumerate(values):
        f.kept(("inner", n), value, write_block, f, f.labels({"agent": f"x{n}"}), value, calls)
    f.declare("declared", "Declared only.", "gauge")


def test_a_block_of_blocks_is_added_again_whole_and_writes_again_only_its_inner_blocks_that_changed():
    kept, calls = KeptBlocks(), []
    polls = [(1.0, 2.0), (1.0, 2.0), (1.0, 3.0), (1.0, 3.0), (4.0, 3.0), (4.0,), (4.0, 5.0)]
    for values in polls:
        kept.next_build()
        f = Families(kept)
        f.kept("outer", values, write_outer, f, values, calls)
        f.gauge("b", "B.", {"agent": "after"}, 1.0)  # an inner block's family, written after the outer block
        plain = Families()
        write_outer(plain, values, [])
        plain.gauge("b", "B.", {"agent": "after"}, 1.0)
        out = rendered(f)
        assert out == rendered(plain) and "declared" in out
    assert calls == [
        ("outer", (1.0, 2.0)),
        1.0,
        2.0,
        ("outer", (1.0, 3.0)),
        3.0,  # the first inner block is kept
        ("outer", (4.0, 3.0)),
        4.0,
        ("outer", (4.0,)),
        ("outer", (4.0, 5.0)),
        5.0,
    ]


def test_without_a_store_every_block_is_written():
    calls: list = []
    f = Families()
    for _ in range(2):
        f.kept("k", 1, write_block, f, f.labels({"agent": "x"}), 1.0, calls)
    assert calls == [1.0, 1.0]


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


def edited(cs: CompanySnapshot, edits, fresh: bool) -> CompanySnapshot:
    """A new poll of ``cs`` with ``edits``: the rows that did not change are the objects of the
    last poll, as the source hands them out, and an edited row is a new object; ``fresh``: every
    agent, cost and policy row a new object, as equal rows of another source would be."""
    agents, costs, policies = dict(cs.agents), list(cs.costs), list(cs.policies)
    if fresh:
        agents = {k: replace(a, heartbeat=replace(a.heartbeat)) for k, a in agents.items()}
        costs, policies = [replace(row) for row in costs], [replace(policy) for policy in policies]
    issues = dict(cs.issues)
    approvals, runs, live_runs, in_flight = list(cs.approvals), list(cs.runs), list(cs.live_runs), dict(cs.in_flight_spend)
    for pick, what in edits:
        if not agents:
            break
        aid = sorted(agents)[pick % len(agents)]
        agent = agents[aid]
        if what in AGENT_EDITS:  # a new object, edited in place below
            agent = agents[aid] = replace(agent)
        if what == "policy" and policies:  # spend counted against a policy, which may reach its limit
            n = pick % len(policies)
            policy = policies[n] = replace(policies[n])
            policy.observed_usd += 10.0
            policy.status = "hard_stop" if policy.observed_usd >= policy.amount_usd else "warning"
        elif what == "cost":  # one of the agent's models, or a new one
            mine = [n for n, row in enumerate(costs) if row.agent_id == agent.id]
            if mine and pick % 2:
                row = costs[mine[0]] = replace(costs[mine[0]])
                row.cost_usd += 0.25
                row.output_tokens += 100
            else:
                costs.append(CostRow("", agent.id, "anthropic", "anthropic", "metered_api", f"model-{pick}", 0.5, 10, 0, 5))
        elif what in ("complete", "reopen"):  # one of the agent's tasks is done, or done no more
            mine = [i for i in issues.values() if i.assignee_agent_id == agent.id] or list(issues.values())
            issue = sorted(mine, key=lambda i: i.id)[pick % len(mine)]
            done = what == "complete"
            started = issue.started_at or issue.created_at or 0.0
            issues[issue.id] = msgspec.structs.replace(
                issue,
                status="done" if done else "todo",
                started_at=started if done else issue.started_at,
                completed_at=started + 60.0 * (1 + pick) if done else None,
            )
        elif what in ("lock", "handoff", "start", "block"):  # one of the agent's tasks moves in the queue or the locks
            mine = [i for i in issues.values() if i.assignee_agent_id == agent.id] or list(issues.values())
            issue = sorted(mine, key=lambda i: i.id)[pick % len(mine)]
            if what == "lock":  # a lock on the newest live run, else on an ended run; or none any more
                locked = live_runs[-1].id if live_runs else cs.runs[pick % len(cs.runs)].id
                change = {"execution_run_id": None if issue.execution_run_id else locked}
            elif what == "handoff":
                change = {"assignee_agent_id": sorted(agents)[(pick + 1) % len(agents)]}
            elif what == "start":
                change = {"status": "in_progress", "started_at": time.time() - 600.0 * pick}
            else:
                change = {"status": "blocked", "unblock_owner": "board"}
            issues[issue.id] = msgspec.structs.replace(issue, **change)
        elif what == "unassigned":  # an unassigned task moves on; or, with none, one of the agent's is unassigned
            loose = sorted((i for i in issues.values() if not i.assignee_agent_id and not i.is_canary), key=lambda i: i.id)
            if loose:
                issue = loose[pick % len(loose)]
                change = {"status": {"todo": "in_progress", "in_progress": "blocked"}.get(issue.status, "todo")}
            else:
                issue = sorted(issues.values(), key=lambda i: i.id)[pick % len(issues)]
                change = {"assignee_agent_id": None}
            issues[issue.id] = msgspec.structs.replace(issue, **change)
        elif what == "approval":  # one of two agents asks for one more approval, of one of two types
            asking = sorted(agents)[pick % 2 % len(agents)]
            approvals.append(
                Approval(f"ap-{len(approvals)}", "c", ("hire_agent", "approve_ceo_strategy")[pick // 2 % 2], "pending", asking, 1.0)
            )
        elif what in ("run", "failed run", "live run"):  # the agent's newest run: finished, failed, or still going
            started = time.time() - 300.0 * (pick + 1)
            live = what == "live run"
            run = Run(
                f"run-{len(runs)}-{len(live_runs)}",
                cs.company.id,
                agent.id,
                "running" if live else "failed" if what == "failed run" else "succeeded",
                "timer",
                "" if what != "failed run" else "adapter_failed",
                started_at=started,
                created_at=started,
                finished_at=None if live else started + 60.0,
            )
            (live_runs if live else runs).append(run)
        elif what == "end runs":  # every live run ends: a lock held by one is stale from now on
            runs.extend(replace(run, status="succeeded", finished_at=time.time()) for run in live_runs)
            live_runs = []
        elif what == "in flight":
            in_flight[agent.id] = in_flight.get(agent.id, 0.0) + 0.5
        elif what == "name":
            agent.name = "Renamed" if agent.name != "Renamed" else "Named again"
        elif what == "role":
            agent.role = {"engineer": "qa", "qa": "pm"}.get(agent.role, "engineer")
        elif what == "status":
            agent.status = "running" if agent.status != "running" else "idle"
        elif what == "pause":
            agent.status, agent.pause_reason = "paused", ("budget" if agent.pause_reason != "budget" else "manual")
        elif what == "heartbeat":
            agent.heartbeat = Heartbeat(not agent.heartbeat.enabled, agent.heartbeat.interval_seconds + 60, True)
        elif what == "title":
            agent.title += "!"
        elif what == "model":
            agent.model = agent.model + "-next"
        elif what == "spend":
            agent.spent_monthly_usd += 1.5
        else:
            del agents[agent.id]
    return replace(
        cs,
        agents=agents,
        costs=costs,
        issues=issues,
        policies=policies,
        approvals=approvals,
        runs=runs,
        live_runs=live_runs,
        in_flight_spend=in_flight,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(EDITS, max_size=4), min_size=1, max_size=5), st.booleans())
# the same agent's lines changed at one poll and again at the next (kept blocks then go stale)
@example([[(0, "approval")], [(2, "approval")], [(0, "approval"), (1, "approval")]], False)
@example([[(3, "lock"), (3, "block")], [(3, "lock")], [(3, "handoff"), (3, "start")], [(3, "block")]], False)
# a lock on a live run goes stale when the run ends, with no change to the task
@example([[(3, "live run")], [(3, "lock")], [(3, "end runs")]], False)
# an older run of the same agent: its last finished run stays, its timer gaps do not
@example([[(3, "run")], [(8, "failed run")]], False)
# the unassigned tasks' queue, changed at one poll and again at the next
@example([[(1, "unassigned")], [(2, "unassigned")], [(2, "unassigned")]], False)
def test_the_fleet_families_with_kept_blocks_are_the_families_written_afresh(polls, copies):
    """A builder keeping its blocks against one writing every line afresh, both from the
    analyses kept across polls as the poller keeps them (their agreement with analyses from
    scratch is tests/test_tracker_incremental.py's and tests/test_task_index.py's)."""
    cfg = Settings(**CONFIG)
    kept = FleetBuilder(cfg)
    ledger = RunLedger(kept.windows, cfg.analysis.context_high_ratio)
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
        ours, _ = kept.build(snapshot, ledger, now, {cs.company.id: analyses}, models)
        fresh, _ = FleetBuilder(cfg).build(snapshot, ledger, now, {cs.company.id: analyses}, models)
        assert rendered(ours) == rendered(fresh)
        now += 30.0
