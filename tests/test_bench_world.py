"""The benchmark's load world (bench/loadworld.py) measures what it says: its timestamps are in
the past, and a steady-state poll after ``mutate`` sees every change. (An earlier world put
completion times up to two hours ahead, so the exporter's ``updatedSince`` cursor ran ahead of
the clock and the measured "steady" poll fetched none of the changed issues.)"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from agentwatch.config import Settings
from agentwatch.demo.server import DemoServer
from agentwatch.poller import Poller
from agentwatch.source.paperclip import PaperclipSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from loadworld import build, mutate  # noqa: E402


@pytest.fixture
def world_server():
    world = build(10, 1000)
    server = DemoServer("127.0.0.1", 0, worlds={"": world})
    server.start()
    try:
        yield world, f"http://127.0.0.1:{server.httpd.server_port}"
    finally:
        server.stop()


def test_no_timestamp_of_the_world_is_in_the_future():
    now = time.time()
    world = build(10, 10_000, now=now)
    stamps = [t for i in world.issues.values() for t in (i.created_at, i.updated_at, i.started_at, i.completed_at) if t]
    assert stamps and max(stamps) <= now


def test_a_steady_state_poll_sees_every_mutated_issue(world_server):
    world, url = world_server
    settings = Settings(sources=[{"name": "bench", "url": url}])
    cfg = settings.sources[0]
    poller = Poller(PaperclipSource(cfg), cfg, settings)
    assert poller.poll_once()
    changed_at = time.time()
    with world.lock:
        statuses = mutate(world, 0.05, now=changed_at)
    assert len(statuses) == 50
    assert poller.poll_once()
    (cs,) = poller.last_snapshot.companies.values()
    assert {k: cs.issues[k].status for k in statuses} == statuses
    assert all(cs.issues[k].updated_at == pytest.approx(changed_at, abs=0.01) for k in statuses)
