"""Pure functions: Alertmanager webhook payloads to incident events, and postmortem stubs.

An incident is one firing episode of one alert: Alertmanager's ``fingerprint`` (its labels) plus
its ``startsAt``. Alertmanager repeats a notification every ``repeat_interval`` and on every
group change; the same (incident, status, receiver) is one event, whatever the number of repeats.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert with no end yet
HEARTBEAT_ALERTS = ("Watchdog",)  # the dead man's switch: always firing, never a fault
NO_FAULT_SEVERITY = "none"


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))  # Go writes nanoseconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass(frozen=True)
class AlertEvent:
    """One alert of one notification, as the incident log records it."""

    incident: str
    status: str  # firing | resolved
    receiver: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def is_heartbeat(self) -> bool:
        """The Watchdog, or any alert of severity none: proof that the pipeline is alive, not a fault,
        so it is kept as the last heartbeat and never opens an incident or a postmortem stub."""
        return self.alertname in HEARTBEAT_ALERTS or self.labels.get("severity") == NO_FAULT_SEVERITY

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes a notification new: Alertmanager repeats per receiver (``continue: true``
        routes send one alert to several)."""
        return self.incident, self.status, self.receiver

    def record(self, received_at: datetime) -> dict:
        duration = (
            round((self.ends_at - self.starts_at).total_seconds(), 3)
            if self.status == "resolved" and self.ends_at and self.starts_at
            else None
        )
        return {
            "event": self.status,
            "incident": self.incident,
            "alertname": self.alertname,
            "receiver": self.receiver,
            "received_at": iso(received_at),
            "start": iso(self.starts_at),
            "end": iso(self.ends_at) if self.status == "resolved" else None,
            "duration_seconds": duration,
            "labels": self.labels,
            "annotations": self.annotations,
            "runbook_url": self.annotations.get("runbook_url", ""),
            "values": {k: v for k, v in self.annotations.items() if k in ("summary", "description")},
            "generator_url": self.generator_url,
        }


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def incident_id(labels: dict[str, str], fingerprint: str, starts_at: datetime | None) -> str:
    if not fingerprint:  # older Alertmanagers: the same hash of the labels
        fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    return f"{fingerprint}-{int(starts_at.timestamp()) if starts_at else 0}"


def events_from(payload: object, receiver: str) -> list[AlertEvent]:
    """Every alert of a webhook payload (version 4) as an event; malformed alerts are skipped."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise ValueError("not an Alertmanager webhook payload: no alerts list")
    out = []
    for alert in payload["alerts"]:
        if not isinstance(alert, dict) or alert.get("status") not in ("firing", "resolved"):
            continue
        labels = _strings(alert.get("labels"))
        starts = parse_time(alert.get("startsAt"))
        out.append(
            AlertEvent(
                incident=incident_id(labels, str(alert.get("fingerprint") or ""), starts),
                status=alert["status"],
                receiver=receiver,
                labels=labels,
                annotations=_strings(alert.get("annotations")),
                starts_at=starts,
                ends_at=parse_time(alert.get("endsAt")),
                generator_url=str(alert.get("generatorURL") or ""),
            )
        )
    return out


def stub_name(first: dict) -> str:
    """postmortems/<start date>-<alertname>-<agent or company>-<incident>.md, filesystem-safe."""
    labels = first.get("labels", {})
    who = labels.get("agent") or labels.get("company") or labels.get("source") or "fleet"
    day = (first.get("start") or first.get("received_at") or "")[:10] or "undated"
    raw = f"{day}-{first.get('alertname', 'alert')}-{who}-{first['incident'][:8]}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)[:160] + ".md"


BEGIN, END = "<!-- agentwatch:recorded:begin -->", "<!-- agentwatch:recorded:end -->"


def _recorded(first: dict, timeline: list[dict]) -> str:
    labels = first.get("labels", {})
    resolved = next((e for e in timeline if e["event"] == "resolved"), None)
    duration = resolved.get("duration_seconds") if resolved else None
    lines = [
        BEGIN,
        f"- **Incident:** `{first['incident']}`",
        f"- **Started:** {first.get('start') or 'unknown'}",
        f"- **Ended:** {resolved['end'] if resolved else 'still firing'}",
        f"- **Duration:** {f'{duration / 60:.0f} min' if duration is not None else 'open'}",
        f"- **Severity / failure class:** {labels.get('severity', '?')} / {labels.get('failure_class', '?')}",
        f"- **Labels:** {', '.join(f'`{k}={v}`' for k, v in sorted(labels.items()))}",
        f"- **Runbook:** {first.get('runbook_url') or 'none'}",
        f"- **Values:** {first.get('values', {}).get('description') or first.get('values', {}).get('summary') or 'n/a'}",
        "",
        "**Timeline (recorded by agentwatch):**",
        "",
    ]
    for e in timeline:
        if e["event"] == "remediation":
            lines.append(f"- {e['received_at']} remediation `{e['action']}`{' (dry run)' if e.get('dry_run') else ''}: {e['result']}")
        else:
            lines.append(f"- {e['received_at']} {e['event']} (receiver `{e['receiver']}`)")
    lines.append(END)
    return "\n".join(lines)


TEMPLATE = """# {alertname}: {summary}

{recorded}

## What happened

_What was seen, by whom, and when._

## Impact

_Spend, delayed tasks, users affected._

## Root cause

_Why the agent (or the platform) behaved this way._

## Follow-ups

- [ ] _action, owner, due date_

## Threshold change

_None, or the change and why (see `agentwatch tune`)._
"""


def postmortem(existing: str | None, first: dict, timeline: list[dict]) -> str:
    """The stub for a new incident, or ``existing`` with only its recorded block brought up to date."""
    recorded = _recorded(first, timeline)
    if existing and BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        return head + recorded + rest.split(END, 1)[1]
    summary = first.get("values", {}).get("summary") or first.get("alertname", "")
    return TEMPLATE.format(alertname=first.get("alertname", "alert"), summary=summary, recorded=recorded)
