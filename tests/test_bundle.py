"""The Prometheus bundle: rules and config pass promtool, the unit tests pass, the alert contract holds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.tools import tool

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "prometheus"
ALERTS = [
    "AgentHeartbeatMissed",
    "AgentHeartbeatIrregular",
    "AgentThroughputDrop",
    "AgentTaskStuck",
    "AgentRunsFailing",
    "AgentReasoningLoop",
    "AgentContextPressure",
    "TaskDependencyDeadlock",
    "AgentBudgetBurnSpike",
    "AgentBudgetSoftLimit",
    "AgentBudgetHardStop",
    "AgentEscalationSpike",
    "AgentTaskParked",
    "CanaryTaskFailing",
    "ModelQualityDegraded",
    "PaperclipDown",
    "AgentwatchPollFailing",
    "AgentwatchDataStale",
    "Watchdog",
]


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([tool("promtool"), *args], capture_output=True, text=True, cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "rules" / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


@pytest.mark.prometheus
def test_rules_and_config_pass_promtool():
    run("check", "rules", "rules/recording.yml", "rules/alerts.yml")
    run("check", "config", "prometheus.yml")


@pytest.mark.slow
@pytest.mark.prometheus
def test_promtool_unit_tests_pass():
    out = run("test", "rules", *sorted(str(p.relative_to(PROM)) for p in (PROM / "tests").glob("*.yml")))
    assert "SUCCESS" in out.stdout + out.stderr


def promtool3() -> str:
    """promtool 3.x, unpacked by tests/harness/prometheus3.sh (CI runs it)."""
    bin_dir = os.environ.get("AGENTWATCH_PROMETHEUS3_BIN", "/var/tmp/agentwatch-prometheus3/tools/usr/bin")
    path = Path(bin_dir) / "promtool"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"promtool 3.x is required in CI; run tests/harness/prometheus3.sh ({path} missing)")
        pytest.skip("promtool 3.x not unpacked; run tests/harness/prometheus3.sh")
    return str(path)


@pytest.mark.slow
@pytest.mark.prometheus
def test_rules_and_unit_tests_pass_on_prometheus_3():
    version = subprocess.run([promtool3(), "--version"], capture_output=True, text=True).stdout
    assert "version 3." in version, version
    tests = sorted(str(p.relative_to(PROM)) for p in (PROM / "tests").glob("*.yml"))
    for args in (["check", "rules", "rules/recording.yml", "rules/alerts.yml"], ["test", "rules", *tests]):
        result = subprocess.run([promtool3(), *args], capture_output=True, text=True, cwd=PROM)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_names_are_the_contract():
    assert [r["alert"] for r in alert_rules()] == ALERTS


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_carries_labels_and_annotations(rule):
    assert rule["labels"]["severity"] in ("critical", "warning", "info", "none")
    assert rule["labels"]["failure_class"]
    for key in ("summary", "description", "runbook_url", "dashboard_url"):
        assert rule["annotations"].get(key), key
    assert rule["annotations"]["runbook_url"].endswith(f"/docs/runbooks/{rule['alert']}.md")


def test_recording_rules_follow_level_metric_operations():
    doc = yaml.safe_load((PROM / "rules" / "recording.yml").read_text())
    for rule in (r for g in doc["groups"] for r in g["rules"]):
        level, metric, ops = rule["record"].split(":")
        assert level in ("agent", "role") and metric.startswith("agentwatch_") and ops


# -- Alertmanager ------------------------------------------------------------------------------

AM = ROOT / "alertmanager"
EXPECTED_RECEIVERS = {  # failure_class, severity -> receivers (the routing contract)
    ("meta", "none"): "watchdog",
    ("platform", "critical"): "ops",
    ("exporter", "warning"): "ops",
    ("budget", "critical"): "cost,oncall",
    ("budget", "warning"): "cost,team",
}


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("amtool is required in CI")
        pytest.skip("amtool not installed")
    return path


@pytest.mark.prometheus
def test_alertmanager_config_is_valid():
    result = subprocess.run([amtool(), "check-config", "alertmanager.yml"], capture_output=True, text=True, cwd=AM)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_each_alert_routes_to_its_receivers(rule):
    cls, sev = rule["labels"]["failure_class"], rule["labels"]["severity"]
    expected = EXPECTED_RECEIVERS.get((cls, sev), "oncall" if sev == "critical" else "team")
    labels = [f"alertname={rule['alert']}", f"severity={sev}", f"failure_class={cls}", "source=s", "company=C", "agent=A"]
    result = subprocess.run(
        [amtool(), "config", "routes", "test", "--config.file=alertmanager.yml", f"--verify.receivers={expected}", *labels],
        capture_output=True,
        text=True,
        cwd=AM,
    )
    assert result.returncode == 0, f"{rule['alert']} -> {result.stdout.strip()} (expected {expected})"


# -- runbooks ----------------------------------------------------------------------------------

SECTIONS = ["## What it means", "## How to confirm it", "## Likely causes", "## Remediation", "## When to escalate, and to whom"]


@pytest.mark.parametrize("name", ALERTS)
def test_every_alert_has_a_complete_runbook(name):
    text = (ROOT / "docs" / "runbooks" / f"{name}.md").read_text()
    assert text.startswith(f"# {name}\n")
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)


def test_no_runbook_without_an_alert():
    assert sorted(p.stem for p in (ROOT / "docs" / "runbooks").glob("*.md")) == sorted(ALERTS)


@pytest.mark.prometheus
def test_rules_command_rewrites_the_links_and_stays_valid(tmp_path):
    import sys

    out = tmp_path / "alerts.yml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentwatch",
            "rules",
            f"--rules.file={PROM / 'rules' / 'alerts.yml'}",
            "--runbook.base-url=https://wiki.example.test/rb/",
            "--dashboard.base-url=https://grafana.example.test",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out.write_text(result.stdout)
    rules = [r for g in yaml.safe_load(result.stdout)["groups"] for r in g["rules"]]
    assert all(r["annotations"]["runbook_url"] == f"https://wiki.example.test/rb/{r['alert']}.md" for r in rules)
    assert all(r["annotations"]["dashboard_url"].startswith("https://grafana.example.test/d/") for r in rules)
    subprocess.run([tool("promtool"), "check", "rules", str(out)], check=True, capture_output=True)
