"""The few Paperclip writes the remediator makes: find an agent, pause it, comment on its tasks.

Uses its own token (``incidents.remediation.token_file``), never the exporter's or the canary's.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentwatch.source.http import HttpClient
from agentwatch.source.paperclip import parse


@dataclass(frozen=True)
class AgentRef:
    id: str
    company_id: str
    name: str
    status: str


class RemediationAPI:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def find_agent(self, company: str, agent: str) -> AgentRef | None:
        """The agent named (or with the id) ``agent`` in the company named (or with the id) ``company``."""
        companies = parse.as_list(self.client.get("/api/companies", "/api/companies").data, "companies")
        for c in companies:
            if not isinstance(c, dict) or company not in (c.get("name"), c.get("id")):
                continue
            cid = parse.text(c.get("id"))
            rows = parse.as_list(self.client.get(f"/api/companies/{cid}/agents", "/api/companies/{id}/agents").data, "agents")
            for row in rows:
                if isinstance(row, dict) and agent in (row.get("name"), row.get("id")):
                    return AgentRef(parse.text(row.get("id")), cid, parse.text(row.get("name")), parse.text(row.get("status")))
        return None

    def pause(self, agent_id: str) -> None:
        self.client.request("POST", f"/api/agents/{agent_id}/pause", "/api/agents/{id}/pause", body={})

    def tasks_in_progress(self, company_id: str, agent_id: str, limit: int = 5) -> list[tuple[str, str]]:
        """(id, identifier) of the agent's in-progress tasks, at most ``limit``."""
        rows = parse.as_list(
            self.client.get(
                f"/api/companies/{company_id}/issues",
                "/api/companies/{id}/issues",
                params={"assigneeAgentId": agent_id, "status": "in_progress", "limit": limit},
            ).data,
            "issues",
        )
        return [(parse.text(r.get("id")), parse.text(r.get("identifier"))) for r in rows if isinstance(r, dict)][:limit]

    def comment(self, issue_id: str, body: str) -> None:
        self.client.request("POST", f"/api/issues/{issue_id}/comments", "/api/issues/{id}/comments", body={"body": body})
