"""Scrape a /metrics URL every 100 ms from its own process, as Prometheus would, until stdin
closes; print the latencies as JSON. (A client in the exporter's own process would measure
its own GIL contention, not the exporter's.)"""

from __future__ import annotations

import json
import sys
import threading
import time

import requests


def main() -> int:
    url = sys.argv[1]
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    latencies = []
    session = requests.Session()
    while not stop.is_set():
        start = time.perf_counter()
        session.get(url, timeout=30, headers={"Accept-Encoding": "gzip"}).raise_for_status()
        latencies.append(time.perf_counter() - start)
        stop.wait(0.1)
    print(json.dumps(latencies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
