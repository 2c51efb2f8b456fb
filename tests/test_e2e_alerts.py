"""End to end with real faults: the real Paperclip, agentwatch, a real Prometheus with the shipped
rules, a real Alertmanager with the shipped routing, and the incident receiver (``agentwatch
incidents``, with the shared secret and remediation on for two allowlisted agents), all on 127.0.0.1.

Time is compressed: 1 s scrape and evaluation, every ``for`` divided by 60, and short
thresholds in the exporter config. The rule expressions are the shipped ones.
"""

from __future__ import annotations

import shutil
import time

import pytest

from harness.exporter import ExporterProcess
from harness.monitoring import Alertmanager, IncidentReceiver, Prometheus
from harness.paperclip import wait_for

pytestmark = [
    pytest.mark.paperclip,
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus not installed"),
]

EXPECTED = {
    # alert -> (agent label or None for company-wide, receiver that must get it)
    "AgentHeartbeatMissed": ("Hung Hugo", "team"),
    "AgentTaskStuck": ("Stuck Stella", "team"),
    "AgentBudgetBurnSpike": ("Runaway Rita", "oncall"),
    "AgentBudgetHardStop": ("Capped Carla", "oncall"),
    "AgentRunsFailing": ("Failing Fred", "team"),
    "TaskDependencyDeadlock": (None, "team"),
}


def process_config(root, env, timeout=60):
    return {"command": "/bin/bash", "args": [str(root / "bin" / "fake-agent.sh")], "env": env, "timeoutSec": timeout}


@pytest.fixture(scope="module")
def faults(paperclip_api, paperclip_root, paperclip_server, tmp_path_factory):
    api, root = paperclip_api, paperclip_root
    c = api.create_company("E2E Faults Co")
    agents = {}
    # 1. a run that hangs on the agent's very first wake (a 10 s timer): no run of his ever finishes,
    #    and Paperclip's scheduler keeps bumping his lastHeartbeatAt while the run hangs
    agents["hung"] = api.create_process_agent(
        c, "Hung Hugo", "devops", interval_sec=10, env={"FAKE_SLEEP_SEC": "3000"}, root=root, timeout_sec=3600
    )
    # 2. a task in progress far past the agent's history (three quick tasks first)
    agents["stuck"] = api.create_process_agent(c, "Stuck Stella", "engineer", env={"FAKE_SET_STATUS": "done"}, root=root)
    for title in ("Quick one", "Quick two", "Quick three"):
        api.create_issue(c, title, status="todo", assigneeAgentId=agents["stuck"])
    # 3. a runaway: Paperclip's claude_local adapter driving fake-claude, which reports 0.40 USD on
    #    every wake of a 10 s timer, on a small monthly budget; it works on one task in progress
    agents["runaway"] = api.create_claude_agent(
        c,
        "Runaway Rita",
        "researcher",
        interval_sec=10,
        budget_cents=3000,
        env={"FAKE_COST_USD": "0.40", "FAKE_ANSWER": "Researching further."},
        root=root,
    )
    runaway_task = api.create_issue(c, "Survey every paper ever written", status="in_progress", assigneeAgentId=agents["runaway"])["id"]
    # 4. a budget hard stop
    agents["capped"] = api.create_process_agent(c, "Capped Carla", "pm", budget_cents=100000, env={"FAKE_COST_CENTS": "20"}, root=root)
    api.create_budget_policy(c, "agent", agents["capped"], amount=30)
    # 5. runs that keep failing
    agents["failing"] = api.create_process_agent(c, "Failing Fred", "qa", env={"FAKE_EXIT_CODE": "3"}, root=root)
    # 6. a blocked chain on a cancelled blocker
    gone = api.create_issue(c, "Abandoned design", status="cancelled")["id"]
    api.create_issue(c, "Build on the design", status="blocked", blockedByIssueIds=[gone])
    # the control: healthy, finishes its work
    agents["control"] = api.create_process_agent(
        c, "Calm Carl", "engineer", env={"FAKE_SET_STATUS": "done", "FAKE_COST_CENTS": "1"}, root=root
    )
    api.create_issue(c, "Routine work", status="todo", assigneeAgentId=agents["control"])

    # Stella finishes her three quick tasks before her next one hangs (the history the stuck alert
    # compares with); no waiting for a good run of Hugo's: a hang on the very first run must page too
    wait_for(
        lambda: (
            sum(1 for i in api.issues(c) if i.get("assigneeAgentId") == agents["stuck"] and i.get("status") == "done") == 3
            and not [r for r in api.live_runs(c) if r.get("agentId") == agents["stuck"]]
        ),
        timeout=120,
        what="Stella's quick tasks done",
    )
    wait_for(
        lambda: (
            [r for r in api.live_runs(c) if r.get("agentId") == agents["hung"]]
            or [r for r in api.runs(c) if r.get("agentId") == agents["hung"]]
        ),
        timeout=90,
        what="Hugo's first wake",
    )
    # its next task stays in progress: the run on it never ends
    api.patch(f"/api/agents/{agents['stuck']}", {"adapterConfig": process_config(root, {"FAKE_SLEEP_SEC": "3000"}, timeout=3600)})
    api.create_issue(c, "The hard one", status="in_progress", assigneeAgentId=agents["stuck"])
    for _ in range(3):
        api.invoke_heartbeat(agents["failing"])
        api.invoke_heartbeat(agents["capped"])

    work = tmp_path_factory.mktemp("e2e")
    # remediation for real (not dry run) on the runaway and on the healthy control: only one may be paused
    hook = IncidentReceiver(
        work / "incidents",
        remediation={
            "enabled": True,
            "dry_run": False,
            "agents": ["Runaway Rita", "Calm Carl"],
            "paperclip_url": paperclip_server.url,
            "max_actions_per_hour": 5,
        },
    )
    am = Alertmanager(work, hook.url, secret_file=hook.secret_file)
    config = {
        "poll_interval": "1s",
        "thresholds": {"defaults": {"deadlock_min_age": "5s"}},
        "sources": [{"name": "e2e", "url": paperclip_server.url, "companies": [c]}],
    }
    exporter = ExporterProcess(config, work)
    exporter.start()
    prom = Prometheus(work, [exporter.url.removeprefix("http://")], am.url, rules_for_factor=60)
    try:
        yield {"hook": hook, "prom": prom, "agents": agents, "api": api, "runaway_task": runaway_task, "company": c}
    finally:
        for key in ("hung", "runaway", "stuck"):
            try:
                api.pause_agent(agents[key])
            except Exception:
                pass
        prom.stop()
        exporter.stop()
        am.stop()
        hook.stop()


def test_each_fault_pages_with_the_right_labels(faults):
    hook = faults["hook"]

    def arrived():
        got = {}
        for receiver, alert in hook.alerts("firing"):
            got.setdefault(alert["labels"]["alertname"], []).append((receiver, alert))
        missing = [
            name
            for name, (agent, _) in EXPECTED.items()
            if not any(agent in (None, a["labels"].get("agent")) for _, a in got.get(name, []))
        ]
        return got if not missing else ("missing", missing, sorted(got))

    try:
        got = wait_for(arrived, timeout=240, interval=2, what="every fault's alert at the webhook")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{evidence(faults)}") from None
    for name, (agent, receiver) in EXPECTED.items():
        matches = [(r, a) for r, a in got[name] if agent is None or a["labels"].get("agent") == agent]
        assert any(r == receiver for r, _ in matches), (name, [r for r, _ in matches])
        labels = matches[0][1]["labels"]
        assert labels["severity"] in ("critical", "warning") and labels["failure_class"]
        assert labels["company"] == "E2E Faults Co" and labels["source"] == "e2e"
        annotations = matches[0][1]["annotations"]
        assert annotations["runbook_url"].endswith(f"/runbooks/{name}") and annotations["summary"] and annotations["description"]


HUNG_SERIES = tuple(
    f'{name}{{agent="Hung Hugo"}}'
    for name in (
        "agentwatch_agent_last_run_finished_timestamp_seconds",
        "agentwatch_agent_last_heartbeat_timestamp_seconds",
        "agentwatch_agent_heartbeat_interval_seconds",
        "agentwatch_agent_heartbeat_enabled",
        "agentwatch_agent_status",
    )
)


def evidence(faults) -> str:
    """What the platform and Prometheus held for the hung agent when a wait ran out, so a failure in
    CI says which link of the chain broke."""
    api, prom, hugo = faults["api"], faults["prom"], faults["agents"]["hung"]
    lines = [f"now={time.time():.0f}"]
    try:
        runs = [r for r in api.runs(faults["company"]) if r.get("agentId") == hugo]
        lines += [
            f"run {r.get('status')} {r.get('invocationSource')} {r.get('errorCode')} started={r.get('startedAt')} finished={r.get('finishedAt')}"
            for r in runs[:8]
        ]
        agent = api.get(f"/api/agents/{hugo}")
        lines.append(
            f"agent status={agent.get('status')} lastHeartbeatAt={agent.get('lastHeartbeatAt')} runtimeConfig={agent.get('runtimeConfig')}"
        )
    except Exception as exc:  # evidence only: never hide the original failure
        lines.append(f"platform: {exc!r}")
    for expr in HUNG_SERIES:
        try:
            lines += [f"{expr} {s['metric'].get('status', '')} = {s['value'][1]}" for s in prom.query(expr)]
        except Exception as exc:
            lines.append(f"{expr}: {exc!r}")
    try:
        lines += [f"prometheus alert {a['labels']['alertname']} {a['labels'].get('agent')} {a.get('state')}" for a in prom.alerts()]
    except Exception as exc:
        lines.append(f"prometheus alerts: {exc!r}")
    return "\n".join(lines)


def test_the_healthy_control_agent_raises_nothing(faults):
    wait_for(lambda: faults["hook"].alerts("firing") or ("nothing yet",), timeout=120)
    for _, alert in faults["hook"].alerts("firing"):
        assert alert["labels"].get("agent") != "Calm Carl", alert["labels"]
    for alert in faults["prom"].alerts():
        assert alert["labels"].get("agent") != "Calm Carl", alert["labels"]


def test_the_runaway_is_paused_on_its_page_and_the_healthy_agent_is_never_touched(faults):
    """Opt-in remediation against the real Paperclip: AgentBudgetBurnSpike for Runaway Rita pauses
    her within the notification that pages, comments on her task, and audits it all in the log."""
    hook, api, agents = faults["hook"], faults["api"], faults["agents"]

    def paused():
        actions = [
            r for r in hook.store.records() if r["event"] == "remediation" and r["action"] == "pause_agent" and r["result"] == "done"
        ]
        return actions if actions and api.get(f"/api/agents/{agents['runaway']}")["status"] == "paused" else ("waiting", actions)

    actions = wait_for(paused, timeout=300, interval=2, what="Runaway Rita paused by the remediator")
    assert [a["agent"] for a in actions] == ["Runaway Rita"] and actions[0]["alertname"] == "AgentBudgetBurnSpike"
    assert actions[0]["agent_id"] == agents["runaway"] and actions[0]["dry_run"] is False
    page = next(r for r in hook.store.records() if r["event"] == "firing" and r["alertname"] == "AgentBudgetBurnSpike")
    # the same notification cycle: the action follows the page it answers, with no repeat in between
    assert page["incident"] == actions[0]["incident"] and page["received_at"] <= actions[0]["received_at"]
    assert not [
        r
        for r in hook.store.records()
        if r["incident"] == page["incident"] and r["event"] == "firing" and r["receiver"] == page["receiver"]
    ][1:]
    stub = hook.store.stub_path(page["incident"]).read_text()
    assert "remediation `pause_agent`: done" in stub
    task = api.get(f"/api/issues/{faults['runaway_task']}")
    if task["status"] == "in_progress":  # Paperclip may already have moved it to blocked on its own
        comments = api.get(f"/api/issues/{faults['runaway_task']}/comments")
        assert any("agentwatch paused Runaway Rita automatically" in c["body"] and "AgentBudgetBurnSpike.md" in c["body"] for c in comments)
    # the healthy control is allowlisted too, and never touched
    assert api.get(f"/api/agents/{agents['control']}")["status"] != "paused"
    assert not [r for r in hook.store.records() if r["event"] == "remediation" and r.get("agent") == "Calm Carl"]
