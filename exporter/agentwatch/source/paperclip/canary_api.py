"""The platform calls a canary makes: create a marked task, read its answer, clean it up.

Kept apart from the read-only poller so the canary can use its own token with write
permission, and so a failing canary write never touches the poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentwatch.source.base import SourceError
from agentwatch.source.http import HttpClient
from agentwatch.source.paperclip import parse


class CanaryPermissionError(Exception):
    """The canary token cannot write tasks in the companies it targets."""


@dataclass
class TaskState:
    status: str
    answer: str | None  # the newest comment written by the assigned agent
    model: str  # the model reported by the task's runs, "" if none
    spend_usd: float


class CanaryAPI:
    def __init__(self, client: HttpClient, label: str = "agentwatch-canary") -> None:
        self.client = client
        self.label = label
        self._label_ids: dict[str, str | None] = {}

    def label_id(self, company_id: str) -> str | None:
        """The id of the canary label in the company, created on first use; None where labels are unavailable."""
        if company_id in self._label_ids:
            return self._label_ids[company_id]
        label_id = None
        try:
            rows = parse.as_list(self.client.get(f"/api/companies/{company_id}/labels", "/api/companies/{id}/labels").data, "labels")
            label_id = next((parse.text(r.get("id")) for r in rows if isinstance(r, dict) and r.get("name") == self.label), None)
            if label_id is None:
                created = self.client.request(
                    "POST",
                    f"/api/companies/{company_id}/labels",
                    "/api/companies/{id}/labels",
                    body={"name": self.label, "color": "#f59e0b"},
                )
                label_id = parse.text(parse.as_dict(created.data, "label").get("id")) or None
        except SourceError:  # SchemaError among them
            label_id = None  # the title prefix still marks the task
        self._label_ids[company_id] = label_id
        return label_id

    def check_write_access(self, company_ids: list[str]) -> None:
        """Fail unless the token acts as the board with access to every company (agents cannot assign others)."""
        try:
            me = self.client.get("/api/cli-auth/me", "/api/cli-auth/me").data
        except SourceError as exc:
            if exc.status in (401, 403):
                raise CanaryPermissionError(f"the canary token is not accepted for writes ({exc})") from None
            if exc.status == 404:
                return  # older builds have no whoami; the first write will tell
            raise
        if not isinstance(me, dict):
            raise CanaryPermissionError("the canary token's identity could not be read")
        if me.get("isInstanceAdmin") is True or me.get("source") == "local_implicit":
            return
        allowed = set(me.get("companyIds") or [])
        missing = [c for c in company_ids if c not in allowed]
        if missing:
            raise CanaryPermissionError(f"the canary token has no write access to company {missing[0]}")

    def create_task(self, company_id: str, agent_id: str, title: str, description: str) -> tuple[str, str]:
        body: dict[str, object] = {
            "title": title,
            "description": description,
            "status": "todo",
            "priority": "low",
            "assigneeAgentId": agent_id,
        }
        label_id = self.label_id(company_id)
        if label_id:
            body["labelIds"] = [label_id]
        resp = self.client.request("POST", f"/api/companies/{company_id}/issues", "/api/companies/{id}/issues", body=body)
        data = parse.as_dict(resp.data, "create issue")
        return parse.text(data.get("id")), parse.text(data.get("identifier"))

    def task_state(self, issue_id: str, agent_id: str) -> TaskState:
        issue = parse.as_dict(self.client.get(f"/api/issues/{issue_id}", "/api/issues/{id}").data, "issue")
        comments = parse.as_list(
            self.client.get(f"/api/issues/{issue_id}/comments", "/api/issues/{id}/comments", params={"order": "desc", "limit": 20}).data,
            "comments",
        )
        answer = None
        for comment in comments:
            if isinstance(comment, dict) and comment.get("authorAgentId") == agent_id and not comment.get("deletedAt"):
                answer = parse.text(comment.get("body"))
                break
        runs = parse.as_list(self.client.get(f"/api/issues/{issue_id}/runs", "/api/issues/{id}/runs").data, "issue runs")
        model, spend = "", 0.0
        for row in runs:
            usage = row["usageJson"] if isinstance(row, dict) and isinstance(row.get("usageJson"), dict) else {}
            model = model or parse.text(usage.get("model"))
            spend += parse.number(usage.get("costUsd"))
        try:
            summary = parse.as_dict(self.client.get(f"/api/issues/{issue_id}/cost-summary", "/api/issues/{id}/cost-summary").data, "cost")
            spend = max(spend, parse.cents_to_usd(summary.get("costCents")))
        except SourceError:
            pass
        return TaskState(parse.text(issue.get("status")), answer, model, spend)

    def close_task(self, issue_id: str) -> None:
        self.client.request(
            "PATCH",
            f"/api/issues/{issue_id}",
            "/api/issues/{id}",
            body={"status": "cancelled", "comment": "agentwatch canary finished; closed automatically."},
        )
