"""The dependency-deadlock families of a company, written fresh each build from its
``DependencyIndex`` report (a handful of lines per company)."""

from __future__ import annotations

from agentwatch.analysis import dependencies
from agentwatch.exposition import registry as r
from agentwatch.exposition.families import Families


def deadlocks(w: Families, base: dict[str, str], index: dependencies.DependencyIndex, top_n: int, now: float) -> None:
    """``index``: the company's dependency report, updated with this poll's issues."""
    report = index.report(now, top_n=top_n)
    w.add(r.DEPENDENCY_EDGES, base, report.edges)
    w.add(r.MISSING_BLOCKERS, base, report.missing_edges)
    w.add(r.DEPENDENCY_CYCLES, base, report.cycles)
    w.add(r.LONGEST_CHAIN, base, report.longest_chain)
    w.add(r.STALLED_TASKS, base, report.stalled_tasks)
    for cause in dependencies.CAUSES:
        w.add(r.STALLED_CHAINS, {**base, "cause": cause}, report.stalled_by_cause.get(cause, 0))
    since = report.oldest_stalled_since
    w.add(r.OLDEST_STALLED_CHAIN_AGE, base, max(0.0, now - since) if since is not None else 0.0)
    for chain in report.heads:
        labels = {**base, "issue": chain.identifier, "cause": chain.cause}
        w.add(r.STALLED_CHAIN_AGE, labels, max(0.0, now - chain.since) if chain.since is not None else 0.0)
        w.add(r.STALLED_CHAIN_LENGTH, labels, chain.length)
