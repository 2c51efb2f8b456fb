"""Shared fixtures, and the markers kept honest.

Tests marked ``paperclip`` run against the real Paperclip server, which the harness installs from
npm (cached) and starts on 127.0.0.1 once per session. Tests marked ``prometheus`` run a real
Prometheus, promtool, Alertmanager or amtool. The fast loop (``make test-fast``) deselects both, and
``slow``; so a test that needs one of them and is not marked fails here, naming the marker, rather
than slipping into the fast loop.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.paperclip import PaperclipAPI, PaperclipServer, ensure_installed, seed_standard_company
from replay import ReplayServer

PROMETHEUS_TOOLS = frozenset({"prometheus", "promtool", "prometheus-alertmanager", "alertmanager", "amtool"})
PAPERCLIP_FIXTURES = frozenset({"paperclip_root", "paperclip_server"})  # every real-Paperclip fixture depends on these


@pytest.fixture(autouse=True)
def _restore_agentwatch_logger():
    """Commands run in-process (``main([...])``) call ``logs.setup``, which gives the agentwatch
    logger its own handler and stops propagation; put it back so later tests' caplog sees each
    record once."""
    import logging

    logger = logging.getLogger("agentwatch")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


def pytest_collection_modifyitems(config, items):
    unmarked = [i.nodeid for i in items if PAPERCLIP_FIXTURES & set(getattr(i, "fixturenames", ())) and "paperclip" not in i.keywords]
    if unmarked:
        raise pytest.UsageError("these tests use the real Paperclip; mark them `paperclip`:\n" + "\n".join(unmarked))
    if os.environ.get("AGENTWATCH_SKIP_PAPERCLIP") == "1":
        skip = pytest.mark.skip(reason="AGENTWATCH_SKIP_PAPERCLIP=1 (local quick run only; CI never sets it)")
        for item in items:
            if "paperclip" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _markers_match_what_the_test_runs(request, monkeypatch):
    """A test that looks up a Prometheus tool (``shutil.which``, as ``harness.tools.tool`` and
    ``agentwatch.stack.local`` do) must be marked ``prometheus``. (One that uses the real
    Paperclip's fixtures and is not marked ``paperclip`` stops the run at collection.)"""
    node = request.node
    if "prometheus" in node.keywords:
        return
    which = shutil.which

    def guarded_which(cmd, *args, **kwargs):
        if Path(cmd).name in PROMETHEUS_TOOLS:
            pytest.fail(f"{node.nodeid} runs {Path(cmd).name}: mark it `prometheus`", pytrace=False)
        return which(cmd, *args, **kwargs)

    monkeypatch.setattr(shutil, "which", guarded_which)


@pytest.fixture(scope="session")
def paperclip_root():
    return ensure_installed()


_SHARED: dict[str, PaperclipServer] = {}  # the session's Paperclip server, once started
_REPORTED: set[int] = set()  # the PIDs whose exit a test has already reported


@pytest.fixture(scope="session")
def paperclip_server(paperclip_root):
    server = PaperclipServer(paperclip_root)
    server.start()
    _SHARED["server"] = server
    yield server
    del _SHARED["server"]
    server.stop()


@pytest.fixture(autouse=True)
def _shared_paperclip_alive(request):
    """If the shared server dies, the test during which it died fails with the end of its log, and
    each later test that needs it fails before it starts, instead of a bare 'connection refused'."""

    def check(when: str) -> None:
        server = _SHARED.get("server")
        if server is None or server.proc is None or server.proc.poll() is None:
            return
        if when == "during this test" and server.pid in _REPORTED:
            return
        _REPORTED.add(server.pid)
        pytest.fail(
            f"the shared Paperclip server exited with {server.proc.returncode} {when}; its log ends:\n{server.tail()}", pytrace=False
        )

    if "paperclip" in request.keywords:
        check("before this test")
    yield
    check("during this test")


@pytest.fixture(scope="session")
def paperclip_api(paperclip_server):
    return PaperclipAPI(paperclip_server.url)


@pytest.fixture(scope="session")
def seeded(paperclip_api, paperclip_root):
    return seed_standard_company(paperclip_api, root=paperclip_root)


@pytest.fixture
def server():
    """The recorded-responses server (tests/replay.py) on 127.0.0.1, switched into faults by the test."""
    with ReplayServer() as s:
        yield s
