"""Issue 24 on the REAL Paperclip: freshness, requests and page latency, with and without live events.

    python bench/live_events.py [--window 600] [--agents 100] [--json PATH] [--workdir DIR]

One real Paperclip (its own data dir; ``--paperclip-url`` to use a running one), one company, and
three ``agentwatch`` processes watching it side by side, each a source of its own name:

- ``live``: live events on (the defaults: full poll every 300 s while the socket is open,
  debounce 0.25 s, refreshes start at least 1 s apart), poll interval ``--slow-poll`` (30 s);
- ``poll30``: live events off, poll interval ``--slow-poll`` (the default polling);
- ``pollfast``: live events off, poll interval ``--fast-poll`` (2 s: polling tuned for the
  freshness of live events; a poll that takes longer simply follows the last one).

**Activity** (``bench/live_events_fleet.py``): ``--agents`` process agents on heartbeat timers
(intervals spread over 2/3 to 4/3 of ``--interval``; Paperclip's scheduler ticks every 10 s at the
least, so the timers wake agents in small batches), runs of 1 to 5 s, half of them reporting a cost;
``--issue-changes`` moves a minute of unassigned issues between backlog and todo. The runs per
minute actually reached are counted on a socket of the benchmark's own.

**Freshness**: probe lanes, each on an agent of its own, make changes at known times and read
every exporter's /metrics every 0.1 s for the series that shows each (docs/metrics.md): a run
starts (``agentwatch_agent_live_runs`` rises; t0 = the run's ``createdAt``, when it was queued), a
run finishes or fails (``agentwatch_agent_runs_total{status}`` grows; t0 = its ``finishedAt``), an
issue changes status (the lane agent's ``agentwatch_agent_tasks{status="todo"}``; t0 = the issue's
``updatedAt``), a cost lands (``agentwatch_agent_cost_usd_total``; t0 = the cost event's
``createdAt``). Every t0 is the platform's own timestamp, on the same machine's clock. A lane's
next change waits until all three exporters showed the last, then a random gap of up to
``--slow-poll`` seconds, so that the changes fall at every phase of the slow polls. Probe runs last
``--run-seconds`` (longer than the slow poll, which sees every run start).

**Requests and bytes** to Paperclip over the ``--window``: from each exporter's own counters
(``agentwatch_source_requests_total``, ``agentwatch_source_response_bytes_total``), per hour.
Each poll and refresh is also caught between two reads of /metrics (``agentwatch_refreshes_total``
by trigger, with ``agentwatch_poll_requests`` and ``_response_bytes`` of that poll). The live
exporter's *steady* figure counts its full polls at one per ``full_poll_interval`` (12 an hour),
each as the window's own full polls averaged, plus its targeted refreshes at the window's rate:
a window shorter than an hour holds a whole number of full polls, which the measured figure
counts as they fell. The socket's own frames and bytes are counted on the benchmark's socket.

**Page latency**: a real Prometheus (``--prom-interval`` scrape and evaluation, the shipped rules
with every ``for`` divided by ``--for-factor``) scraping ``live`` and ``poll30``, a real
Alertmanager (the shipped routing, group_wait 1 s) and the incident receiver. ``--faults`` agents
start failing at staggered times: three failed runs in a row (``runs_failing_consecutive``); the
end of the third (its ``finishedAt``) is the injection; the webhook's first firing
``AgentRunsFailing`` for that source and agent is the notification. The exporters run with
``runs_failure_ratio: 1`` so that only the consecutive failures fire it.

Targets (issue 24): freshness p95 <= 2 s with live events; page latency <= ``for`` + 5 s;
live requests per hour at most half of polling alone at equal or better freshness (``pollfast``).

Needs the cached real server (``python tests/harness/paperclip.py install``) and Prometheus and
Alertmanager on PATH. Everything binds 127.0.0.1 and is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import live_events_report as report  # noqa: E402
from harness.exporter import ExporterProcess  # noqa: E402
from harness.monitoring import Alertmanager, IncidentReceiver, Prometheus  # noqa: E402
from harness.paperclip import PaperclipAPI, PaperclipServer, ensure_installed  # noqa: E402
from live_events_fleet import Lanes, build  # noqa: E402
from live_events_watch import Scraper, SocketTap, View  # noqa: E402

NAMES = ("live", "poll30", "pollfast")
PAGED = ("live", "poll30")  # the exporters Prometheus scrapes
SHIPPED_FOR = 300.0  # AgentRunsFailing's ``for`` in prometheus/rules/alerts.yml


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--agents", type=int, default=100, help="background agents on heartbeat timers")
    a("--interval", type=int, default=90, help="their mean heartbeat interval, s (spread over 2/3 to 4/3 of it)")
    a("--issues", type=int, default=200, help="unassigned background issues")
    a("--issue-changes", type=float, default=30, help="background issue moves a minute")
    a("--window", type=float, default=600, help="the measured window, s")
    a("--warmup", type=float, default=90, help="activity before the window, s (the first timers fire after 2/3 of --interval)")
    a("--run-lanes", type=int, default=3, help="lanes of probe runs, each one that succeeds and one that fails")
    a("--cost-lanes", type=int, default=2)
    a("--issue-lanes", type=int, default=2)
    a("--run-seconds", type=int, default=40, help="how long a probe run lasts (longer than --slow-poll)")
    a("--slow-poll", type=float, default=30, help="poll interval of live and poll30, s")
    a("--fast-poll", type=float, default=2, help="poll interval of pollfast, s")
    a("--gap", type=float, help="a lane's longest random gap between changes, s (default: --slow-poll)")
    a("--sample-timeout", type=float, default=120, help="how long a change may take to show before it counts as missed, s")
    a("--faults", type=int, default=5, help="agents whose runs start failing, for the page latency")
    a("--fault-lead", type=float, default=30, help="when the first starts failing, s into the window")
    a("--fault-stagger", type=float, default=90, help="between two faults, s")
    a("--for-factor", type=int, default=10, help="every rule's `for` divided by this (AgentRunsFailing: 5m -> 30s)")
    a("--prom-interval", default="1s", help="Prometheus's scrape and evaluation interval")
    a("--scheduler-ms", type=int, default=10000, help="Paperclip's heartbeat scheduler tick (10000 is its minimum)")
    a("--seed", type=int, default=24)
    a("--paperclip-url", help="use this running Paperclip instead of starting one (its agents are paused at the end)")
    a("--workdir", type=Path, help="where the processes' files and logs go (default: a new temporary directory)")
    a("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    args.gap = args.slow_poll if args.gap is None else args.gap
    return args


def exporter_config(name: str, url: str, company: str, poll: float, live: bool) -> dict:
    source = {"name": name, "url": url, "companies": [company], "poll_interval": poll, "live_events": {"enabled": live}}
    return {"sources": [source], "thresholds": {"defaults": {"runs_failure_ratio": 1.0}}}


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


class Bench:
    """One run: the fleet, the three exporters, the stack, the window, the figures."""

    def __init__(self, url: str, root: Path, args: argparse.Namespace, workdir: Path) -> None:
        self.url, self.root, self.args, self.workdir = url, root, args, workdir
        self.api = PaperclipAPI(url)
        self.stop = threading.Event()
        self.parts: list[Any] = []
        self.arrivals: list[dict] = []
        self.scrapers: dict[str, Scraper] = {}

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            self.stop.set()
            for part in reversed(self.parts):
                try:
                    part.stop()
                except Exception as exc:  # stop every other part regardless
                    log(f"stopping {type(part).__name__}: {exc}")

    def _run(self) -> dict[str, Any]:
        args = self.args
        company = self.api.create_company(f"Live Bench {uuid.uuid4().hex[:4]}", budget_cents=100_000_000)
        started = time.time()
        fleet = build(self.api, self.root, company, args)
        log(f"company {company}: {len(fleet.background)} agents on timers, probes and faults made in {time.time() - started:.0f} s")
        if args.paperclip_url:
            self.parts.append(_Paused(self.api, fleet))
        exporters, prom = self._stack(company)
        view, tap, lanes = self._watch(exporters, company, fleet)
        self._warm_up(view, started)
        window = self._window(view, tap, lanes)
        log("window over; waiting for the last samples and pages")
        lanes.join(args.sample_timeout + args.run_seconds + 120)
        self._wait_pages(lanes)
        return self._result(view, tap, lanes, prom, window)

    def _stack(self, company: str) -> tuple[dict[str, ExporterProcess], Any]:
        args, work = self.args, self.workdir
        hook = IncidentReceiver(work / "incidents")
        self.parts.append(hook)
        self._clock_arrivals(hook)
        (work / "alertmanager").mkdir(parents=True, exist_ok=True)
        am = Alertmanager(work / "alertmanager", hook.url, secret_file=hook.secret_file)
        self.parts.append(am)
        exporters = {}
        polls = {"live": (args.slow_poll, True), "poll30": (args.slow_poll, False), "pollfast": (args.fast_poll, False)}
        for name, (poll, live) in polls.items():
            (work / name).mkdir(parents=True, exist_ok=True)
            exporters[name] = ExporterProcess(exporter_config(name, self.url, company, poll, live), work / name)
            exporters[name].start()
            self.parts.append(exporters[name])
        (work / "prometheus").mkdir(parents=True, exist_ok=True)
        prom = Prometheus(
            work / "prometheus",
            [exporters[n].url.removeprefix("http://") for n in PAGED],
            am.url,
            rules_for_factor=args.for_factor,
            interval=args.prom_interval,
        )
        self.parts.append(prom)
        log(f"exporters {', '.join(f'{n} {e.url}' for n, e in exporters.items())}; Prometheus {prom.url}; Alertmanager {am.url}")
        return exporters, prom

    def _clock_arrivals(self, hook) -> None:
        """The arrival of every notification, clocked to the millisecond (the incident log stamps
        whole seconds), by wrapping this receiver's store (in this process)."""
        record = hook.store.record_alerts

        def clocked(events, moment):
            at = time.time()
            self.arrivals.extend({"at": at, "event": e.status, "labels": dict(e.labels)} for e in events)
            return record(events, moment)

        hook.store.record_alerts = clocked

    def _watch(self, exporters: dict[str, ExporterProcess], company: str, fleet) -> tuple[View, SocketTap, Lanes]:
        view = View(list(NAMES))
        for name, exp in exporters.items():
            self.scrapers[name] = Scraper(name, exp.url, view, self.stop)
            self.scrapers[name].start()
        view.ready(60)
        tap = SocketTap(self.url, company, self.stop)
        tap.start()
        lanes = Lanes(self.api, view, fleet, self.args, self.stop)
        lanes.start_background()
        return view, tap, lanes

    def _warm_up(self, view: View, started: float) -> None:
        deadline = time.monotonic() + 120
        while view.self_metrics()["live"].get(("live_events_socket_state", "open"), 0) < 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the live exporter's socket never opened")
            time.sleep(0.5)
        rest = started + self.args.warmup - time.time()
        log(f"live socket open; warming up {max(0.0, rest):.0f} s more")
        if rest > 0:
            time.sleep(rest)

    def _window(self, view: View, tap: SocketTap, lanes: Lanes) -> dict[str, Any]:
        args = self.args
        start = time.time()
        load = os.getloadavg()
        before = view.self_metrics()
        tap.counting.set()
        moves = lanes.issue_moves
        faults_at = [start + args.fault_lead + i * args.fault_stagger for i in range(args.faults)]
        lanes.start_probes(start + args.window, faults_at)
        log(f"window of {args.window:.0f} s started")
        while time.time() < start + args.window:
            time.sleep(min(30.0, start + args.window - time.time()))
            log(f"  {time.time() - start:.0f} s: {len(lanes.samples)} samples, {len(lanes.faults)} faults, errors {len(lanes.errors)}")
        end = time.time()
        after = view.self_metrics()
        tap.counting.clear()
        return {
            "start": start,
            "end": end,
            "before": before,
            "after": after,
            "issue_moves": lanes.issue_moves - moves,
            "load": {"start": load, "end": os.getloadavg()},
        }

    def _wait_pages(self, lanes: Lanes) -> None:
        """Until every fault's alert reached the webhook from both paged exporters, or the
        slow poll, ``for`` and a minute more passed since the fault."""
        for_seconds = SHIPPED_FOR / self.args.for_factor
        for name, exp in sorted(lanes.faults.items()):
            if exp.t0 is None:
                continue
            deadline = exp.t0 + self.args.slow_poll + for_seconds + 60
            while time.time() < deadline and not all(any(report.is_page(a, source, name) for a in list(self.arrivals)) for source in PAGED):
                time.sleep(0.5)

    def _result(self, view: View, tap: SocketTap, lanes: Lanes, prom, window: dict[str, Any]) -> dict[str, Any]:
        args = self.args
        start, end = window["start"], window["end"]
        minutes = (end - start) / 60
        for_seconds = SHIPPED_FOR / args.for_factor
        result: dict[str, Any] = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "for_seconds": for_seconds,
            "machine": machine(),
            "load_average": window["load"],
            "activity": {
                "agents": args.agents,
                "runs_per_minute": tap.frames.get("heartbeat.run.queued", 0) / minutes,
                "run_statuses": tap.run_statuses,
                "issue_moves_per_minute": window["issue_moves"] / minutes,
                "socket_frames": tap.frames,
                "socket_frames_per_hour": sum(tap.frames.values()) / minutes * 60,
                "socket_bytes_per_hour": tap.bytes / minutes * 60,
            },
            "freshness": report.freshness(lanes.samples, list(NAMES)),
            "traffic": {
                n: report.traffic(
                    n,
                    window["before"][n],
                    window["after"][n],
                    view.refreshes[n],
                    (start, end),
                    300.0 if n == "live" else None,
                )
                for n in NAMES
            },
            "poll_seconds": {n: _poll_seconds(view, n, start, end) for n in NAMES},
            "page": report.pages(lanes.faults, self.arrivals, pending_since(prom), list(PAGED), for_seconds),
            "samples": [{"kind": e.kind, "lane": e.lane, "t0": e.t0, "latency": e.latencies()} for e in lanes.samples],
            "ambiguous_scrapes": view.ambiguous,
            "scrapes": {
                n: {"count": s.scrapes, "mean_bytes": s.bytes / max(1, s.scrapes), "errors": s.errors} for n, s in self.scrapers.items()
            },
            "lane_errors": lanes.errors,
        }
        result["targets"] = report.targets(result)
        return result


def _poll_seconds(view: View, name: str, start: float, end: float) -> dict[str, Any]:
    """The wall time of the exporter's polls and refreshes in the window, by trigger."""
    out = {}
    for trigger in ("scheduled", "event", "resync"):
        took = [r.duration for r in view.refreshes[name] if r.trigger == trigger and start <= r.at <= end]
        if took:
            out[trigger] = {**report.summary(took), "per_minute": len(took) / ((end - start) / 60)}
    return out


def pending_since(prom) -> dict[tuple[str, str], float]:
    """(source, agent) -> when Prometheus's AgentRunsFailing first went pending: the least value
    of its ``ALERTS_FOR_STATE`` series (each sample is the alert's ``activeAt``), which outlives
    the alert itself (a busy company's failed runs leave the newest 200 within minutes)."""
    expr = 'min_over_time(ALERTS_FOR_STATE{alertname="AgentRunsFailing"}[2h])'
    try:
        found = prom.query(expr)
    except (requests.RequestException, ValueError, KeyError) as exc:
        log(f"no alerts from Prometheus: {exc!r}")
        return {}
    return {(r["metric"].get("source", ""), r["metric"].get("agent", "")): float(r["value"][1]) for r in found}


class _Paused:
    """Pauses the benchmark's agents at the end, on a Paperclip the benchmark did not start."""

    def __init__(self, api: PaperclipAPI, fleet) -> None:
        self.api, self.fleet = api, fleet

    def stop(self) -> None:
        f = self.fleet
        for agent in [*f.background, *(a for a, _, _ in f.runs), *(a for a, _ in f.faults)]:
            try:
                self.api.pause_agent(agent)
            except Exception:  # best effort: the agent may be gone
                pass


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def print_report(result: dict[str, Any], command: str) -> None:
    act = result["activity"]
    print(f"command: {command}")
    print(f"machine: {result['machine']}; load average (1, 5, 15 min) {result['load_average']}")
    print(
        f"activity: {act['agents']} agents on timers, {act['runs_per_minute']:.0f} runs/min, "
        f"{act['issue_moves_per_minute']:.0f} background issue moves/min; the socket pushed "
        f"{act['socket_frames_per_hour']:,.0f} frames/h, {act['socket_bytes_per_hour']:,.0f} B/h"
    )
    print("\n## Freshness: change to /metrics\n")
    print(report.freshness_table(result["freshness"]))
    print("\n## Requests and bytes to Paperclip\n")
    print(report.traffic_table(result["traffic"]))
    live = result["traffic"]["live"]
    print(f"\nlive events received by type: {json.dumps(live['events'])}")
    print(f"live refreshes by trigger: {json.dumps(live['by_trigger'])}")
    print(f"poll wall time by exporter and trigger: {json.dumps(result['poll_seconds'])}")
    for name, t in result["traffic"].items():
        top = sorted(t["by_endpoint"].items(), key=lambda kv: -kv[1])[:8]
        latency, nbytes = t["latency_by_endpoint"], t["bytes_by_endpoint"]
        print(
            f"{name} requests by endpoint (mean s, MB): "
            + ", ".join(f"{k} {v:.0f} ({latency.get(k, 0):.3f}, {nbytes.get(k, 0) / 1e6:.1f})" for k, v in top)
        )
    print("\n## Page latency (AgentRunsFailing)\n")
    print(report.page_table(result["page"], result["for_seconds"]))
    print(
        f"\nPrometheus scraped and evaluated every {result['config']['prom_interval']}, `for` {result['for_seconds']:.0f} s "
        f"(5m / {result['config']['for_factor']}), Alertmanager group_wait 1 s. The shipped 30 s scrape and evaluation "
        "intervals add up to 30 s each before the alert goes pending (15 s each on average), and the shipped group_wait "
        "30 s before a new group's first notification."
    )
    print("\n## Targets\n")
    print(json.dumps(result["targets"], indent=1))
    if result["lane_errors"]:
        print(f"\nlane errors: {result['lane_errors']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agentwatch-live-events-"))
    workdir.mkdir(parents=True, exist_ok=True)
    root = ensure_installed()
    began = time.monotonic()
    server = None
    try:
        if args.paperclip_url:
            url = args.paperclip_url
        else:
            server = PaperclipServer(root, scheduler_ms=args.scheduler_ms)
            server.start()
            url = server.url
            log(f"paperclip up in {time.monotonic() - began:.0f} s at {url}")
        result = Bench(url, root, args, workdir).run()
    finally:
        if server is not None:
            server.stop()
    result["wall_seconds"] = time.monotonic() - began
    print_report(result, " ".join(["python", "bench/live_events.py", *(argv if argv is not None else sys.argv[1:])]))
    print(f"\nwall time {result['wall_seconds']:.0f} s; logs in {workdir}")
    (workdir / "results.json").write_text(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
