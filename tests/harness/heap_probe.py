"""Heap growth of one exporter across failing polls, measured in a fresh interpreter.

Run by tests/test_faults.py as a child process, so that nothing else in the process (other
tests' threads, pytest's kept log records) allocates while the heap is traced. Prints one JSON
line: the traced heap after warm-up and after the measured polls, in bytes.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from replay import ReplayServer  # noqa: E402
from test_faults import Clock, make_exporter, scrape  # noqa: E402

KINDS = ["500", "truncated", "malformed", "401", "403", "drift", "missing_fields", None]
# the replay server answers from threads of this process: its allocations are not the exporter's
SERVER_FILES = ["*/http/server.py", "*/socketserver.py", "*/threading.py", "*/email/*", "*/tests/*", tracemalloc.__file__]


def traced_heap() -> int:
    gc.collect()  # exceptions and their tracebacks are cyclic garbage until collected
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, p) for p in SERVER_FILES])
    return sum(stat.size for stat in snapshot.statistics("filename"))


def main(warmup: int, measured: int) -> None:
    logging.getLogger("agentwatch").addHandler(logging.NullHandler())
    logging.getLogger("agentwatch").propagate = False
    with ReplayServer() as server:
        clock = Clock()
        poller, registry = make_exporter(server.url, clock, timeout=0.3)
        assert poller.poll_once()

        def cycle() -> None:
            for fault in KINDS:
                server.fault = fault
                clock.t += 30
                poller.poll_once()
                scrape(registry)

        tracemalloc.start()
        for _ in range(warmup):
            cycle()
        warm = traced_heap()
        for _ in range(measured):
            cycle()
        after = traced_heap()
        tracemalloc.stop()
        poller.stop()
    print(json.dumps({"warm": warm, "after": after, "polls": measured * len(KINDS)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
