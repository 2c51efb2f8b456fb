"""End to end with real faults: the real Paperclip, agentwatch, a real Prometheus with the shipped
rules, a real Alertmanager with the shipped routing, and a webhook receiver, all on 127.0.0.1.

Time is compressed: 1 s scrape and evaluation, every ``for`` divided by 60, and short
thresholds in the exporter config. The rule expressions are the shipped ones.
"""

from __future__ import annotations

import shutil

import pytest

from harness.exporter import ExporterProcess
from harness.monitoring import Alertmanager, Prometheus, Webhook
from harness.paperclip import wait_for

pytestmark = [
    pytest.mark.paperclip,
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
    # 1. a run that hangs, so heartbeats stop: a 10 s timer, one good run, then runs that never end
    agents["hung"] = api.create_process_agent(c, "Hung Hugo", "devops", interval_sec=10, env={"FAKE_SLEEP_SEC": "1"}, root=root)
    # 2. a task in progress far past the agent's history (three quick tasks first)
    agents["stuck"] = api.create_process_agent(c, "Stuck Stella", "engineer", env={"FAKE_SET_STATUS": "done"}, root=root)
    for title in ("Quick one", "Quick two", "Quick three"):
        api.create_issue(c, title, status="todo", assigneeAgentId=agents["stuck"])
    # 3. a runaway: a cost event on every wake of a 10 s timer, on a small monthly budget
    agents["runaway"] = api.create_process_agent(c, "Runaway Rita", "researcher", interval_sec=10, budget_cents=3000, env={"FAKE_COST_CENTS": "40"}, root=root)
    # 4. a budget hard stop
    agents["capped"] = api.create_process_agent(c, "Capped Carla", "pm", budget_cents=100000, env={"FAKE_COST_CENTS": "20"}, root=root)
    api.create_budget_policy(c, "agent", agents["capped"], amount=30)
    # 5. runs that keep failing
    agents["failing"] = api.create_process_agent(c, "Failing Fred", "qa", env={"FAKE_EXIT_CODE": "3"}, root=root)
    # 6. a blocked chain on a cancelled blocker
    gone = api.create_issue(c, "Abandoned design", status="cancelled")["id"]
    api.create_issue(c, "Build on the design", status="blocked", blockedByIssueIds=[gone])
    # the control: healthy, finishes its work
    agents["control"] = api.create_process_agent(c, "Calm Carl", "engineer", env={"FAKE_SET_STATUS": "done", "FAKE_COST_CENTS": "1"}, root=root)
    api.create_issue(c, "Routine work", status="todo", assigneeAgentId=agents["control"])

    api.wait_runs_idle(c, timeout=90)
    wait_for(lambda: api.get(f"/api/agents/{agents['hung']}").get("lastHeartbeatAt"), timeout=60, what="Hugo's first heartbeat")
    api.patch(f"/api/agents/{agents['hung']}", {"adapterConfig": process_config(root, {"FAKE_SLEEP_SEC": "3000"}, timeout=3600)})
    # its next task stays in progress: the run on it never ends
    api.patch(f"/api/agents/{agents['stuck']}", {"adapterConfig": process_config(root, {"FAKE_SLEEP_SEC": "3000"}, timeout=3600)})
    api.create_issue(c, "The hard one", status="in_progress", assigneeAgentId=agents["stuck"])
    for _ in range(3):
        api.invoke_heartbeat(agents["failing"])
        api.invoke_heartbeat(agents["capped"])

    work = tmp_path_factory.mktemp("e2e")
    hook = Webhook()
    am = Alertmanager(work, hook.url)
    config = {
        "poll_interval": "1s",
        "thresholds": {"defaults": {"deadlock_min_age": "5s"}},
        "sources": [{"name": "e2e", "url": paperclip_server.url, "companies": [c]}],
    }
    exporter = ExporterProcess(config, work)
    exporter.start()
    prom = Prometheus(work, [exporter.url.removeprefix("http://")], am.url, rules_for_factor=60)
    try:
        yield {"hook": hook, "prom": prom, "agents": agents, "api": api}
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
        missing = [name for name, (agent, _) in EXPECTED.items() if not any(agent in (None, a["labels"].get("agent")) for _, a in got.get(name, []))]
        return got if not missing else ("missing", missing, sorted(got))

    got = wait_for(arrived, timeout=240, interval=2, what="every fault's alert at the webhook")
    for name, (agent, receiver) in EXPECTED.items():
        matches = [(r, a) for r, a in got[name] if agent is None or a["labels"].get("agent") == agent]
        assert any(r == receiver for r, _ in matches), (name, [r for r, _ in matches])
        labels = matches[0][1]["labels"]
        assert labels["severity"] in ("critical", "warning") and labels["failure_class"]
        assert labels["company"] == "E2E Faults Co" and labels["source"] == "e2e"
        annotations = matches[0][1]["annotations"]
        assert annotations["runbook_url"].endswith(f"/{name}.md") and annotations["summary"] and annotations["description"]


def test_the_healthy_control_agent_raises_nothing(faults):
    wait_for(lambda: faults["hook"].alerts("firing") or ("nothing yet",), timeout=120)
    for _, alert in faults["hook"].alerts("firing"):
        assert alert["labels"].get("agent") != "Calm Carl", alert["labels"]
    for alert in faults["prom"].alerts():
        assert alert["labels"].get("agent") != "Calm Carl", alert["labels"]
