"""The incident receiver: the append-only log, postmortem stubs, de-duplication, restarts, the
shared secret, and the remediation policy. Alertmanager is the real one (Debian's), sending
through the shipped routing with the secret read from a credentials file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from agentwatch.incidents.events import events_from
from agentwatch.incidents.remediate import Remediator, decide
from agentwatch.incidents.settings import RemediationSettings
from agentwatch.incidents.store import IncidentLog
from harness.monitoring import Alertmanager, IncidentReceiver
from harness.paperclip import wait_for

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def alert(
    name="AgentReasoningLoop", status="firing", agent="Loopy Lou", starts=NOW - timedelta(minutes=20), ends=None, fp="a1b2c3d4e5f60718"
):
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", "failure_class": "loop", "source": "pc", "company": "Acme", "agent": agent},
        "annotations": {
            "summary": f"{agent} looks stuck",
            "description": "2 looping tasks",
            "runbook_url": f"https://runbooks.example/{name}.md",
        },
        "startsAt": starts.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
        "endsAt": (ends or (NOW + timedelta(minutes=5))).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fp,
    }


def payload(*alerts, receiver="oncall"):
    return {"version": "4", "receiver": receiver, "status": "firing", "alerts": list(alerts)}


def post(receiver, body, secret=None, path="/alerts/oncall"):
    token = receiver.secret_file.read_text() if secret is None else secret
    return requests.post(receiver.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.fixture
def receiver(tmp_path):
    r = IncidentReceiver(tmp_path)
    yield r
    r.stop()


def lines(receiver):
    return [json.loads(line) for line in receiver.store.path.read_text().splitlines()]


def test_firing_then_resolved_is_one_incident_with_start_end_and_duration(receiver):
    assert post(receiver, payload(alert())).status_code == 200
    resolved = alert(status="resolved", ends=NOW)
    assert post(receiver, payload(resolved)).status_code == 200
    firing, done = lines(receiver)
    assert firing["event"] == "firing" and done["event"] == "resolved" and firing["incident"] == done["incident"]
    assert (
        done["start"] == "2026-11-20T11:40:00Z"
        and done["end"] == "2026-11-20T12:00:00Z"
        and done["duration_seconds"] == pytest.approx(1200, abs=1)
    )
    assert done["runbook_url"] == "https://runbooks.example/AgentReasoningLoop.md"
    assert done["labels"]["agent"] == "Loopy Lou" and done["values"]["description"] == "2 looping tasks"
    stubs = list(receiver.store.stubs.glob("*.md"))
    assert len(stubs) == 1 and stubs[0].name.startswith("2026-11-20-AgentReasoningLoop-Loopy_Lou-")
    text = stubs[0].read_text()
    for heading in ("## What happened", "## Impact", "## Root cause", "## Follow-ups", "## Threshold change"):
        assert heading in text
    assert "**Ended:** 2026-11-20T12:00:00Z" in text and "**Duration:** 20 min" in text


def test_repeats_are_recorded_once_per_receiver(receiver):
    for _ in range(3):
        assert post(receiver, payload(alert())).status_code == 200
    assert post(receiver, payload(alert(), receiver="cost"), path="/alerts/cost").status_code == 200
    assert [(r["event"], r["receiver"]) for r in lines(receiver)] == [("firing", "oncall"), ("firing", "cost")]
    assert receiver.store.duplicates == 2
    # a new episode of the same alert (a later startsAt) is a new incident
    post(receiver, payload(alert(starts=NOW)))
    assert len({r["incident"] for r in lines(receiver)}) == 2


def test_the_shared_secret_is_required(receiver):
    assert post(receiver, payload(alert()), secret="wrong").status_code == 401
    assert requests.post(receiver.url + "/alerts/oncall", json=payload(alert()), timeout=5).status_code == 401
    assert not receiver.store.path.exists()
    assert requests.get(receiver.url + "/-/healthy", timeout=5).status_code == 200


def test_bad_payloads_are_refused_and_nothing_is_written(receiver):
    assert post(receiver, {"no": "alerts"}).status_code == 400
    r = requests.post(
        receiver.url + "/alerts/oncall",
        data=b"{not json",
        headers={"Authorization": f"Bearer {receiver.secret_file.read_text()}"},
        timeout=5,
    )
    assert r.status_code == 400 and not receiver.store.path.exists()


def heartbeat(name="Watchdog", severity="none"):
    body = alert(name=name, agent="")
    body["labels"] = {"alertname": name, "severity": severity, "failure_class": "meta"}
    return body


def test_the_watchdog_is_a_heartbeat_never_an_incident(receiver):
    """No postmortem stub, no incident line for the dead man's switch (nor any alert of severity
    none); its last notification per receiver is kept, and survives a restart."""
    body = payload(heartbeat(), heartbeat(name="InfoOnly"), alert(), receiver="watchdog")
    assert post(receiver, body, path="/alerts/watchdog").status_code == 200
    assert post(receiver, payload(heartbeat(), receiver="watchdog"), path="/alerts/watchdog").status_code == 200  # the minutely repeat
    assert [r["alertname"] for r in lines(receiver)] == ["AgentReasoningLoop"]
    assert [p.name.split("-")[3] for p in receiver.store.stubs.glob("*.md")] == ["AgentReasoningLoop"]
    assert receiver.store.duplicates == 0
    beats = json.loads(receiver.store.heartbeats_path.read_text())
    assert sorted(beats) == ["InfoOnly/watchdog", "Watchdog/watchdog"]
    assert beats["Watchdog/watchdog"]["event"] == "firing" and beats["Watchdog/watchdog"]["received_at"]
    assert ("watchdog", "Watchdog") in {(r, a["labels"]["alertname"]) for r, a in receiver.alerts("firing")}
    assert sorted(IncidentLog(receiver.store.dir).heartbeats) == sorted(beats)


def test_a_restart_keeps_the_log_the_dedup_and_human_edits(tmp_path):
    first = IncidentReceiver(tmp_path)
    post(first, payload(alert()))
    first.stop()
    stub = next(first.store.stubs.glob("*.md"))
    stub.write_text(stub.read_text().replace("_What was seen, by whom, and when._", "Lou looped on the refactor for 5 h."))
    with open(first.store.path, "ab") as f:  # a crash in the middle of a write that was never acknowledged
        f.write(b'{"event": "firing", "inci')
    again = IncidentReceiver(tmp_path)
    try:
        post(again, payload(alert()))  # Alertmanager's repeat after the restart: not a new event
        post(again, payload(alert(status="resolved", ends=NOW)))
        records = lines(again)
        assert [r["event"] for r in records] == ["firing", "resolved"]
        text = stub.read_text()
        assert "Lou looped on the refactor for 5 h." in text and "**Ended:** 2026-11-20T12:00:00Z" in text
    finally:
        again.stop()


@pytest.mark.prometheus
def test_real_alertmanager_delivers_with_the_secret_and_the_log_dedups_its_repeats(tmp_path):
    receiver = IncidentReceiver(tmp_path)
    am = Alertmanager(tmp_path, receiver.url, secret_file=receiver.secret_file)
    try:
        starts = datetime.now(timezone.utc) - timedelta(minutes=1)
        body = alert(name="AgentBudgetBurnSpike", starts=starts, ends=datetime.now(timezone.utc) + timedelta(hours=1))
        body["labels"].update(severity="critical", failure_class="budget")
        am.post([{k: body[k] for k in ("labels", "annotations", "startsAt", "endsAt", "generatorURL")}])
        # budget + critical: the cost route continues to oncall, so two receivers get it
        wait_for(lambda: {r for r, _ in receiver.alerts("firing")} == {"cost", "oncall"} or ("waiting",), timeout=30)
        am.post([{k: body[k] for k in ("labels", "annotations", "startsAt", "endsAt", "generatorURL")}])  # the same alert again
        ended = datetime.now(timezone.utc)
        am.post(
            [
                {
                    "labels": body["labels"],
                    "annotations": body["annotations"],
                    "startsAt": body["startsAt"],
                    "endsAt": ended.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
            ]
        )
        wait_for(lambda: len(receiver.alerts("resolved")) == 2 or ("waiting",), timeout=30)
        records = lines(receiver)
        assert sorted((r["event"], r["receiver"]) for r in records) == [
            ("firing", "cost"),
            ("firing", "oncall"),
            ("resolved", "cost"),
            ("resolved", "oncall"),
        ]
        assert len({r["incident"] for r in records}) == 1
        assert all(r["duration_seconds"] >= 55 for r in records if r["event"] == "resolved")
    finally:
        am.stop()
        receiver.stop()


POLICY = {"enabled": True, "dry_run": False, "agents": ["Loopy Lou"], "paperclip_url": "http://127.0.0.1:9", "max_actions_per_hour": 2}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "resolved"}, "resolved"),
        ({"name": "AgentTaskStuck"}, "not in remediation.alerts"),
        ({"agent": "Calm Carl"}, "not in remediation.agents"),
        ({"ends": NOW - timedelta(seconds=1)}, "stale"),
    ],
)
def test_the_policy_refuses(change, reason):
    event = events_from(payload(alert(**change)), "oncall")[0]
    decision = decide(event, RemediationSettings(**POLICY), NOW, already_done=False, actions_last_hour=0)
    assert not decision.act and reason in decision.reason


def test_the_policy_acts_once_and_within_the_rate_limit():
    event = events_from(payload(alert()), "oncall")[0]
    policy = RemediationSettings(**POLICY)
    assert decide(event, policy, NOW, already_done=False, actions_last_hour=1).act
    assert "already remediated" in decide(event, policy, NOW, already_done=True, actions_last_hour=0).reason
    assert "rate limit" in decide(event, policy, NOW, already_done=False, actions_last_hour=2).reason


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"alerts": ["AgentTaskStuck"]}, "cannot be remediated automatically"),
        ({"agents": []}, "needs remediation.agents"),
        ({"paperclip_url": None}, "needs remediation.paperclip_url"),
    ],
)
def test_remediation_config_is_validated(bad, message):
    from agentwatch.config import ConfigError, build
    from agentwatch.incidents.settings import IncidentsSettings

    with pytest.raises(ConfigError, match=message):
        build(IncidentsSettings, {"remediation": {**POLICY, **bad}})


def test_a_non_loopback_receiver_needs_a_secret(tmp_path, capsys):
    from agentwatch.cli import main

    assert main(["incidents", "--incidents.listen-address=0.0.0.0:0", f"--incidents.dir={tmp_path}"]) == 2
    assert "listen_address" in capsys.readouterr().err


def test_a_platform_that_is_down_is_audited_as_a_failure_and_retried_on_the_repeat(tmp_path):
    store = IncidentLog(tmp_path)
    from agentwatch.source.http import HttpClient
    from agentwatch.source.paperclip.remediation_api import RemediationAPI

    remediator = Remediator(RemediationSettings(**POLICY), store, RemediationAPI(HttpClient("http://127.0.0.1:9", retries=0, timeout=1)))
    events = events_from(payload(alert()), "oncall")
    fresh = store.record_alerts(events, NOW)
    remediator.handle(events, fresh, NOW)
    remediator.handle(events, [], NOW)  # the repeat: tried again because the last attempt failed
    results = [r["result"] for r in store.records() if r["event"] == "remediation"]
    assert results == ["failed: connection on /api/companies"] * 2


def test_the_example_config_is_valid(tmp_path):
    """examples/incidents.yml as shipped, with its two secret files pointed at real files."""
    from pathlib import Path

    import yaml

    from agentwatch.incidents import settings

    data = yaml.safe_load((Path(__file__).parents[1] / "examples" / "incidents.yml").read_text())
    (tmp_path / "s").write_text("shared")
    (tmp_path / "t").write_text("token")
    data["secret_file"], data["remediation"]["token_file"] = str(tmp_path / "s"), str(tmp_path / "t")
    (tmp_path / "incidents.yml").write_text(yaml.safe_dump(data))
    loaded = settings.load(str(tmp_path / "incidents.yml"), {})
    assert loaded.secret.get_secret_value() == "shared" and not loaded.remediation.enabled
