"""The side of the OTLP benchmark that is not agentwatch (``bench/otlp.py``).

- ``floor_pass``: protobuf parsing alone, the floor agentwatch's ingestion is measured against:
  ``ExportTraceServiceRequest.FromString`` on every body, then every span touched (its name read
  and its attributes counted), so that the parser cannot leave them unread.
- ``attributes_pass``: for context, the same and every attribute's key and value read.
- The exporter's client, in a process of its own: ``python bench/otlp_floor.py --post URL
  --bodies FILE [--rate SPANS_PER_S]`` posts the prepared bodies (``write_bodies``) to a receiver
  as the OpenTelemetry Python SDK's OTLP/HTTP exporter does (one ``requests`` session, keep-alive
  asked for, ``application/x-protobuf``), paced at ``--rate`` spans/s or as fast as it can. A 429
  is counted and the same body sent again after ``RETRY_PAUSE`` seconds (the receiver asks for
  ``Retry-After: 2``; waiting that long would measure the pause, not the receiver). It prints one
  JSON line: what it sent, the answers by status, its wall time and its own CPU.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = "application/x-protobuf"
RETRY_PAUSE = 0.05
_FRAME = struct.Struct("<II")  # spans, body length


def floor_pass(bodies: Iterable[bytes]) -> tuple[int, int]:
    """Parse every body and touch every span: the spans seen, and their attributes."""
    spans = attributes = 0
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    if span.name is not None:  # touched: the floor reads every span's name
                        spans += 1
                    attributes += len(span.attributes)
    return spans, attributes


def attributes_pass(bodies: Iterable[bytes]) -> int:
    """Context, not the floor: parse every body and read every span attribute's key and value
    (the least a reader of the GenAI attributes does); the attributes read."""
    read = 0
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    for kv in span.attributes:
                        value = kv.value
                        which = value.WhichOneof("value")
                        if kv.key and which is not None and getattr(value, which) is not None:
                            read += 1
    return read


def write_bodies(path: Path, bodies: Iterable[tuple[bytes, int]]) -> None:
    """The (body, spans) pairs as the client process reads them."""
    with path.open("wb") as out:
        for body, spans in bodies:
            out.write(_FRAME.pack(spans, len(body)))
            out.write(body)


def read_bodies(path: Path) -> Iterator[tuple[bytes, int]]:
    data = path.read_bytes()
    at = 0
    while at < len(data):
        spans, size = _FRAME.unpack_from(data, at)
        at += _FRAME.size
        yield data[at : at + size], spans
        at += size


def post_all(url: str, bodies: list[tuple[bytes, int]], rate: float) -> dict:
    """Post every body (paced at ``rate`` spans/s when it is above 0); retry each 429."""
    import requests

    session = requests.Session()
    statuses: Counter[int] = Counter()
    sent_spans = 0
    lag = 0.0  # how far behind its pace the client fell at worst
    started = time.time()
    start = time.monotonic()
    cpu = time.process_time()
    for body, spans in bodies:
        if rate > 0:
            due = start + sent_spans / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            lag = max(lag, -wait)
        while True:
            status = session.post(f"{url}/v1/traces", data=body, headers={"Content-Type": PROTOBUF}, timeout=60).status_code
            statuses[status] += 1
            if status != 429:
                break
            time.sleep(RETRY_PAUSE)
        sent_spans += spans
    return {
        "requests": len(bodies),
        "spans": sent_spans,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "started": started,
        "wall": time.monotonic() - start,
        "cpu": time.process_time() - cpu,
        "max_lag": lag,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--post", required=True, help="the receiver's base URL")
    p.add_argument("--bodies", required=True, type=Path, help="the bodies, as write_bodies wrote them")
    p.add_argument("--rate", type=float, default=0.0, help="spans/s to offer (0: as fast as the receiver answers)")
    args = p.parse_args()
    bodies = list(read_bodies(args.bodies))
    print(json.dumps(post_all(args.post, bodies, args.rate)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
