"""The no-Docker stack (``agentwatch stack``) with the demo: every alert class fires within 10
minutes, the healthy agents raise nothing, and every dashboard panel query returns data.

Real Prometheus and Alertmanager with the shipped files; time compressed 60 times
(``--time-scale 60``: ``for`` durations and rule ranges divided by 60, 2 s scrapes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from agentwatch.stack.local import Stack
from harness.paperclip import wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus not installed"),
]

CLASSES = {
    "heartbeat",
    "throughput",
    "stuck",
    "runs",
    "loop",
    "context",
    "deadlock",
    "budget",
    "escalation",
    "quality",
    "platform",
    "exporter",
    "meta",
}
HEALTHY = {"Ada", "Linus", "Mira", "Theo"}
FLAKY = {"Nova", "Orion", "Pax"}  # the healthy company whose platform goes down


def all_alerts() -> list[str]:
    doc = yaml.safe_load((ROOT / "prometheus" / "rules" / "alerts.yml").read_text())
    return [r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(ROOT, tmp_path_factory.mktemp("stack"), time_scale=60, interval="2s", fast_alertmanager=True)
    yield s
    s.stop()


def test_every_alert_class_reaches_the_webhook_within_ten_minutes(stack):
    def classes():
        seen = {a["labels"].get("failure_class") for _, a in stack.webhook.alerts("firing")}
        return seen if CLASSES <= seen else ("missing", sorted(CLASSES - seen))

    wait_for(classes, timeout=600, interval=5, what="every failure class at the webhook")


def test_every_alert_fires(stack):
    def names():
        seen = {a["labels"]["alertname"] for a in stack.prometheus.alerts() if a["state"] == "firing"}
        seen |= {a["labels"]["alertname"] for _, a in stack.webhook.alerts("firing")}
        missing = set(all_alerts()) - seen
        return seen if not missing else ("missing", sorted(missing))

    wait_for(names, timeout=120, interval=5, what="every alert")


def test_the_healthy_agents_raise_nothing(stack):
    """Not even on the flaky platform: its outage inhibits what its stale data would page."""
    for _, alert in stack.webhook.alerts("firing"):
        assert alert["labels"].get("agent") not in HEALTHY | FLAKY, alert["labels"]
    pending = []
    for alert in stack.prometheus.alerts():
        if alert["labels"].get("source") == "demo" and alert["labels"].get("agent") in HEALTHY:
            # pending is not a page: at 60x compression the pm agent completes a task about once a
            # minute, the length of the compressed rate window, so a single evaluation can dip
            assert alert["state"] == "pending", (alert["state"], alert["labels"])
            pending.append((alert["labels"]["agent"], alert["labels"]["alertname"], alert.get("activeAt")))
    print("pending for healthy agents:", pending)


def test_every_dashboard_query_returns_data(stack):
    from harness.dashboards import panel_queries

    empty = []
    for uid, title, expr in panel_queries(rate_interval="1m"):
        if not stack.prometheus.query(expr):
            empty.append((uid, title, expr))
    assert not empty, "panels without data:\n" + "\n".join(map(str, empty))


def test_every_page_links_open(stack):
    """What a page carries opens: its runbook from this agentwatch (rendered, 200), its generator
    link at this Prometheus, its dashboard link at the Grafana base (not run here), and no page
    about the Watchdog became an incident."""
    import requests

    from agentwatch.stack.bundle import DEFAULT_DASHBOARD_BASE

    alerts = {a["labels"]["alertname"]: a for _, a in stack.webhook.alerts("firing")}
    assert len(alerts) >= len(CLASSES)
    for name, alert in alerts.items():
        runbook = alert["annotations"]["runbook_url"]
        assert runbook == f"{stack.exporter.url}/runbooks/{name}", runbook
        page = requests.get(runbook, timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"] and name in page.text, name
        assert alert["generatorURL"].startswith(stack.prometheus.url + "/"), alert["generatorURL"]
        if "dashboard_url" in alert["annotations"]:
            assert alert["annotations"]["dashboard_url"].startswith(DEFAULT_DASHBOARD_BASE + "/d/"), name
    landing = requests.get(stack.exporter.url + "/", timeout=10).text
    assert "Prometheus could not be reached" not in landing and "AgentReasoningLoop" in landing
    assert not list((stack.webhook.store.stubs).glob("*Watchdog*"))
