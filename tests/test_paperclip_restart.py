"""The REAL Paperclip server restarting in the middle of a poll: the exporter keeps serving the
last good data, marks the source down, counts the error, logs one line, and recovers by itself.

Its own server (not the session one), with small issue pages so that a poll spans many requests
and the restart lands inside one."""

from __future__ import annotations

import logging
import threading

import pytest
from prometheus_client import generate_latest

from agentwatch.cli import build_registry
from agentwatch.config import Settings, SourceConfig
from agentwatch.poller import Poller
from agentwatch.source.paperclip.client import PaperclipSource
from harness.exporter import parse_exposition
from harness.paperclip import PaperclipAPI, PaperclipServer, wait_for

pytestmark = [pytest.mark.paperclip, pytest.mark.slow]  # restarts the server mid-poll: ~30 s


def test_a_restart_mid_poll_marks_the_source_down_and_recovers(paperclip_root, caplog):
    caplog.set_level(logging.INFO, logger="agentwatch")
    logger = logging.getLogger("agentwatch")
    logger.propagate = True
    with PaperclipServer(paperclip_root) as server:
        api = PaperclipAPI(server.url)
        company = api.create_company("Restart Co")
        for n in range(60):
            api.create_issue(company, f"Restart task {n}", status=("backlog", "todo", "done")[n % 3])
        cfg = SourceConfig(
            name="rs",
            url=server.url,
            timeout=3,
            retries=0,
            issue_page_size=2,
            poll_interval=0.2,
            full_resync_interval=0.1,
            companies=[company],
        )
        settings = Settings(sources=[cfg])
        poller = Poller(PaperclipSource(cfg), cfg, settings)
        registry = build_registry([poller])
        scrape = lambda: parse_exposition(generate_latest(registry).decode())  # noqa: E731
        try:
            assert poller.poll_once()
            before = scrape().select("agentwatch_company_tasks")
            assert sum(v for _, v in before) == 60
            poller.start()  # polls back to back: each full resync is ~35 requests
            polls = poller.read().polls
            wait_for(lambda: poller.read().polls > polls + 1, timeout=30)
            server.restart()  # SIGTERM mid-poll, then the same data dir again
            wait_for(lambda: poller.read().failures, timeout=30, what="a failed poll")
            down = scrape()
            assert down.get_value("agentwatch_up", source="rs") in (0.0, 1.0)  # may have recovered already
            assert sum(down.total("agentwatch_poll_failures_total", source="rs", kind=k) for k in poller.read().failures) >= 1
            assert down.select("agentwatch_company_tasks") == before  # the last good data, never a partial poll
            wait_for(lambda: poller.read().up and poller.read().last_error_kind is None, timeout=60, what="recovery")
            recovered = scrape()
            assert recovered.get_value("agentwatch_up", source="rs") == 1.0
            assert recovered.select("agentwatch_company_tasks") == before
        finally:
            poller.stop()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    episodes = sum(1 for r in caplog.records if r.getMessage() == "poll recovered")
    assert 1 <= len(failures) <= 2 * max(episodes, 1), [r.getMessage() for r in failures]  # one line per episode
    assert any(r.getMessage() == "poll recovered" for r in caplog.records)
    assert [t for t in threading.enumerate() if t.name.startswith(("poll-rs", "poller-rs"))] == []
