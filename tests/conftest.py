"""Shared fixtures. Tests marked ``paperclip`` run against the real Paperclip server, which the
harness installs from npm (cached) and starts on 127.0.0.1 once per session."""

from __future__ import annotations

import os

import pytest

from harness.paperclip import PaperclipAPI, PaperclipServer, ensure_installed, seed_standard_company
from replay import ReplayServer


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
    if os.environ.get("AGENTWATCH_SKIP_PAPERCLIP") == "1":
        skip = pytest.mark.skip(reason="AGENTWATCH_SKIP_PAPERCLIP=1 (local quick run only; CI never sets it)")
        for item in items:
            if "paperclip" in item.keywords:
                item.add_marker(skip)


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
