"""The run families: finished runs seen since the exporter started (the run ledger), by outcome,
duration, liveness verdict and prompt band. Written fresh each build from the ledger's view,
for the company's agents (``labels``: each one's ``LabelSet``)."""

from __future__ import annotations

from typing import Mapping

from agentwatch.analysis.context import RATIO_BUCKETS
from agentwatch.analysis.ledger import RUN_DURATION_BUCKETS, LedgerView
from agentwatch.exposition import registry as r
from agentwatch.exposition.families import Families, LabelSet


def runs(w: Families, cid: str, labels: Mapping[str, LabelSet], view: LedgerView) -> None:
    """The runs by invocation source, status and error code, and their durations."""
    for (company_id, agent_id, source, status, error_code), n in sorted(view.runs.items()):
        if company_id == cid and agent_id in labels:
            w.add(r.AGENT_RUNS, {**labels[agent_id], "invocation_source": source, "status": status, "error_code": error_code}, n)
    for (company_id, agent_id), hist in sorted(view.durations.items()):
        if company_id == cid and agent_id in labels:
            w.histogram(r.RUN_DURATION, labels[agent_id], RUN_DURATION_BUCKETS, hist.counts, hist.count, hist.total)


def context_runs(w: Families, cid: str, labels: Mapping[str, LabelSet], view: LedgerView) -> None:
    """The runs' prompts over the model's window, per model; their outcomes per prompt band; and
    the platform's liveness verdicts."""
    for (company_id, agent_id, model), hist in sorted(view.context.items()):
        if company_id == cid and agent_id in labels:
            w.histogram(r.CONTEXT_WINDOW_RATIO, {**labels[agent_id], "model": model}, RATIO_BUCKETS, hist.counts, hist.count, hist.total)
    for (company_id, agent_id, model, band, outcome), n in sorted(view.context_outcomes.items()):
        if company_id == cid and agent_id in labels:
            w.add(r.CONTEXT_RUNS, {**labels[agent_id], "model": model, "band": band, "outcome": outcome}, n)
    for (company_id, agent_id, state), n in sorted(view.liveness.items()):
        if company_id == cid and agent_id in labels:
            w.add(r.RUN_LIVENESS, labels[agent_id], n, ("liveness_state", state))
