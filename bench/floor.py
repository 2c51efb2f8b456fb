"""The floor: the same HTTP requests an agentwatch poll made, with ``json.loads`` on each
answer and nothing else (same HTTP library, same concurrency, one keep-alive session).

``record`` notes every GET an agentwatch poll sends and what came back; ``replay`` sends them
again. Sent without their ``If-None-Match`` (``bench/run.py``'s floor) every answer is a full
body; sent with it (the exact floor of ``bench/churn.py``), an answer that did not change is
an empty 304, as it was to agentwatch, and is not decoded.

As a script it reads plans from stdin and prints JSON: by default one object of named lists of
paths, replayed unconditionally; with ``--stream``, one JSON list of ``[path, etag]`` per line,
each answered at once with one line of its CPU, wall time and ``[status, bytes]`` per request,
so that one floor process, and its keep-alive connections, serves a whole run of polls.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence
from urllib.parse import urlencode

import requests

WORKERS = 8  # agentwatch's default max_concurrency


@dataclass(frozen=True, slots=True)
class Sent:
    """One GET of a poll: the path and query, the ``If-None-Match`` sent, and the answer's
    status and body size as the poller read them."""

    path: str
    etag: str | None
    status: int
    nbytes: int


def record(client: Any) -> list[Sent]:
    """Every GET that ``client`` (an agentwatch ``HttpClient``) sends from now on, in order."""
    sent: list[Sent] = []
    request = client.request

    def recording(method, path, endpoint, params=None, etag=None, **kw):
        resp = request(method, path, endpoint, params=params, etag=etag, **kw)
        if method == "GET":
            sent.append(Sent(path + ("?" + urlencode(params) if params else ""), etag, resp.status, resp.nbytes))
        return resp

    client.request = recording
    return sent


def keep_alive_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=WORKERS))
    return session


def replay(session: requests.Session, pool: ThreadPoolExecutor, url: str, plan: Sequence[tuple[str, str | None]]) -> dict:
    """GET every ``(path, etag)`` of ``plan`` (with ``If-None-Match: etag`` when there is one) and
    ``json.loads`` every body that is not a 304. Returns the CPU and wall time it took and each
    answer's ``[status, bytes]``."""

    def one(item: tuple[str, str | None]) -> tuple[int, int]:
        path, etag = item
        resp = session.get(url + path, headers={"If-None-Match": etag} if etag else None, timeout=120)
        if resp.status_code != 304:
            json.loads(resp.content)
        return resp.status_code, len(resp.content)

    cpu, wall = time.process_time(), time.perf_counter()
    answers = list(pool.map(one, plan))
    return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "requests": len(plan), "answers": answers}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--stream", action="store_true", help="one plan of [path, etag] per stdin line, one answer line each")
    args = p.parse_args()
    session = keep_alive_session()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        if args.stream:
            for line in sys.stdin:
                print(json.dumps(replay(session, pool, args.url, [tuple(item) for item in json.loads(line)])), flush=True)
            return 0
        plans = json.load(sys.stdin)
        out = {name: replay(session, pool, args.url, [(path, None) for path in paths]) for name, paths in plans.items()}
    for result in out.values():
        del result["answers"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
