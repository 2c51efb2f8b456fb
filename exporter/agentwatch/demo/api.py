"""The Paperclip REST API over a demo ``World``: the endpoints agentwatch reads and the canary
runner writes, with the real response shapes (``shapes.json``) and the real query semantics
(``limit`` on runs, keyset paging and ``updatedSince`` on issues, ``from`` on costs)."""

from __future__ import annotations

import bisect
import re
from datetime import datetime
from typing import Any, Callable

from agentwatch.demo.shapes import row
from agentwatch.demo.world import AgentSim, IssueSim, RunSim, World, iso, uid

Response = tuple[int, Any]
ROUTES: list[tuple[str, re.Pattern, Callable[..., Response]]] = []


def route(method: str, pattern: str):
    def register(fn):
        ROUTES.append((method, re.compile(f"^{pattern}$"), fn))
        return fn

    return register


def handle(world: World, method: str, path: str, query: dict[str, str], body: Any = None) -> Response:
    if world.down():
        return 503, {"error": "Service Unavailable"}
    if world.refusing():
        return 401, {"error": "Unauthorized"}
    world.advance()
    with world.lock:
        for verb, pattern, fn in ROUTES:
            match = pattern.match(path)
            if match and verb == method:
                cid = match.groupdict().get("cid")
                if cid is not None and cid != world.company_id:
                    return 404, {"error": "Company not found"}
                return fn(world, query, body, **{k: v for k, v in match.groupdict().items() if k != "cid"})
    return 404, {"error": "Not found"}


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# -- instance ----------------------------------------------------------------------------------


@route("GET", "/api/health")
def health(w: World, q, body) -> Response:
    return 200, row(
        "health",
        status="ok",
        version="demo",
        serverVersion="demo",
        deploymentMode="local_trusted",
        deploymentExposure="private",
        authReady=True,
        bootstrapStatus="ready",
    )


@route("GET", "/api/cli-auth/me")
def me(w: World, q, body) -> Response:
    return 200, {"userId": "local-board", "source": "local_implicit", "isInstanceAdmin": True, "companyIds": [w.company_id]}


@route("GET", "/api/companies")
def companies(w: World, q, body) -> Response:
    spent = sum(a.spent_usd for a in w.agents.values())
    return 200, [
        row(
            "company",
            id=w.company_id,
            name=w.company_name,
            status="active",
            issuePrefix=w.prefix,
            issueCounter=len(w.issues),
            budgetMonthlyCents=1000000,
            spentMonthlyCents=int(spent * 100),
            createdAt=iso(w.start - 86400),
            updatedAt=iso(w.now),
        )
    ]


@route("GET", "/api/instance/scheduler-heartbeats")
def scheduler(w: World, q, body) -> Response:
    return 200, [
        row(
            "scheduler_heartbeat",
            id=a.id,
            companyId=w.company_id,
            companyName=w.company_name,
            companyIssuePrefix=w.prefix,
            agentName=a.name,
            agentUrlKey=a.name.lower(),
            role=a.role,
            title=a.role.title(),
            status=a.status,
            adapterType="claude_local",
            intervalSec=int(a.interval),
            heartbeatEnabled=True,
            schedulerActive=a.status not in ("paused", "terminated"),
            lastHeartbeatAt=iso(a.last_heartbeat),
        )
        for a in w.agents.values()
    ]


# -- agents ------------------------------------------------------------------------------------


def agent_row(w: World, a: AgentSim) -> dict:
    return row(
        "agent",
        id=a.id,
        companyId=w.company_id,
        name=a.name,
        role=a.role,
        title=a.role.title(),
        status=a.status,
        adapterType="claude_local",
        adapterConfig={"model": a.model},
        runtimeConfig={"heartbeat": {"enabled": True, "intervalSec": int(a.interval)}},
        budgetMonthlyCents=int(a.budget_usd * 100),
        spentMonthlyCents=int(a.spent_usd * 100),
        pauseReason=a.pause_reason,
        pausedAt=iso(a.paused_at),
        lastHeartbeatAt=iso(a.last_heartbeat),
        createdAt=iso(a.created_at),
        updatedAt=iso(a.updated_at),
        urlKey=a.name.lower(),
    )


@route("GET", "/api/companies/(?P<cid>[^/]+)/agents")
def agents(w: World, q, body) -> Response:
    return 200, [agent_row(w, a) for a in w.agents.values()]


# -- issues ------------------------------------------------------------------------------------


def issue_row(w: World, i: IssueSim, compact: bool, blocked_by: bool) -> dict:
    fields = dict(
        id=i.id,
        companyId=w.company_id,
        title=i.title,
        description=i.description,
        status=i.status,
        priority="medium",
        assigneeAgentId=i.assignee,
        parentId=i.parent,
        issueNumber=i.number,
        identifier=f"{w.prefix}-{i.number}",
        executionRunId=i.execution_run,
        checkoutRunId=i.execution_run,
        startedAt=iso(i.started_at),
        completedAt=iso(i.completed_at),
        cancelledAt=iso(i.cancelled_at),
        createdAt=iso(i.created_at),
        updatedAt=iso(i.updated_at),
        labels=[{"id": lid, "name": label["name"]} for lid, label in w.labels.items() if label["name"] in i.labels],
        labelIds=[lid for lid, label in w.labels.items() if label["name"] in i.labels],
        lastActivityAt=iso(i.updated_at),
    )
    out = row("issue_compact" if compact else "issue", **fields)
    out["activeRecoveryAction"] = (
        {"kind": i.recovery, "status": "active", "ownerType": "board", "sourceIssueId": i.id, "createdAt": iso(i.updated_at)}
        if i.recovery
        else None
    )
    if blocked_by:
        out["blockedBy"] = [
            {
                "id": b.id,
                "identifier": f"{w.prefix}-{b.number}",
                "title": b.title,
                "status": b.status,
                "priority": "medium",
                "assigneeAgentId": b.assignee,
                "assigneeUserId": None,
            }
            for b in (w.issues[x] for x in i.blocked_by if x in w.issues)
        ]
    if not compact:
        out["unblockDescriptor"] = {"owner": "board", "action": i.unblock_owner} if i.unblock_owner else None
    return out


@route("GET", "/api/companies/(?P<cid>[^/]+)/issues")
def issues(w: World, q, body) -> Response:
    rows = w.sorted_issues()
    if q.get("afterId"):  # keyset paging resumes at the first issue with an id above afterId
        rows = rows[bisect.bisect_right(w.sorted_issue_ids(), q["afterId"]) :]
    if q.get("status"):
        wanted = set(q["status"].split(","))
        rows = [i for i in rows if i.status in wanted]
    since = _ts(q.get("updatedSince"))
    if since is not None:
        rows = [i for i in rows if i.updated_at > since]
    if q.get("sortDir") == "desc":
        rows = rows[::-1]
    offset = int(q.get("offset") or 0)
    limit = min(int(q.get("limit") or 1000), 1000)
    page = rows[offset : offset + limit]
    compact = q.get("view") == "compact"
    return 200, [issue_row(w, i, compact, q.get("includeBlockedBy") == "true") for i in page]


@route("POST", "/api/companies/(?P<cid>[^/]+)/issues")
def create_issue(w: World, q, body) -> Response:
    if not isinstance(body, dict) or not body.get("title"):
        return 400, {"error": "title is required"}
    return 201, issue_row(w, w.create_issue(body), compact=False, blocked_by=False)


@route("GET", "/api/issues/(?P<iid>[^/]+)")
def get_issue(w: World, q, body, iid: str) -> Response:
    issue = w.issues.get(iid)
    return (200, issue_row(w, issue, compact=False, blocked_by=True)) if issue else (404, {"error": "Issue not found"})


@route("PATCH", "/api/issues/(?P<iid>[^/]+)")
def patch_issue(w: World, q, body, iid: str) -> Response:
    issue = w.patch_issue(iid, body if isinstance(body, dict) else {})
    return (200, issue_row(w, issue, compact=False, blocked_by=False)) if issue else (404, {"error": "Issue not found"})


@route("GET", "/api/issues/(?P<iid>[^/]+)/comments")
def comments(w: World, q, body, iid: str) -> Response:
    rows = [c for c in w.comments if c.issue_id == iid]
    rows.sort(key=lambda c: c.created_at, reverse=q.get("order") == "desc")
    rows = rows[: int(q.get("limit") or 100)]
    return 200, [
        row(
            "comment",
            id=c.id,
            companyId=w.company_id,
            issueId=c.issue_id,
            authorAgentId=c.agent_id,
            authorUserId=None if c.agent_id else "local-board",
            authorType="agent" if c.agent_id else "user",
            body=c.body,
            createdAt=iso(c.created_at),
            updatedAt=iso(c.created_at),
        )
        for c in rows
    ]


def _usage(r: RunSim) -> dict | None:
    if r.finished_at is None:
        return None
    return {
        "inputTokens": r.input_tokens,
        "cachedInputTokens": 0,
        "outputTokens": r.output_tokens,
        "model": r.model,
        "provider": "anthropic",
        "biller": "anthropic",
        "billingType": "api",
        "costUsd": r.cost_usd,
        "usageSource": "per_run",
    }


@route("GET", "/api/issues/(?P<iid>[^/]+)/runs")
def issue_runs(w: World, q, body, iid: str) -> Response:
    rows = [w.runs[r] for r in w.run_order if w.runs[r].issue_id == iid]
    return 200, [
        row(
            "issue_run",
            runId=r.id,
            status=r.status,
            agentId=r.agent_id,
            adapterType="claude_local",
            startedAt=iso(r.created_at),
            finishedAt=iso(r.finished_at),
            createdAt=iso(r.created_at),
            invocationSource=r.source,
            errorCode=r.error_code,
            usageJson=_usage(r),
            contextIssueId=iid,
        )
        for r in reversed(rows)
    ]


@route("GET", "/api/issues/(?P<iid>[^/]+)/cost-summary")
def cost_summary(w: World, q, body, iid: str) -> Response:
    rows = [w.runs[r] for r in w.run_order if w.runs[r].issue_id == iid]
    return 200, row(
        "cost_summary",
        issueId=iid,
        issueCount=1,
        includeDescendants=True,
        costCents=round(sum(r.cost_usd for r in rows) * 100, 4),
        inputTokens=sum(r.input_tokens for r in rows),
        outputTokens=sum(r.output_tokens for r in rows),
        runCount=len(rows),
    )


@route("GET", "/api/companies/(?P<cid>[^/]+)/labels")
def labels(w: World, q, body) -> Response:
    return 200, list(w.labels.values())


@route("POST", "/api/companies/(?P<cid>[^/]+)/labels")
def create_label(w: World, q, body) -> Response:
    if not isinstance(body, dict) or not body.get("name"):
        return 400, {"error": "name is required"}
    return 201, w.create_label(str(body["name"]), str(body.get("color") or "#888888"))


# -- runs --------------------------------------------------------------------------------------


def run_row(w: World, r: RunSim) -> dict:
    return row(
        "run",
        id=r.id,
        companyId=w.company_id,
        agentId=r.agent_id,
        invocationSource=r.source,
        status=r.status,
        startedAt=iso(r.created_at),
        finishedAt=iso(r.finished_at),
        createdAt=iso(r.created_at),
        updatedAt=iso(r.finished_at or r.created_at),
        errorCode=r.error_code,
        usageJson=_usage(r),
        livenessState=r.liveness,
        exitCode=None if r.finished_at is None else (1 if r.status == "failed" else 0),
        contextSnapshot={"issueId": r.issue_id, "wakeReason": "heartbeat_timer" if r.source == "timer" else "issue_assigned"},
    )


@route("GET", "/api/companies/(?P<cid>[^/]+)/heartbeat-runs")
def heartbeat_runs(w: World, q, body) -> Response:
    ids = w.run_order if not q.get("limit") else w.run_order[-max(1, min(int(q["limit"]), 1000)) :]
    return 200, [run_row(w, w.runs[r]) for r in reversed(ids)]


@route("GET", "/api/companies/(?P<cid>[^/]+)/live-runs")
def live_runs(w: World, q, body) -> Response:
    live = [w.runs[r] for r in w.run_order if w.runs[r].status in ("queued", "running")][: min(int(q.get("limit") or 50), 50)]
    return 200, [
        row(
            "live_run",
            id=r.id,
            runtimeMode="local",
            companyId=w.company_id,
            status=r.status,
            invocationSource=r.source,
            startedAt=iso(r.created_at),
            createdAt=iso(r.created_at),
            agentId=r.agent_id,
            agentName=w.agents[r.agent_id].name,
            adapterType="claude_local",
            issueId=r.issue_id,
            livenessState=r.liveness,
        )
        for r in live
    ]


# -- costs and budgets --------------------------------------------------------------------------


@route("GET", "/api/companies/(?P<cid>[^/]+)/costs/by-agent-model")
def costs_by_agent_model(w: World, q, body) -> Response:
    return 200, [
        row(
            "cost_by_agent_model",
            agentId=aid,
            agentName=w.agents[aid].name,
            provider="anthropic",
            biller="anthropic",
            billingType="api",
            model=model,
            costCents=round(cents, 4),
            inputTokens=tin,
            outputTokens=tout,
        )
        for (aid, model), (cents, tin, tout) in sorted(w.costs.items())
    ]


@route("GET", "/api/companies/(?P<cid>[^/]+)/costs/by-agent")
def costs_by_agent(w: World, q, body) -> Response:
    start = _ts(q.get("from")) or 0.0
    totals: dict[str, float] = {}
    for when, aid, usd in w.cost_events:
        if when >= start:
            totals[aid] = totals.get(aid, 0.0) + usd
    return 200, [
        row("cost_by_agent", agentId=aid, agentName=w.agents[aid].name, agentStatus=w.agents[aid].status, costCents=round(usd * 100, 4))
        for aid, usd in sorted(totals.items())
    ]


@route("GET", "/api/companies/(?P<cid>[^/]+)/costs/window-spend")
def window_spend(w: World, q, body) -> Response:
    out = []
    for window, hours in (("5h", 5), ("24h", 24), ("7d", 168)):
        since = w.now - hours * 3600
        cents = sum(usd for when, _, usd in w.cost_events if when >= since) * 100
        out.append(
            row("window_spend", provider="anthropic", biller="anthropic", window=window, windowHours=hours, costCents=round(cents, 4))
        )
    return 200, out


@route("GET", "/api/companies/(?P<cid>[^/]+)/budgets/overview")
def budgets(w: World, q, body) -> Response:
    policies = []
    for a in w.agents.values():
        amount, observed = int(a.budget_usd * 100), int(a.spent_usd * 100)
        stopped = a.pause_reason == "budget"
        status = "hard_stop" if stopped else ("warning" if observed >= 0.8 * amount else "ok")
        policies.append(
            row(
                "budget_policy",
                policyId=uid(a.id, "policy"),
                companyId=w.company_id,
                scopeType="agent",
                scopeId=a.id,
                scopeName=a.name,
                metric="billed_cents",
                windowKind="calendar_month_utc",
                amount=amount,
                observedAmount=observed,
                remainingAmount=max(0, amount - observed),
                warnPercent=80,
                utilizationPercent=round(100 * observed / amount, 2) if amount else 0,
                hardStopEnabled=True,
                notifyEnabled=True,
                isActive=True,
                status=status,
                paused=stopped,
                pauseReason="budget" if stopped else None,
            )
        )
    return 200, row(
        "budgets_overview",
        companyId=w.company_id,
        policies=policies,
        activeIncidents=list(w.incidents),
        pausedAgentCount=sum(a.status == "paused" for a in w.agents.values()),
        pausedProjectCount=0,
        pendingApprovalCount=sum(ap["status"] == "pending" for ap in w.approvals),
    )


@route("GET", "/api/companies/(?P<cid>[^/]+)/approvals")
def approvals(w: World, q, body) -> Response:
    rows = w.approvals if not q.get("status") else [a for a in w.approvals if a["status"] == q["status"]]
    return 200, list(reversed(rows))
