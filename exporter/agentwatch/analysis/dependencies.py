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

A blocked task in no link at all, whose block has no owner (no blocker listed, no
``unblockDescriptor``, no recovery of the platform's in charge) and that has no open children,
cannot move either: nothing will ever unblock it. Paperclip leaves such a task behind when a
blocker is deleted (``DELETE /api/issues/{id}`` removes the relation: the dependent stays
``blocked`` with ``blockedBy: []``; Paperclip PR #10712). It is reported as a chain of its own,
of length 1, with cause ``blocked_without_path``. A task whose blocker is done is not one: it lists
the blocker, and Paperclip wakes its assignee.

Across polls (``DependencyIndex``)
----------------------------------

Nothing in that analysis crosses a *weakly connected component* of the graph (the issues linked
by edges in either direction): an end's cause travels only along edges. So the report is a sum
over components: counts add up, the longest chain is the longest of theirs, and the stalled
chains' heads are those of every component, ordered oldest first when the report is asked for
(``now`` stands in for an unknown age, its only use). At 100k issues the graph has some 4,000
components of a few issues each, and a poll that changes 1 % of the issues touches about a
hundred of them.

``DependencyIndex`` keeps each component's part of the report between polls and, for each
poll's ``IssueDelta``, analyses again only the components around what changed. An issue's
change can touch the graph in three places, each found from an index kept across polls:

- its own edges as a dependent, and its own cause and age as an end: it is *touched*;
- the edges of the dependents that list it as a blocker: while it is not done they are edges
  of the graph (so those dependents are in its component), and while it is done they are
  resolved, so ``_resolved_by`` lists, for each done blocker, the open dependents listing it:
  they are touched when it stops being done or disappears;
- its parent's open-children edges (when the parent is blocked) and the parent's "has open
  children": ``_open_children`` lists each parent's open children, and a change to a child's
  parent, openness or canary flag touches its old and new parent.

The touched issues' components (``_component``: each node's) are dropped, and the edges of
every issue in them, and of the touched issues, are derived again from the poll's issues. A
derived edge from an issue of a component not yet dropped drops that one too (a new link joins
two components), until the re-derived edges make a subgraph closed under the graph's edges:
its weakly connected components are exactly the new graph's components there, and the same
analysis as from scratch (``_analyse``) gives their parts of the report. An end's cause also
depends on its agent's availability: when an agent becomes available or unavailable, the
components holding an issue assigned to it are dropped too. They are found by a walk of the
graph's nodes (~13k at 100k issues, 2-3 ms) on the polls where that happens, rather than by an
index of the nodes by agent kept up to date on every poll (a few hundred kB more between polls),
or by analysing everything again (~90 ms).

The first delta, and any delta that does not start from the mapping the index last took in,
starts over from an empty index: the whole graph is one region analysed by the same code, and
``analyse`` is exactly that. An update that raises empties the index: the next one starts over.

What the index holds between polls, at 100k issues: some 13k nodes' components with their parts
(4k components), 11k done blockers' dependents, 1k parents' open children: about 2 MB.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Collection, Generic, Iterable, Mapping, Sequence, TypeVar

import msgspec
import networkx as nx

from agentwatch.analysis.views import Generations, HasGeneration
from agentwatch.model import TERMINAL_ISSUE_STATUSES, Agent, Issue
from agentwatch.model.delta import IssueDelta, add_count

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
RESOLVED = "done"  # the only status of a blocker that resolves it


class StalledChain(msgspec.Struct, frozen=True, gc=False):  # a struct: cheap to make, per chain analysed
    head: str  # issue id of the most downstream stalled dependent
    identifier: str
    cause: str
    length: int  # issues on the longest path from an end to the head, both included
    since: float | None  # when the chain's stuck end last changed (approximates when it got stuck)


@dataclass(frozen=True, slots=True)
class DependencyReport:
    """The dependency report at one moment: a value, read-only, that no later update changes."""

    nodes: int = 0
    edges: int = 0
    missing_edges: int = 0
    cycles: int = 0
    issues_in_cycles: int = 0
    longest_chain: int = 0
    stalled_by_cause: Mapping[str, int] = field(default_factory=dict)  # chain heads by cause
    stalled_tasks: int = 0
    heads: tuple[StalledChain, ...] = ()  # oldest first, capped at top_n
    oldest_stalled_since: float | None = None


class _Totals:
    """The sums over the components that ``DependencyIndex`` adds components to and takes them out of."""

    __slots__ = ("nodes", "edges", "missing_edges", "cycles", "issues_in_cycles", "stalled_tasks", "stalled_by_cause")

    def __init__(self) -> None:
        self.nodes = 0
        self.edges = 0
        self.missing_edges = 0
        self.cycles = 0
        self.issues_in_cycles = 0
        self.stalled_tasks = 0
        self.stalled_by_cause: Counter[str] = Counter()


def analyse(issues: Mapping[str, Issue], agents: Mapping[str, Agent], now: float, top_n: int = 10) -> DependencyReport:
    """The report from scratch: an index that takes in every issue at once (as ``update`` with
    ``IssueDelta.everything(issues)``, without the tuple of every id that lists)."""
    index = DependencyIndex()
    index._take(issues, agents, None)
    return index.report(now, top_n)


class _Component:
    """One weakly connected component of the graph, and its part of the report (an accumulator
    while ``_walk`` fills it in, left alone once the index holds it)."""

    __slots__ = ("nodes", "edges", "missing_edges", "cycles", "issues_in_cycles", "longest_chain", "stalled_tasks", "heads")

    def __init__(self, nodes: tuple[str, ...]):
        self.nodes = nodes
        self.edges = 0
        self.missing_edges = 0
        self.cycles = 0
        self.issues_in_cycles = 0
        self.longest_chain = 0
        self.stalled_tasks = 0
        self.heads: tuple[StalledChain, ...] = ()


# what _derive finds: dependent -> the issues that hold it; dependent -> its blockers not in the
# list; and the components of the graph that the derivation replaces
_Derived = tuple[dict[str, list[str]], dict[str, int], Collection[_Component]]


class DependencyIndex(HasGeneration):
    """The dependency report of one company's issues, kept across polls (see the module's
    docstring): ``update`` with each poll's ``IssueDelta``, ``report`` when it is asked for.

    Between polls it holds, besides the issues mapping it last took in (the poll's own): each
    node's component with that component's part of the report, each parent's open children,
    each done blocker's open dependents, and the set of available agents. ``generation`` moves
    on with every update that changes any of that."""

    def __init__(self) -> None:
        self._base: Mapping[str, Issue] | None = None  # the ``after`` last taken in; None: start over
        self._generations = Generations()
        self._clear()

    def _clear(self) -> None:
        self._component: dict[str, _Component] = {}  # node -> its component
        self._open_children: dict[str, list[str]] = {}  # parent id -> its open children, canaries included
        # done blocker -> the open dependents listing it (one, or a list of several: see _link)
        self._resolved_by: dict[str, str | list[str]] = {}
        self._available: frozenset[str] = frozenset()  # agents that can move an end assigned to them
        # the sums over components; the longest chain by a count of each component's longest
        self._totals = _Totals()
        self._longest: Counter[int] = Counter()
        self._heads: dict[str, StalledChain] = {}  # head id -> chain, of every component
        # blocked tasks whose block has no owner and lists no blocker (``_ownerless``): those not
        # in the graph are stalled chains of their own
        self._ownerless: dict[str, Issue] = {}

    def update(self, delta: IssueDelta, agents: Mapping[str, Agent]) -> None:
        """Take in one poll: ``delta`` from the issues last taken in (else the index starts over)
        and the company's agents now."""
        base, self._base = self._base, None  # None until this update is complete
        try:
            self._take(delta.after, agents, delta if delta.follows(base) else None)
        except BaseException:
            # half-way, the indexes hold part of this poll: the next update starts over, and
            # until then the report is an empty one rather than a mix of two polls
            self._clear()
            self._generations.advance()
            raise
        self._base = delta.after

    def _take(self, issues: Mapping[str, Issue], agents: Mapping[str, Agent], delta: IssueDelta | None) -> None:
        """Take in a poll's ``issues`` and ``agents``: the changes ``delta`` lists, from the
        issues last taken in, or (None) every issue, from an empty index."""
        available = frozenset(a for a, agent in agents.items() if agent.status not in UNAVAILABLE_AGENT_STATUSES)
        if delta is None:
            self._clear()
            holders, missing, dropped = self._derive_everything(issues)
        else:
            holders, missing, dropped = self._derive_changes(delta, self._available ^ available)
        ownerless_changed = self._take_ownerless(issues, delta)
        # the new components first, over the entries of the dropped ones: most of their nodes and
        # heads are the same, and a dict that deletes and inserts the same keys poll after poll
        # grows to twice its size (CPython does not shrink it)
        component = self._component
        added = _analyse(holders, missing, issues, agents, self._open_children, component)
        for comp in added:
            self._count(comp, 1)
        for comp in dropped:
            self._count(comp, -1)
            for node in comp.nodes:
                if component.get(node) is comp:  # not in the graph any more
                    del component[node]
        if delta is None or added or dropped or ownerless_changed:
            self._generations.advance()
        self._available = available

    def _take_ownerless(self, issues: Mapping[str, Issue], delta: IssueDelta | None) -> bool:
        """The blocked tasks whose block has no owner, brought up to date from ``delta`` (None:
        from every issue, into an empty index); whether any changed."""
        ownerless = self._ownerless
        if delta is None:
            ownerless.update((i.id, i) for i in issues.values() if i.status == "blocked" and _ownerless(i))
            return True
        changed = False
        for iid, _, new in delta.pairs():
            if new is not None and new.status == "blocked" and _ownerless(new):
                ownerless[iid] = new
                changed = True
            elif ownerless.pop(iid, None) is not None:
                changed = True
        return changed

    def report(self, now: float, top_n: int = 10) -> DependencyReport:
        """The report on the issues and agents last taken in: the stalled chains' heads oldest
        first (an unknown age counts as ``now``), at most ``top_n`` of them (all when negative)."""
        t = self._totals
        alone = [
            StalledChain(iid, issue.identifier, "blocked_without_path", 1, issue.updated_at)
            for iid, issue in self._ownerless.items()
            if iid not in self._component and not self._open_children.get(iid)
        ]
        by_cause = Counter(t.stalled_by_cause)
        if alone:
            by_cause["blocked_without_path"] += len(alone)
        ordered = _oldest_first([*self._heads.values(), *alone] if alone else self._heads.values(), now, top_n)
        return DependencyReport(
            nodes=t.nodes,
            edges=t.edges,
            missing_edges=t.missing_edges,
            cycles=t.cycles,
            issues_in_cycles=t.issues_in_cycles,
            longest_chain=max(self._longest, default=0),
            stalled_by_cause=MappingProxyType(by_cause),
            stalled_tasks=t.stalled_tasks + len(alone),
            heads=tuple(ordered[:top_n] if top_n >= 0 else ordered),
            oldest_stalled_since=ordered[0].since if ordered else None,
        )

    def _count(self, comp: _Component, sign: int) -> None:
        """Add a component's part to the totals (``sign`` 1), or take it out (-1): its heads
        then only if no component added since holds them."""
        t = self._totals
        t.nodes += sign * len(comp.nodes)
        t.edges += sign * comp.edges
        t.missing_edges += sign * comp.missing_edges
        t.cycles += sign * comp.cycles
        t.issues_in_cycles += sign * comp.issues_in_cycles
        t.stalled_tasks += sign * comp.stalled_tasks
        add_count(self._longest, comp.longest_chain, sign)
        for head in comp.heads:
            add_count(t.stalled_by_cause, head.cause, sign)
            if sign > 0:
                self._heads[head.head] = head
            elif self._heads.get(head.head) is head:
                del self._heads[head.head]

    def _derive_everything(self, issues: Mapping[str, Issue]) -> _Derived:
        """Every dependent's holders and unknown blockers (none dropped), the indexes built from
        nothing."""
        values = issues.values()
        children = self._open_children
        # most issues have no parent, no blocker and are not blocked: two light passes pick out
        # the others
        for issue in [i for i in values if i.parent_id]:
            parent = _open_parent(issue)
            if parent is not None:
                children.setdefault(parent, []).append(issue.id)
        holders_of: dict[str, list[str]] = {}
        missing_of: dict[str, int] = {}
        _derive([i for i in values if i.blocked_by or i.status == "blocked"], issues, children, holders_of, missing_of, self._resolved_by)
        return holders_of, missing_of, ()

    def _derive_changes(self, delta: IssueDelta, flipped: frozenset[str]) -> _Derived:
        """The holders and unknown blockers of every dependent in the components that ``delta``
        (and the agents whose availability ``flipped``) touch, and those components; the indexes
        brought up to date."""
        touched = self._touch(delta)
        component = self._component
        dropped = {component[iid] for iid in touched if iid in component}
        if flipped:
            after = delta.after
            for node, comp in component.items():
                issue = after.get(node)
                if issue is not None and issue.assignee_agent_id in flipped:
                    dropped.add(comp)
        holders_of, missing_of = self._rederive(delta, touched, dropped)
        return holders_of, missing_of, dropped

    def _touch(self, delta: IssueDelta) -> set[str]:
        """The issues whose edges or end ``delta`` may have changed: the changed ones, the parents
        whose open children changed (``_open_children`` brought up to date) and the dependents of
        a blocker that stopped being done."""
        children, resolved_by = self._open_children, self._resolved_by
        touched: set[str] = set()
        for iid, old, new in delta.pairs():
            touched.add(iid)
            old_parent, new_parent = _open_parent(old), _open_parent(new)
            if old_parent != new_parent or (old_parent is not None and _canary(old) != _canary(new)):
                # its parent's edges from open children, and whether it has any
                if old_parent is not None:
                    _unlink_child(children, old_parent, iid)
                    touched.add(old_parent)
                if new_parent is not None:
                    children.setdefault(new_parent, []).append(iid)
                    touched.add(new_parent)
            if old is not None and old.status == RESOLVED and (new is None or new.status != RESOLVED):
                touched.update(_linked(resolved_by, iid))
        return touched

    def _rederive(self, delta: IssueDelta, touched: set[str], dropped: set[_Component]) -> tuple[dict[str, list[str]], dict[str, int]]:
        """The edges into every issue of ``touched`` and of the ``dropped`` components, derived
        again in rounds: a round's edges from a component left alone so far drop it too, and
        bring its nodes into the next round. ``_resolved_by`` is brought up to date."""
        before, after = delta.before, delta.after
        children, component = self._open_children, self._component
        holders_of: dict[str, list[str]] = {}
        missing_of: dict[str, int] = {}
        was_resolved: dict[str, str | list[str]] = {}
        resolved: dict[str, str | list[str]] = {}
        batch = touched.union(*(comp.nodes for comp in dropped))
        seen = set(batch)
        while batch:
            _derive([i for iid in batch if (i := before.get(iid)) is not None], before, None, {}, {}, was_resolved)
            found: dict[str, list[str]] = {}
            _derive([i for iid in batch if (i := after.get(iid)) is not None], after, children, found, missing_of, resolved)
            holders_of.update(found)
            batch = set()
            for holders in found.values():
                for blocker in holders:
                    joined = component.get(blocker)
                    if joined is not None and joined not in dropped:
                        dropped.add(joined)
                        batch.update(n for n in joined.nodes if n not in seen)
            seen |= batch
        _relink(self._resolved_by, was_resolved, resolved)
        return holders_of, missing_of


def _canary(issue: Issue | None) -> bool:
    return issue is not None and issue.is_canary


def _relink(resolved_by: dict[str, str | list[str]], was: dict[str, str | list[str]], now: dict[str, str | list[str]]) -> None:
    """In ``resolved_by``, the links of ``was`` replaced with those of ``now``."""
    for blocker in was:
        for dependent in _linked(was, blocker):
            _unlink(resolved_by, blocker, dependent)
    for blocker in now:
        for dependent in _linked(now, blocker):
            _link(resolved_by, blocker, dependent)


def _open_parent(issue: Issue | None) -> str | None:
    """The parent an open issue holds (when the parent is blocked), or None."""
    if issue is None or not issue.parent_id or issue.status in TERMINAL_ISSUE_STATUSES:
        return None
    return issue.parent_id


def _derive(
    dependents: Iterable[Issue],
    issues: Mapping[str, Issue],
    open_children: Mapping[str, list[str]] | None,
    holders_of: dict[str, list[str]],
    missing_of: dict[str, int],
    resolved: dict[str, str | list[str]],
) -> None:
    """The edges into each of ``dependents``: in ``holders_of``, the issues that hold it, each
    once (its unresolved blockers, known or not, and, when it is blocked, its open children that
    are not canaries); in ``missing_of``, how many of its blockers are not in the list (each
    listing counted); linked in ``resolved``, under each of its resolved blockers. An
    issue that is no dependent (closed, or a canary) has none. Without ``open_children`` only
    the blockers are read."""
    for issue in dependents:
        if issue.status in TERMINAL_ISSUE_STATUSES or issue.is_canary:
            continue
        iid = issue.id
        holders: list[str] = []
        missing = 0
        for blocker_id in issue.blocked_by:
            blocker = issues.get(blocker_id)
            if blocker is None:
                missing += 1
            elif blocker.status == RESOLVED:
                # _link, with its common case (the first dependent to list the blocker) inlined
                if resolved.setdefault(blocker_id, iid) is not iid:
                    _link(resolved, blocker_id, iid)
                continue
            holders.append(blocker_id)
        if open_children is not None and issue.status == "blocked":
            for child in open_children.get(iid, ()):
                if not issues[child].is_canary:
                    holders.append(child)
        if holders:
            if len(holders) > 1 and len(set(holders)) < len(holders):
                holders = list(dict.fromkeys(holders))  # a blocker listed twice, or also a child
            holders_of[iid] = holders
            if missing:
                missing_of[iid] = missing


# A unit of the pass in topological order: an issue id when the graph has no cycle, else the
# number networkx gives a strongly connected component of the condensation
_Unit = TypeVar("_Unit", str, int)


@dataclass(frozen=True, slots=True)
class _Units(Generic[_Unit]):
    """What the pass goes over: the units in topological order, each one's predecessors and,
    when the graph has a cycle, each one's issues (``members``) and which are cycles."""

    order: list[_Unit]
    preds: Mapping[_Unit, Sequence[_Unit]]
    members: Mapping[_Unit, tuple[str, ...]] | None
    cyclic: frozenset[_Unit]

    def issues_of(self, unit: _Unit) -> tuple[str, ...]:
        return (str(unit),) if self.members is None else self.members[unit]


def _analyse(
    holders_of: Mapping[str, list[str]],
    missing_of: Mapping[str, int],
    issues: Mapping[str, Issue],
    agents: Mapping[str, Agent],
    open_children: Mapping[str, list[str]],
    component_of: dict[str, _Component],
) -> list[_Component]:
    """The components of the graph whose edges are ``holders_of`` (dependent -> the issues that
    hold it; ``missing_of``: how many of its blockers are not in the list), each with its part of
    the report, and each node's entered in ``component_of``. The graph must be closed under the
    whole graph's edges (whole components)."""
    components = [_Component(nodes) for nodes in _weak_components(holders_of)]
    component_of.update({node: comp for comp in components for node in comp.nodes})
    for dependent, holders in holders_of.items():
        component_of[dependent].edges += len(holders)
    for dependent, missing in missing_of.items():
        component_of[dependent].missing_edges += missing
    # usually there is no cycle: then the topological order exists, every unit of the pass is
    # one issue, and the graph is its own condensation
    order = _topological_order(holders_of)
    if order is not None:
        _walk(_Units(order, holders_of, None, frozenset()), issues, agents, open_children, component_of)
    else:
        _walk_condensed(holders_of, issues, agents, open_children, component_of)
    return components


def _weak_components(holders_of: Mapping[str, list[str]]) -> list[tuple[str, ...]]:
    """The nodes of each weakly connected component of the graph whose edges are ``holders_of``
    (a plain walk: the graphs analysed at a poll are some hundred small components)."""
    linked: dict[str, list[str]] = {}
    for dependent, holders in holders_of.items():
        linked.setdefault(dependent, []).extend(holders)
        for holder in holders:
            linked.setdefault(holder, []).append(dependent)
    seen: set[str] = set()
    components = []
    for start in linked:
        if start in seen:
            continue
        seen.add(start)
        nodes, i = [start], 0
        while i < len(nodes):
            for node in linked[nodes[i]]:
                if node not in seen:
                    seen.add(node)
                    nodes.append(node)
            i += 1
        components.append(tuple(nodes))
    return components


def _topological_order(holders_of: Mapping[str, list[str]]) -> list[str] | None:
    """The nodes with every node after the issues that hold it (Kahn's algorithm), or None when
    the graph has a cycle. ``holders_of`` lists each holder of a dependent once."""
    waiting = {dependent: len(holders) for dependent, holders in holders_of.items()}
    held: dict[str, list[str]] = {}  # holder -> the dependents it holds
    for dependent, holders in holders_of.items():
        for holder in holders:
            held.setdefault(holder, []).append(dependent)
    order = [node for node in held if node not in waiting]  # the ends
    for node in order:  # the list grows as the dependents come free
        for dependent in held.get(node, ()):
            left = waiting[dependent] - 1
            waiting[dependent] = left
            if not left:
                order.append(dependent)
    return order if len(order) == len(held.keys() | waiting.keys()) else None


def _walk_condensed(
    holders_of: Mapping[str, list[str]],
    issues: Mapping[str, Issue],
    agents: Mapping[str, Agent],
    open_children: Mapping[str, list[str]],
    component_of: dict[str, _Component],
) -> None:
    """``_walk`` over the condensation of a graph with a cycle: its strongly connected
    components, in topological order."""
    graph = nx.DiGraph()
    graph.add_edges_from([(blocker, dependent) for dependent, holders in holders_of.items() for blocker in holders])
    condensed = graph
    try:
        sccs = list(nx.strongly_connected_components(graph))
        condensed = nx.condensation(graph, sccs)
        members = {c: tuple(nodes) for c, nodes in enumerate(sccs)}
        cyclic = frozenset(c for c, nodes in members.items() if len(nodes) > 1 or graph.has_edge(nodes[0], nodes[0]))
        preds = {c: list(condensed.pred[c]) for c in condensed}
        _walk(_Units(list(nx.topological_sort(condensed)), preds, members, cyclic), issues, agents, open_children, component_of)
    finally:
        # nx.condensation leaves both graphs in reference cycles: free their nodes and edges now
        # rather than at the garbage collector's next full pass, during a later poll
        graph.clear()
        condensed.clear()


def _walk(
    units: _Units[_Unit],
    issues: Mapping[str, Issue],
    agents: Mapping[str, Agent],
    open_children: Mapping[str, list[str]],
    component_of: dict[str, _Component],
) -> None:
    """One pass over the units in topological order, that adds each unit's part of the report
    to its component's: its own cause and the most severe cause upstream, its depth, and the
    stalled chains' heads."""
    cause: dict[_Unit, str | None] = {}
    since: dict[_Unit, float | None] = {}
    depth: dict[_Unit, int] = {}
    held: set[_Unit] = set()  # units with a stalled dependent downstream
    stalled: list[_Unit] = []
    members, cyclic = units.members, units.cyclic
    for unit in units.order:
        if members is None:  # without a cycle, a unit is an issue (no 1-tuple of it is made)
            first, size = str(unit), 1
        else:
            first, size = members[unit][0], len(members[unit])
        ups = units.preds.get(unit, ())
        comp = component_of[first]
        if unit in cyclic:
            own: str | None = "cycle"
            own_since = _cycle_since(units.issues_of(unit), issues)
            comp.cycles += 1
            comp.issues_in_cycles += size
        elif not ups:
            issue = issues.get(first)
            own = _end_cause(issue, agents, first in open_children)
            own_since = issue.updated_at if issue is not None else None
        else:
            own, own_since = None, None
        # the most severe cause upstream (or its own), and of those the one stuck longest: the
        # same answer whatever order the edges were read in
        best, best_since = own, own_since
        longest = 0
        for p in ups:
            pc = cause[p]
            if pc is not None and (best is None or (_RANK[pc], _unknown_last(since[p])) < (_RANK[best], _unknown_last(best_since))):
                best, best_since = pc, since[p]
            up_depth = depth[p]
            if up_depth > longest:
                longest = up_depth
        cause[unit] = best
        since[unit] = best_since
        depth[unit] = longest = size + longest
        if longest > comp.longest_chain:
            comp.longest_chain = longest
        if best is not None and (ups or unit in cyclic):  # a dependent, stalled
            held.update(ups)
            comp.stalled_tasks += size
            stalled.append(unit)
    for unit in stalled:
        if unit not in held:  # else a downstream dependent is the head of this chain
            head_id = str(unit) if members is None else min(members[unit])
            _add_head(head_id, issues, component_of, cause[unit], since[unit], depth[unit])


def _cycle_since(nodes: tuple[str, ...], issues: Mapping[str, Issue]) -> float | None:
    """When a cycle last changed: the latest update of its issues."""
    return max((issues[n].updated_at or 0.0 for n in nodes if n in issues), default=None)


def _add_head(
    head_id: str,
    issues: Mapping[str, Issue],
    component_of: dict[str, _Component],
    cause: str | None,
    since: float | None,
    length: int,
) -> None:
    """The stalled chain whose head (the first issue of its most downstream unit) is ``head_id``,
    to its component's heads."""
    head = issues.get(head_id)
    started = since
    if head is not None and head.created_at is not None:
        started = max(started or head.created_at, head.created_at)
    component_of[head_id].heads += (
        StalledChain(
            head=head_id,
            identifier=head.identifier if head else head_id[:8],
            cause=str(cause),
            length=length,
            since=started,
        ),
    )


def _oldest_first(heads: Iterable[StalledChain], now: float, top_n: int) -> list[StalledChain]:
    """The chains oldest first (an unknown age counts as ``now``): the first ``top_n``, at least
    one (the oldest dates the report), or all when ``top_n`` is negative."""

    def key(h: StalledChain) -> tuple[float, str, str]:
        return (h.since if h.since is not None else now, h.identifier, h.head)

    if top_n < 0:
        return sorted(heads, key=key)
    return heapq.nsmallest(max(top_n, 1), heads, key=key)


def _ownerless(issue: Issue) -> bool:
    """A task (say, blocked) whose block has no owner: no blocker listed, no unblockDescriptor, no
    recovery of the platform's in charge; canaries aside."""
    return not (issue.blocked_by or issue.unblock_owner or issue.recovery or issue.is_canary)


def _end_cause(issue: Issue | None, agents: Mapping[str, Agent], has_open_children: bool) -> str | None:
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


# ``_resolved_by`` holds some 10k done blockers at 100k issues, nearly all listed by one open
# dependent: that one is kept as the value itself, and a list only for several (a list each would
# be another megabyte between polls)


def _link(index: dict[str, str | list[str]], key: str, value: str) -> None:
    """Add ``value`` under ``key``, once."""
    held = index.setdefault(key, value)
    if isinstance(held, str):
        if held != value:  # else the first, or the same again: a blocker listed twice
            index[key] = [held, value]
    elif value not in held:
        held.append(value)


def _linked(index: dict[str, str | list[str]], key: str) -> list[str]:
    """The values under ``key``."""
    held = index.get(key)
    if held is None:
        return []
    return [held] if isinstance(held, str) else held


def _unlink(index: dict[str, str | list[str]], key: str, value: str) -> None:
    """Take ``value`` out from under ``key`` if it is there (once), and the key once empty."""
    held = index.get(key)
    if held is None:
        return
    if isinstance(held, str):
        if held == value:
            del index[key]
    elif value in held:
        held.remove(value)
        if len(held) == 1:
            index[key] = held[0]


def _unlink_child(children: dict[str, list[str]], parent: str, child: str) -> None:
    """Take ``child`` out of its parent's open children, and the parent once it has none."""
    held = children[parent]
    held.remove(child)
    if not held:
        del children[parent]
