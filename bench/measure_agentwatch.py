"""One agentwatch process against the load server: full poll, steady-state poll (1 % of issues
changed), a periodic full resync with the previous data held, analysis alone, scrape render (against bare prometheus_client with the same series),
a scrape while the platform is slow, and peak RSS. Prints JSON."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agentwatch import config, memory
from agentwatch.analysis import dependencies
from agentwatch.analysis.loops import loop_signals
from agentwatch.analysis.progress import TaskTracker
from agentwatch.analysis.tasks import task_signals
from agentwatch.exposition.collector import AgentwatchCollector
from agentwatch.model.delta import issue_delta
from agentwatch.poller import Poller
from agentwatch.server import MetricsServer
from agentwatch.source.paperclip.client import PaperclipSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import record  # noqa: E402
from run import check_seen, mutate_load  # noqa: E402


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def bare_registry(text: str) -> CollectorRegistry:
    """Plain client_python gauges holding every sample of ``text``: same series, same labels."""
    registry = CollectorRegistry(auto_describe=False)
    for family in text_string_to_metric_families(text):
        by_name: dict[str, list] = {}
        for s in family.samples:
            by_name.setdefault(s.name, []).append(s)
        for name, samples in by_name.items():
            labelnames = sorted({k for s in samples for k in s.labels})
            gauge = Gauge(name, family.documentation or name, labelnames, registry=registry)
            for s in samples:
                gauge.labels(**{k: s.labels.get(k, "") for k in labelnames}).set(s.value)
    return registry


def render_seconds(registry: CollectorRegistry, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        generate_latest(registry)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mutate_real(url: str, snapshot, fraction: float) -> dict[str, str]:
    """1 % of the issues of a real Paperclip change status, through its API; their new statuses."""
    issues = [i for cs in snapshot.companies.values() for i in cs.issues.values() if i.status in ("backlog", "todo")]
    statuses = {i.id: "todo" if i.status == "backlog" else "backlog" for i in issues[: max(1, int(len(issues) * fraction))]}
    for issue_id, status in statuses.items():
        requests.patch(f"{url}/api/issues/{issue_id}", json={"status": status}, timeout=30).raise_for_status()
    return statuses


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--real", action="store_true", help="a real Paperclip: mutate through its API, no slow-platform test")
    args = p.parse_args()
    memory.setup()  # as ``agentwatch serve`` does
    settings = config.Settings(sources=[{"name": "bench", "url": args.url, "timeout": "120s"}])
    source_cfg = settings.sources[0]
    source = PaperclipSource(source_cfg, marker=settings.canary_marker)
    poller = Poller(source, source_cfg, settings)
    sent = record(source.client)
    out: dict = {}

    ok, cpu, wall = timed(poller.poll_once)
    assert ok, "the full poll failed"
    out["full"] = {
        "cpu": cpu,
        "wall": wall,
        "requests": source.last_poll.requests,
        "bytes": source.last_poll.bytes,
        "paths": [r.path for r in sent],
    }
    sent.clear()
    if args.real:
        statuses = mutate_real(args.url, poller.last_snapshot, 0.01)
        time.sleep(0.05)
    else:
        statuses = mutate_load(args.url)
    changed = len(statuses)
    ok, cpu, wall = timed(poller.poll_once)
    assert ok, "the steady-state poll failed"
    check_seen(poller.last_snapshot, statuses)
    out["steady"] = {
        "cpu": cpu,
        "wall": wall,
        "requests": source.last_poll.requests,
        "bytes": source.last_poll.bytes,
        "changed": changed,
        "paths": [r.path for r in sent],
    }
    sent.clear()
    # the periodic full resync (every full_resync_interval), with the previous data still held
    # and served: the poll that sets the peak RSS of a long-running exporter
    source.resync_next_poll()
    ok, cpu, wall = timed(poller.poll_once)
    assert ok, "the resync poll failed"
    assert source.last_poll.requests == out["full"]["requests"], "the resync poll was not a full resync"
    out["resync"] = {
        "cpu": cpu,
        "wall": wall,
        "requests": source.last_poll.requests,
        "bytes": source.last_poll.bytes,
        "paths": [r.path for r in sent],
    }

    collector = AgentwatchCollector([poller])
    collector.exposition()  # a scrape
    # agentwatch's own peak: three polls and a scrape, before the bench's own allocations below
    # (the analysis run again, the exposition decoded for the bare registry)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    snapshot = poller.last_snapshot
    (cs,) = snapshot.companies.values()
    (held,) = poller.analyses.values()
    now = time.time()
    # each analysis from scratch, on every issue
    _, deps_cpu, _ = timed(lambda: dependencies.analyse(cs.issues, cs.agents, now, top_n=10))
    _, tasks_cpu, _ = timed(lambda: task_signals(cs, now))
    _, tracker_cpu, _ = timed(lambda: TaskTracker().update(cs, now))
    _, loops_cpu, _ = timed(lambda: loop_signals(held.tracker.tasks.values(), now, lambda a: (14400.0, 20)))
    # and kept across polls: 1 % of the issues change again, the source reads them, and each
    # analysis the poller keeps takes in that delta alone
    if not args.real:
        mutate_load(args.url)
        now = time.time()
        (later,) = source.poll(now).companies.values()
        delta = issue_delta(held.issues, later.issues)
        _, deps_kept, _ = timed(lambda: (held.deps.update(delta, later.agents), held.deps.report(now, top_n=10)))
        _, tasks_kept, _ = timed(lambda: (held.tasks.update(delta), held.tasks.signals(later, now)))
        _, tracker_kept, _ = timed(lambda: held.tracker.update(later, now, delta))
        out["analysis_kept"] = {
            "dependencies": deps_kept,
            "tasks": tasks_kept,
            "progress_tracker": tracker_kept,
            "changed": len(delta.changed),
        }
    out["analysis"] = {
        "dependencies": deps_cpu,
        "tasks": tasks_cpu,
        "loops": loops_cpu,
        "progress_tracker": tracker_cpu,
        "issues": len(cs.issues),
        "edges": sum(len(i.blocked_by) for i in cs.issues.values()),
    }

    text = collector.exposition().decode()
    bare = bare_registry(text)
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    scrape = []
    for _ in range(5):
        start = time.perf_counter()
        collector.exposition()
        scrape.append(time.perf_counter() - start)
    # the families built (analysis, lines formatted) and joined, as each poll does, against bare
    # client_python rendering the same series it already holds
    _, prerender, _ = timed(lambda: poller.builder.build(snapshot, poller.ledger, now, poller.analyses, poller.models)[0].render())
    out["render"] = {
        "agentwatch": statistics.median(scrape),
        "at_poll": prerender,
        "bare": render_seconds(bare),
        "series": series,
        "bytes": len(text),
    }

    if args.real:
        source.close()
        print(json.dumps(out))
        return 0
    server = MetricsServer("127.0.0.1", 0, collector.exposition)
    server.start()
    requests.post(args.url + "/__bench/delay?seconds=0.2", timeout=10)
    scraper = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("scraper.py")), f"http://127.0.0.1:{server.port}/metrics"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    poller.poll_once()  # slow: every platform request takes 0.2 s more
    latencies = json.loads(scraper.communicate("", timeout=60)[0])
    requests.post(args.url + "/__bench/delay?seconds=0", timeout=10)
    server.stop()
    out["scrape_during_slow_poll"] = {"max": max(latencies), "median": statistics.median(latencies), "count": len(latencies)}
    source.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
