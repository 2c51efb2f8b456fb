"""The Prometheus bundle: rules and config pass promtool, the unit tests pass, the alert contract holds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from agentwatch.stack import local as localstack
from agentwatch.stack.bundle import DEFAULT_DASHBOARD_BASE, DEFAULT_RUNBOOK_BASE, with_links
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


def prometheus3(name: str = "promtool") -> str:
    """A Prometheus 3.x binary (promtool, prometheus), unpacked by tests/harness/prometheus3.sh (CI runs it)."""
    bin_dir = os.environ.get("AGENTWATCH_PROMETHEUS3_BIN", "/var/tmp/agentwatch-prometheus3/tools/usr/bin")
    path = Path(bin_dir) / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{name} 3.x is required in CI; run tests/harness/prometheus3.sh ({path} missing)")
        pytest.skip(f"{name} 3.x not unpacked; run tests/harness/prometheus3.sh")
    return str(path)


def promtool3() -> str:
    return prometheus3("promtool")


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
    # the runbook agentwatch serves at /runbooks/<Alert> (from docs/runbooks), and compose's Grafana
    assert rule["annotations"]["runbook_url"] == f"{DEFAULT_RUNBOOK_BASE}{rule['alert']}"
    assert (ROOT / "docs" / "runbooks" / f"{rule['alert']}.md").is_file()
    assert rule["annotations"]["dashboard_url"].startswith(f"{DEFAULT_DASHBOARD_BASE}/d/")


@pytest.mark.parametrize("slash", ["", "/"])
def test_with_links_rewrites_both_bases_with_or_without_a_trailing_slash(slash):
    shipped = (PROM / "rules" / "alerts.yml").read_text()
    rules = [
        r
        for g in yaml.safe_load(with_links(shipped, f"https://aw.example.test/runbooks{slash}", f"https://grafana.example.test{slash}"))[
            "groups"
        ]
        for r in g["rules"]
    ]
    for before, after in zip(alert_rules(), rules, strict=True):
        assert after["annotations"]["runbook_url"] == f"https://aw.example.test/runbooks/{before['alert']}"
        uid = before["annotations"]["dashboard_url"].removeprefix(DEFAULT_DASHBOARD_BASE)
        assert after["annotations"]["dashboard_url"] == f"https://grafana.example.test{uid}"
    assert with_links(shipped, None, "") == shipped


def test_recording_rules_follow_level_metric_operations():
    doc = yaml.safe_load((PROM / "rules" / "recording.yml").read_text())
    for rule in (r for g in doc["groups"] for r in g["rules"]):
        level, metric, ops = rule["record"].split(":")
        assert level in ("agent", "role") and metric.startswith("agentwatch_") and ops


# -- one fault, one alert: label sets --------------------------------------------------------------

AGENT = frozenset({"source", "company", "agent", "role"})
CANARY = AGENT | {"canary"}
COMPANY = frozenset({"source", "company"})
SOURCE = frozenset({"source"})
POLICY = frozenset({"source", "company", "scope_type", "scope", "window"})
IDENTITY = {  # every label set an alert's series may carry; one per alert, so one fault is one alert
    **{name: {AGENT} for name in ALERTS},
    "TaskDependencyDeadlock": {COMPANY},
    "AgentBudgetSoftLimit": {AGENT, POLICY},  # two faults: an agent's monthly budget, or a budget policy of a wider scope
    "CanaryTaskFailing": {CANARY},
    "ModelQualityDegraded": {CANARY},
    "PaperclipDown": {SOURCE},
    "AgentwatchPollFailing": {SOURCE},
    "AgentwatchDataStale": {SOURCE},
    "Watchdog": {frozenset()},
}
LabelSets = set[frozenset[str]] | None  # None: a scalar


def label_sets(node: dict, recorded: dict[str, LabelSets]) -> LabelSets:
    """The label sets an expression's series can carry, from Prometheus's own AST and its rules: an
    aggregation keeps its ``by`` labels; a one-to-one operation with ``on`` keeps only those, with
    ``ignoring`` drops them; ``group_left`` keeps the left side's and the included; ``and`` and
    ``unless`` keep the left side's; ``or`` has both sides'. A scraped series also carries instance
    and job: how AgentRunsFailing once paged twice for one agent."""
    kind = node["type"]
    if kind in ("parenExpr", "unaryExpr", "subquery"):
        return label_sets(node["expr"], recorded)
    if kind in ("numberLiteral", "stringLiteral"):
        return None
    if kind in ("vectorSelector", "matrixSelector"):
        name = node["name"]
        return recorded[name] if name in recorded else {frozenset({"instance", "job", f"<the labels of {name}>"})}
    if kind == "aggregation":
        assert not node["without"], "aggregate `by` an explicit label set"
        return {frozenset(node["grouping"])}
    if kind == "call":
        if node["func"]["returnType"] == "scalar":
            return None
        vectors = [s for s in (label_sets(arg, recorded) for arg in node["args"]) if s is not None]
        return vectors[0] if vectors else {frozenset()}  # vector(1)
    assert kind == "binaryExpr", kind
    left, right = label_sets(node["lhs"], recorded), label_sets(node["rhs"], recorded)
    if left is None or right is None:
        return right if left is None else left
    op, matching = node["op"], node["matching"]
    if op == "or":
        return left | right
    if op in ("and", "unless"):
        return left
    labels, include = frozenset(matching["labels"]), frozenset(matching["include"])
    if matching["card"] == "one-to-one":
        return {labels if matching["on"] else ls - labels for ls in left}
    return {ls | include for ls in (left if matching["card"] == "many-to-one" else right)}


@pytest.fixture(scope="module")
def parse_promql(tmp_path_factory):
    """PromQL to its AST, parsed by a real Prometheus 3 (``/api/v1/parse_query``; 2.x has no such endpoint)."""
    binary = prometheus3("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus3")
    (workdir / "prometheus.yml").write_text("global: {}\n")
    port = localstack.free_port()
    url = f"http://127.0.0.1:{port}"
    process = localstack.Process(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir / "prometheus.log",
    )
    process.ready(url + "/-/ready")

    def parse(expr: str) -> dict:
        answer = requests.post(url + "/api/v1/parse_query", data={"query": expr}, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    yield parse
    process.stop()


@pytest.fixture(scope="module")
def recorded(parse_promql) -> dict[str, LabelSets]:
    doc = yaml.safe_load((PROM / "rules" / "recording.yml").read_text())
    out: dict[str, LabelSets] = {}
    for rule in (r for g in doc["groups"] for r in g["rules"]):  # in order: a rule reads only those before it
        out[rule["record"]] = label_sets(parse_promql(rule["expr"]), out)
    return out


@pytest.mark.prometheus
def test_recording_rules_keep_their_level_labels_only(recorded):
    levels = {"agent": {AGENT}, "role": {frozenset({"source", "company", "role"})}}
    assert {name: sets for name, sets in recorded.items() if sets != levels[name.split(":")[0]]} == {}


@pytest.mark.prometheus
def test_every_alert_has_one_label_set_per_fault(parse_promql, recorded):
    """Every branch of every alert's ``or`` aggregates to the alert's identity, never to the scrape's
    instance and job: a fault seen by two branches (or two replicas) is one alert, not two."""
    got = {rule["alert"]: label_sets(parse_promql(rule["expr"]), recorded) for rule in alert_rules()}
    assert {name: sorted(map(sorted, sets or ())) for name, sets in got.items() if sets != IDENTITY[name]} == {}


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
    assert all(r["annotations"]["runbook_url"] == f"https://wiki.example.test/rb/{r['alert']}" for r in rules)
    assert all(r["annotations"]["dashboard_url"].startswith("https://grafana.example.test/d/") for r in rules)
    subprocess.run([tool("promtool"), "check", "rules", str(out)], check=True, capture_output=True)
