"""Framework agents' faults, end to end: real frameworks on fake models sending OTLP to agentwatch,
a real Prometheus with the shipped rules, a real Alertmanager with the shipped routing, and the
incident receiver, all on 127.0.0.1.

Each fault runs in the framework that shows it most naturally, the way it happens:

- a LangGraph agent calling the same tool with the same arguments until its recursion limit;
- an OpenAI Agents SDK conversation whose prompt grows towards the model's window;
- a Pydantic AI agent whose model endpoint refuses every call;
- a custom agent that worked on a cadence and fell silent, and one that hangs inside a tool call
  (its calls arrived, its invocation never ends);
- a CrewAI crew spending heavily on one conversation that never finishes;
- a custom agent's canary answered right, then wrong after its model changed.

A healthy agent of every framework keeps working meanwhile and must raise nothing. Time is
compressed as in test_e2e_alerts.py: 1 s scrape and evaluation, every ``for`` divided by 60, and
short thresholds in the exporter config; the rule expressions are the shipped ones.
"""

from __future__ import annotations

import shutil

import pytest

from harness.exporter import ExporterProcess
from harness.frameworks import available_frameworks, install, python_path, run_agent, start_agent, stop_agent
from harness.monitoring import Alertmanager, IncidentReceiver, Prometheus
from harness.paperclip import free_port, wait_for

pytestmark = [
    pytest.mark.frameworks,
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus not installed"),
]

FRAMEWORKS = available_frameworks()  # custom, crewai, langgraph, openai_agents, pydantic_ai
# alert -> the agent that must page with it
EXPECTED = {
    "AgentReasoningLoop": "lg-looper",
    "AgentContextPressure": "oa-grower",
    "AgentRunsFailing": "pai-failing",
    "AgentHeartbeatMissed": "custom-silent",
    "AgentBudgetBurnSpike": "crew-spender",
    "ModelQualityDegraded": "custom-swapped",
}
HUNG = "custom-hanging"  # pages AgentHeartbeatMissed too: its invocation is open past its run timeout
HEALTHY = tuple(f"{fw}-healthy" for fw in FRAMEWORKS)
SUITE = """
canaries:
  - name: arithmetic
    title: Six times seven
    agents: [custom-swapped]
    scorer: {type: exact, expected: "42"}
"""


def config(port: int, suite) -> dict:
    return {
        "poll_interval": "1s",
        "thresholds": {"agents": {"lg-looper": {"loop_min_age": "15s"}}},
        "sources": [
            {
                "type": "otel",
                "name": "frameworks",
                "listen_address": f"127.0.0.1:{port}",
                "canary_suite_file": str(suite),
                "agents": {
                    "custom-silent": {"heartbeat_interval": "4s"},
                    "custom-hanging": {"run_timeout": "10s"},
                },
            }
        ],
    }


def sent(done) -> None:
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if python_path() is None:
        install()
    work = tmp_path_factory.mktemp("otel-alerts")
    (work / "suite.yml").write_text(SUITE)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    hook = IncidentReceiver(work / "incidents")
    am = Alertmanager(work, hook.url, secret_file=hook.secret_file)
    exporter = ExporterProcess(config(port, work / "suite.yml"), work)
    exporter.start()
    prom = Prometheus(work, [exporter.url.removeprefix("http://")], am.url, rules_for_factor=60)
    running = [start_agent(fw, endpoint, "healthy", f"{fw}-healthy", conversations=10_000, pause=3) for fw in FRAMEWORKS]
    running.append(start_agent("custom", endpoint, "hang", HUNG))
    try:
        sent(run_agent("custom", endpoint, "healthy", "custom-silent", conversations=4, pause=1))  # then silence
        sent(run_agent("langgraph", endpoint, "loop", "lg-looper", calls=25))
        sent(run_agent("openai_agents", endpoint, "grow", "oa-grower", conversations=6, model="gpt-4o"))
        sent(run_agent("pydantic_ai", endpoint, "fail", "pai-failing", conversations=4))
        sent(run_agent("crewai", endpoint, "spend", "crew-spender", conversations=8, model="gpt-4o"))
        sent(run_agent("custom", endpoint, "swap", "custom-swapped", conversations=6, pause=2))
        yield {"hook": hook, "prom": prom, "exporter": exporter}
    finally:
        for proc in running:
            stop_agent(proc)
        prom.stop()
        exporter.stop()
        am.stop()
        hook.stop()


def firing_by_agent(hook) -> dict[str, set[str]]:
    got: dict[str, set[str]] = {}
    for _, alert in hook.alerts("firing"):
        got.setdefault(alert["labels"]["alertname"], set()).add(alert["labels"].get("agent", ""))
    return got


def test_each_framework_fault_pages_and_the_healthy_fleet_is_quiet(fleet):
    hook, prom = fleet["hook"], fleet["prom"]

    def arrived():
        got = firing_by_agent(hook)
        missing = [name for name, agent in EXPECTED.items() if agent not in got.get(name, set())]
        if HUNG not in got.get("AgentHeartbeatMissed", set()):
            missing.append(f"AgentHeartbeatMissed:{HUNG}")
        return got if not missing else ("missing", missing, {k: sorted(v) for k, v in got.items()})

    try:
        got = wait_for(arrived, timeout=300, interval=2, what="every framework fault's alert at the webhook")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{fleet['exporter'].text()[-6000:]}") from None
    for name, agent in EXPECTED.items():
        assert agent in got[name]
    noisy = [a for a in prom.alerts() if a["labels"].get("agent") in HEALTHY]
    assert noisy == [], [(a["labels"]["alertname"], a["labels"]["agent"]) for a in noisy]
    for alert in (a for a in prom.alerts() if a["labels"].get("agent") in EXPECTED.values()):
        labels = alert["labels"]
        assert labels["source"] == "frameworks" and labels["company"] == "frameworks"
        assert labels["severity"] in ("critical", "warning") and labels["failure_class"]
