"""The OTLP ingestion benchmark (issue 23): ``python bench/otlp.py [--spans 100000] [--json PATH]``.

Spans ingested per second per core, against the floor of protobuf parsing alone, side by side in
one process; then the same spans end to end through the OTLP/HTTP receiver.

**Payload.** A GenAI-instrumented fleet's exports, prepared before anything is timed: ``--agents``
agents (four frameworks in turn: custom, LangGraph, the OpenAI Agents SDK, Pydantic AI), each
turn of a conversation one trace copied from the framework's recorded export
(``tests/fixtures/otel/<framework>_healthy.json``: its ``invoke_agent``, ``chat`` and
``execute_tool`` spans with their 3 to 17 attributes, the messages included), with new trace and
span ids, the agent's own name, its own conversation id (``--turns`` turns a conversation) and
times moving forward: the fleet ends ``--rate`` spans a second, each turn lasting 2 s, an agent
holding as many conversations at once as that takes. Ten agents of a framework share a process
(one resource), whose spans are batched as the SDK's ``BatchSpanProcessor`` batches them: 512 to
an export request, or fewer when 5 s passed since the first one waiting, in the order they ended
(so a trace's children may come a request before its parent). Bodies are serialized protobuf.

**Floor** (``otlp_floor.floor_pass``): ``ExportTraceServiceRequest.FromString`` on every body
and every span touched. **agentwatch**: the ingest path as ``OtelSource`` runs it, in the same
process, without a receiver: ``decode_traces(body, "application/x-protobuf")`` then
``OtelSource.take`` itself (run on a stand-in holding a ``SpanFleet``, its lock and its error
count), at the simulated time the request is exported; and one ``fleet.snapshot`` after every
``--poll-spans`` spans (a poll: 10,000 is a second at the target rate; its CPU reported apart).
An attribute reader (the floor, and every attribute's key and value read) is timed for context.
Floor, attribute reader and agentwatch alternate, ``--repeats`` times each, each agentwatch
repeat with a fresh fleet; the figures are
medians of ``time.process_time()``, so a rate is spans per CPU second: per core. The process is
set up as ``agentwatch serve`` sets it up (``agentwatch.memory.setup``). A breakdown pass times
the stages one by one (decode, ``records``, ``fleet.take``), and ``--profile`` prints where the
agentwatch pass spends its CPU (cProfile).

**End to end** (``--no-http`` leaves it out): a real ``OtelSource`` (receiver on a free loopback
port, ingest thread) in this process, polled every second, and a client process
(``bench/otlp_floor.py --post``) posting the same bodies with one ``requests`` session: once
paced at the ``--offered`` spans/s, once as fast as the receiver answers. It reports the
accepted spans/s (wall), the 429s, and this process's CPU per span (receiver threads, ingest
thread and polls together).

Targets: ingestion at >= 50 % of the floor's rate, and >= 10k spans/s on one core.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import pstats
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agentwatch import memory
from agentwatch.config import OtelSourceConfig
from agentwatch.source.otel.decode import decode_traces
from agentwatch.source.otel.fleet import SpanFleet
from agentwatch.source.otel.source import OtelSource
from agentwatch.source.otel.spans import records

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from otlp_floor import attributes_pass, floor_pass, write_bodies  # noqa: E402
from run import machine  # noqa: E402

FIXTURES = HERE.parent / "tests" / "fixtures" / "otel"
FRAMEWORKS = (
    "custom",
    "langgraph",
    "openai_agents",
    "pydantic_ai",
)  # not CrewAI: its agent is named in graph.node.id, which the renaming here leaves
PROTOBUF = "application/x-protobuf"
BATCH_SPANS = 512  # BatchSpanProcessor's max_export_batch_size
SCHEDULE_DELAY = 5.0  # ... and its schedule_delay, seconds
TURN_SECONDS = 2.0
AGENTS_PER_PROCESS = 10
ORDER_ID = "A-1001"  # the recorded turn's order number, made each turn's own
MAX_AGENTS = 2000  # the default limits.max_agents
TARGET_RATIO = 0.5
TARGET_RATE = 10_000.0
POLL_SECONDS = 1.0  # end to end, the source is polled this often


# -- the payload -------------------------------------------------------------------------------


@dataclass
class Template:
    """One recorded turn (trace) of a framework: its spans in the order they were exported."""

    framework: str
    resource: Resource
    scopes: list[InstrumentationScope]
    spans: list[tuple[int, Span]]  # (index in scopes, span)
    agent: str
    conversation: str
    start_ns: int
    length_ns: int
    rewrites: list[list[int]] = field(default_factory=list)  # per span, the attributes naming the agent, conversation or order


def load_template(framework: str) -> Template:
    exports = json.loads((FIXTURES / f"{framework}_healthy.json").read_text())
    decoded = [decode_traces(json.dumps(export).encode(), "application/json") for export in exports]
    trace_id = decoded[0].resource_spans[0].scope_spans[0].spans[0].trace_id
    scopes: dict[tuple[str, str], int] = {}
    spans: list[tuple[int, Span]] = []
    template_scopes: list[InstrumentationScope] = []
    for request in decoded:
        for scope_spans in request.resource_spans[0].scope_spans:
            key = (scope_spans.scope.name, scope_spans.scope.version)
            if key not in scopes:
                scopes[key] = len(template_scopes)
                template_scopes.append(scope_spans.scope)
            spans.extend((scopes[key], span) for span in scope_spans.spans if span.trace_id == trace_id)
    rows = [row for request in decoded for row in records(request) if row.trace_id == trace_id.hex()]
    agent = next((row.agent_name for row in rows if row.agent_name), "")
    conversation = next((row.conversation_id for row in rows if row.conversation_id), "")
    if not agent or not conversation:
        raise ValueError(f"{framework}'s recorded turn names no agent or no conversation")
    start = min(span.start_time_unix_nano for _, span in spans)
    end = max(span.end_time_unix_nano for _, span in spans)
    template = Template(framework, decoded[0].resource_spans[0].resource, template_scopes, spans, agent, conversation, start, end - start)
    for _, span in spans:
        template.rewrites.append([i for i, kv in enumerate(span.attributes) if _names_the_turn(kv.value.string_value, template)])
    return template


def _names_the_turn(text: str, template: Template) -> bool:
    return any(word in text for word in (template.agent, template.conversation, ORDER_ID))


@dataclass(frozen=True)
class Turn:
    agent: int
    template: Template
    trace_id: bytes
    start_ns: int
    conversation: str
    order: str
    span_ids: dict[bytes, bytes]  # the recorded span id -> this turn's


@dataclass(frozen=True)
class Batch:
    """One export request: its body, its spans, and when (Unix seconds) it is exported."""

    body: bytes
    spans: int
    at: float


def agent_name(agent: int, template: Template) -> str:
    return f"{template.framework}-agent-{agent:04d}"


def plan_turns(templates: list[Template], agents: int, spans: int, rate: float, turns: int, seed: int) -> list[Turn]:
    """Enough turns for ``spans`` spans, agent after agent, each agent starting one every
    ``period`` seconds (the fleet's rate), in as many conversations at once (lanes) as that takes."""
    rng = random.Random(seed)
    mean = statistics.fmean(len(templates[a % len(templates)].spans) for a in range(agents))
    period = agents * mean / rate
    lanes = math.ceil(TURN_SECONDS / period) + 1
    rounds = math.ceil(spans / (agents * mean))
    base_ns = int((time.time() - rounds * period - TURN_SECONDS - 10) * 1e9)  # the last ones end about now
    planned = []
    for k in range(rounds):
        for a in range(agents):
            template = templates[a % len(templates)]
            start = base_ns + int((k + a / agents) * period * 1e9)
            conversation = f"conv-{a:04d}-{k % lanes}-{k // lanes // turns}"
            ids = {span.span_id: rng.randbytes(8) for _, span in template.spans}
            planned.append(Turn(a, template, rng.randbytes(16), start, conversation, f"A-{k * agents + a}", ids))
    return planned


def turn_span(turn: Turn, index: int) -> Span:
    """The ``index``-th span of ``turn``, from its template."""
    template = turn.template
    recorded = template.spans[index][1]
    name = agent_name(turn.agent, template)
    scale = TURN_SECONDS * 1e9 / max(template.length_ns, 1)
    span = Span()
    span.CopyFrom(recorded)
    span.trace_id = turn.trace_id
    span.span_id = turn.span_ids[recorded.span_id]
    span.parent_span_id = turn.span_ids.get(recorded.parent_span_id, b"\x01" * 8) if recorded.parent_span_id else b""
    span.start_time_unix_nano = turn.start_ns + int((recorded.start_time_unix_nano - template.start_ns) * scale)
    span.end_time_unix_nano = turn.start_ns + int((recorded.end_time_unix_nano - template.start_ns) * scale)
    span.name = recorded.name.replace(template.agent, name)
    for i in template.rewrites[index]:
        value = span.attributes[i].value
        value.string_value = (
            value.string_value.replace(template.agent, name).replace(template.conversation, turn.conversation).replace(ORDER_ID, turn.order)
        )
    return span


def span_events(turns: list[Turn], spans: int) -> list[tuple[int, int, int, int]]:
    """The first ``spans`` spans to end: (end ns, order, turn, span index), in the order they end."""
    events = []
    for t, turn in enumerate(turns):
        template = turn.template
        scale = TURN_SECONDS * 1e9 / max(template.length_ns, 1)
        for i, (_, recorded) in enumerate(template.spans):
            end = turn.start_ns + int((recorded.end_time_unix_nano - template.start_ns) * scale)
            events.append((end, len(events), t, i))
    events.sort()
    return events[:spans]


def export_request(turns: list[Turn], resource: Resource, pending: list[tuple[int, int, int, int]]) -> bytes:
    """One process's export request of the ``pending`` spans: one resource, a scope_spans per scope."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.CopyFrom(resource)
    by_scope: dict[str, object] = {}
    for _, _, t, i in pending:
        turn = turns[t]
        scope = turn.template.scopes[turn.template.spans[i][0]]
        scope_spans = by_scope.get(scope.name)
        if scope_spans is None:
            scope_spans = by_scope[scope.name] = resource_spans.scope_spans.add()
            scope_spans.scope.CopyFrom(scope)
        scope_spans.spans.append(turn_span(turn, i))
    return request.SerializeToString()


def process_resource(template: Template, process: int, rng: random.Random) -> Resource:
    resource = Resource()
    resource.CopyFrom(template.resource)
    for kv in resource.attributes:
        if kv.key == "service.instance.id":
            kv.value.string_value = f"{rng.getrandbits(128):032x}"
    resource.attributes.add(key="process.pid", value={"int_value": 1000 + process})
    return resource


def make_batches(turns: list[Turn], events: list[tuple[int, int, int, int]], seed: int) -> list[Batch]:
    """The spans batched per process as a ``BatchSpanProcessor`` batches them, in export order."""
    rng = random.Random(seed + 1)
    resources: dict[int, Resource] = {}
    pending: dict[int, list[tuple[int, int, int, int]]] = {}
    batches: list[Batch] = []
    frameworks = len({turn.template.framework for turn in turns})

    def export(process: int, at_ns: int) -> None:
        waiting = pending.pop(process)
        body = export_request(turns, resources[process], waiting)
        batches.append(Batch(body, len(waiting), at_ns / 1e9))

    for event in events:
        turn = turns[event[2]]
        process = turn.agent % frameworks + frameworks * (turn.agent // frameworks // AGENTS_PER_PROCESS)
        if process not in resources:
            resources[process] = process_resource(turn.template, process, rng)
        waiting = pending.get(process)
        if waiting and event[0] - waiting[0][0] > SCHEDULE_DELAY * 1e9:  # the timer fired first
            export(process, waiting[0][0] + int(SCHEDULE_DELAY * 1e9))
        pending.setdefault(process, []).append(event)
        if len(pending[process]) >= BATCH_SPANS:
            export(process, event[0])
    for process in list(pending):
        export(process, pending[process][0][0] + int(SCHEDULE_DELAY * 1e9))  # flushed by the timer
    batches.sort(key=lambda b: b.at)
    return batches


def recorded_turns() -> list[Template]:
    """The recorded turn of each framework whose recording is there (a re-recording may be under way)."""
    found = [load_template(f) for f in FRAMEWORKS if (FIXTURES / f"{f}_healthy.json").exists()]
    if not found:
        raise SystemExit(f"no recorded exports in {FIXTURES}")
    return found


def payload(spans: int, agents: int, rate: float, turns: int, seed: int = 23) -> list[Batch]:
    """The export requests of ``spans`` spans of ``agents`` agents (see the module's docstring)."""
    planned = plan_turns(recorded_turns(), agents, spans, rate, turns, seed)
    return make_batches(planned, span_events(planned, spans), seed)


# -- in process, side by side ------------------------------------------------------------------


def new_ingest(max_agents: int = MAX_AGENTS) -> SimpleNamespace:
    """What ``OtelSource.take`` uses of its source: the fleet, the lock, the error count, the name."""
    config = OtelSourceConfig(name="bench")
    return SimpleNamespace(fleet=SpanFleet(config, max_agents), _lock=threading.Lock(), internal_errors=0, name="bench")


def agentwatch_pass(batches: list[Batch], poll_spans: int) -> dict:
    """The ingest path over every batch, with a poll's snapshot after every ``poll_spans`` spans
    taken in: total and snapshot CPU, and what the fleet took in."""
    source = new_ingest()
    gc.collect()
    snapshot_cpu = 0.0
    polls = since_poll = 0
    start = time.process_time()
    for batch in batches:
        request = decode_traces(batch.body, PROTOBUF)
        OtelSource.take(source, request, batch.at)
        since_poll += batch.spans
        if since_poll >= poll_spans:
            before = time.process_time()
            with source._lock:
                source.fleet.snapshot(batch.at)
            snapshot_cpu += time.process_time() - before
            polls, since_poll = polls + 1, 0
    cpu = time.process_time() - start
    fleet = source.fleet
    dropped = sum(fleet.dropped.values()) + sum(fleet.traces.dropped.values())
    return {
        "cpu": cpu,
        "snapshot_cpu": snapshot_cpu,
        "polls": polls,
        "spans_taken": fleet.spans,
        "internal_errors": source.internal_errors,
        "agents": len(fleet.agents),
        "tasks": len(fleet.tasks.issues),
        "dropped": dropped,
    }


def timed_floor(batches: list[Batch]) -> tuple[float, tuple[int, int]]:
    bodies = [b.body for b in batches]
    gc.collect()
    start = time.process_time()
    seen = floor_pass(bodies)
    return time.process_time() - start, seen


def timed_attributes(batches: list[Batch]) -> float:
    bodies = [b.body for b in batches]
    gc.collect()
    start = time.process_time()
    attributes_pass(bodies)
    return time.process_time() - start


def side_by_side(batches: list[Batch], repeats: int, poll_spans: int) -> dict:
    """Floor, attribute reader and agentwatch in turn, ``repeats`` times each, after a small warm-up."""
    warm = batches[: max(1, len(batches) // 20)]
    timed_floor(warm)
    timed_attributes(warm)
    agentwatch_pass(warm, poll_spans)
    floors, attrs, runs = [], [], []
    for r in range(repeats):
        floor_cpu, (floor_spans, attributes) = timed_floor(batches)
        floors.append(floor_cpu)
        attrs.append(timed_attributes(batches))
        runs.append(agentwatch_pass(batches, poll_spans))
        print(
            f"  repeat {r + 1}: floor {floor_cpu:.3f} s, attributes {attrs[-1]:.3f} s, agentwatch {runs[-1]['cpu']:.3f} s", file=sys.stderr
        )
    spans = sum(b.spans for b in batches)
    if floor_spans != spans or any(run["spans_taken"] != spans or run["internal_errors"] for run in runs):
        raise SystemExit(f"not every span was taken in: {spans} sent, floor {floor_spans}, agentwatch {[r['spans_taken'] for r in runs]}")
    summary = summarize(spans, floors, runs)
    summary["attributes_cpu"] = statistics.median(attrs)
    summary["attributes_rate"] = spans / summary["attributes_cpu"]
    summary["attributes_per_span"] = attributes / spans
    return summary


def summarize(spans: int, floors: list[float], runs: list[dict]) -> dict:
    median = statistics.median
    floor_cpu = median(floors)
    total = median(run["cpu"] for run in runs)
    ingest = median(run["cpu"] - run["snapshot_cpu"] for run in runs)
    snapshot = median(run["snapshot_cpu"] for run in runs)
    polls = runs[0]["polls"]
    return {
        "spans": spans,
        "floor_cpu": floor_cpu,
        "floor_cpus": floors,
        "agentwatch_cpu": ingest,
        "agentwatch_cpus": [run["cpu"] - run["snapshot_cpu"] for run in runs],
        "with_polls_cpu": total,
        "snapshot_cpu": snapshot,
        "polls": polls,
        "snapshot_ms": 1000 * snapshot / max(polls, 1),
        "floor_rate": spans / floor_cpu,
        "agentwatch_rate": spans / ingest,
        "with_polls_rate": spans / total,
        "ratio": floor_cpu / ingest,
        "ratio_with_polls": floor_cpu / total,
        "fleet": {k: runs[-1][k] for k in ("agents", "tasks", "dropped")},
    }


def breakdown(batches: list[Batch]) -> dict:
    """The ingest path stage by stage, each over every batch: decode alone, decode and ``records``
    (the rows kept), then ``fleet.take`` of those rows; per span."""
    gc.collect()
    start = time.process_time()
    for b in batches:
        decode_traces(b.body, PROTOBUF)
    decode = time.process_time() - start
    start = time.process_time()
    rows = [list(records(decode_traces(b.body, PROTOBUF))) for b in batches]
    read = time.process_time() - start - decode
    source = new_ingest()
    start = time.process_time()
    for batch, batch_rows in zip(batches, rows, strict=True):
        for row in batch_rows:
            source.fleet.take(row, batch.at)
    take = time.process_time() - start
    spans = sum(b.spans for b in batches)
    return {"decode_us": 1e6 * decode / spans, "records_us": 1e6 * read / spans, "take_us": 1e6 * take / spans}


def profile(batches: list[Batch], poll_spans: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(agentwatch_pass, batches, poll_spans)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# -- end to end, over HTTP ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def through_http(batches: list[Batch], offered: float) -> dict:
    """The bodies posted to a real ``OtelSource`` by a client process, at ``offered`` spans/s (0:
    as fast as it answers); this process's CPU while it takes them in, polled every second."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bodies"
        write_bodies(path, ((b.body, b.spans) for b in batches))
        source = OtelSource(OtelSourceConfig(name="bench", listen_address=f"127.0.0.1:{free_port()}"), MAX_AGENTS)
        try:
            return _post_and_poll(source, path, offered, sum(b.spans for b in batches))
        finally:
            source.close()


def _post_and_poll(source: OtelSource, path: Path, offered: float, spans: int) -> dict:
    command = [sys.executable, str(HERE / "otlp_floor.py"), "--post", source.url, "--bodies", str(path), "--rate", str(offered)]
    gc.collect()
    cpu = time.process_time()
    client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    polls, poll_cpu, last_poll, deadline = 0, 0.0, time.monotonic(), time.monotonic() + 600
    while client.poll() is None or not source.idle or source.fleet.spans < spans:
        time.sleep(0.01)
        if time.monotonic() - last_poll >= POLL_SECONDS:
            before = time.thread_time()
            source.poll()
            polls, poll_cpu, last_poll = polls + 1, poll_cpu + time.thread_time() - before, time.monotonic()
        if time.monotonic() > deadline:
            client.kill()
            raise SystemExit("the end-to-end run did not finish in 10 minutes")
    ended, cpu = time.time(), time.process_time() - cpu
    sent = json.loads(client.communicate()[0])
    stats = source.ingest_stats()
    return {
        "offered": offered,
        "spans": spans,
        "spans_taken": stats.spans_received,
        "wall": ended - sent["started"],  # from the first post until every span was taken in
        "client_wall": sent["wall"],
        "accepted_rate": spans / (ended - sent["started"]),
        "cpu": cpu,
        "rate_per_core": spans / cpu,
        "cpu_us_per_span": 1e6 * cpu / spans,
        "statuses": sent["statuses"],
        "429": sent["statuses"].get("429", 0),
        "client_max_lag": sent["max_lag"],
        "polls": polls,
        "poll_cpu": poll_cpu,  # the polls' own thread's CPU, part of ``cpu``
        "dropped": sum(stats.spans_dropped.values()),
    }


# -- the report --------------------------------------------------------------------------------


def verdict(result: dict) -> dict:
    side = result["side_by_side"]
    ratio_ok = side["ratio"] >= TARGET_RATIO
    rate_ok = side["agentwatch_rate"] >= TARGET_RATE
    return {"ratio_met": ratio_ok, "rate_met": rate_ok, "passed": ratio_ok and rate_ok}


def report(result: dict) -> str:
    s, v = result["side_by_side"], result["verdict"]
    b = result.get("breakdown")
    lines = [
        f"Machine: {result['machine']}",
        f"Payload: {s['spans']:,} spans ({s['attributes_per_span']:.1f} attributes a span) in {result['requests']:,} requests "
        f"({result['mb']:.1f} MB protobuf), {result['agents']} agents of {', '.join(result['frameworks'])}; "
        f"fleet after a pass: {s['fleet']['agents']} agents, {s['fleet']['tasks']:,} tasks, {s['fleet']['dropped']} spans dropped",
        f"Medians of {result['repeats']} repeats, alternated; spans per CPU second (per core):",
        f"  floor (protobuf parse + touch):  {s['floor_rate']:>10,.0f} spans/s  ({s['floor_cpu']:.3f} s)",
        f"  every attribute read (context):  {s['attributes_rate']:>10,.0f} spans/s  ({s['attributes_cpu']:.3f} s)",
        f"  agentwatch ingest:               {s['agentwatch_rate']:>10,.0f} spans/s  ({s['agentwatch_cpu']:.3f} s)  = {s['ratio']:.2f}x the floor's rate",
        f"  agentwatch with polls:           {s['with_polls_rate']:>10,.0f} spans/s  ({s['with_polls_cpu']:.3f} s)  = {s['ratio_with_polls']:.2f}x",
        f"  snapshot (poll): {s['polls']} polls, {s['snapshot_ms']:.1f} ms each",
    ]
    if b:
        lines.append(f"  per span: decode {b['decode_us']:.1f} us, records {b['records_us']:.1f} us, fleet.take {b['take_us']:.1f} us")
    for run in result.get("http", []):
        pace = f"offered {run['offered']:,.0f} spans/s" if run["offered"] else "as fast as it answers"
        lines.append(
            f"  HTTP, {pace}: accepted {run['accepted_rate']:,.0f} spans/s (wall), {run['rate_per_core']:,.0f} spans per CPU s "
            f"({run['cpu_us_per_span']:.1f} us a span; {run['polls']} polls, {1e3 * run['poll_cpu'] / max(run['polls'], 1):.0f} ms each), "
            f"429s: {run['429']}, statuses {run['statuses']}"
        )
    lines.append(
        f"Targets: ratio >= {TARGET_RATIO:.0%}: {'met' if v['ratio_met'] else 'MISSED'} ({s['ratio']:.0%}); "
        f">= {TARGET_RATE:,.0f} spans/s on one core: {'met' if v['rate_met'] else 'MISSED'} ({s['agentwatch_rate']:,.0f})"
    )
    return "\n".join(lines)


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spans", type=int, default=100_000, help="spans in the payload")
    p.add_argument("--agents", type=int, default=400, help="agents in the fleet")
    p.add_argument("--rate", type=float, default=TARGET_RATE, help="spans a second the simulated fleet ends")
    p.add_argument("--turns", type=int, default=4, help="turns a conversation")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--poll-spans", type=int, default=10_000, help="spans taken in between polls (snapshots) in process")
    p.add_argument("--offered", type=float, default=TARGET_RATE, help="spans/s the paced HTTP client offers")
    p.add_argument("--no-http", action="store_true", help="leave out the end-to-end runs through the receiver")
    p.add_argument("--no-breakdown", action="store_true")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="print the N top functions of a profiled agentwatch pass")
    p.add_argument("--json", help="also write the results here ('-': to stdout, instead of the report)")
    return p.parse_args()


def main() -> int:
    args = arguments()
    memory.setup()
    started = time.monotonic()
    batches = payload(args.spans, args.agents, args.rate, args.turns)
    result: dict = {"machine": machine(), "agents": args.agents, "repeats": args.repeats, "requests": len(batches)}
    result["frameworks"] = [template.framework for template in recorded_turns()]
    result["mb"] = sum(len(b.body) for b in batches) / 1e6
    print(
        f"prepared {sum(b.spans for b in batches):,} spans in {len(batches):,} requests ({time.monotonic() - started:.1f} s)",
        file=sys.stderr,
    )
    result["side_by_side"] = side_by_side(batches, args.repeats, args.poll_spans)
    if not args.no_breakdown:
        result["breakdown"] = breakdown(batches)
    if args.profile:
        print(profile(batches, args.poll_spans, args.profile), file=sys.stderr)
    if not args.no_http:
        result["http"] = [through_http(batches, rate) for rate in (args.offered, 0.0)]
    result["verdict"] = verdict(result)
    result["seconds"] = time.monotonic() - started
    if args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1) if args.json == "-" else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
