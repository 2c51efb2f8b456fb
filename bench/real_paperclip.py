"""The benchmark against the REAL Paperclip: seed at least 5k unassigned issues (no runs start),
then poll it with agentwatch and with the floor, side by side.

    python bench/real_paperclip.py [--issues 5000] [--repeats 5]

Needs the cached real server (``python tests/harness/paperclip.py install``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from harness.paperclip import PaperclipAPI, PaperclipServer, ensure_installed  # noqa: E402


def run_json(args: list[str], stdin: str | None = None) -> dict:
    result = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--issues", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=5, help="agentwatch and floor runs; medians are reported")
    args = p.parse_args()
    ensure_installed()
    with PaperclipServer() as server:
        api = PaperclipAPI(server.url)
        company = api.create_company("Bench Co")
        started = time.perf_counter()
        statuses = ("backlog", "todo", "done", "cancelled")  # in_progress needs an assignee; unassigned, no run starts
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: api.create_issue(company, f"Bench task {n}", status=statuses[n % len(statuses)]), range(args.issues)))
        seeded = time.perf_counter() - started
        print(f"seeded {args.issues} issues in {seeded:.0f} s ({args.issues / seeded:.0f}/s)", file=sys.stderr)
        runs = []
        for _ in range(args.repeats):  # a steady poll here takes some 20 ms of CPU: one run is noise
            aw = run_json([str(HERE / "measure_agentwatch.py"), "--url", server.url, "--real"])
            plans = {name: aw[name].pop("paths") for name in ("full", "steady", "resync")}
            runs.append((aw, run_json([str(HERE / "floor.py"), "--url", server.url], json.dumps(plans))))
    aw, floor = runs[len(runs) // 2]
    for poll in ("full", "steady", "resync"):  # each CPU figure the median of its runs
        aw[poll]["cpu"] = median([a[poll]["cpu"] for a, _ in runs])
        floor[poll]["cpu"] = median([f[poll]["cpu"] for _, f in runs])
    aw["peak_rss_mb"] = max(a["peak_rss_mb"] for a, _ in runs)
    result = {"issues": args.issues, "seed_rate": args.issues / seeded, "repeats": args.repeats, "agentwatch": aw, "floor": floor}
    print(json.dumps(result))
    full, steady = aw["full"], aw["steady"]
    print(
        f"full poll: {full['requests']} requests, {full['bytes']:,} B; CPU {full['cpu']:.2f} s vs floor "
        f"{floor['full']['cpu']:.2f} s = {full['cpu'] / floor['full']['cpu']:.2f}x; wall {full['wall']:.2f} s vs "
        f"{floor['full']['wall']:.2f} s",
        file=sys.stderr,
    )
    print(
        f"steady poll ({steady['changed']} changed): {steady['requests']} requests, {steady['bytes']:,} B "
        f"({100 * steady['bytes'] / full['bytes']:.1f} % of the full resync); CPU {steady['cpu']:.2f} s vs floor "
        f"{floor['steady']['cpu']:.2f} s = {steady['cpu'] / max(floor['steady']['cpu'], 1e-9):.2f}x",
        file=sys.stderr,
    )
    resync = aw["resync"]
    print(
        f"periodic full resync, previous data held: CPU {resync['cpu']:.2f} s vs floor {floor['resync']['cpu']:.2f} s "
        f"= {resync['cpu'] / floor['resync']['cpu']:.2f}x; peak RSS {aw['peak_rss_mb']:.0f} MB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
