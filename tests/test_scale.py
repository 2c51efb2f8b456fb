"""Behaviour at scale: the benchmark's load world (bench/loadworld.py) measures what it says, and
a periodic full resync holds one copy of the issues that did not change.

The world's timestamps are in the past, and a steady-state poll after ``mutate`` sees every
change. (An earlier world put completion times up to two hours ahead, so the exporter's
``updatedSince`` cursor ran ahead of the clock and the measured "steady" poll fetched none of
the changed issues.)"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from agentwatch.analysis.company import CompanyAnalyses
from agentwatch.analysis.dependencies import analyse
from agentwatch.analysis.tasks import task_signals
from agentwatch.config import Settings
from agentwatch.demo.server import DemoServer
from agentwatch.model.delta import issue_delta
from agentwatch.poller import Poller
from agentwatch.source import SourceError
from agentwatch.source.paperclip.client import PaperclipSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from loadworld import build, mutate  # noqa: E402


@pytest.fixture
def world_server():
    world = build(10, 1000)
    server = DemoServer("127.0.0.1", 0, worlds={"": world})
    server.start()
    try:
        yield world, f"http://127.0.0.1:{server.httpd.server_port}"
    finally:
        server.stop()


def test_no_timestamp_of_the_world_is_in_the_future():
    now = time.time()
    world = build(10, 10_000, now=now)
    stamps = [t for i in world.issues.values() for t in (i.created_at, i.updated_at, i.started_at, i.completed_at) if t]
    assert stamps and max(stamps) <= now


def test_a_steady_state_poll_sees_every_mutated_issue(world_server):
    world, url = world_server
    settings = Settings(sources=[{"name": "bench", "url": url}])
    cfg = settings.sources[0]
    poller = Poller(PaperclipSource(cfg), cfg, settings)
    assert poller.poll_once()
    changed_at = time.time()
    with world.lock:
        statuses = mutate(world, 0.05, now=changed_at)
    assert len(statuses) == 50
    assert poller.poll_once()
    (cs,) = poller.last_snapshot.companies.values()
    assert {k: cs.issues[k].status for k in statuses} == statuses
    assert all(cs.issues[k].updated_at == pytest.approx(changed_at, abs=0.01) for k in statuses)


def test_a_full_resync_keeps_one_copy_of_the_unchanged_issues(world_server):
    """The resync every ``full_resync_interval`` parses every issue again while the previous
    snapshot is still served: an issue that did not change keeps its object (docs/benchmarks.md,
    peak RSS), a changed one is replaced."""
    world, url = world_server
    settings = Settings(sources=[{"name": "bench", "url": url}])
    cfg = settings.sources[0]
    poller = Poller(PaperclipSource(cfg), cfg, settings)
    assert poller.poll_once()
    full_requests = poller.source.last_poll.requests
    (before,) = poller.last_snapshot.companies.values()
    with world.lock:
        statuses = mutate(world, 0.05, now=time.time())
    poller.source.resync_next_poll()
    assert poller.poll_once()
    assert poller.source.last_poll.requests == full_requests
    (after,) = poller.last_snapshot.companies.values()
    assert set(after.issues) == set(before.issues)
    assert {k: after.issues[k].status for k in statuses} == statuses
    assert all(after.issues[k] is not before.issues[k] for k in statuses)
    unchanged = set(before.issues) - set(statuses)
    kept = [k for k in unchanged if after.issues[k] is before.issues[k]]
    assert len(kept) == len(unchanged)


def test_the_analyses_kept_across_polls_take_in_only_the_changes_and_match_from_scratch(world_server, monkeypatch):
    """Against the load world over HTTP: a steady poll and a full resync each hand the analyses
    exactly the mutated issues as changed (the source keeps every other issue's object), and what
    the analyses keep equals the same analyses worked out from scratch on that snapshot."""
    world, url = world_server
    handed: list = []  # the delta each snapshot brings to the analyses (the poller drops it after)
    update = CompanyAnalyses.update
    monkeypatch.setattr(CompanyAnalyses, "update", lambda self, cs, now: (handed.append(cs.issue_delta), update(self, cs, now)))
    settings = Settings(sources=[{"name": "bench", "url": url}])
    cfg = settings.sources[0]
    poller = Poller(PaperclipSource(cfg), cfg, settings)
    assert poller.poll_once()
    for resync in (False, True):
        (before,) = poller.last_snapshot.companies.values()
        with world.lock:
            statuses = mutate(world, 0.02, now=time.time())
            gone = ()
            if resync:  # and one issue deleted, which only a full resync can see
                referenced = {b for i in world.issues.values() for b in i.blocked_by} | {i.parent for i in world.issues.values()}
                gone = (next(k for k, i in world.issues.items() if i.status == "done" and k not in referenced and k not in statuses),)
                del world.issues[gone[0]]
        if resync:
            poller.source.resync_next_poll()
        assert poller.poll_once()
        (cs,) = poller.last_snapshot.companies.values()
        delta = issue_delta(before.issues, cs.issues)
        assert sorted(delta.changed) == sorted(statuses) and delta.removed == gone
        # the source reports the same delta without walking every issue, and the analyses take it
        reported = handed[-1]
        assert cs.issue_delta is None and reported.follows(before.issues) and reported.after is cs.issues
        assert sorted(reported.changed) == sorted(delta.changed) and reported.removed == gone
        held = poller.analyses[cs.company.id]
        assert held.issues is cs.issues
        now = time.time()
        assert held.tasks.signals(cs, now) == task_signals(cs, now)
        assert held.deps.report(now, top_n=50) == analyse(cs.issues, cs.agents, now, top_n=50)


@pytest.mark.parametrize("fails", ["second page", "blocked view"])
def test_the_source_reports_the_changes_of_a_poll_that_failed_half_way_with_the_next(fails):
    """A poll that fails after some issue pages (changes parsed and marked, never applied) or
    after the whole sync of the issues (applied, and not fetched again by the next steady poll)
    builds no snapshot: the next snapshot's reported delta starts from the last one built and
    still equals the walk of every issue by identity."""
    world = build(10, 1000)
    failing = {"on": False}

    def intercept(method, path, query):
        if failing["on"] and path.endswith("/issues"):
            if ("afterId" in query) if fails == "second page" else (query.get("status") == "blocked"):
                return 503, {"error": f"{fails} down"}
        return None

    server = DemoServer("127.0.0.1", 0, worlds={"": world}, intercept=intercept)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.httpd.server_port}"
        cfg = Settings(sources=[{"name": "bench", "url": url, "issue_page_size": 100, "retries": 0}]).sources[0]
        source = PaperclipSource(cfg)
        first = source.poll(time.time())
        for resync in (False, True):
            with world.lock:  # more changes than one page holds
                mutate(world, 0.15, now=time.time())
            failing["on"] = True
            if resync:
                source.resync_next_poll()
            with pytest.raises(SourceError):
                source.poll(time.time())
            failing["on"] = False
            with world.lock:
                mutate(world, 0.05, now=time.time())
            later = source.poll(time.time())
            (before,), (cs,) = first.companies.values(), later.companies.values()
            walked, reported = issue_delta(before.issues, cs.issues), cs.issue_delta
            assert walked.changed and reported.follows(before.issues)
            assert sorted(reported.changed) == sorted(walked.changed) and reported.removed == walked.removed
            first = later
        source.close()
    finally:
        server.stop()


def test_the_owners_of_blocked_issues_stay_right_when_only_what_changed_is_looked_at(world_server):
    """Each poll sets the owners of the blocked issues from the full view of the blocked ones,
    looking only at the issues either sync touched since the last snapshot. Over polls that give
    blocked issues an owner, take it away, and touch blocked issues without changing their owner
    (the compact view then brings them back without one), every issue's owner is what a source
    polling from scratch reads."""
    world, url = world_server
    cfg = Settings(sources=[{"name": "bench", "url": url}]).sources[0]
    source = PaperclipSource(cfg)
    source.poll(time.time())
    blocked = sorted(k for k, i in world.issues.items() if i.status == "blocked")
    assert len(blocked) >= 12
    for step in range(4):
        time.sleep(0.01)
        with world.lock:
            now = time.time()
            for n, iid in enumerate(blocked[step * 3 : step * 3 + 6]):
                issue = world.issues[iid]
                if n % 3 == 0:
                    issue.unblock_owner = "approve the plan"
                elif n % 3 == 1:
                    issue.unblock_owner = None
                issue.updated_at = now  # n % 3 == 2: touched, its owner as it was
        (cs,) = source.poll(time.time()).companies.values()
        fresh = PaperclipSource(cfg)
        (truth,) = fresh.poll(time.time()).companies.values()
        fresh.close()
        assert {k: i.unblock_owner for k, i in cs.issues.items()} == {k: i.unblock_owner for k, i in truth.issues.items()}
        assert any(i.unblock_owner for i in cs.issues.values())
    source.close()


def test_rows_that_did_not_change_are_the_objects_of_the_last_poll(world_server):
    """The source keeps the rows of agents, runs, costs, budgets, approvals and schedules by their
    text (``KeptRows``): at a steady poll, a row that did not change is the object the last poll
    parsed, and one that changed, an agent's schedule included, is a new object with what a
    source polling from scratch reads."""
    world, url = world_server
    settings = Settings(sources=[{"name": "bench", "url": url}])
    source = PaperclipSource(settings.sources[0])
    with world.lock:  # the world has neither a live run nor a budget incident of its own
        world.runs[world.run_order[-1]].status = "running"
        world.incidents.append(
            {
                "id": "incident-1",
                "companyId": world.company_id,
                "policyId": "p",
                "scopeType": "agent",
                "scopeId": "a",
                "thresholdType": "hard",
                "status": "open",
                "createdAt": "2026-11-24T05:10:46.834Z",
            }
        )
    (before,) = source.poll(time.time()).companies.values()
    rows = lambda cs: (cs.runs, cs.live_runs, cs.costs, cs.policies, cs.incidents, cs.approvals)  # noqa: E731
    assert before.agents and all(rows(before))
    with world.lock:
        paused, beat, edited = list(world.agents.values())[:3]
        paused.status = "paused"  # its scheduler row says so too (schedulerActive)
        beat.last_heartbeat = time.time()  # both of its rows
        edited.updated_at = time.time()  # its agent row alone (a new name would change its cost rows too)
    (after,) = source.poll(time.time()).companies.values()
    (fresh,) = PaperclipSource(settings.sources[0]).poll(time.time()).companies.values()
    assert after.agents == fresh.agents and rows(after) == rows(fresh)
    changed = {paused.id, beat.id, edited.id}
    assert after.agents[paused.id].heartbeat.scheduler_active is False
    assert after.agents[edited.id].updated_at == pytest.approx(edited.updated_at, abs=0.001)
    for aid, agent in after.agents.items():
        assert (agent is before.agents[aid]) == (aid not in changed), aid
    for now, then in zip(rows(after), rows(before), strict=True):
        assert now and all(a is b for a, b in zip(now, then, strict=True))


def test_an_unchanged_answer_is_revalidated_and_its_rows_are_those_of_the_last_poll(world_server):
    """Every endpoint whose rows the source keeps sends back the last answer's ETag: the demo
    server (as Express does) answers 304 when nothing changed, and the poll takes the last rows
    without reading a body; an endpoint whose answer changed is read and parsed."""
    world, url = world_server
    settings = Settings(sources=[{"name": "bench", "url": url}])
    source = PaperclipSource(settings.sources[0])
    kept = ("agents", "heartbeat-runs", "live-runs", "costs/by-agent-model", "budgets/overview", "approvals")
    endpoints = [f"/api/companies/{{id}}/{e}" for e in kept] + ["/api/instance/scheduler-heartbeats"]

    def not_modified() -> dict[str, int]:
        stats = source.client.stats.snapshot()
        return {e: stats[e].not_modified for e in endpoints}

    (first,) = source.poll(time.time()).companies.values()
    assert not any(not_modified().values())
    (second,) = source.poll(time.time()).companies.values()
    assert all(n == 1 for n in not_modified().values()), not_modified()
    assert second.agents == first.agents and all(second.agents[a] is first.agents[a] for a in first.agents)
    assert second.costs is first.costs and second.approvals is first.approvals and second.runs is first.runs
    with world.lock:
        edited = next(iter(world.agents.values()))
        edited.updated_at = time.time()  # its agent row alone changes
    (third,) = source.poll(time.time()).companies.values()
    counts = not_modified()
    assert counts.pop("/api/companies/{id}/agents") == 1 and all(n == 2 for n in counts.values()), counts
    assert third.agents[edited.id] is not first.agents[edited.id]
    assert third.agents[edited.id].updated_at == pytest.approx(edited.updated_at, abs=0.001)
    (fresh,) = PaperclipSource(settings.sources[0]).poll(time.time()).companies.values()
    assert third.agents == fresh.agents and third.costs == fresh.costs and third.approvals == fresh.approvals
