"""Which agent each span belongs to, and which agent invocations are still open.

A span is exported only when it ends, so a trace arrives children first: an LLM call before the
``invoke_agent`` span around it, which may never come if the agent hangs. ``TraceBook`` keeps,
per trace, the parent of every span seen and the agent of every span placed, and holds a span it
cannot place yet (no agent on it, none above it so far) until an ancestor names one.

An *open invocation* is the work below a span that has not arrived: placed spans whose parent
chain stops at a span not seen yet. Its start is the earliest start below it. Once that span
arrives (or the trace is dropped), the invocation is no longer open.

Memory is bounded: at most ``max_traces`` traces (the least recently seen go first), at most
``max_spans`` spans remembered per trace, and a trace unseen for ``idle_timeout`` is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator

from agentwatch.source.otel.spans import AGENT, SpanRecord


@dataclass
class Trace:
    last_seen: float
    parent_of: dict[str, str] = field(default_factory=dict)  # span id -> parent span id ("" root)
    agent_of: dict[str, str] = field(default_factory=dict)  # span id -> agent key, for placed spans
    held: list[SpanRecord] = field(default_factory=list)  # spans not placed yet
    conversation: str = ""  # the first conversation id any span of the trace carried
    # open invocations: the missing span id -> (agent key, earliest start below it)
    open: dict[str, tuple[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OpenInvocation:
    trace_id: str
    span_id: str  # the span that has not arrived
    agent_key: str
    started_at: float
    conversation: str


class TraceBook:
    def __init__(
        self, max_traces: int = 10_000, max_spans: int = 2_000, idle_timeout: float = 6 * 3600.0, service_agents: bool = False
    ) -> None:
        self.max_traces = max_traces
        # a root span that names no agent makes its service.name the agent of what is below it
        self.service_agents = service_agents
        self.max_spans = max_spans
        self.idle_timeout = idle_timeout
        self._traces: OrderedDict[str, Trace] = OrderedDict()
        self.dropped: dict[str, int] = {}  # reason -> spans dropped

    def _drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def _trace(self, trace_id: str, now: float) -> Trace:
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = Trace(now)
            while len(self._traces) > self.max_traces:
                _, gone = self._traces.popitem(last=False)
                self._drop("trace_limit", len(gone.held))
        else:
            self._traces.move_to_end(trace_id)
            trace.last_seen = now
        return trace

    def add(self, span: SpanRecord, now: float) -> Iterator[tuple[SpanRecord, str, str]]:
        """Take one span; yields each span placed by it (itself and the spans it unblocks) with
        its agent key and the trace's conversation id, children before parents."""
        trace = self._trace(span.trace_id, now)
        if len(trace.parent_of) >= self.max_spans and span.span_id not in trace.parent_of:
            self._drop("span_limit")
            return
        trace.parent_of[span.span_id] = span.parent_id
        if span.conversation_id and not trace.conversation:
            trace.conversation = span.conversation_id
        trace.open.pop(span.span_id, None)  # it arrived: the work below it is no longer open
        agent = self._agent_above(trace, span)
        if not agent and not span.parent_id and self.service_agents and span.service:
            agent = span.service
        if not agent:
            if span.parent_id:  # a root without an agent has nothing above it to wait for
                trace.held.append(span)
            return
        trace.agent_of[span.span_id] = agent
        self._opened(trace, span, agent)
        placed = [(span, agent)]
        if span.kind == AGENT or trace.held:
            placed = self._release(trace) + placed
        for row, key in placed:
            yield row, key, trace.conversation

    def _agent_above(self, trace: Trace, span: SpanRecord) -> str:
        if span.agent_key:
            return span.agent_key
        parent, hops = span.parent_id, 0
        while parent and hops < 64:
            agent = trace.agent_of.get(parent)
            if agent:
                return agent
            parent, hops = trace.parent_of.get(parent, ""), hops + 1
        return ""

    def _opened(self, trace: Trace, span: SpanRecord, agent: str) -> None:
        """Note the open invocation above ``span``: the first ancestor not seen yet. An agent's
        own span is left out: it ended, and the span above it is not its work."""
        if span.kind == AGENT:
            return
        parent, hops = span.parent_id, 0
        while parent and parent in trace.parent_of and hops < 64:
            parent, hops = trace.parent_of[parent], hops + 1
        if not parent:
            return
        known = trace.open.get(parent)
        if known is None or span.start < known[1]:
            trace.open[parent] = (agent, span.start if known is None else min(span.start, known[1]))

    def _release(self, trace: Trace) -> list[tuple[SpanRecord, str]]:
        """The held spans that can be placed now, in the order they came."""
        placed: list[tuple[SpanRecord, str]] = []
        progress = True
        while progress and trace.held:
            progress = False
            still: list[SpanRecord] = []
            for held in trace.held:
                agent = self._agent_above(trace, held)
                if agent:
                    trace.agent_of[held.span_id] = agent
                    self._opened(trace, held, agent)
                    placed.append((held, agent))
                    progress = True
                else:
                    still.append(held)
            trace.held = still
        return placed

    def expire(self, now: float) -> None:
        """Drop the traces unseen for ``idle_timeout``; their held spans are counted as unplaced."""
        while self._traces:
            trace_id, trace = next(iter(self._traces.items()))
            if now - trace.last_seen <= self.idle_timeout:
                break
            del self._traces[trace_id]
            self._drop("unattributed", len(trace.held))

    def open_invocations(self) -> list[OpenInvocation]:
        return [
            OpenInvocation(trace_id, span_id, agent, started, trace.conversation)
            for trace_id, trace in self._traces.items()
            for span_id, (agent, started) in trace.open.items()
        ]

    def agents_in(self, trace_id: str) -> dict[str, str]:
        """The placed spans of a trace and their agents (empty for a trace not held)."""
        trace = self._traces.get(trace_id)
        return dict(trace.agent_of) if trace is not None else {}

    def conversations_of(self, trace_id: str) -> set[str]:
        """The conversation ids the tasks of a trace's spans can be under ("" for the trace's own)."""
        trace = self._traces.get(trace_id)
        return {"", trace.conversation} if trace is not None else {""}

    @property
    def held_spans(self) -> int:
        return sum(len(t.held) for t in self._traces.values())

    def __len__(self) -> int:
        return len(self._traces)
