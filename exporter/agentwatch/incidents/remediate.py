"""Opt-in auto-remediation: pause the agent behind a costly page and say why on its tasks.

Off by default. Acts only on firing alerts named in ``remediation.alerts`` (at most
AgentBudgetBurnSpike and AgentReasoningLoop) for agents in ``remediation.agents``, once per
incident, at most ``max_actions_per_hour`` pauses an hour, and never on a resolved alert or a
stale one (its ``endsAt`` has passed: Prometheus stopped re-sending it). With ``dry_run`` it
records what it would do and does nothing. Every decision, skip and action goes to the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from agentwatch.incidents.events import AlertEvent
from agentwatch.incidents.settings import RemediationSettings
from agentwatch.incidents.store import IncidentLog
from agentwatch.source import SourceError
from agentwatch.source.http import HttpClient
from agentwatch.source.paperclip.remediation_api import RemediationAPI

log = logging.getLogger("agentwatch.incidents")


@dataclass(frozen=True)
class Decision:
    act: bool
    reason: str


def decide(event: AlertEvent, policy: RemediationSettings, now: datetime, already_done: bool, actions_last_hour: int) -> Decision:
    """Pure: whether to pause the agent of ``event``, and why (or why not)."""
    if event.status != "firing":
        return Decision(False, "resolved: never acted on")
    if event.alertname not in policy.alerts:
        return Decision(False, f"{event.alertname} is not in remediation.alerts")
    agent = event.labels.get("agent", "")
    if not agent or not ({agent, event.labels.get("agent_id", "")} & set(policy.agents)):
        return Decision(False, f"agent {agent!r} is not in remediation.agents")
    if event.ends_at is not None and event.ends_at < now:
        return Decision(False, "stale: its endsAt has passed, Prometheus no longer sends it")
    if already_done:
        return Decision(False, "already remediated for this incident")
    if actions_last_hour >= policy.max_actions_per_hour:
        return Decision(False, f"rate limit: {actions_last_hour} pauses in the last hour (max_actions_per_hour)")
    return Decision(True, "allowlisted alert and agent, firing and fresh")


def comment_text(agent: str, event: AlertEvent) -> str:
    summary = event.annotations.get("summary") or event.alertname
    return (
        f"agentwatch paused {agent} automatically: **{event.alertname}**, {summary}. "
        f"Runbook: {event.annotations.get('runbook_url') or 'see the agentwatch runbooks'}. "
        f"Incident `{event.incident}`. Resume the agent once the cause is understood."
    )


def platform_api(policy: RemediationSettings) -> RemediationAPI | None:
    """The client the remediator pauses and comments through, with its own URL and token; None when off."""
    if not policy.enabled or policy.paperclip_url is None:
        return None
    token = policy.token.get_secret_value() if policy.token else None
    return RemediationAPI(HttpClient(policy.paperclip_url, token=token, timeout=policy.timeout))


class Remediator:
    def __init__(self, policy: RemediationSettings, store: IncidentLog, api: RemediationAPI | None) -> None:
        self.policy = policy
        self.store = store
        self.api = api

    def handle(self, events: list[AlertEvent], fresh: list[AlertEvent], now: datetime) -> None:
        """``events``: every alert of a notification; ``fresh``: those not seen before. A repeat is
        only looked at again when the last attempt on its incident failed (the platform was down)."""
        if not self.policy.enabled:
            return
        fresh_keys = {e.key for e in fresh}
        for event in events:
            if event.alertname not in self.policy.alerts:
                continue
            last = self.store.last_action(event.incident)
            if event.key not in fresh_keys and not (last and last["result"].startswith("failed")):
                continue
            done = bool(last and last["result"] == "done")
            decision = decide(event, self.policy, now, done, self.store.actions_since(now - timedelta(hours=1), self.policy.dry_run))
            if not decision.act:
                if event.status == "firing":
                    self._audit(event, now, f"skipped: {decision.reason}")
                continue
            self._pause(event, now)

    def _pause(self, event: AlertEvent, now: datetime) -> None:
        assert self.api is not None
        company, name = event.labels.get("company", ""), event.labels.get("agent", "")
        try:
            agent = self.api.find_agent(company, name)
            if agent is None:
                self._audit(event, now, f"failed: no agent {name!r} in company {company!r}")
                return
            if agent.status == "paused":
                self._audit(event, now, "skipped: already paused", agent_id=agent.id)
                return
            if self.policy.dry_run:
                self._audit(event, now, "done", agent_id=agent.id)
                return
            self.api.pause(agent.id)
            self._audit(event, now, "done", agent_id=agent.id)
            for task_id, identifier in self.api.tasks_in_progress(agent.company_id, agent.id):
                self.api.comment(task_id, comment_text(agent.name, event))
                self.store.record_action(event.incident, now, "comment", "done", False, task=identifier or task_id, agent_id=agent.id)
        except SourceError as exc:
            self._audit(event, now, f"failed: {exc.kind} on {exc.endpoint}")

    def _audit(self, event: AlertEvent, now: datetime, result: str, **details: str) -> None:
        self.store.record_action(
            event.incident,
            now,
            "pause_agent",
            result,
            self.policy.dry_run,
            alertname=event.alertname,
            agent=event.labels.get("agent", ""),
            **details,
        )
        level = logging.WARNING if result == "done" and not self.policy.dry_run else logging.INFO
        log.log(
            level,
            "remediation",
            extra={"alertname": event.alertname, "agent": event.labels.get("agent", ""), "result": result, "dry_run": self.policy.dry_run},
        )
