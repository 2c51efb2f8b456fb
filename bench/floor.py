"""The floor: the same HTTP requests an agentwatch poll made, with ``json.loads`` on each
answer and nothing else (same HTTP library, same concurrency). Prints JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    args = p.parse_args()
    plans = json.load(sys.stdin)
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=8))
    out = {}
    for name, paths in plans.items():
        cpu, wall = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            sizes = list(pool.map(lambda path: len(json.loads(session.get(args.url + path, timeout=120).content) or ()), paths))
        out[name] = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "requests": len(paths), "rows": sum(sizes)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
