"""Canaries through the REAL Paperclip server: pass, a model change, fail, and no pollution of real work."""

from __future__ import annotations

import pytest

from harness.exporter import ExporterProcess
from harness.paperclip import free_port, wait_for

pytestmark = pytest.mark.paperclip

SUITE = """
canaries:
  - name: arithmetic
    title: What is 6 times 7?
    description: Reply with the number as a comment on this task.
    agents: [Canary Carl]
    scorer: {type: numeric, expected: 42}
    interval: 4s
    timeout: 45s
    max_spend_per_day: 5
"""


def process_config(root, env):
    return {"command": "/bin/bash", "args": [str(root / "bin" / "fake-agent.sh")], "env": env, "timeoutSec": 60}


@pytest.fixture(scope="module")
def canary_setup(paperclip_api, paperclip_root, paperclip_server, tmp_path_factory):
    api = paperclip_api
    c = api.create_company("Canary Co")
    good = {"FAKE_ANSWER": "The answer is 42", "FAKE_COST_CENTS": "1", "FAKE_MODEL": "claude-sonnet-4-5"}
    carl = api.create_process_agent(c, "Canary Carl", "qa", env=good, root=paperclip_root)
    hank = api.create_process_agent(
        c, "Healthy Hank", "engineer", env={"FAKE_SET_STATUS": "done", "FAKE_ANSWER": "Done."}, root=paperclip_root
    )
    for title in ("Fix the login", "Update the docs"):
        api.create_issue(c, title, status="todo", assigneeAgentId=hank)
    api.invoke_heartbeat(carl)  # Carl's first cost: the model he uses, not a change
    api.wait_runs_idle(c, timeout=90)
    workdir = tmp_path_factory.mktemp("canary")
    suite = workdir / "suite.yml"
    suite.write_text(SUITE)
    config = {
        "poll_interval": "1s",
        "sources": [
            {
                "name": "cn",
                "url": paperclip_server.url,
                "companies": [c],
                "canary": {"enabled": True, "suite_file": str(suite), "check_interval": "1s"},
            }
        ],
    }
    with ExporterProcess(config, workdir) as exp:
        yield {"api": api, "company": c, "carl": carl, "hank": hank, "exp": exp, "root": paperclip_root}


@pytest.mark.slow
def test_canary_goes_from_pass_to_fail_after_a_model_change(canary_setup):
    api, exp, carl, root = canary_setup["api"], canary_setup["exp"], canary_setup["carl"], canary_setup["root"]
    labels = {"canary": "arithmetic", "agent": "Canary Carl"}
    s = exp.wait_for(
        lambda s: (s.get_value("agentwatch_canary_runs_total", outcome="pass", model="claude-sonnet-4-5", **labels) or 0) >= 2,
        timeout=120,
        what="two passing canaries",
    )
    assert s.get_value("agentwatch_canary_score", model="claude-sonnet-4-5", **labels) == 1.0
    assert s.get_value("agentwatch_canary_last_success_timestamp_seconds", **labels) > 0
    changed_before = s.get_value("agentwatch_agent_model_change_timestamp_seconds", agent="Canary Carl")
    hank_before = {
        name: s.select(name, agent="Healthy Hank")
        for name in ("agentwatch_agent_runs_total", "agentwatch_agent_tasks", "agentwatch_agent_tasks_completed_total")
    }

    # the provider swaps the model and quality drops: wrong answers, a different model in the cost events
    bad = {"FAKE_ANSWER": "The answer is 41", "FAKE_COST_CENTS": "1", "FAKE_MODEL": "gpt-5", "FAKE_PROVIDER": "openai"}
    api.patch(f"/api/agents/{carl}", {"adapterConfig": process_config(root, bad)})
    api.invoke_heartbeat(carl)
    s = exp.wait_for(
        lambda s: s.get_value("agentwatch_agent_model_info", agent="Canary Carl", model="gpt-5") == 1.0,
        timeout=60,
        what="the model change",
    )
    assert s.get_value("agentwatch_agent_model_change_timestamp_seconds", agent="Canary Carl") > changed_before

    s = exp.wait_for(
        lambda s: (s.get_value("agentwatch_canary_runs_total", outcome="fail", model="gpt-5", **labels) or 0) >= 2,
        timeout=120,
        what="failing canaries on the new model",
    )
    assert s.get_value("agentwatch_canary_score", model="gpt-5", **labels) == 0.0
    assert s.get_value("agentwatch_canary_consecutive_failures", **labels) >= 2
    assert s.get_value("agentwatch_canary_pass_ratio", period="before_model_change", **labels) == 1.0
    assert s.get_value("agentwatch_canary_pass_ratio", period="since_model_change", **labels) == 0.0
    assert s.get_value("agentwatch_canary_spend_usd_total", **labels) >= 0.0

    # canaries stay out of real work: the healthy agent's metrics are unchanged
    for name, before in hank_before.items():
        assert s.select(name, agent="Healthy Hank") == before, name
    # and out of the task counts: the company totals are the non-canary tasks only
    tasks = [i for i in api.issues(canary_setup["company"]) if not i["title"].startswith("[canary]")]
    assert s.total("agentwatch_company_tasks", company="Canary Co") == len(tasks)
    assert s.total("agentwatch_canary_tasks", company="Canary Co") >= 2
    assert s.total("agentwatch_agent_runs_total", agent="Canary Carl") <= 2  # the heartbeats only, no canary runs


def test_canary_tasks_carry_the_label_and_the_prefix(canary_setup):
    api, c = canary_setup["api"], canary_setup["company"]
    canaries = [i for i in api.get(f"/api/companies/{c}/issues") if i["title"].startswith("[canary] arithmetic")]
    assert canaries
    assert all("agentwatch-canary" in [label["name"] for label in i.get("labels", [])] for i in canaries)


def test_a_token_without_write_permission_stops_startup(canary_setup, tmp_path):
    """An agent's own API key cannot assign tasks to others: agentwatch refuses to start, clearly."""
    import subprocess
    import sys

    import yaml

    api = canary_setup["api"]
    key = api.post(f"/api/agents/{canary_setup['carl']}/keys", {"name": "not-for-canaries"})["token"]
    suite = tmp_path / "suite.yml"
    suite.write_text(SUITE)
    config = tmp_path / "agentwatch.yml"
    config.write_text(
        yaml.safe_dump({"sources": [{"name": "cn", "url": api.url, "canary": {"enabled": True, "suite_file": str(suite), "token": key}}]})
    )
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "canary" in result.stderr and "write" in result.stderr
    assert key not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_canary_tasks_are_cleaned_up(canary_setup):
    api, c = canary_setup["api"], canary_setup["company"]

    def closed():
        canaries = [i for i in api.issues(c) if i["title"].startswith("[canary] arithmetic")]
        open_ones = [i for i in canaries if i["status"] not in ("cancelled", "done")]
        return (canaries and len(open_ones) <= 1) or ("open canaries", len(open_ones))  # at most the one in flight

    assert wait_for(closed, timeout=60) is True
