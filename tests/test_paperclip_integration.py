"""The exporter against the REAL Paperclip server: its metrics agree with what the API says."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter

import pytest

from agentwatch.model import ISSUE_STATUSES
from harness.exporter import ExporterProcess, Samples
from harness.paperclip import wait_for

pytestmark = pytest.mark.paperclip


def _config(url: str, company_id: str, **extra) -> dict:
    return {"poll_interval": "1s", "sources": [{"name": "it", "url": url, "companies": [company_id], **extra}]}


def _eventually(check, timeout=45.0, what="metrics to agree with the API"):
    """Paperclip moves work on its own; compare until both sides agree (or fail with the last diff)."""
    return wait_for(check, timeout=timeout, interval=1.0, what=what)


@pytest.fixture(scope="module")
def exporter(seeded, paperclip_server, paperclip_api, tmp_path_factory):
    paperclip_api.wait_runs_idle(seeded.company_id, timeout=90)
    with ExporterProcess(_config(paperclip_server.url, seeded.company_id), tmp_path_factory.mktemp("exp")) as exp:
        exp.wait_for(lambda s: s.get_value("agentwatch_up", source="it") == 1.0, what="a first successful poll")
        yield exp


def test_task_counts_by_status_match_the_api(exporter, seeded, paperclip_api):
    def agree():
        s = exporter.scrape()
        expected = Counter(i["status"] for i in paperclip_api.issues(seeded.company_id))
        got = {st: s.get_value("agentwatch_company_tasks", status=st) for st in ISSUE_STATUSES}
        return got == {st: float(expected.get(st, 0)) for st in ISSUE_STATUSES} or (got, dict(expected))

    assert _eventually(agree) is True


def test_queue_depth_per_agent_matches_the_api(exporter, seeded, paperclip_api):
    names = {a["id"]: a["name"] for a in paperclip_api.get(f"/api/companies/{seeded.company_id}/agents")}

    def agree():
        s = exporter.scrape()
        expected = Counter((names.get(i["assigneeAgentId"], "(unassigned)"), i["status"]) for i in paperclip_api.issues(seeded.company_id))
        got = {(lbl["agent"], lbl["status"]): v for lbl, v in s.select("agentwatch_agent_tasks")}
        return got == {k: float(v) for k, v in expected.items()} or (got, dict(expected))

    assert _eventually(agree) is True


def test_agents_statuses_and_heartbeat_schedule_match_the_api(exporter, seeded, paperclip_api):
    agents = paperclip_api.get(f"/api/companies/{seeded.company_id}/agents")

    def agree():
        s = exporter.scrape()
        infos = {lbl["agent_id"]: lbl for lbl, _ in s.select("agentwatch_agent_info")}
        if set(infos) != {a["id"] for a in agents}:
            return ("agents", set(infos))
        for a in paperclip_api.get(f"/api/companies/{seeded.company_id}/agents"):
            if s.get_value("agentwatch_agent_status", agent=a["name"], status=a["status"]) != 1.0:
                return ("status", a["name"], a["status"])
            hb = a["runtimeConfig"].get("heartbeat", {})
            if s.get_value("agentwatch_agent_heartbeat_interval_seconds", agent=a["name"]) != float(hb.get("intervalSec") or 0):
                return ("interval", a["name"])
            if s.get_value("agentwatch_agent_heartbeat_enabled", agent=a["name"]) != float(hb.get("enabled") is True):
                return ("enabled", a["name"])
            if infos[a["id"]]["role"] != a["role"]:
                return ("role", a["name"])
        return True

    assert _eventually(agree) is True
    s = exporter.scrape()
    assert s.get_value("agentwatch_agent_heartbeat_scheduler_active", agent="Ceo Bot") == 1.0
    assert s.get_value("agentwatch_agent_last_heartbeat_timestamp_seconds", agent="Ceo Bot") > 0


def test_spend_per_agent_matches_the_cost_report(exporter, seeded, paperclip_api):
    def agree():
        s = exporter.scrape()
        rows = paperclip_api.get(f"/api/companies/{seeded.company_id}/costs/by-agent")
        expected = {r["agentName"]: round(r["costCents"] / 100, 4) for r in rows if r["costCents"]}
        got = {}
        for lbl, v in s.select("agentwatch_agent_cost_usd_total"):
            got[lbl["agent"]] = round(got.get(lbl["agent"], 0.0) + v, 4)
        return got == expected or (got, expected)

    assert _eventually(agree) is True
    s = exporter.scrape()
    models = {lbl["model"] for lbl, _ in s.select("agentwatch_agent_cost_usd_total")}
    assert {"gpt-5", "claude-opus-4-1"} <= models


def test_budget_hard_stop_and_approvals_match_the_api(exporter, seeded, paperclip_api):
    c = seeded.company_id

    def agree():
        s = exporter.scrape()
        approvals = Counter((a["type"], a["status"]) for a in paperclip_api.get(f"/api/companies/{c}/approvals"))
        got = {(lbl["type"], lbl["status"]): v for lbl, v in s.select("agentwatch_approvals")}
        if got != {k: float(v) for k, v in approvals.items()}:
            return ("approvals", got, dict(approvals))
        overview = paperclip_api.get(f"/api/companies/{c}/budgets/overview")
        for p in overview["policies"]:
            if s.get_value("agentwatch_budget_policy_status", scope=p["scopeName"], scope_type=p["scopeType"], status=p["status"]) != 1.0:
                return ("policy", p["scopeName"], p["status"])
        if s.total("agentwatch_budget_incidents_open") != len(overview["activeIncidents"]):
            return ("incidents", s.total("agentwatch_budget_incidents_open"), len(overview["activeIncidents"]))
        # tasks waiting on a person, as the API says now (the platform's own recovery may move them)
        blocked = paperclip_api.get(f"/api/companies/{c}/issues", status="blocked", includeBlockedBy="true")
        # ... apart from the tasks Paperclip's own recovery parked (an active recovery action)
        parked = Counter(
            i["assigneeAgentId"] for i in blocked if (i.get("activeRecoveryAction") or {}).get("status") in ("active", "escalated")
        )
        on_human = Counter(
            i["assigneeAgentId"]
            for i in blocked
            if (i.get("unblockDescriptor") or {}).get("owner") == "board"
            and (i.get("activeRecoveryAction") or {}).get("status") not in ("active", "escalated")
        )
        qa = seeded.agents["qa"]
        if s.get_value("agentwatch_agent_tasks_blocked_on_human", agent="Qa Bot") != float(on_human.get(qa, 0)):
            return ("blocked on a person", s.get_value("agentwatch_agent_tasks_blocked_on_human", agent="Qa Bot"), on_human.get(qa, 0))
        for agent_id, name in ((seeded.agents[k], n) for k, n in (("qa", "Qa Bot"), ("engineer", "Engineer Bot"), ("cto", "Cto Bot"))):
            if s.get_value("agentwatch_agent_tasks_parked", agent=name) != float(parked.get(agent_id, 0)):
                return ("parked", name, s.get_value("agentwatch_agent_tasks_parked", agent=name), parked.get(agent_id, 0))
        return True

    assert _eventually(agree) is True
    s = exporter.scrape()
    assert s.get_value("agentwatch_agent_paused", agent="Engineer Bot", reason="budget") == 1.0
    assert s.get_value("agentwatch_approvals", type="hire_agent", status="pending", **{"class": "expected"}) == 1.0
    assert s.get_value("agentwatch_approvals", type="budget_override_required", status="pending", **{"class": "unexpected"}) == 1.0
    assert s.get_value("agentwatch_approval_oldest_pending_age_seconds", type="hire_agent") >= 0


@pytest.mark.slow
def test_new_runs_are_counted_once_by_source_status_and_error(exporter, seeded, paperclip_api):
    """Runs finished before the exporter started are not counted; each new run is counted once."""
    c, qa = seeded.company_id, seeded.agents["qa"]
    before = {r["id"] for r in paperclip_api.runs(c) if r["agentId"] == qa}
    baseline = exporter.scrape().total("agentwatch_agent_runs_total", agent="Qa Bot")
    for _ in range(3):
        paperclip_api.invoke_heartbeat(qa)
        paperclip_api.wait_runs_idle(c, timeout=60, settle=1.0)

    def agree():
        s = exporter.scrape()
        new = [r for r in paperclip_api.runs(c) if r["agentId"] == qa and r["id"] not in before and r.get("finishedAt")]
        expected = Counter((r["invocationSource"], r["status"], r.get("errorCode") or "") for r in new)
        got = {
            (lbl["invocation_source"], lbl["status"], lbl["error_code"]): v
            for lbl, v in s.select("agentwatch_agent_runs_total", agent="Qa Bot")
        }
        diff = {k: got.get(k, 0.0) for k in expected}
        if sum(got.values()) - baseline != len(new) or any(diff[k] < n for k, n in expected.items()):
            return (got, dict(expected), baseline)
        return s

    s = _eventually(agree)
    assert s.get_value("agentwatch_agent_runs_total", agent="Qa Bot", invocation_source="on_demand", status="failed") >= 3
    assert s.get_value("agentwatch_agent_consecutive_failed_runs", agent="Qa Bot") >= 3
    assert s.get_value("agentwatch_agent_run_duration_seconds_count", agent="Qa Bot") >= 3


@pytest.mark.prometheus
def test_the_live_exposition_passes_promtool(exporter):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    result = subprocess.run([promtool, "check", "metrics"], input=exporter.text(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""


def test_self_metrics_and_logs(exporter):
    s: Samples = exporter.scrape()
    assert s.get_value("agentwatch_last_successful_poll_timestamp_seconds", source="it") > 0
    assert 0 <= s.get_value("agentwatch_snapshot_age_seconds", source="it") < 60
    assert s.get_value("agentwatch_source_requests_total", endpoint="/api/companies/{id}/issues") > 0
    assert s.get_value("agentwatch_poll_requests", source="it") > 0
    assert "level=info" in exporter.log() and "msg=listening" in exporter.log()


def test_unchanged_answers_are_revalidated_with_their_etag(exporter):
    """The endpoints whose rows the source keeps (``KeptRows``) send the last answer's ETag back;
    the real server answers 304 for one that did not change (approvals, costs and budgets do not
    change from one poll to the next here, while the agents' runs and heartbeats may)."""
    kept = ("approvals", "costs/by-agent-model", "budgets/overview")

    def revalidated():
        s: Samples = exporter.scrape()
        counts = {e: s.get_value("agentwatch_source_not_modified_total", endpoint=f"/api/companies/{{id}}/{e}") for e in kept}
        return counts if any(counts.values()) else ("none yet", counts)

    wait_for(revalidated, timeout=30, interval=1.0, what="a 304 from the real server")
