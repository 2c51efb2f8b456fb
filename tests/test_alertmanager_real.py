"""The shipped Alertmanager config in a real Alertmanager: routing reaches the webhook, inhibitions hold."""

from __future__ import annotations

import shutil
import time

import pytest

from harness.monitoring import Alertmanager, IncidentReceiver
from harness.paperclip import wait_for

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(
        shutil.which("prometheus-alertmanager") is None and shutil.which("alertmanager") is None, reason="Alertmanager not installed"
    ),
]


def alert(name, severity, failure_class, **labels):
    base = {"source": "s", "company": "C", "agent": "A"}
    return {
        "labels": {"alertname": name, "severity": severity, "failure_class": failure_class, **base, **labels},
        "annotations": {"summary": f"{name} summary", "runbook_url": f"https://example.test/{name}.md"},
    }


@pytest.fixture
def stack(tmp_path):
    hook = IncidentReceiver(tmp_path)
    am = Alertmanager(tmp_path, hook.url, secret_file=hook.secret_file)
    yield am, hook
    am.stop()
    hook.stop()


def inhibited(am, name):
    for a in am.alerts():
        if a["labels"]["alertname"] == name:
            return bool(a["status"]["inhibitedBy"])
    return None


def test_inhibitions(stack):
    am, hook = stack
    am.post(
        [
            alert("PaperclipDown", "critical", "platform", agent=""),
            alert("AgentRunsFailing", "warning", "runs"),
            alert("AgentBudgetHardStop", "critical", "budget"),
            alert("AgentBudgetBurnSpike", "critical", "budget", agent="B"),  # another agent: not inhibited by A's stop
            alert("AgentBudgetSoftLimit", "warning", "budget", source="other"),  # another source: not inhibited by the down one
            alert("Watchdog", "none", "meta", agent="", company=""),
        ]
    )
    assert wait_for(lambda: inhibited(am, "AgentRunsFailing") is True or ("not yet",), timeout=20) is True
    assert inhibited(am, "Watchdog") is False
    assert inhibited(am, "AgentBudgetSoftLimit") is False
    # a hard stop silences burn warnings for the same agent (the source here is up)
    am.post(
        [
            alert("AgentBudgetBurnSpike", "critical", "budget", source="other"),
            alert("AgentBudgetHardStop", "critical", "budget", source="other"),
        ]
    )
    assert wait_for(lambda: inhibited(am, "AgentBudgetBurnSpike") is not None or ("not yet",), timeout=20)
    burn = [a for a in am.alerts() if a["labels"]["alertname"] == "AgentBudgetBurnSpike"]
    assert {a["labels"]["source"] + "/" + a["labels"]["agent"]: bool(a["status"]["inhibitedBy"]) for a in burn} == {
        "s/B": True,  # source s is down
        "other/A": True,  # hard stop on other/A
    }


def test_critical_silences_warning_for_the_same_alert_and_agent(stack):
    am, hook = stack
    am.post(
        [
            alert("AgentTaskStuck", "critical", "stuck"),
            alert("AgentTaskStuck", "warning", "stuck"),
            alert("AgentTaskStuck", "warning", "stuck", agent="Z"),
        ]
    )
    time.sleep(2)
    states = {(a["labels"]["severity"], a["labels"]["agent"]): bool(a["status"]["inhibitedBy"]) for a in am.alerts()}
    assert states == {("critical", "A"): False, ("warning", "A"): True, ("warning", "Z"): False}


def test_notifications_reach_the_right_webhook_receiver(stack):
    am, hook = stack
    am.post(
        [
            alert("AgentReasoningLoop", "critical", "loop"),
            alert("AgentBudgetSoftLimit", "warning", "budget"),
            alert("Watchdog", "none", "meta"),
        ]
    )
    got = wait_for(
        lambda: (len({(r, a["labels"]["alertname"]) for r, a in hook.alerts()}) >= 4 and hook.alerts()) or ("waiting",), timeout=30
    )
    pairs = {(r, a["labels"]["alertname"]) for r, a in got}
    assert {
        ("oncall", "AgentReasoningLoop"),
        ("cost", "AgentBudgetSoftLimit"),
        ("team", "AgentBudgetSoftLimit"),
        ("watchdog", "Watchdog"),
    } <= pairs
    loop = next(a for r, a in got if a["labels"]["alertname"] == "AgentReasoningLoop")
    assert loop["annotations"]["runbook_url"].endswith("AgentReasoningLoop.md")
    stubs = [p.name for p in hook.store.stubs.glob("*.md")]
    assert any("AgentReasoningLoop" in name for name in stubs) and not any("Watchdog" in name for name in stubs), stubs


def test_paperclip_down_inhibits_the_poll_failures_it_causes(stack):
    """One outage pages ``ops`` once: PaperclipDown, not also AgentwatchPollFailing for its source.
    Both carry only ``source``, as the shipped rules label them; another source's poll failures still page."""
    am, hook = stack
    am.post(
        [
            alert("PaperclipDown", "critical", "platform", company="", agent=""),
            alert("AgentwatchPollFailing", "warning", "exporter", company="", agent=""),
            alert("AgentwatchPollFailing", "warning", "exporter", company="", agent="", source="other"),
        ]
    )

    def notified():
        got = {(r, a["labels"]["alertname"], a["labels"]["source"]) for r, a in hook.alerts()}
        return got if {("ops", "PaperclipDown", "s"), ("ops", "AgentwatchPollFailing", "other")} <= got else ("waiting", got)

    got = wait_for(notified, timeout=30)
    assert ("ops", "AgentwatchPollFailing", "s") not in got
    states = {(a["labels"]["alertname"], a["labels"]["source"]): bool(a["status"]["inhibitedBy"]) for a in am.alerts()}
    assert states == {("PaperclipDown", "s"): False, ("AgentwatchPollFailing", "s"): True, ("AgentwatchPollFailing", "other"): False}
