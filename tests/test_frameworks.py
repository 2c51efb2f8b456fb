"""The real frameworks, on fake models, exporting OTLP to a running agentwatch.

Each framework's agent (tests/frameworks/agent_<framework>.py) is instrumented the way its users
instrument it and runs in the frameworks' own venv (tests/harness/frameworks.py). It sends its
spans over OTLP/HTTP to ``agentwatch serve`` with an OpenTelemetry source; the test reads
/metrics. A healthy agent shows its completed conversations, tokens and cost; a failing one its
failed runs; and the bearer token the receiver asks for is sent the way an exporter sends it.
"""

from __future__ import annotations

import pytest

from harness.exporter import ExporterProcess
from harness.frameworks import available_frameworks, install, python_path, run_agent
from harness.paperclip import free_port

pytestmark = [pytest.mark.frameworks, pytest.mark.slow]

FRAMEWORKS = available_frameworks()  # custom, crewai, langgraph, openai_agents, pydantic_ai
TOKEN = "frameworks-test-token"


@pytest.fixture(scope="module")
def agentwatch(tmp_path_factory):
    if python_path() is None:
        install()
    work = tmp_path_factory.mktemp("frameworks")
    (work / "token").write_text(TOKEN + "\n")
    port = free_port()
    config = {
        "poll_interval": "1s",
        "sources": [
            {
                "type": "otel",
                "name": "frameworks",
                "listen_address": f"127.0.0.1:{port}",
                "token_file": str(work / "token"),
                "conversation_idle_timeout": "1s",  # an answered conversation is done a second later
            }
        ],
    }
    with ExporterProcess(config, work) as exporter:
        exporter.otlp = f"http://127.0.0.1:{port}/v1/traces"
        yield exporter


def run(agentwatch, framework: str, scenario: str, agent: str, **options) -> None:
    done = run_agent(framework, agentwatch.otlp, scenario, agent, token=TOKEN, **options)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_healthy_agent_shows_its_work_tokens_and_cost(agentwatch, framework):
    agent = f"{framework}-healthy"
    run(agentwatch, framework, "healthy", agent, conversations=2)
    s = agentwatch.wait_for(
        lambda s: (s.get_value("agentwatch_agent_tasks_completed_total", agent=agent) or 0) >= 2 or ("waiting", agent),
        timeout=60,
        what=f"{agent}'s two conversations done",
    )
    (info, _), *_ = s.select("agentwatch_agent_info", agent=agent)
    assert info["source"] == "frameworks" and info["adapter_type"] and info["model"]
    assert s.total("agentwatch_agent_tokens_total", agent=agent, kind="input") > 0
    assert s.total("agentwatch_agent_tokens_total", agent=agent, kind="output") > 0
    assert s.total("agentwatch_agent_cost_usd_total", agent=agent) > 0
    assert s.get_value("agentwatch_agent_runs_total", agent=agent, status="succeeded") >= 2  # an LLM call per turn at least
    assert s.get_value("agentwatch_agent_consecutive_failed_runs", agent=agent) == 0
    assert s.get_value("agentwatch_otlp_spans_dropped_total", source="frameworks", reason="unattributed") in (None, 0.0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_failing_agent_shows_its_failed_runs(agentwatch, framework):
    agent = f"{framework}-failing"
    run(agentwatch, framework, "fail", agent, conversations=3)
    s = agentwatch.wait_for(
        lambda s: (s.get_value("agentwatch_agent_consecutive_failed_runs", agent=agent) or 0) >= 3 or ("waiting", agent),
        timeout=60,
        what=f"{agent}'s three failed runs",
    )
    assert s.get_value("agentwatch_agent_status", agent=agent, status="error") == 1.0
    assert (s.get_value("agentwatch_agent_tasks_completed_total", agent=agent) or 0) == 0


def test_an_exporter_without_the_token_is_refused(agentwatch):
    done = run_agent("custom", agentwatch.otlp, "healthy", "no-token-bot", conversations=1)
    assert done.returncode == 0  # an exporter logs a refused export and carries on
    s = agentwatch.scrape()
    assert s.get_value("agentwatch_otlp_requests_total", source="frameworks", outcome="unauthorized") >= 1
    assert not s.select("agentwatch_agent_info", agent="no-token-bot")
