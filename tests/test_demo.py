"""The demo simulator: real response shapes, read cleanly by the real source, and every fault
of the schedule visible in the exposition."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from agentwatch import config
from agentwatch.demo import shapes
from agentwatch.demo.server import DemoServer
from agentwatch.demo.world import SCHEDULE, World
from agentwatch.poller import Poller
from agentwatch.source.paperclip.client import PaperclipSource
from harness.exporter import parse_exposition

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "paperclip"
SHARED_SAMPLES = ROOT.parent / "shared" / "paperclip" / "samples"


def test_shapes_are_derived_from_the_recorded_samples():
    """shapes.json holds exactly the keys of the recorded real responses (regenerate with
    ``python -m agentwatch.demo.shapes``)."""
    committed = json.loads((ROOT / "exporter" / "agentwatch" / "demo" / "shapes.json").read_text())
    assert committed == shapes.build(SAMPLES)


def _kind_type(value):
    return {bool: "bool", int: "number", float: "number", str: "str", list: "list", dict: "dict"}.get(type(value))


@pytest.fixture(scope="module")
def server():
    srv = DemoServer("127.0.0.1", 0)
    # start the worlds well in the past so that every scheduled fault has happened
    for world in srv.worlds.values():
        world.start -= max(SCHEDULE.values()) + 120
        world.__init__(
            world.company_name, world.prefix, start=world.start, outages=(), cast="full" if world.prefix == "DEMO" else "healthy"
        )
    srv.start()
    yield srv
    srv.stop()


def _get(server, path, **params):
    import requests

    resp = requests.get(server.url + path, params=params, timeout=10)
    resp.raise_for_status()
    return resp.json()


@pytest.mark.parametrize(
    "kind, path, params",
    [
        ("company", "/api/companies", {}),
        ("agent", "/api/companies/{cid}/agents", {}),
        ("scheduler_heartbeat", "/api/instance/scheduler-heartbeats", {}),
        ("issue_compact", "/api/companies/{cid}/issues", {"view": "compact"}),
        ("run", "/api/companies/{cid}/heartbeat-runs", {"limit": 50}),
        ("live_run", "/api/companies/{cid}/live-runs", {}),
        ("cost_by_agent_model", "/api/companies/{cid}/costs/by-agent-model", {}),
        ("cost_by_agent", "/api/companies/{cid}/costs/by-agent", {}),
        ("window_spend", "/api/companies/{cid}/costs/window-spend", {}),
        ("approval", "/api/companies/{cid}/approvals", {}),
    ],
)
def test_rows_have_the_real_keys_and_types(server, kind, path, params):
    cid = server.worlds[""].company_id
    rows = _get(server, path.format(cid=cid), **params)
    assert rows, f"{path} returned no rows"
    sample_rows = json.loads((SAMPLES / shapes.SAMPLES[kind][0]).read_text())
    real_keys = set().union(*(r.keys() for r in sample_rows))
    real_types: dict[str, set] = {}
    for r in sample_rows:
        for k, v in r.items():
            if v is not None:
                real_types.setdefault(k, set()).add(_kind_type(v))
    for r in rows:
        extra = set(r) - real_keys - {"blockedBy"}  # blockedBy comes with includeBlockedBy=true
        assert not extra, f"{kind}: keys the real API does not return: {sorted(extra)}"
        assert real_keys <= set(r), f"{kind}: missing keys {sorted(real_keys - set(r))}"
        for k, v in r.items():
            if v is not None and k in real_types:
                assert _kind_type(v) in real_types[k], f"{kind}.{k}: {type(v).__name__} where the real API has {real_types[k]}"


def test_the_budgets_overview_has_the_real_shape(server):
    cid = server.worlds[""].company_id
    overview = _get(server, f"/api/companies/{cid}/budgets/overview")
    sample = json.loads((SAMPLES / "api_companies_{companyId}_budgets_overview.json").read_text())
    assert set(overview) == set(sample)
    assert set(overview["policies"][0]) == set(sample["policies"][0])


def test_the_real_source_reads_the_demo_without_dropping_anything(server):
    source_cfg = config.SourceConfig(name="demo", url=server.url)
    source = PaperclipSource(source_cfg)
    try:
        snapshot = source.poll()
    finally:
        source.close()
    assert source.last_poll.dropped_rows == {}
    (cs,) = snapshot.companies.values()
    assert cs.company.name == "Demo Robotics"
    assert {a.name for a in cs.agents.values()} >= {"Ada", "Hugo", "Leo", "Rita", "Olly"}
    assert {a.role for a in cs.agents.values()} >= {"engineer", "devops", "qa", "pm", "researcher", "ceo"}
    assert cs.runs and cs.costs and cs.approvals and cs.policies and cs.incidents
    assert any(i.blocked_by for i in cs.issues.values())


def test_every_fault_shows_in_the_exposition(server):
    cfg = yaml.safe_load((ROOT / "deploy" / "demo" / "agentwatch.yml").read_text())
    cfg["sources"] = [{"name": "demo", "url": server.url}]
    settings = config.Settings(**cfg)
    source = PaperclipSource(settings.sources[0], marker=settings.canary_marker)
    poller = Poller(source, settings.sources[0], settings)
    from prometheus_client import generate_latest

    from agentwatch.cli import build_registry

    registry = build_registry([poller])
    try:
        assert poller.poll_once()
        time.sleep(1)
        assert poller.poll_once()
        s = parse_exposition(generate_latest(registry).decode())
    finally:
        source.close()

    def value(name, agent, **labels):
        v = s.get_value(name, agent=agent, **labels)
        assert v is not None, (name, agent)
        return v

    assert value("agentwatch_agent_live_runs", "Hugo") == 1  # the hung run
    assert value("agentwatch_agent_heartbeat_gap_stddev_seconds", "Iris") > 10
    assert value("agentwatch_agent_consecutive_failed_runs", "Fred") >= 3
    # Leo's looping task was parked by the platform's recovery; his timer wakes go on: a loop of his work
    assert value("agentwatch_agent_tasks_parked", "Leo") == 1
    assert value("agentwatch_agent_work_looping", "Leo") == 1
    assert value("agentwatch_agent_looping_tasks", "Leo") == 0
    # context growth needs runs seen live (runs finished before the first poll only prime the
    # ledger); the no-Docker stack test sees AgentContextPressure fire
    assert value("agentwatch_agent_paused", "Carla", reason="budget") == 1
    assert s.get_value("agentwatch_dependency_cycles", company="Demo Robotics") >= 1
    assert value("agentwatch_agent_spend_month_usd", "Penny") / value("agentwatch_agent_budget_monthly_usd", "Penny") >= 0.8
    assert s.total("agentwatch_agent_approvals_requested_total", agent="Olly") > 10
    assert value("agentwatch_agent_oldest_in_progress_task_age_seconds", "Stella") > 60
    assert value("agentwatch_agent_tasks", "Sam", status="todo") > 5


@pytest.mark.slow
def test_the_model_changes_and_canaries_are_answered(server):
    import requests

    world = server.worlds[""]
    grace = next(a for a in world.agents.values() if a.name == "Grace")
    assert grace.model != "claude-sonnet-4-5"  # changed at the scheduled time
    cid = world.company_id
    label = requests.post(f"{server.url}/api/companies/{cid}/labels", json={"name": "agentwatch-canary"}, timeout=5).json()
    issue = requests.post(
        f"{server.url}/api/companies/{cid}/issues",
        timeout=5,
        json={"title": "[canary] arithmetic: What is 6 times 7?", "assigneeAgentId": grace.id, "labelIds": [label["id"]]},
    ).json()
    deadline = time.time() + 15
    comments = []
    while time.time() < deadline and not comments:
        time.sleep(0.5)
        comments = _get(server, f"/api/issues/{issue['id']}/comments")
    assert comments and comments[0]["authorAgentId"] == grace.id
    assert comments[0]["body"].strip() != "42"  # wrong after the model change
    assert _get(server, f"/api/issues/{issue['id']}")["status"] == "done"


def test_the_flaky_instance_goes_down_on_schedule():
    world = World("Flaky Labs", "FLK", start=1000.0, outages=((10, 20),), cast="healthy")
    assert not world.down(1005) and world.down(1015) and not world.down(1025)


def test_the_flaky_instance_refuses_the_key_between_outages(monkeypatch):
    """Up but answering 401, as a revoked board key: a fault of the exporter's access alone
    (AgentwatchPollFailing), which PaperclipDown must not claim."""
    from agentwatch.demo import api
    from agentwatch.demo.server import FLAKY_OUTAGES, FLAKY_REFUSALS

    for start, end in FLAKY_REFUSALS:  # never during an outage, nor within PaperclipDown's 5-minute look-back of one
        assert not any(a < end and start < b for a, b in FLAKY_OUTAGES)
        assert all(b + 300 <= start for a, b in FLAKY_OUTAGES if b <= start)
    world = World("Flaky Labs", "FLK", start=1000.0, outages=((10, 20),), refusals=((30, 40),), cast="healthy")
    assert not world.refusing(1025) and world.refusing(1035) and not world.refusing(1045) and not world.down(1035)
    monkeypatch.setattr(time, "time", lambda: 1035.0)
    assert api.handle(world, "GET", "/api/health", {})[0] == 401
    monkeypatch.setattr(time, "time", lambda: 1045.0)
    assert api.handle(world, "GET", "/api/health", {})[0] == 200


def test_the_scrape_serves_the_same_samples_as_the_registry(server):
    """/metrics joins the families pre-rendered at poll time; with two sources sharing family
    names, the result must hold exactly the samples client_python renders from collect()."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from agentwatch.exposition.collector import AgentwatchCollector

    off = {"enabled": False}  # a socket's state may change between the two renders
    settings = config.Settings(
        sources=[{"name": "one", "url": server.url, "live_events": off}, {"name": "two", "url": server.url + "/flaky", "live_events": off}]
    )
    pollers = [Poller(PaperclipSource(cfg), cfg, settings) for cfg in settings.sources]
    try:
        for poller in pollers:
            assert poller.poll_once()
        collector = AgentwatchCollector(pollers, clock=lambda: 1e9)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)

        def samples(text: str) -> tuple[set, list]:
            families = list(text_string_to_metric_families(text))
            return {(s.name, tuple(sorted(s.labels.items())), s.value) for f in families for s in f.samples}, [f.name for f in families]

        served, served_names = samples(collector.exposition().decode())
        expected, expected_names = samples(generate_latest(registry).decode())
        assert served == expected and len(served) > 1000
        assert len(served_names) == len(set(served_names)), "a family appears twice"
        assert sorted(served_names) == sorted(expected_names)
    finally:
        for poller in pollers:
            poller.source.close()
