"""The benchmark: ``python bench/run.py [--scales small,medium,large] [--repeats 3] [--json results.json] [--no-churn]``.

For each scale it starts the load server (the demo simulator's API over a scaled world) as its
own process, then measures agentwatch and the floor side by side, each in a fresh process, and
prints the table of ratios that docs/benchmarks.md records. Then the churn row
(``bench/churn.py``): the steady poll at 100 agents, polled every 5 s while 1 % of the issues
change before each poll, against the exact floor. The other bench scripts take the load
server's helpers from here (``start_server``, ``mutate_load``, ``check_seen``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
SCALES = {"small": (10, 1_000), "medium": (100, 10_000), "large": (1_000, 100_000)}


def start_server(agents: int, issues: int) -> tuple[subprocess.Popen, str]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--agents", str(agents), "--issues", str(issues), "--port-file", str(port_file)]
    )
    deadline = time.time() + 600
    while not port_file.exists() or not port_file.read_text():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("load server did not start")
        time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port_file.read_text()}"


def mutate_load(url: str, fraction: float = 0.01) -> dict[str, str]:
    """``fraction`` of the load server's issues change; their new statuses. Returns a moment
    after, so that the changes are behind the next poll's clock."""
    resp = requests.post(f"{url}/__bench/mutate?fraction={fraction}", timeout=60)
    resp.raise_for_status()
    time.sleep(0.05)
    return resp.json()["statuses"]


def check_seen(snapshot, statuses: dict[str, str]) -> None:
    """The steady poll must have seen every change, or it measured a poll with nothing to do."""
    issues = {k: v for cs in snapshot.companies.values() for k, v in cs.issues.items()}
    missed = [k for k, status in statuses.items() if k not in issues or issues[k].status != status]
    assert not missed, f"the steady poll missed {len(missed)} of {len(statuses)} changed issues"


def run_json(args: list[str], stdin: str | None = None) -> dict:
    result = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(agents: int, issues: int, repeats: int = 3) -> dict:
    proc, url = start_server(agents, issues)
    try:
        runs = []
        for _ in range(repeats):
            aw = run_json([str(HERE / "measure_agentwatch.py"), "--url", url])
            plans = {name: aw[name].pop("paths") for name in ("full", "steady", "resync")}
            floor = run_json([str(HERE / "floor.py"), "--url", url], json.dumps(plans))
            runs.append((aw, floor))
    finally:
        proc.terminate()
        proc.wait(30)

    def median(values):
        values = sorted(values)
        return values[len(values) // 2]

    aw, floor = runs[len(runs) // 2]
    return {
        "agents": agents,
        "issues": issues,
        "edges": aw["analysis"]["edges"],
        "full_cpu": median([a["full"]["cpu"] for a, _ in runs]),
        "floor_full_cpu": median([f["full"]["cpu"] for _, f in runs]),
        "steady_cpu": median([a["steady"]["cpu"] for a, _ in runs]),
        "floor_steady_cpu": median([f["steady"]["cpu"] for _, f in runs]),
        "resync_cpu": median([a["resync"]["cpu"] for a, _ in runs]),
        "floor_resync_cpu": median([f["resync"]["cpu"] for _, f in runs]),
        "full_wall": median([a["full"]["wall"] for a, _ in runs]),
        "floor_full_wall": median([f["full"]["wall"] for _, f in runs]),
        "full_requests": aw["full"]["requests"],
        "full_bytes": aw["full"]["bytes"],
        "steady_requests": aw["steady"]["requests"],
        "steady_bytes": aw["steady"]["bytes"],
        "changed": aw["steady"]["changed"],
        "render": median([a["render"]["agentwatch"] for a, _ in runs]),
        "bare_render": median([a["render"]["bare"] for a, _ in runs]),
        "render_at_poll": median([a["render"]["at_poll"] for a, _ in runs]),
        "series": aw["render"]["series"],
        "exposition_bytes": aw["render"]["bytes"],
        "scrape_max": max(a["scrape_during_slow_poll"]["max"] for a, _ in runs),
        "rss_mb": max(a["peak_rss_mb"] for a, _ in runs),
        "deps": median([a["analysis"]["dependencies"] for a, _ in runs]),
        "loops": median([a["analysis"]["loops"] for a, _ in runs]),
        "tasks": median([a["analysis"]["tasks"] for a, _ in runs]),
        "tracker": median([a["analysis"]["progress_tracker"] for a, _ in runs]),
        "deps_kept": median([a["analysis_kept"]["dependencies"] for a, _ in runs]),
        "tasks_kept": median([a["analysis_kept"]["tasks"] for a, _ in runs]),
        "tracker_kept": median([a["analysis_kept"]["progress_tracker"] for a, _ in runs]),
    }


def churn() -> dict:
    """``bench/churn.py``'s row, in its own processes: the steady poll under continuous churn
    against the exact floor."""
    path = Path(tempfile.mkdtemp()) / "churn.json"
    subprocess.run([sys.executable, str(HERE / "churn.py"), "--json", str(path)], check=True, stdout=subprocess.DEVNULL)
    return json.loads(path.read_text())


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), 0)
    return f"{cpu}, {os.cpu_count()} CPUs, {mem} MiB RAM, Linux {platform.release()}, Python {platform.python_version()}"


def table(results: list[dict]) -> str:
    rows = [
        "| Scale | Issues / edges | Poll CPU: agentwatch / floor (full) | Steady poll CPU / floor | Periodic resync CPU / floor | Scrape render / bare client_python | Families built and written at poll / bare render | Steady bytes / full resync | Peak RSS | Scrape while the platform is slow (max) | Analysis from scratch: deps, tasks, tracker, loops | Kept across a 1 % steady poll: deps, tasks, tracker |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r['agents']} agents | {r['issues']:,} / {r['edges']:,} "
            f"| {r['full_cpu']:.2f} s / {r['floor_full_cpu']:.2f} s = **{r['full_cpu'] / r['floor_full_cpu']:.2f}×** "
            f"| {r['steady_cpu']:.2f} s / {r['floor_steady_cpu']:.2f} s = **{r['steady_cpu'] / max(r['floor_steady_cpu'], 1e-9):.2f}×** "
            f"| {r['resync_cpu']:.2f} s / {r['floor_resync_cpu']:.2f} s = **{r['resync_cpu'] / r['floor_resync_cpu']:.2f}×** "
            f"| {r['render'] * 1000:.1f} ms / {r['bare_render'] * 1000:.1f} ms = **{r['render'] / r['bare_render']:.2f}×** ({r['series']:,} series) "
            f"| {r['render_at_poll'] * 1000:.0f} ms / {r['bare_render'] * 1000:.0f} ms = **{r['render_at_poll'] / r['bare_render']:.2f}×** "
            f"| {r['steady_bytes']:,} / {r['full_bytes']:,} B = **{100 * r['steady_bytes'] / r['full_bytes']:.1f} %** ({r['steady_requests']} / {r['full_requests']} requests) "
            f"| **{r['rss_mb']:.0f} MB** | **{r['scrape_max'] * 1000:.0f} ms** "
            f"| {r['deps'] * 1000:.1f}, {r['tasks'] * 1000:.1f}, {r['tracker'] * 1000:.1f}, {r['loops'] * 1000:.1f} ms "
            f"| {r['deps_kept'] * 1000:.1f}, {r['tasks_kept'] * 1000:.1f}, {r['tracker_kept'] * 1000:.1f} ms |"
        )
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scales", default="small,medium,large")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--no-churn", action="store_true", help="leave out the churn row (bench/churn.py, about 3 minutes)")
    args = p.parse_args()
    results = []
    for name in args.scales.split(","):
        agents, issues = SCALES[name]
        print(f"measuring {name}: {agents} agents, {issues} issues", file=sys.stderr)
        results.append(measure(agents, issues, args.repeats))
    churned = None
    if not args.no_churn:
        print("measuring the steady poll under churn: bench/churn.py", file=sys.stderr)
        churned = churn()
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results, "churn": churned}, indent=1))
    print(f"Machine: {machine()}\n")
    print(table(results))
    if churned:
        print("\n" + churned["table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
