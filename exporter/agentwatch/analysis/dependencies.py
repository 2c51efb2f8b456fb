"""Dependency deadlocks: cycles, and blocked chains whose end cannot move.

The graph has an edge ``blocker -> dependent`` for every unresolved ``blockedBy`` link and,
for a parent in status ``blocked``, for each of its open children (the parent is held by
them). Paperclip resolves a blocker only when it is ``done``: a ``cancelled`` blocker blocks
forever. Only issues that take part in an edge enter the graph, so its size is bounded by
the number of links, not of issues. Everything is linear in the graph's size: one pass in
topological order over the graph when it has no cycle (as it usually has not); when it has,
strongly connected components find the cycles, and the pass goes over their condensation.

A chain's *end* is a blocker with no unresolved blocker of its own. An end is *stuck* when:

- ``cancelled_blocker``: it is cancelled;
- ``missing_blocker``: it is not in the issue list (deleted, hidden or never seen);
- ``unassigned_blocker``: it is open and nobody is assigned;
- ``blocker_assignee_unavailable``: its agent is paused, terminated or in error;
- ``waiting_on_human``: it is blocked and waits on the board or a person;
- ``blocked_without_path``: it is blocked with no blocker, no owner and no open children;
- ``cycle``: it is part of a dependency cycle.

An end that is ``in_progress``, or open and assigned to an available agent or a person, can
move. A dependent is stalled when any end it waits on is stuck (all blockers must be done).
Its chain takes the cause of the most severe stuck end (the order above), and of equally severe
ends the one stuck longest: the answer does not depend on the order the links were read in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import networkx as nx

from agentwatch.model import TERMINAL_ISSUE_STATUSES, Agent, Issue

UNAVAILABLE_AGENT_STATUSES = frozenset({"paused", "terminated", "error"})
CAUSES = (
    "cycle",
    "cancelled_blocker",
    "missing_blocker",
    "blocker_assignee_unavailable",
    "unassigned_blocker",
    "waiting_on_human",
    "blocked_without_path",
)
_RANK = {cause: i for i, cause in enumerate(CAUSES)}


@dataclass(frozen=True)
class StalledChain:
    head: str  # issue id of the most downstream stalled dependent
    identifier: str
    cause: str
    length: int  # issues on the longest path from an end to the head, both included
    since: float | None  # when the chain's stuck end last changed (approximates when it got stuck)


@dataclass
class DependencyReport:
    nodes: int = 0
    edges: int = 0
    missing_edges: int = 0
    cycles: int = 0
    issues_in_cycles: int = 0
    longest_chain: int = 0
    stalled_by_cause: Counter = field(default_factory=Counter)  # chain heads by cause
    stalled_tasks: int = 0
    heads: list[StalledChain] = field(default_factory=list)  # oldest first, capped at top_n
    oldest_stalled_since: float | None = None


def _end_cause(issue: Issue | None, agents: dict[str, Agent], has_open_children: bool) -> str | None:
    if issue is None:
        return "missing_blocker"
    if issue.status == "cancelled":
        return "cancelled_blocker"
    if issue.assignee_agent_id:
        agent = agents.get(issue.assignee_agent_id)
        if agent is None or agent.status in UNAVAILABLE_AGENT_STATUSES:
            return "blocker_assignee_unavailable"
    if issue.status == "in_progress":
        return None
    if issue.status == "blocked":
        if issue.unblock_owner in ("board", "user"):
            return "waiting_on_human"
        if not has_open_children:
            return "blocked_without_path"
        return None
    if issue.assignee_agent_id or issue.assignee_user_id:
        return None
    return "unassigned_blocker"


def _unknown_last(since: float | None) -> float:
    return float("inf") if since is None else since


def build_graph(issues: dict[str, Issue]) -> tuple[nx.DiGraph, int, set[str]]:
    """The dependency graph (edges blocker -> dependent), the number of edges to unknown issues,
    and the issues with open children (canaries included)."""
    missing = 0
    open_children: dict[str, list[str]] = {}
    with_open_children: set[str] = set()
    values = issues.values()
    # most issues have no parent and no blocker: two light passes pick out those that take part
    for issue in [i for i in values if i.parent_id]:
        if issue.status not in TERMINAL_ISSUE_STATUSES:
            with_open_children.add(issue.parent_id)
            if not issue.is_canary:
                open_children.setdefault(issue.parent_id, []).append(issue.id)
    edges: list[tuple[str, str]] = []
    for issue in [i for i in values if i.blocked_by or i.status == "blocked"]:
        if issue.status in TERMINAL_ISSUE_STATUSES or issue.is_canary:
            continue
        for blocker_id in issue.blocked_by:
            blocker = issues.get(blocker_id)
            if blocker is None:
                missing += 1
            elif blocker.status == "done":
                continue  # resolved
            edges.append((blocker_id, issue.id))
        if issue.status == "blocked":
            for child in open_children.get(issue.id, ()):
                edges.append((child, issue.id))
    graph = nx.DiGraph()
    graph.add_edges_from(edges)
    return graph, missing, with_open_children


def analyse(issues: dict[str, Issue], agents: dict[str, Agent], now: float, top_n: int = 10) -> DependencyReport:
    graph, missing, with_open_children = build_graph(issues)
    condensed = graph
    try:
        try:
            # usually there is no cycle: then the topological order exists, every component is
            # one issue, and the graph is its own condensation
            order = list(nx.topological_sort(graph))
            members: dict = {n: (n,) for n in graph}
            cyclic: set = set()
        except nx.NetworkXUnfeasible:
            components = list(nx.strongly_connected_components(graph))
            condensed = nx.condensation(graph, components)
            members = {c: tuple(nodes) for c, nodes in enumerate(components)}
            cyclic = {c for c, nodes in members.items() if len(nodes) > 1 or graph.has_edge(nodes[0], nodes[0])}
            order = list(nx.topological_sort(condensed))
        return _report(graph, condensed, order, members, cyclic, missing, with_open_children, issues, agents, now, top_n)
    finally:
        # nx.condensation leaves both graphs in reference cycles: free their nodes and edges now
        # rather than at the garbage collector's next full pass, during a later poll
        graph.clear()
        condensed.clear()


def _report(graph: nx.DiGraph, condensed: nx.DiGraph, order: list, component_nodes: dict, cyclic: set, missing: int,
            parents_with_open_children: set[str], issues: dict[str, Issue], agents: dict[str, Agent], now: float,
            top_n: int) -> DependencyReport:
    """``condensed``: the DAG of the strongly connected components, in topological ``order``
    (``component_nodes``: the issues of each; ``cyclic``: those that are cycles)."""
    report = DependencyReport(nodes=graph.number_of_nodes(), edges=graph.number_of_edges(), missing_edges=missing)
    if not graph:
        return report
    report.cycles = len(cyclic)
    report.issues_in_cycles = sum(len(component_nodes[c]) for c in cyclic)

    cause: dict = {}
    since: dict = {}
    depth: dict = {}
    for comp in order:
        nodes = component_nodes[comp]
        preds = list(condensed.predecessors(comp))
        if comp in cyclic:
            own: str | None = "cycle"
            own_since = max((issues[n].updated_at or 0.0 for n in nodes if n in issues), default=None)
        elif not preds:
            node = nodes[0]
            own = _end_cause(issues.get(node), agents, node in parents_with_open_children)
            own_since = issues[node].updated_at if node in issues else None
        else:
            own, own_since = None, None
        # the most severe cause upstream (or its own), and of those the one stuck longest: the
        # same answer whatever order the edges were read in
        best, best_since = own, own_since
        for p in preds:
            pc = cause.get(p)
            if pc is not None and (best is None or (_RANK[pc], _unknown_last(since[p])) < (_RANK[best], _unknown_last(best_since))):
                best, best_since = pc, since[p]
        cause[comp] = best
        since[comp] = best_since
        depth[comp] = len(nodes) + max((depth[p] for p in preds), default=0)
    report.longest_chain = max(depth.values(), default=0)

    heads: list[StalledChain] = []
    for comp in condensed.nodes:
        c = cause[comp]
        if c is None or not list(condensed.predecessors(comp)) and comp not in cyclic:
            continue  # not a dependent, or not stalled
        report.stalled_tasks += len(component_nodes[comp])
        if any(cause.get(s) is not None for s in condensed.successors(comp)):
            continue  # a downstream dependent is the head of this chain
        head_id = min(component_nodes[comp])
        head = issues.get(head_id)
        started = since[comp]
        if head is not None and head.created_at is not None:
            started = max(started or head.created_at, head.created_at)
        heads.append(
            StalledChain(
                head=head_id,
                identifier=head.identifier if head else head_id[:8],
                cause=c,
                length=depth[comp],
                since=started,
            )
        )
        report.stalled_by_cause[c] += 1
    heads.sort(key=lambda h: (h.since if h.since is not None else now, h.identifier, h.head))
    report.heads = heads[:top_n] if top_n >= 0 else heads
    report.oldest_stalled_since = heads[0].since if heads else None
    return report
