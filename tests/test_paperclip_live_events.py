"""Paperclip's live events against the REAL server, and the frames it really sends.

The unmarked tests map every frame recorded from the real server
(``fixtures/paperclip/live_events.jsonl``: runs that succeed, fail and are cancelled by a budget
hard stop, issues created, changed and commented, approvals approved and rejected, a cost posted,
an agent paused and resumed, an agent key created; ids as recorded, long strings trimmed, the
machine's paths replaced) through ``events.targets_of``; two check what a cost and a budget hard stop must read again.
One more checks that an issue refresh never sends a query Paperclip may answer from its cache.

The ``paperclip`` tests run the real exporter (``agentwatch`` as a process) with a 10 minute poll,
so that only the events can show a change in time:

- a run that starts and fails shows on /metrics, with no second scheduled poll;
- the server restarting closes the socket: the last data is served while it is down, the socket
  comes back, a full poll follows, and a change made afterwards shows;
- a burst of events collapses into a few refreshes;
- what the server accepts (2026.916.1, ``local_trusted``): the socket takes no token, or an agent
  key of its company; it answers 403 to a board key, an agent key of another company and a bogus
  token (logged once; a board key's company is polled). REST answers a bogus token with 401
  (health included) and an agent key's ``GET /api/companies`` with 403, so neither can poll.
"""

from __future__ import annotations

import json
import logging
import shlex
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agentwatch.config import LiveEventsConfig, Settings, SourceConfig
from agentwatch.poller import Poller
from agentwatch.source.http import Response
from agentwatch.source.paperclip.client import PaperclipSource
from agentwatch.source.paperclip.events import EVERYTHING, KNOWN_TYPES, NOTHING, RUN_ENDED, Target, targets_of
from agentwatch.source.paperclip.issues import Capabilities, IssueSync
from agentwatch.source.paperclip.live_events import LiveEvents, SocketState
from harness.exporter import ExporterProcess, Samples
from harness.paperclip import PaperclipAPI, PaperclipServer, wait_for

RECORDED = Path(__file__).parent / "fixtures" / "paperclip" / "live_events.jsonl"

# -- the recorded frames ---------------------------------------------------------------------

SPEND = frozenset({Target.COSTS, Target.IN_FLIGHT_SPEND, Target.BUDGETS, Target.AGENTS, Target.COMPANIES})
BUDGET = SPEND | {Target.APPROVALS}  # a budget action may pause agents and open an approval, silently
AGENT = frozenset({Target.AGENTS, Target.SCHEDULES})  # the agent's row, and its row of the scheduler's table
# what each kind of recorded frame must mark: (type, status) for run statuses, (type, action) for
# activity, (type,) for the rest. A kind a new recording brings and this table lacks fails the test.
EXPECTED: dict[tuple[str, ...], frozenset[Target]] = {
    ("heartbeat.run.queued",): frozenset({Target.LIVE_RUNS}),
    ("heartbeat.run.status", "running"): frozenset({Target.LIVE_RUNS}),
    ("heartbeat.run.status", "succeeded"): RUN_ENDED,
    ("heartbeat.run.status", "failed"): RUN_ENDED,
    ("heartbeat.run.status", "cancelled"): RUN_ENDED,
    ("heartbeat.run.progress",): NOTHING,
    ("heartbeat.run.event",): NOTHING,
    ("heartbeat.run.log",): NOTHING,
    ("agent.status",): frozenset({Target.AGENTS}),
    ("activity.logged", "agent.created"): AGENT,
    ("activity.logged", "agent.paused"): AGENT,
    ("activity.logged", "agent.resumed"): AGENT,
    ("activity.logged", "agent.key_created"): AGENT,
    ("activity.logged", "issue.created"): frozenset({Target.ISSUES}),
    ("activity.logged", "issue.updated"): frozenset({Target.ISSUES}),
    ("activity.logged", "issue.blockers_updated"): frozenset({Target.ISSUES}),
    ("activity.logged", "issue.comment_added"): frozenset({Target.ISSUES}),
    ("activity.logged", "issue.inbox_archived"): frozenset({Target.ISSUES}),
    ("activity.logged", "approval.created"): frozenset({Target.APPROVALS, Target.ISSUES}),
    ("activity.logged", "approval.approved"): frozenset({Target.APPROVALS, Target.ISSUES}),
    ("activity.logged", "approval.rejected"): frozenset({Target.APPROVALS, Target.ISSUES}),
    ("activity.logged", "approval.requester_wakeup_queued"): frozenset({Target.APPROVALS, Target.ISSUES}),
    ("activity.logged", "cost.reported"): SPEND,
    ("activity.logged", "budget.policy_upserted"): BUDGET,
    ("activity.logged", "budget.soft_threshold_crossed"): BUDGET,
    ("activity.logged", "budget.hard_threshold_crossed"): BUDGET,
    ("activity.logged", "heartbeat.invoked"): frozenset({Target.RUNS, Target.LIVE_RUNS}),
    ("activity.logged", "environment.lease_acquired"): NOTHING,  # a run's workspace: nothing agentwatch reads
    ("activity.logged", "environment.lease_released"): NOTHING,
}


def recorded_frames() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]


def kind_of(frame: dict[str, Any]) -> tuple[str, ...]:
    payload = frame["payload"]
    if frame["type"] == "heartbeat.run.status":
        return (frame["type"], payload["status"])
    if frame["type"] == "activity.logged":
        return (frame["type"], payload["action"])
    return (frame["type"],)


def test_the_recording_holds_real_frames_of_every_type():
    frames = recorded_frames()
    assert 50 <= len(frames) <= 200
    assert all(set(f) == {"id", "companyId", "type", "createdAt", "payload"} for f in frames)
    assert len({f["companyId"] for f in frames}) == 1
    assert len({f["id"] for f in frames}) == len(frames)  # the server's ids, as recorded
    assert {f["type"] for f in frames} == set(KNOWN_TYPES)
    statuses = {f["payload"]["status"] for f in frames if f["type"] == "heartbeat.run.status"}
    assert {"running", "succeeded", "failed", "cancelled"} <= statuses


def test_every_recorded_frame_marks_what_it_changed():
    seen: Counter[tuple[str, ...]] = Counter()
    for frame in recorded_frames():
        kind = kind_of(frame)
        assert kind in EXPECTED, f"a kind of frame the table does not know: {kind} (frame {frame['id']})"
        assert targets_of(frame) == EXPECTED[kind], (kind, frame["id"])
        seen[kind] += 1
    assert set(seen) == set(EXPECTED)  # the table names nothing the recording lacks


def test_a_recorded_payload_stripped_of_its_fields_still_marks_something():
    """Later builds strip payloads for callers that may not read them: the type alone must do."""
    by_type = {"activity.logged": EVERYTHING, "heartbeat.run.status": RUN_ENDED}  # may be anything; may have ended
    for frame in recorded_frames():
        want = by_type.get(frame["type"]) or EXPECTED[(frame["type"],)]
        assert targets_of({**frame, "payload": {}}) == want, frame["id"]


def test_a_recorded_budget_hard_stop_rereads_the_agent_it_paused():
    """Paperclip pauses the agent and opens a budget approval in the same step as it logs
    ``budget.hard_threshold_crossed``, and sends no ``agent.status`` for that pause."""
    (frame,) = [f for f in recorded_frames() if kind_of(f) == ("activity.logged", "budget.hard_threshold_crossed")]
    assert {Target.AGENTS, Target.APPROVALS} <= targets_of(frame)


def test_a_recorded_cost_rereads_the_agents_month_spend():
    """``agentwatch_agent_spend_month_usd`` is the agent row's ``spentMonthlyCents``."""
    frame = next(f for f in recorded_frames() if kind_of(f) == ("activity.logged", "cost.reported"))
    assert Target.AGENTS in targets_of(frame)


class RecordingClient:
    """An ``HttpClient`` stand-in that answers every issue list with no rows and notes the queries."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []

    def get(self, path: str, endpoint: str, params: dict[str, str], etag: str | None = None, decode: Any = None) -> Response:
        self.queries.append(dict(params))
        return Response(200, [], None, 2)


def test_an_issue_refresh_never_repeats_a_query_the_server_may_have_cached():
    """Paperclip answers the same compact issue query (same text, same key) from a 2 s cache: the
    refresh an event asks for half a second after an earlier read must not send that read's query
    again, yet ask for the same millisecond (the server reads no finer)."""
    client = RecordingClient()
    sync = IssueSync(client, "le", "c1", Capabilities(), parse_row=lambda row: None)  # type: ignore[arg-type]
    sync.last_full_sync, sync.since = 1_700_000_000.0, 1_700_000_000.25
    for _ in range(1000):  # the cursor does not move: nothing new
        sync.sync(1_700_000_010.0, full_resync_interval=600)
    sent = [q["updatedSince"] for q in client.queries]
    assert len(set(sent)) == 1000, len(set(sent))
    assert {text[:23] for text in sent} == {"2023-11-14T22:13:15.250"} and all(len(t) == 27 and t.endswith("Z") for t in sent)
    assert {datetime.fromisoformat(t).replace(microsecond=0) for t in sent} == {datetime(2023, 11, 14, 22, 13, 15, tzinfo=timezone.utc)}


# -- the real server ---------------------------------------------------------------------------

LONG = "10m"  # the poll interval: polling alone could not show a change within a test


def exporter_config(url: str, company: str, poll_interval: str = LONG, token: str | None = None, **live: Any) -> dict:
    source: dict[str, Any] = {"name": "le", "url": url, "companies": [company], "timeout": 3, "retries": 0}
    source["live_events"] = {"full_poll_interval": LONG, **live}
    if token:
        source["token"] = token
    return {"poll_interval": poll_interval, "sources": [source]}


def socket_state(s: Samples, source: str = "le") -> str | None:
    """The state of the source's socket (each source here follows one company)."""
    on = [lbl["state"] for lbl, v in s.select("agentwatch_live_events_socket_state", source=source) if v == 1]
    assert len(on) <= 1, on
    return on[0] if on else None


def refreshes(s: Samples, trigger: str, source: str = "le") -> float:
    return s.total("agentwatch_refreshes_total", source=source, trigger=trigger)


def open_and_polled(s: Samples):
    """The socket is open and the full poll that follows its opening is done."""
    return (socket_state(s) == "open" and refreshes(s, "resync") >= 1) or (socket_state(s),)


def shows_one(status: str):
    """One task in ``status`` on /metrics (else the tasks, the events and the refreshes so far)."""

    def check(s: Samples):
        tasks = {lbl["status"]: v for lbl, v in s.select("agentwatch_company_tasks", source="le") if v}
        events = s.total("agentwatch_live_events_received_total", source="le")
        return tasks.get(status) == 1 or (tasks, events, {t: refreshes(s, t) for t in ("scheduled", "resync", "event")})

    return check


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def create_gated_agent(api: PaperclipAPI, company: str, name: str, gate: Path, root: Path) -> str:
    """A process agent whose runs wait for ``gate`` to exist, then run the fake agent, which fails
    (exit 3): a run stays live for as long as the test needs to see it."""
    script = shlex.quote(str(root / "bin" / "fake-agent.sh"))
    wait = f"while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.2; done; exec /bin/bash {script}"
    body = {
        "name": name,
        "role": "qa",
        "adapterType": "process",
        "adapterConfig": {
            "command": "/bin/bash",
            "args": ["-c", wait],
            "env": {"FAKE_EXIT_CODE": "3", "FAKE_SLEEP_SEC": "0"},
            "timeoutSec": 60,
        },
        "runtimeConfig": {"heartbeat": {"enabled": False, "intervalSec": 0, "wakeOnDemand": True}},
        "budgetMonthlyCents": 10000,
    }
    return api.post(f"/api/companies/{company}/agents", body)["id"]


@pytest.mark.paperclip
@pytest.mark.slow
def test_a_run_that_starts_and_fails_shows_without_a_poll(paperclip_server, paperclip_api, paperclip_root, tmp_path):
    api, company = paperclip_api, paperclip_api.create_company(unique("Live Fail Co"))
    name = unique("Gated Gus")
    with ExporterProcess(exporter_config(paperclip_server.url, company), tmp_path) as exp:
        exp.wait_for(open_and_polled, timeout=30, what="the socket open and a full poll")
        gate = tmp_path / "gate"
        agent = create_gated_agent(api, company, name, gate, paperclip_root)  # after the last poll: only an event shows it
        exp.wait_for(lambda s: s.get_value("agentwatch_agent_status", agent=name) is not None, timeout=30, what="the new agent")
        api.invoke_heartbeat(agent)
        exp.wait_for(lambda s: s.get_value("agentwatch_agent_live_runs", agent=name) == 1, timeout=30, what="the live run")
        gate.touch()

        def failed(s: Samples):
            got = (
                s.total("agentwatch_agent_runs_total", agent=name, status="failed"),
                s.get_value("agentwatch_agent_consecutive_failed_runs", agent=name),
                s.get_value("agentwatch_agent_live_runs", agent=name),
            )
            return got == (1.0, 1.0, 0.0) or got

        s = exp.wait_for(failed, timeout=30, what="the failed run")
    assert refreshes(s, "event") > 0
    assert refreshes(s, "scheduled") == 1  # the first poll only: the rest came by events
    assert s.total("agentwatch_live_events_received_total", source="le", type="heartbeat.run.status") >= 2  # running, failed
    assert api.get(f"/api/agents/{agent}")["status"] == "error"


@pytest.mark.paperclip
@pytest.mark.slow
def test_a_server_restart_drops_the_socket_and_the_data_stays_right(paperclip_root, tmp_path):
    with PaperclipServer(paperclip_root) as server:
        api = PaperclipAPI(server.url)
        company = api.create_company("Restart Live Co")
        for n in range(3):
            api.create_issue(company, f"Before the restart {n}", status="todo")
        config = exporter_config(server.url, company, reconnect_min="0.5s", reconnect_max="2s")
        with ExporterProcess(config, tmp_path) as exp:
            s = exp.wait_for(open_and_polled, timeout=30, what="the socket open and a full poll")
            before = s.select("agentwatch_company_tasks", company="Restart Live Co")
            assert sum(v for _, v in before) == 3
            server.stop()
            down = exp.wait_for(lambda s: s.get_value("agentwatch_up", source="le") == 0 or (socket_state(s),), timeout=30)
            assert socket_state(down) in ("connecting", "backoff")
            assert down.total("agentwatch_live_events_disconnects_total", source="le") >= 1
            assert down.select("agentwatch_company_tasks", company="Restart Live Co") == before  # the last data, served
            resyncs = refreshes(down, "resync")
            server.start()  # the same data dir: ``paperclipai run``
            back = lambda s: (
                (socket_state(s) == "open" and refreshes(s, "resync") > resyncs and s.get_value("agentwatch_up") == 1)
                or (
                    socket_state(s),
                    refreshes(s, "resync"),
                )
            )
            s = exp.wait_for(back, timeout=60, what="the socket back and a full poll")
            assert s.select("agentwatch_company_tasks", company="Restart Live Co") == before
            events = refreshes(s, "event")
            api.create_issue(company, "After the restart", status="in_review")
            s = exp.wait_for(shows_one("in_review"), timeout=30, what="the new issue")
            assert refreshes(s, "event") > events
            assert refreshes(s, "scheduled") == 1
            reasons = {lbl["reason"] for lbl, v in s.select("agentwatch_live_events_disconnects_total", source="le") if v > 0}
            assert reasons - {"refused"}, reasons  # the drop of the open socket itself, whatever its close code


def burst(api: PaperclipAPI, company: str, n: int) -> None:
    """``n`` issues created and then each moved to done, eight requests at a time."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [i["id"] for i in pool.map(lambda k: api.create_issue(company, f"Burst task {k}", status="todo"), range(n))]
        list(pool.map(lambda i: api.patch_issue(i, status="done"), ids))


@pytest.mark.paperclip
@pytest.mark.slow
def test_a_burst_of_events_collapses_into_few_refreshes(paperclip_server, paperclip_api, tmp_path):
    api, company = paperclip_api, paperclip_api.create_company(unique("Burst Co"))
    n = 40
    api.create_issue(company, "Before the burst", status="backlog")  # with none, every issue read is one same full-list query
    with ExporterProcess(exporter_config(paperclip_server.url, company), tmp_path) as exp:
        s = exp.wait_for(open_and_polled, timeout=30, what="the socket open and a full poll")
        events_before, refreshes_before = s.total("agentwatch_live_events_received_total", source="le"), refreshes(s, "event")
        burst(api, company, n)
        done = exp.wait_for(lambda s: s.get_value("agentwatch_company_tasks", status="done") == n, timeout=30, what="every issue done")
    events = done.total("agentwatch_live_events_received_total", source="le") - events_before
    event_refreshes = refreshes(done, "event") - refreshes_before
    assert events >= 2 * n  # each issue created and updated, at least
    assert 1 <= event_refreshes <= events / 5, (event_refreshes, events)
    assert sum(v for _, v in done.select("agentwatch_company_tasks")) == n + 1
    assert refreshes(done, "scheduled") == 1


# -- credentials -------------------------------------------------------------------------------


def follow(url: str, token: str | None, companies: dict[str, str]) -> LiveEvents:
    live = LiveEvents("cred", url, token, LiveEventsConfig(unavailable_retry=600))
    live.follow(companies)
    return live


def marks_an_issue(live: LiveEvents, api: PaperclipAPI, company: str) -> bool:
    """The socket opens, and marks the issues of ``company`` when one is created."""
    try:
        assert settled_states(live) == {company: SocketState.OPEN}
        live.feed.take()  # what the opening asked for
        api.create_issue(company, unique("Seen by the socket"))  # a title seen before gives that issue back, and no event
        return wait_for(lambda: Target.ISSUES in live.feed.take().targets.get(company, ()), timeout=20, what="the issue's event")
    finally:
        live.close()


def settled_states(live: LiveEvents) -> dict[str, SocketState]:
    def settled() -> Any:
        states = live.states()
        return states if all(v in (SocketState.OPEN, SocketState.UNAVAILABLE) for v in states.values()) else (states,)

    return wait_for(settled, timeout=20, what="the sockets")


@pytest.mark.paperclip
@pytest.mark.slow
def test_the_socket_takes_no_token_or_an_agent_key_of_its_company(paperclip_server, paperclip_api, paperclip_root):
    api = paperclip_api
    own, other = api.create_company(unique("Key Co")), api.create_company(unique("Other Key Co"))
    agent = api.create_process_agent(own, "Key Kim", "engineer", root=paperclip_root)
    key = api.post(f"/api/agents/{agent}/keys", {"name": "agentwatch"})["token"]
    assert key.startswith("pcp_")
    for token in (None, key):
        assert marks_an_issue(follow(paperclip_server.url, token, {own: "own"}), api, own)
    live = follow(paperclip_server.url, key, {other: "other"})  # the key of another company: 403
    try:
        assert settled_states(live) == {other: SocketState.UNAVAILABLE}
    finally:
        live.close()
    # the agent key cannot poll: listing the companies is for the board
    cfg = SourceConfig(name="cred", url=paperclip_server.url, token=SecretStr(key), companies=[own], retries=0)
    poller = Poller(PaperclipSource(cfg), cfg, Settings(sources=[cfg]))
    try:
        assert not poller.poll_once()
        assert poller.read().failures == {"http_403": 1}  # "Board access required"
        assert poller.live is not None and poller.live.states() == {}  # no company listed, no socket
    finally:
        poller.stop()


@pytest.mark.paperclip
@pytest.mark.slow
def test_a_bogus_token_is_refused_by_the_socket_and_by_the_api(paperclip_server, paperclip_api, caplog):
    caplog.set_level(logging.INFO, logger="agentwatch")
    company = paperclip_api.create_company(unique("Bogus Co"))
    live = LiveEvents("cred", paperclip_server.url, "bogus-token", LiveEventsConfig(unavailable_retry=0.5))
    live.follow({company: "bogus"})
    try:
        wait_for(lambda: live.counters().disconnects.get("unavailable", 0) >= 3, timeout=20, what="three refused upgrades")
        assert live.states() == {company: SocketState.UNAVAILABLE}
    finally:
        live.close()
    logged = [r for r in caplog.records if r.getMessage() == "live events unavailable; polling instead"]
    assert len(logged) == 1 and "403" in str(getattr(logged[0], "reason", "")), [r.__dict__ for r in logged]
    # local_trusted or not, the REST API answers a bearer it cannot verify with 401, health included
    cfg = SourceConfig(name="cred", url=paperclip_server.url, token=SecretStr("bogus-token"), companies=[company], retries=0)
    poller = Poller(PaperclipSource(cfg), cfg, Settings(sources=[cfg]))
    try:
        assert not poller.poll_once()
        assert poller.read().failures == {"http_401": 1}
        assert poller.live is not None and poller.live.states() == {}  # no company listed, no socket
    finally:
        poller.stop()


def board_and_agent_key_config(url: str, company: str, board_keys: tuple[str, str], agent_key: str) -> dict:
    """Two sources on one company, each polling with a board key: ``board`` gives the socket its
    board key too (and polls each second), ``both`` gives it the agent key (and polls each 10 min).
    Two keys, since Paperclip caches issue lists per key: one source's read can be the other's answer."""
    common = {"url": url, "companies": [company], "timeout": 3, "retries": 0}
    board = {"name": "board", "poll_interval": "1s", "token": board_keys[0], "live_events": {"unavailable_retry": "0.5s"}, **common}
    live = {"full_poll_interval": LONG, "token": agent_key}
    both = {"name": "both", "poll_interval": LONG, "token": board_keys[1], "live_events": live, **common}
    return {"poll_interval": LONG, "sources": [board, both]}


@pytest.mark.paperclip
@pytest.mark.slow
def test_a_board_key_polls_and_an_agent_key_opens_the_socket(paperclip_server, paperclip_api, paperclip_root, tmp_path):
    """The board key, the poller's credential outside ``local_trusted``, is refused by the socket
    (403, logged once; the company is polled); an agent key of the company opens it."""
    api, company = paperclip_api, paperclip_api.create_company(unique("Board Key Co"))
    board_keys = tuple(api.post("/api/board-api-keys", {"name": f"agentwatch {n}", "expiresAt": None})["token"] for n in (1, 2))
    agent = api.create_process_agent(company, "Key Kai", "engineer", root=paperclip_root)
    agent_key = api.post(f"/api/agents/{agent}/keys", {"name": "agentwatch"})["token"]
    assert all(k.startswith("pcp_board_") for k in board_keys) and agent_key.startswith("pcp_") and not agent_key.startswith("pcp_board_")
    # an issue to start from: with none, every read of the issues is the same full-list query
    api.create_issue(company, "Before the exporter", status="todo")
    config = board_and_agent_key_config(paperclip_server.url, company, (board_keys[0], board_keys[1]), agent_key)
    with ExporterProcess(config, tmp_path) as exp:

        def settled(s: Samples):
            states = (socket_state(s, "board"), socket_state(s, "both"))
            refused = s.total("agentwatch_live_events_disconnects_total", source="board", reason="unavailable")
            return (states == ("unavailable", "open") and refused >= 3 and refreshes(s, "resync", "both") >= 1) or (states, refused)

        s = exp.wait_for(settled, timeout=30, what="the board key refused three times, the agent key open")
        scheduled = refreshes(s, "scheduled", "board")
        api.create_issue(company, "Seen both ways", status="blocked")

        def seen(s: Samples):
            got = [s.get_value("agentwatch_company_tasks", source=src, status="blocked") for src in ("board", "both")]
            events = s.total("agentwatch_live_events_received_total", source="both")
            return got == [1, 1] or (got, events, {t: refreshes(s, t, "both") for t in ("scheduled", "resync", "event")})

        s = exp.wait_for(seen, timeout=30, what="the issue, polled by one source and pushed to the other")
        log = exp.log()
    assert s.get_value("agentwatch_up", source="board") == 1
    assert refreshes(s, "scheduled", "board") > scheduled and refreshes(s, "event", "board") == 0
    assert refreshes(s, "scheduled", "both") == 1 and refreshes(s, "event", "both") >= 1
    assert s.total("agentwatch_live_events_disconnects_total", source="both") == 0
    assert log.count("live events unavailable") == 1, log[-3000:]
    assert "403" in log and not [k for k in (*board_keys, agent_key) if k in log]
