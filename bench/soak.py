"""The soak: agentwatch against a flapping load server for a bounded time, on loopback only.

    python bench/soak.py [--minutes 10] [--agents 100 --issues 10000] [--interval 5]

The load server (bench/server.py) goes down (HTTP 503) for 20 s of every 60 s and changes 1 %
of its issues every poll interval; a scraper reads /metrics every 2 s. Every 10 s the RSS of the
agentwatch process is sampled from /proc. At the end it reports RSS over time, the growth after
warm-up (target: < 10 %), and missed polls: polls the exporter should have made in the time
(elapsed / interval) against the ``agentwatch_polls_total`` it reports (target: none missed).
Prints a Markdown summary; ``--json`` writes the samples.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from agentwatch.stack.local import Process, free_port, wait_ready  # noqa: E402
from run import machine, start_server  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " "))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--issues", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=5.0, help="poll interval, seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="minutes before the RSS baseline is taken")
    p.add_argument("--json", help="write the samples here")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="agentwatch-soak-"))
    server, url = start_server(args.agents, args.issues)
    port = free_port()
    (work / "agentwatch.yml").write_text(
        yaml.safe_dump(
            {
                "poll_interval": f"{args.interval}s",
                "sources": [{"name": "soak", "url": url, "timeout": "4s", "retries": 1, "full_resync_interval": "60s"}],
            }
        )
    )
    exporter = Process(
        [sys.executable, "-m", "agentwatch", f"--config.file={work / 'agentwatch.yml'}", f"--web.listen-address=127.0.0.1:{port}"],
        work / "agentwatch.log",
    )
    metrics = f"http://127.0.0.1:{port}/metrics"
    samples: list[dict] = []
    scrapes = failed_scrapes = 0
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/healthy", exporter)
        started = time.monotonic()
        end = started + args.minutes * 60
        next_sample = next_mutation = started
        down = False
        while time.monotonic() < end:
            now = time.monotonic()
            phase = (now - started) % 60
            if (phase >= 40) != down:  # down for the last 20 s of every minute
                down = phase >= 40
                requests.post(f"{url}/__bench/fault?status={503 if down else 0}", timeout=10)
            if now >= next_mutation:
                requests.post(f"{url}/__bench/mutate?fraction=0.01", timeout=60)
                next_mutation += args.interval
            try:
                text = requests.get(metrics, timeout=5).text
                scrapes += 1
            except requests.RequestException:
                failed_scrapes += 1
                text = ""
            if now >= next_sample and text:
                samples.append(
                    {
                        "t": round(now - started, 1),
                        "rss_mb": round(rss_mb(exporter.pid), 1),
                        "polls": metric(text, "agentwatch_polls_total"),
                        "failures": metric(text, "agentwatch_poll_failures_total"),
                        "up": metric(text, "agentwatch_up"),
                    }
                )
                next_sample += 10
            time.sleep(2)
        elapsed = time.monotonic() - started
    finally:
        exporter.stop()
        server.terminate()
        server.wait(30)

    warm = [s for s in samples if s["t"] >= args.warmup * 60]
    baseline = warm[0]["rss_mb"] if warm else samples[0]["rss_mb"]
    peak_after = max(s["rss_mb"] for s in warm) if warm else baseline
    last = samples[-1]
    expected = int(elapsed // args.interval)
    missed = max(0, expected - int(last["polls"]) - 1)  # the poll in flight at the end is not missed
    growth = 100 * (peak_after - baseline) / baseline
    result = {
        "machine": machine(),
        "minutes": args.minutes,
        "agents": args.agents,
        "issues": args.issues,
        "interval": args.interval,
        "samples": samples,
        "rss_baseline_mb": baseline,
        "rss_peak_after_warmup_mb": peak_after,
        "rss_growth_pct": growth,
        "polls": last["polls"],
        "failed_polls": last["failures"],
        "expected_polls": expected,
        "missed_polls": missed,
        "scrapes": scrapes,
        "failed_scrapes": failed_scrapes,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"Machine: {machine()}\n")
    print(
        f"Soak: {args.minutes:g} min, {args.agents} agents, {args.issues:,} issues, poll every {args.interval:g} s, "
        "platform down 20 s of every 60 s, 1 % of issues changing every poll.\n"
    )
    print("| Measure | Result | Target |\n|---|---|---|")
    print(
        f"| RSS after {args.warmup:g} min warm-up → peak after | {baseline:.0f} MB → {peak_after:.0f} MB (**{growth:+.1f} %**) | < 10 % |"
    )
    print(
        f"| Polls made / expected | {last['polls']:.0f} / {expected} (**{missed} missed**; {last['failures']:.0f} failed while the platform was down) | none missed |"
    )
    print(f"| Scrapes answered | {scrapes} of {scrapes + failed_scrapes} | all |")
    print("\nRSS over time (MB): " + ", ".join(f"{s['t'] / 60:.0f} min {s['rss_mb']:.0f}" for s in samples[::6]))
    ok = growth < 10 and missed == 0 and failed_scrapes == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
