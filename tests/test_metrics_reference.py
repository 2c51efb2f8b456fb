"""docs/metrics.md and the real exposition stay in sync, both ways."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agentwatch.canary.runner import CanaryRunner
from agentwatch.canary.suite import Suite
from agentwatch.cli import build_registry
from replay import ReplayServer
from test_canary_unit import ScriptedAPI
from test_faults import Clock, make_exporter

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "metrics.md"
CODE = "\n".join(p.read_text() for p in (ROOT / "exporter" / "agentwatch").rglob("*.py"))


def documented() -> set[str]:
    return set(re.findall(r"^\| `(agentwatch_[a-z_]+)` \|", DOC.read_text(), flags=re.MULTILINE))


def exposed() -> dict[str, str]:
    """Family name as exposed (counters with _total, info with _info) -> HELP, from a full render
    on recorded responses, with a canary runner that has results."""
    with ReplayServer() as server:
        clock = Clock()
        poller, _ = make_exporter(server.url, clock)
        assert poller.poll_once()
        suite = Suite.model_validate(
            {"canaries": [{"name": "c", "title": "t", "roles": ["ceo"], "scorer": {"type": "exact", "expected": "42"}}]}
        )
        runner = CanaryRunner(suite, ScriptedAPI(), "pc", lambda: poller.last_snapshot, clock=clock)
        runner.tick()
        clock.t += 1
        runner.tick()
        text = generate_latest(build_registry([poller], {"pc": runner})).decode()
    families = {}
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "_info" if family.type == "info" else "")
        families[name] = family.documentation
    return families


def test_every_exposed_family_is_documented_with_help():
    families = exposed()
    missing = sorted(set(families) - documented())
    assert missing == [], f"add these to docs/metrics.md: {missing}"
    assert all(help_ for help_ in families.values()), [n for n, h in families.items() if not h]


def test_every_documented_family_exists_in_the_code():
    def in_code(name: str) -> bool:
        base = re.sub(r"_(total|info)$", "", name)
        return f'"{name}"' in CODE or f'"{base}"' in CODE

    stale = sorted(n for n in documented() if not in_code(n))
    assert stale == [], f"documented but no longer in the code: {stale}"
