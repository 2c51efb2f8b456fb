"""The landing page at ``/``: what a person opening agentwatch's port wants to know first.

Where neither Grafana nor a Prometheus UI runs (Debian's Prometheus serves only its classic UI,
its Alertmanager none), this page is the UI: each source with its health, its last good poll and
the age of the data served, the alerts firing (read from Prometheus's ``/api/v1/alerts`` when
``ui.prometheus_url`` is set), and links to the runbooks and the other services. The page never
fails for want of Prometheus: it says that Prometheus could not be reached or read. Every value on it is
escaped, since source names, labels and annotations come from configs and platforms.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import requests

from agentwatch import __version__
from agentwatch.config import UiConfig
from agentwatch.poller import Poller
from agentwatch.webpage import html_page

PROMETHEUS_TIMEOUT = 2.0  # seconds: the page waits at most this long for the alerts
# labels every alert has, or that say nothing about what is wrong: left out of the alerts table
_ROUTINE_LABELS = frozenset({"alertname", "severity", "instance", "job"})
_SAFE_SCHEMES = ("http", "https", "")  # what a link on the page may point at ("": relative): never javascript: or data:


@dataclass(frozen=True)
class SourceStatus:
    """One source as the landing page and ``/-/ready`` see it."""

    name: str
    kind: str  # the source's type: paperclip, otel
    up: bool
    polls: int
    last_success: float | None  # unix seconds of the last good poll; None before the first
    snapshot_age: float | None  # seconds since the data served was read
    last_error: str | None  # the kind of the failure while the source is down

    @property
    def health(self) -> str:
        return "up" if self.up else ("down" if self.polls else "pending")


def source_statuses(pollers: Sequence[Poller]) -> list[SourceStatus]:
    """Each poller's source now (on the poller's own clock)."""
    return [_status(p) for p in pollers]


def _status(poller: Poller) -> SourceStatus:
    state, now = poller.read(), poller.clock()
    return SourceStatus(
        name=state.name,
        kind=poller.config.type,
        up=state.up,
        polls=state.polls,
        last_success=state.last_success,
        snapshot_age=None if state.snapshot_taken_at is None else max(0.0, now - state.snapshot_taken_at),
        last_error=state.last_error_kind,
    )


def not_ready(statuses: Sequence[SourceStatus]) -> list[str]:
    """The sources with no good poll yet: agentwatch is ready when there are none."""
    return [s.name for s in statuses if s.last_success is None]


@dataclass(frozen=True)
class FiringAlert:
    name: str
    severity: str
    labels: tuple[tuple[str, str], ...]  # the labels that say what fires, sorted
    summary: str
    runbook_url: str
    active_at: str


@dataclass(frozen=True)
class Alerts:
    """What Prometheus said: the firing alerts, or why they could not be read."""

    firing: tuple[FiringAlert, ...] = ()
    error: str | None = None  # what went wrong, after "Prometheus": "could not be reached (ConnectTimeout)"


def firing_alerts(prometheus_url: str, timeout: float = PROMETHEUS_TIMEOUT) -> Alerts:
    """The alerts firing now, from ``GET <prometheus_url>/api/v1/alerts``. Any failure becomes
    ``Alerts.error``, named by its kind only (an exception's text may carry the URL and its
    credentials)."""
    try:
        answer = requests.get(f"{prometheus_url.rstrip('/')}/api/v1/alerts", timeout=timeout)
        answer.raise_for_status()
    except requests.HTTPError as exc:
        return Alerts(error=f"answered HTTP {exc.response.status_code if exc.response is not None else '?'}")
    except requests.RequestException as exc:
        return Alerts(error=f"could not be reached ({type(exc).__name__})")
    try:
        return Alerts(firing=_parse_alerts(answer.json()))
    except (ValueError, TypeError, KeyError, AttributeError):  # not JSON, or not the shape of /api/v1/alerts
        return Alerts(error="answered something other than its alerts")


def _parse_alerts(body: Any) -> tuple[FiringAlert, ...]:
    """The firing alerts of an ``/api/v1/alerts`` body, critical first; a body of another shape
    raises KeyError, TypeError or AttributeError."""
    rows = []
    for alert in body["data"]["alerts"]:
        if alert.get("state") != "firing":
            continue
        labels, annotations = dict(alert.get("labels") or {}), dict(alert.get("annotations") or {})
        rows.append(
            FiringAlert(
                name=str(labels.get("alertname", "")),
                severity=str(labels.get("severity", "")),
                labels=tuple(sorted((str(k), str(v)) for k, v in labels.items() if k not in _ROUTINE_LABELS)),
                summary=str(annotations.get("summary", "")),
                runbook_url=str(annotations.get("runbook_url", "")),
                active_at=str(alert.get("activeAt", "")),
            )
        )
    return tuple(sorted(rows, key=lambda a: (a.severity != "critical", a.name, a.labels)))


def render(statuses: Sequence[SourceStatus], ui: UiConfig, alerts: Alerts | None = None) -> bytes:
    """The whole page. ``alerts``: what Prometheus said, None when no Prometheus is configured."""
    waiting = not_ready(statuses)
    readiness = (
        '<p class="up">Ready: every source has had a good poll.</p>'
        if not waiting
        else f'<p class="pending">Not ready: waiting for the first good poll of {_e(", ".join(waiting))}.</p>'
    )
    sections = [f"<h1>agentwatch {_e(__version__)}</h1><p>Prometheus exporter for AI-agent fleets.</p>", readiness]
    sections.append(_sources_table(statuses))
    if alerts is not None:
        sections.append(_alerts_section(alerts))
    sections.append(_links(ui.links))
    return html_page("agentwatch", "".join(sections))


def _sources_table(statuses: Sequence[SourceStatus]) -> str:
    rows = "".join(
        f'<tr><td>{_e(s.name)}</td><td>{_e(s.kind)}</td><td class="{s.health}">{s.health}</td>'
        f"<td>{_when(s.last_success)}</td><td>{_seconds(s.snapshot_age)}</td><td>{_e(s.last_error or '')}</td></tr>"
        for s in statuses
    )
    head = "<tr><th>Source</th><th>Kind</th><th>Health</th><th>Last good poll</th><th>Snapshot age</th><th>Last error</th></tr>"
    return f"<h2>Sources</h2><table>{head}{rows}</table>" if statuses else "<h2>Sources</h2><p>No sources.</p>"


def _alerts_section(alerts: Alerts) -> str:
    if alerts.error is not None:
        return f'<h2>Firing alerts</h2><p class="error">Unknown: Prometheus {_e(alerts.error)}.</p>'
    if not alerts.firing:
        return "<h2>Firing alerts</h2><p>None firing.</p>"
    head = "<tr><th>Alert</th><th>Severity</th><th>Labels</th><th>Summary</th><th>Active since</th><th>Runbook</th></tr>"
    rows = "".join(
        f"<tr><td>{_e(a.name)}</td><td>{_e(a.severity)}</td><td>{_e(', '.join(f'{k}={v}' for k, v in a.labels))}</td>"
        f"<td>{_e(a.summary)}</td><td>{_e(a.active_at)}</td><td>{_link('runbook', a.runbook_url)}</td></tr>"
        for a in alerts.firing
    )
    return f"<h2>Firing alerts</h2><table>{head}{rows}</table>"


def _links(extra: Mapping[str, str]) -> str:
    own = {"metrics": "metrics", "readiness": "-/ready", "liveness": "-/healthy", "runbooks": "runbooks/"}
    items = "".join(f"<li>{_link(name, url)}</li>" for name, url in {**own, **extra}.items())
    return f"<h2>Links</h2><ul>{items}</ul>"


def _link(text: str, url: str) -> str:
    """A link to ``url``, or ``url`` as text when it is not one a page should follow."""
    try:
        followable = bool(url) and urlsplit(url).scheme.lower() in _SAFE_SCHEMES
    except ValueError:  # not a URL at all ("http://[")
        followable = False
    return f'<a href="{_e(url)}">{_e(text)}</a>' if followable else _e(url)


def _when(ts: float | None) -> str:
    return "never" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _seconds(age: float | None) -> str:
    return "" if age is None else f"{age:.0f} s"


def _e(value: str) -> str:
    return html.escape(value, quote=True)
