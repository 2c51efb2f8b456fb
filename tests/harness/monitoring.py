"""Real Prometheus, Alertmanager and a webhook receiver on 127.0.0.1, for the end-to-end tests.

These are the classes of the no-Docker stack (``agentwatch stack``, ``agentwatch.stack.local``),
so the tests exercise that path: the shipped configs are copied and only their addresses (and,
where a test compresses time, intervals and ``for`` durations) are rewritten; the rule
expressions stay the shipped ones.
"""

from __future__ import annotations

from pathlib import Path

from agentwatch.stack import local as localstack

ROOT = Path(__file__).resolve().parents[2]


def Alertmanager(workdir: Path, webhook_url: str, secret_file: Path | None = None) -> localstack.Alertmanager:
    return localstack.Alertmanager(ROOT, workdir, webhook_url, fast=True, secret_file=secret_file)


def IncidentReceiver(workdir: Path, remediation: dict | None = None):
    """The real incident receiver with a random shared secret (``.secret_file``) for Alertmanager."""
    workdir.mkdir(parents=True, exist_ok=True)
    return localstack.incident_receiver(workdir, remediation=remediation)


def Prometheus(
    workdir: Path, targets: list[str], alertmanager: str, rules_for_factor: int = 1, interval: str = "1s"
) -> localstack.Prometheus:
    """The shipped rules with only ``for`` divided by ``rules_for_factor`` (ranges unchanged)."""
    return localstack.Prometheus(ROOT, workdir, targets, alertmanager, time_scale=rules_for_factor, interval=interval, scale_ranges=False)
