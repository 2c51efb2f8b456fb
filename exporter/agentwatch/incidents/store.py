"""The incident log on disk: ``incidents.jsonl`` (append-only, one event per line) and one
Markdown postmortem stub per incident under ``postmortems/``; heartbeats (the Watchdog) only as
their last notification per alert and receiver in ``heartbeats.json``, since they are no fault.

Every line is written whole and fsynced before the webhook is answered, so an incident that
Alertmanager was told about is on disk (if the write fails, Alertmanager gets a 5xx and sends
again). On start the log is read back: the de-duplication keys, the open incidents and the
remediation rate survive restarts; a torn last line (a crash mid-write, never acknowledged) is
cut off. Stubs are rewritten atomically; only their recorded block changes, human edits stay.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path

from agentwatch.files import write_atomic
from agentwatch.incidents.events import AlertEvent, iso, parse_time, postmortem, stub_name

log = logging.getLogger("agentwatch.incidents")


class IncidentLog:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "incidents.jsonl"
        self.stubs = self.dir / "postmortems"
        self.heartbeats_path = self.dir / "heartbeats.json"
        self.stubs.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.seen: set[tuple[str, str, str]] = set()
        self.timelines: dict[str, list[dict]] = {}
        self.duplicates = 0
        self.heartbeats: dict[str, dict] = {}  # "<alertname>/<receiver>" -> its last notification
        self._load()
        self._load_heartbeats()

    def _load_heartbeats(self) -> None:
        try:
            loaded = json.loads(self.heartbeats_path.read_text())
        except FileNotFoundError:
            return
        except ValueError:  # written atomically, so only a hand edit breaks it; the next heartbeat rewrites it
            log.warning("heartbeats.json is not JSON; starting afresh")
            return
        if isinstance(loaded, dict):
            self.heartbeats = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    def _load(self) -> None:
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            keep = raw.rfind(b"\n") + 1
            log.warning("incident log: dropping a torn last line (never acknowledged)", extra={"bytes": len(raw) - keep})
            with open(self.path, "r+b") as f:
                f.truncate(keep)
            raw = raw[:keep]
        for line in raw.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "incident" in record:
                self._remember(record)

    def _remember(self, record: dict) -> None:
        if record["event"] in ("firing", "resolved"):
            self.seen.add((record["incident"], record["event"], record.get("receiver", "")))
        self.timelines.setdefault(record["incident"], []).append(record)

    def _append(self, record: dict) -> None:
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._remember(record)

    def _write_stub(self, incident: str) -> None:
        timeline = self.timelines[incident]
        first = next((r for r in timeline if r["event"] in ("firing", "resolved")), timeline[0])
        path = self.stubs / stub_name(first)
        existing = path.read_text() if path.exists() else None
        write_atomic(path, postmortem(existing, first, timeline))

    def stub_path(self, incident: str) -> Path:
        timeline = self.timelines[incident]
        return self.stubs / stub_name(next((r for r in timeline if r["event"] in ("firing", "resolved")), timeline[0]))

    def record_alerts(self, events: list[AlertEvent], now: datetime) -> list[AlertEvent]:
        """Appends the events not seen before; returns them (the repeats are only counted).
        Heartbeats only refresh ``heartbeats.json``: every repeat is news there, none is an incident."""
        fresh = []
        with self.lock:
            beats = [event for event in events if event.is_heartbeat]
            if beats:
                self.heartbeats.update({f"{e.alertname}/{e.receiver}": e.record(now) for e in beats})
                write_atomic(self.heartbeats_path, json.dumps(self.heartbeats, sort_keys=True, indent=1) + "\n")
            for event in events:
                if event.is_heartbeat:
                    continue
                if event.key in self.seen:
                    self.duplicates += 1
                    continue
                self._append(event.record(now))
                self._write_stub(event.incident)
                fresh.append(event)
        return fresh

    def record_action(self, incident: str, now: datetime, action: str, result: str, dry_run: bool, **details: str) -> None:
        with self.lock:
            record = {
                "event": "remediation",
                "incident": incident,
                "received_at": iso(now),
                "action": action,
                "result": result,
                "dry_run": dry_run,
                **details,
            }
            self._append(record)
            if any(r["event"] != "remediation" for r in self.timelines.get(incident, [])):
                self._write_stub(incident)

    def last_action(self, incident: str) -> dict | None:
        with self.lock:
            actions = [r for r in self.timelines.get(incident, []) if r["event"] == "remediation" and r["action"] == "pause_agent"]
        return actions[-1] if actions else None

    def actions_since(self, since: datetime, dry_run: bool) -> int:
        """Pauses made (or, in dry-run mode, that would have been made) since ``since``; the rate
        limit's count, which survives restarts because it is read from the log."""
        with self.lock:
            return sum(
                1
                for timeline in self.timelines.values()
                for r in timeline
                if r["event"] == "remediation"
                and r["action"] == "pause_agent"
                and r["result"] == "done"
                and bool(r.get("dry_run")) == dry_run
                and (parse_time(r.get("received_at")) or since) > since
            )

    def records(self) -> list[dict]:
        with self.lock:
            return [r for timeline in self.timelines.values() for r in timeline]

    def last_heartbeats(self) -> list[dict]:
        """The last notification of each heartbeat alert per receiver, shaped as ``records()``."""
        with self.lock:
            return list(self.heartbeats.values())
