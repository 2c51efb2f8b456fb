"""The benchmark's load server: the demo simulator's API over a scaled world, plus
``/__bench/mutate?fraction=``, ``/__bench/delay?seconds=`` (a slow platform) and
``/__bench/fault?status=503`` (every request fails with that status until ``status=0``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agentwatch.demo.server import DemoServer  # noqa: E402
from loadworld import build, mutate  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--agents", type=int, required=True)
    p.add_argument("--issues", type=int, required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    args = p.parse_args()
    world = build(args.agents, args.issues)
    state = {"delay": 0.0, "status": 0}

    def intercept(method: str, path: str, query: dict):
        if path == "/__bench/mutate":
            with world.lock:
                statuses = mutate(world, float(query.get("fraction", 0.01)))
                return 200, {"changed": len(statuses), "statuses": statuses}
        if path == "/__bench/delay":
            state["delay"] = float(query.get("seconds", 0))
            return 200, state
        if path == "/__bench/fault":
            state["status"] = int(query.get("status", 0))
            return 200, state
        if state["delay"]:
            time.sleep(state["delay"])
        if state["status"]:
            return state["status"], {"error": "injected by the bench"}
        return None

    server = DemoServer("127.0.0.1", args.port, worlds={"": world}, intercept=intercept)
    server.start()
    Path(args.port_file).write_text(str(server.httpd.server_port))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
