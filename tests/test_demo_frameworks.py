"""The compose demo's framework fleet (deploy/framework-agents/fleet.py), run outside Docker.

- Its supervision, on stub agent scripts: every agent is started with its scenario, one that exits
  is started again, and SIGTERM ends every agent's process group, grandchildren included.
- The real fleet: the frameworks' own venv (tests/harness/frameworks.py) runs the five frameworks'
  agents against an ``agentwatch serve`` with the otel source of the demo config
  (deploy/demo/agentwatch.yml, its address rewritten to a free loopback port), every wait of the
  fleet divided by ten. Agents of all five frameworks appear, each fault shows its signal, and
  stopping the fleet by its PID leaves none of its agents behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.exporter import ExporterProcess, Samples
from harness.frameworks import agent_env, install, python_path
from harness.paperclip import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "frameworks"
FLEET = ROOT / "deploy" / "framework-agents" / "fleet.py"
FRAMEWORKS = ("custom", "langgraph", "pydantic_ai", "openai_agents", "crewai")
STARTED = re.compile(r'msg="agent started" agent=(\S+) framework=(\S+) scenario=(\S+) pid=(\d+)')

STUB = """
import os, subprocess, sys, time
args = sys.argv[1:]
scenario, agent = args[args.index("--scenario") + 1], args[args.index("--agent") + 1]
if scenario != "healthy":  # it keeps working, with a grandchild in its process group
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.path.join(os.path.dirname(__file__), "grandchildren"), "a") as f:
        f.write(f"{child.pid}\\n")
with open(os.path.join(os.path.dirname(__file__), "calls"), "a") as f:
    f.write(" ".join(args) + "\\n")
if scenario != "healthy":
    time.sleep(600)
"""  # a healthy stub exits at once: the fleet must start it again


def starts(log: Path) -> list[tuple[str, str, str, int]]:
    """(agent, framework, scenario, pid) of every start the fleet logged."""
    text = log.read_text() if log.exists() else ""
    return [(a, fw, sc, int(pid)) for a, fw, sc, pid in STARTED.findall(text)]


def live(pids: set[int]) -> list[int]:
    """The processes, zombies aside, that are one of ``pids`` or in the process group of one."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid, state, pgrp = int(stat.parent.name), fields[0], int(fields[2])
        if (pid in pids or pgrp in pids) and state != "Z":
            found.append(pid)
    return found


def stop_fleet(fleet: subprocess.Popen, log: Path) -> set[int]:
    """SIGTERM to the fleet by its PID; the PIDs of every agent it started (each its own group's)."""
    os.kill(fleet.pid, signal.SIGTERM)
    try:
        assert fleet.wait(timeout=60) == 0
    finally:
        groups = {pid for *_, pid in starts(log)}
        if fleet.poll() is None:  # it did not stop: clean up for it, and fail
            fleet.kill()
            for pid in live(groups):
                os.kill(pid, signal.SIGKILL)
    return groups


def start_fleet(log: Path, *args: str, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, str(FLEET), *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=log.parent
        )


def test_the_fleet_starts_every_agent_restarts_what_exits_and_stops_every_group(tmp_path):
    agents = tmp_path / "agents"
    agents.mkdir()
    for framework in FRAMEWORKS:
        (agents / f"agent_{framework}.py").write_text(STUB)
    shutil.copy(SCRIPTS / "environment.py", agents)  # as the image holds it beside the scripts
    endpoint = "http://127.0.0.1:9/v1/traces"
    log = tmp_path / "fleet.log"
    env = {**os.environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint}  # the endpoint compose gives it
    fleet = start_fleet(log, "--agents-dir", str(agents), "--time-scale", "100", env=env)
    try:

        def everyone_started_and_healthy_ones_restarted():
            started = [agent for agent, *_ in starts(log)]
            healthy = [agent for agent, _, scenario, _ in starts(log) if scenario == "healthy" and agent.endswith("-healthy")]
            enough = len(set(started)) == 12 and all(healthy.count(f"{fw.replace('_', '-')}-healthy") >= 2 for fw in FRAMEWORKS)
            return enough or ("waiting", sorted(set(started)))

        wait_for(everyone_started_and_healthy_ones_restarted, timeout=60, interval=0.2, what="every agent started")
    finally:
        groups = stop_fleet(fleet, log)
    assert live(groups) == []
    grandchildren = [int(pid) for pid in (agents / "grandchildren").read_text().split()]
    assert grandchildren and live(set(grandchildren)) == []
    calls = (agents / "calls").read_text().splitlines()
    assert all(f"--endpoint {endpoint} " in call for call in calls)
    assert any("--scenario loop --agent langgraph-looper --calls 25" in call for call in calls)
    assert any("--scenario fail --agent pydantic-ai-failing" in call and "--pause 0.1" in call for call in calls)  # 10 s / 100
    assert {(fw, sc) for _, fw, sc, _ in starts(log)} >= {(fw, "healthy") for fw in FRAMEWORKS}
    assert 'msg="fleet stopped"' in log.read_text()


def demo_otel_config(port: int) -> dict:
    """The otel source and thresholds of the demo config, on 127.0.0.1:``port``, its suite from deploy/demo."""
    demo = yaml.safe_load((ROOT / "deploy" / "demo" / "agentwatch.yml").read_text())
    (source,) = [s for s in demo["sources"] if s.get("type") == "otel"]
    source["listen_address"] = f"127.0.0.1:{port}"
    source["canary_suite_file"] = str(ROOT / "deploy" / "demo" / Path(source["canary_suite_file"]).name)
    return {"poll_interval": "1s", "sources": [source], "thresholds": demo["thresholds"]}


def faults_missing(s: Samples) -> list[str]:
    """What the fleet's agents should show and does not yet."""
    frameworks = {labels["adapter_type"] for labels, _ in s.select("agentwatch_agent_info", source="frameworks")}
    want = {
        f"agents of {sorted(set(FRAMEWORKS) - frameworks)}": frameworks >= set(FRAMEWORKS),
        "pydantic-ai-failing failing": (s.get_value("agentwatch_agent_consecutive_failed_runs", agent="pydantic-ai-failing") or 0) >= 3,
        "custom-hung live run": (s.get_value("agentwatch_agent_live_runs", agent="custom-hung") or 0) >= 1,
        "langgraph-looper repeating": (s.get_value("agentwatch_agent_unproductive_runs_without_progress", agent="langgraph-looper") or 0)
        > 0,
        "openai-agents-grower near its window": (s.get_value("agentwatch_agent_context_latest_ratio", agent="openai-agents-grower") or 0)
        > 0.8,
        "custom-canary failing": (s.get_value("agentwatch_canary_consecutive_failures", agent="custom-canary") or 0) >= 3,
        "crewai-spender spending": s.total("agentwatch_agent_cost_usd_total", agent="crewai-spender")
        > 10 * s.total("agentwatch_agent_cost_usd_total", agent="crewai-healthy"),
    }
    return [what for what, shown in want.items() if not shown]


@pytest.mark.frameworks
@pytest.mark.slow
def test_the_fleet_shows_every_framework_and_its_faults(tmp_path):
    python = python_path() or install()
    port = free_port()
    log = tmp_path / "fleet.log"
    with ExporterProcess(demo_otel_config(port), tmp_path) as agentwatch:
        endpoint = f"http://127.0.0.1:{port}/v1/traces"
        fleet = start_fleet(log, "--python", str(python), "--endpoint", endpoint, "--time-scale", "10", env=agent_env())
        try:
            try:
                s = agentwatch.wait_for(lambda s: not faults_missing(s) or ("missing", faults_missing(s)), timeout=300, what="the faults")
            except TimeoutError as exc:
                raise AssertionError(f"{exc}\nfleet:\n{log.read_text()[-4000:]}") from None
        finally:
            groups = stop_fleet(fleet, log)
    assert live(groups) == []
    assert len(groups) >= 12  # every agent of the fleet was started
    for labels, _ in s.select("agentwatch_agent_info", source="frameworks"):
        started = {agent: framework for agent, framework, *_ in starts(log)}
        assert labels["agent"] in started and labels["adapter_type"] == started[labels["agent"]], labels
    assert s.get_value("agentwatch_agent_status", agent="pydantic-ai-failing", status="error") == 1.0
    for framework in FRAMEWORKS:  # the healthy agents stay healthy
        assert s.get_value("agentwatch_agent_consecutive_failed_runs", agent=f"{framework.replace('_', '-')}-healthy") == 0
