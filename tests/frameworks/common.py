"""What every framework agent script shares: its command line, the OTLP exporter, the scenarios.

Each ``agent_<framework>.py`` runs one real framework on a fake model (no LLM, no network but
loopback), instrumented the way that framework's users instrument it, and exports its spans
over OTLP/HTTP to a running agentwatch. These scripts run in their own virtual environment
(``tests/harness/frameworks.py`` builds it from ``tests/frameworks/requirements.txt``), never in
agentwatch's: the frameworks pin what they pin.

Scenarios (``--scenario``), the same words for every framework:

- ``healthy``: each conversation calls a tool once with its own arguments, then answers.
- ``loop``: one conversation calls the same tool with the same arguments again and again
  (``--calls`` times) and never answers.
- ``grow``: one conversation of ``--conversations`` turns whose prompt tokens grow each turn
  towards the model's context window.
- ``fail``: every invocation fails (the model raises).
- ``spend``: like healthy, with very large token usage on an expensive model.
- ``swap``: canary conversations answered right by ``--model`` then wrong by ``--swap-model``.
- ``hang``: one tool call completes, then the agent hangs inside its invocation until killed.
- ``escalate``: each conversation calls the approval tool ``request_human_approval``.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager
from typing import Iterator

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

SCENARIOS = ("healthy", "loop", "grow", "fail", "spend", "swap", "hang", "escalate")
CANARY_QUESTION = "What is 6 times 7? Answer with the number only."
CANARY_RIGHT, CANARY_WRONG = "42", "48"
# prompt tokens per turn of ``grow``, against a 128k window (gpt-4o)
GROWING_PROMPT = (8_000, 30_000, 60_000, 90_000, 112_000, 120_000)


def parse_args(framework: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"a {framework} agent on a fake model, exporting OTLP")
    p.add_argument("--endpoint", required=True, help="the OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces")
    p.add_argument("--token", default=os.environ.get("AGENTWATCH_OTLP_TOKEN"), help="bearer token, if the receiver asks for one")
    p.add_argument("--scenario", choices=SCENARIOS, default="healthy")
    p.add_argument("--agent", default=f"{framework}-agent", help="the agent's name")
    p.add_argument("--role", default="", help="the agent's role, sent as the resource attribute agentwatch.agent.role")
    p.add_argument("--conversations", type=int, default=3)
    p.add_argument("--calls", type=int, default=25, help="tool calls of the loop scenario")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--swap-model", default="gpt-4o-mini-2026-01")
    p.add_argument("--pause", type=float, default=0.0, help="seconds between conversations")
    return p.parse_args()


def setup_tracing(args: argparse.Namespace, framework: str) -> TracerProvider:
    """A tracer provider exporting every span as it ends (a hung agent's finished children
    reach agentwatch while their parent never ends), installed as the global one."""
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    attributes = {"service.name": f"{framework}-agents", "agentwatch.framework": framework}
    if args.role:
        attributes["agentwatch.agent.role"] = args.role
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=args.endpoint, headers=headers, timeout=5)))
    trace.set_tracer_provider(provider)
    return provider


@contextmanager
def canary(name: str) -> Iterator[trace.Span]:
    """A canary conversation: a parent span naming the canary, whose answer the caller sets as
    ``agentwatch.canary.answer`` once the agent has answered (agentwatch scores it)."""
    tracer = trace.get_tracer("agentwatch.canary")
    with tracer.start_as_current_span(f"canary {name}", attributes={"agentwatch.canary.name": name}) as span:
        yield span


def hang_forever() -> None:
    """Where a hung agent stops: it neither ends its invocation nor sends anything again."""
    while True:
        time.sleep(3600)
