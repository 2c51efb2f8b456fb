"""The Paperclip calls the matrix's recipes need beyond ``harness.paperclip``: agents with any
adapter, timer, run timeout, budget and wake policy in one call, adapter switches, deletes and
the reads used to observe a fault (an agent's runs, an issue's recovery)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from harness.paperclip import PaperclipAPI

MODEL = "claude-sonnet-4-5"


def adapter_config(api: PaperclipAPI, root: Path, adapter: str, env: dict[str, str], timeout: int) -> dict:
    """``process`` runs tests/harness/fake-agent.sh; ``claude`` is Paperclip's real claude_local
    adapter driving tests/harness/fake-claude. ``timeout`` is the adapter's timeoutSec (0: none)."""
    if adapter == "process":
        return {"command": "/bin/bash", "args": [str(root / "bin" / "fake-agent.sh")], "env": dict(env), "timeoutSec": timeout}
    if adapter == "claude":
        config = api.claude_adapter_config(MODEL, env, root)
        config["timeoutSec"] = timeout
        return config
    raise ValueError(f"unknown adapter {adapter!r}")


def create_agent(
    api: PaperclipAPI,
    company_id: str,
    name: str,
    role: str,
    root: Path,
    adapter: str = "process",
    env: dict[str, str] | None = None,
    interval: int = 0,
    timeout: int = 60,
    budget_cents: int = 0,
    wake_on_demand: bool = True,
) -> str:
    body = {
        "name": name,
        "role": role,
        "adapterType": "process" if adapter == "process" else "claude_local",
        "adapterConfig": adapter_config(api, root, adapter, env or {}, timeout),
        "runtimeConfig": {"heartbeat": {"enabled": interval > 0, "intervalSec": interval, "wakeOnDemand": wake_on_demand}},
        "budgetMonthlyCents": budget_cents,
    }
    return api.post(f"/api/companies/{company_id}/agents", body)["id"]


def set_adapter(api: PaperclipAPI, agent_id: str, root: Path, adapter: str, env: dict[str, str], timeout: int) -> None:
    api.patch(f"/api/agents/{agent_id}", {"adapterConfig": adapter_config(api, root, adapter, env, timeout)})


def delete_issue(api: PaperclipAPI, issue_id: str) -> Any:
    return api._call("DELETE", f"/api/issues/{issue_id}")


def agent_runs(api: PaperclipAPI, company_id: str, agent_id: str, limit: int = 50) -> list[dict]:
    """The agent's runs, newest first."""
    return api.get(f"/api/companies/{company_id}/heartbeat-runs", agentId=agent_id, limit=limit)


def ts(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_line(run: dict) -> str:
    issue = (run.get("contextSnapshot") or {}).get("issueId")
    usage = run.get("usageJson") or {}
    extra = f" in={usage.get('inputTokens')}" if usage.get("inputTokens") else ""
    return (
        f"{run.get('invocationSource')}/{run.get('status')} started={run.get('startedAt')} finished={run.get('finishedAt')}"
        f"{' issue' if issue else ''}{extra}"
    )
