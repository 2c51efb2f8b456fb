"""The steady poll against two floors: ``python bench/revalidating_floor.py [--scale large]``.

``bench/floor.py`` replays a poll's URLs unconditionally, as the issue defines the floor (a
minimal script making the same requests and running ``json.loads``). agentwatch revalidates the
answers whose rows it keeps with their ``ETag`` and reads nothing for a 304. This measures, over
7 steady polls (1 % of the issues changed before each, the poll made at once), the poll's CPU
against both: the plain floor, and a floor that sends the same ``If-None-Match`` headers and so
has nothing to ``json.loads`` for a 304. Both floors replay each poll's requests right after it,
while the answers are still the same. Prints one line of medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentwatch import config, memory
from agentwatch.poller import Poller
from agentwatch.source.paperclip.client import PaperclipSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import WORKERS, keep_alive_session, record, replay  # noqa: E402
from run import SCALES, mutate_load, start_server  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scale", default="large", choices=sorted(SCALES))
    args = p.parse_args()
    proc, url = start_server(*SCALES[args.scale])
    try:
        memory.setup()
        settings = config.Settings(sources=[{"name": "bench", "url": url, "timeout": "120s"}])
        cfg = settings.sources[0]
        poller = Poller(PaperclipSource(cfg, marker=settings.canary_marker), cfg, settings)
        assert poller.poll_once()
        sent = record(poller.source.client)
        session = keep_alive_session()
        pool = ThreadPoolExecutor(max_workers=WORKERS)
        ours, plain, revalidating = [], [], []
        for _ in range(7):
            mutate_load(url)
            sent.clear()
            started = time.process_time()
            assert poller.poll_once()
            ours.append(time.process_time() - started)
            plain.append(replay(session, pool, url, [(r.path, None) for r in sent])["cpu"])
            revalidating.append(replay(session, pool, url, [(r.path, r.etag) for r in sent])["cpu"])
        m = statistics.median
        print(
            f"steady poll {m(ours) * 1000:.1f} ms; plain floor {m(plain) * 1000:.1f} ms = {m(ours) / m(plain):.2f}x; "
            f"revalidating floor {m(revalidating) * 1000:.1f} ms = {m(ours) / m(revalidating):.2f}x; "
            f"{sum(1 for r in sent if r.etag)} of {len(sent)} requests revalidated"
        )
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
