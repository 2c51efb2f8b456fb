"""Where a poll's CPU goes, stage by stage, at one scale: ``python bench/breakdown.py --scale large``.

Stages of ``Poller.poll_once``, each timed with ``time.process_time`` (all threads), for the
full poll and then for a steady poll after 1 % of the issues changed: fetch and parse
(``source.poll``); the trackers (runs ledger, task progress, models); building the metric
families; rendering them; and the floor of ``bench/run.py`` replaying the same requests. Then,
on the issue pages alone, held in memory: ``json.loads`` (what the floor does), the msgspec
decode into rows, and the domain parse of those rows. This is the measurement behind the
"misses" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import requests

from agentwatch import config, memory
from agentwatch.poller import Poller
from agentwatch.source.paperclip import parse
from agentwatch.source.paperclip.client import PaperclipSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import record  # noqa: E402
from run import HERE, SCALES, mutate_load, run_json, start_server  # noqa: E402


def cpu(fn):
    started = time.process_time()
    result = fn()
    return result, time.process_time() - started


def poll_stages(poller: Poller, source: PaperclipSource) -> dict[str, float]:
    """One poll, as ``Poller.poll_once`` makes it, stage by stage."""
    now = time.time()
    out: dict[str, float] = {}
    snapshot, out["fetch, decode and parse"] = cpu(lambda: source.poll(now))

    _, out["trackers"] = cpu(lambda: poller.track(snapshot, now))
    (families, _), out["build families"] = cpu(lambda: poller.builder.build(snapshot, poller.ledger, now, poller.analyses, poller.models))
    _, out["render"] = cpu(lambda: families.render())
    return out


def stages(url: str) -> dict[str, float]:
    memory.setup()  # as ``agentwatch serve`` does
    settings = config.Settings(sources=[{"name": "bench", "url": url, "timeout": "120s"}])
    cfg = settings.sources[0]
    source = PaperclipSource(cfg, marker=settings.canary_marker)
    poller = Poller(source, cfg, settings)
    sent = record(source.client)
    out: dict[str, float] = {}
    plans: dict[str, list[str]] = {}
    for poll in ("full", "steady"):
        if poll == "steady":  # 1 % of the issues change, as bench/run.py's steady poll
            mutate_load(url)
        for stage, seconds in poll_stages(poller, source).items():
            out[f"{poll}: {stage}"] = seconds
        plans[poll] = [r.path for r in sent]
        sent.clear()
    source.close()
    floor = run_json([str(HERE / "floor.py"), "--url", url], json.dumps(plans))
    for poll in plans:
        out[f"{poll}: the floor (same requests, json.loads)"] = floor[poll]["cpu"]

    # the issue pages again, outside the poller: json.loads alone, then with the domain parse, with and without GC
    session = requests.Session()
    (company,) = session.get(url + "/api/companies", timeout=60).json()
    pages, last = [], None
    while True:
        params = {"includeBlockedBy": "true", "view": "compact", "limit": "1000", "sortField": "id", "sortDir": "asc"}
        if last:
            params["afterId"] = last
        raw = session.get(f"{url}/api/companies/{company['id']}/issues", params=params, timeout=60).content
        rows = json.loads(raw)
        pages.append(raw)
        if len(rows) < 1000:
            break
        last = rows[-1]["id"]

    def best(fn) -> float:  # the lower of two runs: the first also pays for the heap growing
        return min(cpu(fn)[1] for _ in range(2))

    decoded = [parse.issue_page(p) for p in pages]
    out["issues: json.loads (the floor's)"] = best(lambda: [json.loads(p) for p in pages])
    out["issues: msgspec decode to rows"] = best(lambda: [parse.issue_page(p) for p in pages])
    out["issues: domain parse of the rows"] = best(lambda: [parse.parse_rows(rows, parse.issue) for rows in decoded])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scale", default="large", choices=SCALES)
    args = p.parse_args()
    agents, issues = SCALES[args.scale]
    proc, url = start_server(agents, issues)
    try:
        result = stages(url)
    finally:
        proc.terminate()
        proc.wait(30)
    for name, seconds in result.items():
        print(f"{name:55s} {seconds:7.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
