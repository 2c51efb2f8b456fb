"""The steady poll under continuous churn, against the exact floor: ``python bench/churn.py``.

The load server holds 100 agents and 10k issues (``--agents``, ``--issues``). After a full poll,
agentwatch polls every 5 s (``--interval``), and just before every poll 1 % of the issues change
(``--fraction``), as a busy fleet keeps changing between the polls of a running exporter. Each
poll must see every change (``run.check_seen``).

The floor is exact: right after each poll, a separate process (``bench/floor.py --stream``, one
keep-alive session, as many threads as agentwatch's default concurrency) sends the very GETs the
poll sent, each with the ``If-None-Match`` the poll sent, and runs ``json.loads`` on every body
that is not a 304. So it receives exactly the bodies agentwatch received (the 304s empty), and
the bench stops if any answer's status or size differs from the poll's. What agentwatch spends
beyond the floor is its own work: decoding into rows, the analyses, the exposition.

Both are timed with ``time.process_time()``, each in its own process, poll by poll, side by side
against one load server; the first ``--warmup`` polls are not counted, the next ``--polls`` are.
It reports the median CPU per poll of each, their quartiles, and the ratio of the medians.

``--tree PATH`` measures the agentwatch of another checkout (it runs again with
``PYTHONPATH=PATH/exporter``; the load server then comes from that tree too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from floor import Sent, record  # noqa: E402
from run import check_seen, machine, mutate_load, start_server  # noqa: E402


def start_poller(url: str):
    """A poller for the load server, set up as ``agentwatch serve`` sets it up. agentwatch is
    imported here, so that it comes from the tree ``--tree`` chose."""
    from agentwatch import config, memory
    from agentwatch.poller import Poller

    try:
        from agentwatch.source.paperclip.client import PaperclipSource
    except ImportError:  # a tree from before the re-layering (6deddbc)
        from agentwatch.source.paperclip import PaperclipSource  # type: ignore[no-redef]

    memory.setup()
    # no periodic full resync within the run: every poll counted is a steady one
    settings = config.Settings(sources=[{"name": "churn", "url": url, "timeout": "120s", "full_resync_interval": "24h"}])
    cfg = settings.sources[0]
    return Poller(PaperclipSource(cfg, marker=settings.canary_marker), cfg, settings)


class ExactFloor:
    """The floor's own process, fed one poll's requests at a time."""

    def __init__(self, url: str) -> None:
        command = [sys.executable, str(HERE / "floor.py"), "--url", url, "--stream"]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def replay(self, sent: list[Sent]) -> float:
        """The floor's CPU for the GETs of ``sent``, after checking it got the same answers."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps([[r.path, r.etag] for r in sent]) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        got = [tuple(answer) for answer in out["answers"]]
        assert got == [(r.status, r.nbytes) for r in sent], "the floor was not answered as the poll was"
        return out["cpu"]

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(30)


def churn(url: str, args: argparse.Namespace) -> list[dict]:
    """One full poll, then ``warmup + polls`` steady polls on the interval; a sample per counted poll."""
    poller = start_poller(url)
    sent = record(poller.source.client)
    assert poller.poll_once(), "the full poll failed"
    floor = ExactFloor(url)
    samples = []
    tick = time.monotonic()
    try:
        for n in range(args.warmup + args.polls):
            tick += args.interval
            time.sleep(max(0.0, tick - time.monotonic()))
            statuses = mutate_load(url, args.fraction)
            sent.clear()
            started = time.process_time()
            assert poller.poll_once(), "a steady poll failed"
            cpu = time.process_time() - started
            check_seen(poller.last_snapshot, statuses)
            floor_cpu = floor.replay(sent)
            if n >= args.warmup:
                not_modified = sum(1 for r in sent if r.status == 304)
                nbytes = sum(r.nbytes for r in sent)
                samples.append({"cpu": cpu, "floor": floor_cpu, "requests": len(sent), "not_modified": not_modified, "bytes": nbytes})
    finally:
        floor.close()
        poller.source.close()
    return samples


def summary(samples: list[dict]) -> dict:
    """Each CPU's median, quartiles and range, their ratio of medians, and a poll's median traffic."""

    def spread(values: list[float]) -> dict:
        q1, median, q3 = statistics.quantiles(values, n=4)
        return {"median": median, "q1": q1, "q3": q3, "min": min(values), "max": max(values)}

    ours, floor = spread([s["cpu"] for s in samples]), spread([s["floor"] for s in samples])
    traffic = {key: statistics.median(s[key] for s in samples) for key in ("requests", "not_modified", "bytes")}
    return {"agentwatch": ours, "floor": floor, "ratio": ours["median"] / floor["median"], "polls": len(samples), **traffic}


def table(args: argparse.Namespace, result: dict) -> str:
    """The churn row, as docs/benchmarks.md records it."""

    def ms(s: dict) -> str:
        return f"{s['median'] * 1000:.1f} ms ({s['q1'] * 1000:.1f}–{s['q3'] * 1000:.1f}; {s['min'] * 1000:.1f}–{s['max'] * 1000:.1f})"

    return (
        f"| Churn: {args.agents} agents, {args.issues:,} issues, {args.fraction * 100:g} % changed before every poll, "
        f"{args.interval:g} s apart | agentwatch | exact floor | agentwatch / floor |\n|---|---|---|---|\n"
        f"| CPU per poll: median of {result['polls']} (quartiles; range), after {args.warmup} warm-up polls "
        f"| {ms(result['agentwatch'])} | {ms(result['floor'])} | **{result['ratio']:.2f}×** (target ≤ 1.3×) |\n\n"
        f"A poll (median): {result['requests']:g} requests, {result['not_modified']:g} of them 304, {result['bytes']:,.0f} B."
    )


def tree_exporter(tree: Path) -> str:
    return str(tree.resolve() / "exporter")


def rerun_in(tree: Path) -> int:
    """This bench again, in a process whose agentwatch (and load server) come from ``tree``."""
    env = {**os.environ, "PYTHONPATH": tree_exporter(tree)}
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env=env).returncode


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--issues", type=int, default=10_000)
    p.add_argument("--fraction", type=float, default=0.01, help="of the issues changed before every poll")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    p.add_argument("--warmup", type=int, default=5, help="steady polls made before the counted ones")
    p.add_argument("--polls", type=int, default=30, help="steady polls counted (at least 2)")
    p.add_argument("--tree", type=Path, help="measure the agentwatch of this checkout")
    p.add_argument("--json", help="also write the samples and the summary here")
    args = p.parse_args()
    if args.tree and os.environ.get("PYTHONPATH") != tree_exporter(args.tree):
        return rerun_in(args.tree)
    proc, url = start_server(args.agents, args.issues)
    try:
        samples = churn(url, args)
    finally:
        proc.terminate()
        proc.wait(30)
    import agentwatch

    assert not args.tree or agentwatch.__file__.startswith(tree_exporter(args.tree)), agentwatch.__file__
    result = {**summary(samples), "agentwatch_module": agentwatch.__file__, "machine": machine()}
    result["table"] = table(args, result)
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "samples": samples}, indent=1))
    print(f"Machine: {machine()}\nagentwatch: {agentwatch.__file__}\n\n{result['table']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
