"""``agentwatch tune``: propose alert thresholds from Prometheus history (docs/tune.md).

    agentwatch tune --prometheus.url URL --window 14d [--window.end TIME] [--config.file PATH] [--write]

Reads each tuned threshold's signal over the window (``observe``), proposes a value per scope
from the observed distribution with the brief's numbers as floors (``propose``), replays the
window against the current and the proposed values to count the pages each would have raised
(``dryrun``), and prints a table and the unified diff of the config file (``apply``). Only
``--write`` changes the file, atomically and after the same validation as ``check-config``.

Exit codes: 0 done; 2 a bad flag value or an invalid configuration (nothing written);
1 Prometheus unreachable or a query failed.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from agentwatch import config
from agentwatch.config import Thresholds, ThresholdsConfig
from agentwatch.history.client import HistoryError, PrometheusHistory
from agentwatch.tune import apply, dryrun, observe, propose

EXIT_OK, EXIT_PROMETHEUS, EXIT_CONFIG = 0, 1, 2
MIN_WINDOW = 3600.0
TUNED = tuple(dict.fromkeys(s.threshold for s in observe.SPECS))
NOT_TUNED = tuple(name for name in Thresholds.model_fields if name not in TUNED)


class FlagError(ValueError):
    """A flag value is invalid; the message names the key and the value."""


def parse_window(value: str) -> float:
    try:
        seconds = config.parse_duration(value)
    except ValueError as exc:
        raise FlagError(f"window={value!r}: {exc}") from None
    if seconds < MIN_WINDOW:
        raise FlagError(f"window={value!r}: must be at least 1h")
    return seconds


def parse_time(value: str | None, now: float | None = None) -> float:
    """``--window.end``: RFC 3339 with a time zone, unix seconds, or None for now."""
    if value is None:
        return time.time() if now is None else now
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise FlagError(f"window.end={value!r}: expected RFC 3339 with a time zone (2025-06-15T00:00:00Z) or unix seconds")
    return parsed.timestamp()


def parse_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value or ""):
        raise FlagError(f"prometheus.url={value!r}: expected an http:// or https:// URL")
    return value.rstrip("/")


@dataclass(frozen=True)
class Row:
    threshold: str
    scope: str  # "default" or "role:<name>"
    current: float
    proposed: float | None
    pages_current: int
    pages_proposed: int
    why: str


def value_at(cfg: ThresholdsConfig, scope: str | None, threshold: str) -> float:
    """The value a scope gives its agents: a role's own override, else the default."""
    if scope is not None and threshold in cfg.roles.get(scope, {}):
        return float(Thresholds(**cfg.roles[scope]).model_dump()[threshold])
    return float(getattr(cfg.defaults, threshold))


def with_changes(cfg: ThresholdsConfig, changes: apply.Changes) -> ThresholdsConfig:
    defaults = cfg.defaults.model_dump()
    roles = {r: dict(o) for r, o in cfg.roles.items()}
    for (scope, threshold), value in changes.items():
        if scope is None:
            defaults[threshold] = value
        else:
            roles.setdefault(scope, {})[threshold] = value
    return ThresholdsConfig(defaults=Thresholds(**defaults), roles=roles, agents=cfg.agents)


def tune_threshold(obs: observe.Observation, current: ThresholdsConfig, for_seconds: float, step: float) -> tuple[list[Row], apply.Changes]:
    """The rows and the config changes for one threshold."""
    spec = obs.spec
    name = spec.threshold
    roles: dict[str, propose.ScopeData] = {}
    for s in obs.observed:
        values = [v for v in s.values if math.isfinite(v)]
        if values:
            data = roles.setdefault(s.labels.get("role", ""), propose.ScopeData())
            data.values.extend(values)
            data.agents += 1
    overridden = {r for r, o in current.roles.items() if name in o}
    extra = {r: {"completed p99/mean": v} for r, v in obs.tail.items()} if obs.tail else None
    proposals = propose.by_scope(name, spec.direction, roles, spec.what, overridden, extra)
    changes: apply.Changes = {}
    for scope, p in proposals.items():
        explicit = name in current.roles.get(scope, {}) if scope is not None else True
        if p.value is not None and (not explicit or abs(value_at(current, scope, name) - p.value) > 1e-9):
            changes[(scope, name)] = p.value
    proposed = with_changes(current, changes)
    pages: dict[str | None, list[int]] = {scope: [0, 0] for scope in proposals}
    kept: dict[str | None, int] = {scope: 0 for scope in proposals}
    for s in obs.signal:
        agent, role = s.labels.get("agent", ""), s.labels.get("role", "")
        scope = role if role in proposals else None
        for i, cfg in enumerate((current, proposed)):
            threshold = getattr(cfg.resolve(agent_name=agent, role=role), name)
            pages[scope][i] += dryrun.episodes(s.samples, threshold, for_seconds, step, spec.direction)
        if name in current.agents.get(agent, {}):
            kept[scope] += 1
    rows = []
    for scope, p in proposals.items():
        why = p.reason + (f"; {kept[scope]} agent override(s) kept" if kept[scope] else "")
        pages_current, pages_proposed = pages[scope]
        label = "default" if scope is None else f"role:{scope}"
        rows.append(Row(name, label, value_at(current, scope, name), p.value, pages_current, pages_proposed, why))
    return rows, changes


def table(rows: list[Row]) -> str:
    head = ("threshold", "scope", "current", "proposed", "pages now", "pages proposed", "why")
    cells = [head] + [
        (
            r.threshold,
            r.scope,
            propose.fmt(r.current),
            "—" if r.proposed is None else propose.fmt(r.proposed),
            str(r.pages_current),
            str(r.pages_proposed),
            r.why,
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head) - 1)]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(head) - 1)) + "  " + c[-1] for c in cells)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(args: argparse.Namespace) -> int:
    try:
        window = parse_window(args.window)
        end = parse_time(args.window_end)
        url = parse_url(args.prometheus_url)
    except FlagError as exc:
        print(f"agentwatch: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.write and not args.config_file:
        print("agentwatch: write=True: --write needs --config.file, the file to change", file=sys.stderr)
        return EXIT_CONFIG
    try:
        text, current = apply.read(args.config_file)
    except config.ConfigError as exc:
        print(f"agentwatch: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    fors, fors_from = observe.for_durations(getattr(args, "rules_file", None))
    step = observe.step_for(window)
    try:
        observations = observe.observe(PrometheusHistory(url), end - window, end, step)
    except HistoryError as exc:
        print(f"agentwatch: {exc}", file=sys.stderr)
        return EXIT_PROMETHEUS
    rows: list[Row] = []
    changes: apply.Changes = {}
    for obs in observations:
        r, c = tune_threshold(obs, current, fors[obs.spec.alert], step)
        rows += r
        changes.update(c)
    out = sys.stdout
    out.write(
        f"agentwatch tune: {_iso(end - window)} to {_iso(end)} from {url}, one evaluation every {propose.fmt(step / 60)}m; "
        f"`for` from {fors_from}\n\n"
    )
    out.write(table(rows) + "\n\n")
    out.write(
        "pages: firing episodes (the condition held at least the alert's `for`) per agent, summed over the agents "
        "the scope covers, with the current and with the proposed values.\n"
    )
    out.write(f"not tuned (counts, durations and policy rather than variance): {', '.join(NOT_TUNED)}\n\n")
    try:
        new_text = apply.edit(text, changes)
    except config.ConfigError as exc:
        print(f"agentwatch: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return _offer(args, text, new_text, bool(changes))


def _offer(args: argparse.Namespace, text: str, new_text: str, changed: bool) -> int:
    """Print the proposal as a snippet (no config file) or a diff of the file, and write it with ``--write``."""
    out = sys.stdout
    if args.config_file is None:
        if changed:
            out.write("proposal as a `thresholds:` snippet for the agentwatch config (no --config.file given):\n\n" + new_text)
        else:
            out.write("no change: the defaults already hold the proposal\n")
        return EXIT_OK
    if new_text == text:
        out.write(f"no change: {args.config_file} already holds the proposal\n")
        return EXIT_OK
    out.write(f"proposed change to {args.config_file} (only `thresholds:` values, comments and every other key kept):\n\n")
    out.write(apply.diff(text, new_text, args.config_file))
    if not args.write:
        out.write("\nnothing written: run again with --write to apply\n")
        return EXIT_OK
    try:
        apply.write(args.config_file, new_text)
    except (config.ConfigError, OSError) as exc:
        why = f"config.file={args.config_file!r}: {exc.strerror}" if isinstance(exc, OSError) else f"invalid configuration: {exc}"
        print(f"agentwatch: {why} ({args.config_file} left untouched)", file=sys.stderr)
        return EXIT_CONFIG
    out.write(
        f"\nwrote {args.config_file} (checked as check-config does); restart agentwatch to serve the new thresholds: "
        "it reads its config only at start, and the rules pick the new values up from its next scrape\n"
    )
    return EXIT_OK
