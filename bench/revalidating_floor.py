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
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import requests

from agentwatch import config, memory
from agentwatch.poller import Poller
from agentwatch.source.paperclip.client import PaperclipSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_agentwatch import mutate_load  # noqa: E402
from run import SCALES, start_server  # noqa: E402


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
        sent: list[tuple[str, str | None]] = []  # (path and query, the If-None-Match sent)
        request = poller.source.client.request

        def recording(method, path, endpoint, params=None, etag=None, **kw):
            sent.append((path + ("?" + urlencode(params) if params else ""), etag))
            return request(method, path, endpoint, params=params, etag=etag, **kw)

        poller.source.client.request = recording
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=8))

        def floor(plan: list[tuple[str, str | None]], revalidate: bool) -> float:
            def one(item: tuple[str, str | None]) -> None:
                path, etag = item
                resp = session.get(url + path, headers={"If-None-Match": etag} if revalidate and etag else None, timeout=120)
                if resp.status_code != 304:
                    json.loads(resp.content)

            started = time.process_time()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(one, plan))
            return time.process_time() - started

        ours, plain, revalidating = [], [], []
        for _ in range(7):
            mutate_load(url)
            sent.clear()
            started = time.process_time()
            assert poller.poll_once()
            ours.append(time.process_time() - started)
            plan = list(sent)
            plain.append(floor(plan, False))
            revalidating.append(floor(plan, True))
        m = statistics.median
        print(
            f"steady poll {m(ours) * 1000:.1f} ms; plain floor {m(plain) * 1000:.1f} ms = {m(ours) / m(plain):.2f}x; "
            f"revalidating floor {m(revalidating) * 1000:.1f} ms = {m(ours) / m(revalidating):.2f}x; "
            f"{sum(1 for _, etag in plan if etag)} of {len(plan)} requests revalidated"
        )
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
