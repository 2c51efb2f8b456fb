"""Hostile input: property-based tests (hypothesis) over every source parser and over the whole
poll-to-exposition path, label values that try to break the text format (checked by a real
``promtool check metrics``), and the cardinality guard."""

from __future__ import annotations

import json
import math
import time

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from agentwatch.analysis.histogram import Histogram
from agentwatch.analysis.ledger import RunLedger
from agentwatch.config import Settings
from agentwatch.exposition.families import Families, Family, format_value, join_rendered
from agentwatch.exposition.fleet import FleetBuilder
from agentwatch.model import CompanySnapshot, Snapshot
from agentwatch.source import SchemaError
from agentwatch.source.paperclip import parse
from agentwatch.source.paperclip.kept_rows import KeptOverview, KeptRows, ParsedRows, rows_of
from harness.exporter import parse_exposition
from replay import COMPANY_ID, load
from source_kits import PAPERCLIP
from test_faults import Clock, make_exporter
from test_golden import promtool_check, render

PARSERS = PAPERCLIP.parsers  # every parser of the source; test_source_conformance.py runs them per source
NASTY = ['"', "\\", "\n", 'a"b\\c\nd', "", " ", "💥", "名前", "\u2028", "\x00", "{}", 'le="1"', "# HELP x", "a" * 300]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(NASTY),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def recorded_keys(fixture: str) -> list[str]:
    rows = load(fixture)
    rows = rows if isinstance(rows, list) else [rows]
    return sorted({k for r in rows if isinstance(r, dict) for k in r})


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, st.lists(json_values, max_size=5)))
def test_every_parser_takes_any_json_value(value):
    for parser in PARSERS.values():
        rows, dropped = parse.parse_rows(value if isinstance(value, list) else [value], parser)
        assert len(rows) + dropped == (len(value) if isinstance(value, list) else 1)


ISSUES = "api_companies_{companyId}_issues__view-compact.json"


def tolerant_issue_page(raw: bytes) -> list:
    """The reference for ``parse.issue_page``: ``json.loads`` and row-by-row conversion."""
    return [parse.issue(row) for row in json.loads(raw)]


def test_an_issue_page_parses_the_same_on_the_fast_path_as_row_by_row():
    raw = json.dumps(load(ISSUES)).encode()
    rows = parse.issue_page(raw)
    assert rows and all(type(row) is parse.IssueRow for row in rows)  # msgspec decoded it
    assert [parse.issue(row) for row in rows] == tolerant_issue_page(raw)


def test_one_bad_row_or_value_costs_only_itself_on_an_issue_page():
    good, other = load(ISSUES)[:2]
    raw = json.dumps([good, 42, dict(other, startedAt="yesterday", blockedBy={"odd": True}), "x"]).encode()
    first, number, odd, string = [parse.issue(row) for row in parse.issue_page(raw)]
    assert first == parse.issue(good) and number is None and string is None
    assert odd.id == other["id"] and odd.started_at is None and odd.blocked_by == ()
    assert odd.updated_at == parse.timestamp(other["updatedAt"])
    assert parse.issue_page(b'{"error": "not a list"}') == {"error": "not a list"}  # for the caller's as_list
    with pytest.raises(ValueError):
        parse.issue_page(b"[{")


def test_the_issue_page_decoder_agrees_with_json_loads_on_any_page():
    """Recorded rows with values changed to any JSON value, and any JSON values as rows: the
    typed decoder (msgspec, or its row-by-row fallback) parses to what ``json.loads`` and the
    parser of plain dicts give."""
    recorded = [r for r in load(ISSUES) if isinstance(r, dict)]

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pages(recorded, recorded_keys(ISSUES)))
    def check(rows):
        raw = json.dumps(rows).encode()
        assert [parse.issue(row) if row is not None else None for row in parse.issue_page(raw)] == [
            parse.issue(row) if isinstance(row, dict) else None for row in json.loads(raw)
        ]

    check()


def pages(recorded: list[dict], keys: list[str]):
    """Pages of rows: recorded rows with values changed to any JSON value, rows of recorded keys
    with any values, and any JSON values as rows."""
    return st.lists(
        json_values
        | st.dictionaries(st.sampled_from(keys), json_values, max_size=8)
        | st.builds(
            lambda base, changes: {**base, **changes},
            st.sampled_from(recorded),
            st.dictionaries(st.sampled_from(keys), json_values, max_size=3),
        ),
        max_size=5,
    )


# the endpoints whose rows are kept by their text: (fixture, the row cleaner, the parser of its rows)
KEPT_PAGES = {
    "agents": ("api_companies_{companyId}_agents.json", parse.agent_row, parse.agent),
    "costs": ("api_companies_{companyId}_costs_by-agent-model.json", parse.cost_by_model_row, parse.cost_row),
    "runs": ("api_companies_{companyId}_heartbeat-runs__limit-50.json", parse.run_row, parse.run),
    "approvals": ("api_companies_{companyId}_approvals.json", parse.approval_row, parse.approval),
    "scheduler heartbeats": ("api_instance_scheduler-heartbeats.json", parse.scheduler_heartbeat_row, parse.scheduler_heartbeat),
}


def plain_rows(rows: list, parser) -> ParsedRows:
    """The reference: every row a plain JSON value, parsed by the parser of plain dicts."""
    return ParsedRows(*parse.parse_rows(rows, parser))


def assert_kept(kept: KeptRows, rows: list, parser, before: dict[str, object]) -> dict[str, object]:
    """``kept`` reads ``rows``: the rows parse as the reference does, and a row whose JSON text
    ``before`` holds (text -> object, from the last read) is that object. Returns this read's
    (none for a page that is not strict JSON, NaN or Infinity in it: it is parsed whole)."""
    raw = json.dumps(rows).encode()
    read = kept.decode(raw)
    assert read == plain_rows(rows, parser)
    try:
        msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    objects = iter(read.rows)
    texts = {}
    for row in rows:
        if isinstance(row, dict) and parser(row) is not None:
            texts[json.dumps(row)] = obj = next(objects)
            if json.dumps(row) in before:
                assert obj is before[json.dumps(row)]
    return texts


@pytest.mark.parametrize("page", sorted(KEPT_PAGES))
def test_a_recorded_page_parses_as_row_by_row_and_keeps_the_rows_whose_text_is_unchanged(page):
    fixture, clean, parser = KEPT_PAGES[page]
    recorded = load(fixture)
    kept = KeptRows(clean, parser)
    first = assert_kept(kept, recorded, parser, {})
    assert first
    again = assert_kept(kept, recorded, parser, first)
    assert all(again[text] is obj for text, obj in first.items())  # the same objects, none decoded
    # the first row moved to the end, with a field agentwatch does not read: a new object, equal
    changed = [*recorded[1:], dict(recorded[0], unreadField=1)]
    third = assert_kept(kept, changed, parser, again)
    new = third[json.dumps(changed[-1])]
    assert new is not first[json.dumps(recorded[0])] and new == first[json.dumps(recorded[0])]
    assert kept.decode(b'{"error": "not a list"}') == {"error": "not a list"}  # for the caller's as_list
    with pytest.raises(ValueError):
        kept.decode(b"[{")


@pytest.mark.parametrize("page", sorted(KEPT_PAGES))
def test_kept_rows_agree_with_json_loads_on_any_pages_read_one_after_the_other(page):
    """Pages drawn as for the issues, read one after the other by one ``KeptRows``, the next
    page made of rows of the last one and new rows: each read parses to what ``json.loads`` and
    the parser of plain dicts give, and a row read again is the object of the last read."""
    fixture, clean, parser = KEPT_PAGES[page]
    recorded = [r for r in load(fixture) if isinstance(r, dict)]
    drawn = pages(recorded, recorded_keys(fixture))

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(drawn, st.lists(st.tuples(st.booleans(), drawn, st.randoms(use_true_random=False)), max_size=3))
    def check(first, later):
        kept = KeptRows(clean, parser)
        before, rows = assert_kept(kept, first, parser, {}), first
        for keep, new, rnd in later:
            rows = [*(rnd.sample(rows, len(rows) // 2) if keep else rows), *new]
            before = assert_kept(kept, rows, parser, before)

    check()


def test_a_304_is_the_rows_of_the_last_answer_and_an_answer_of_no_rows_keeps_no_etag():
    raw = json.dumps(load("api_companies_{companyId}_approvals.json")).encode()
    overview = json.dumps(load(OVERVIEW)).encode()
    for kept, body, odd in (
        (KeptRows(parse.approval_row, parse.approval), raw, b'{"error": "not a list"}'),
        (KeptOverview(), overview, b"[1]"),
    ):
        first = kept.answer(200, kept.decode(body), 'W/"v1"')
        assert kept.etag == 'W/"v1"' and kept.answer(304, None, 'W/"v1"') is first
        assert kept.answer(200, kept.decode(odd), 'W/"v2"') is not first
        assert kept.etag is None  # not rows: nothing to revalidate
        assert kept.answer(200, kept.decode(body), None) == first and kept.etag is None  # no validator sent


OVERVIEW = "api_companies_{companyId}_budgets_overview.json"
OVERVIEW_ARRAYS = (("policies", parse.budget_policy), ("activeIncidents", parse.budget_incident))


def overview_parsed(doc) -> dict:
    """Each array of a decoded ``budgets/overview`` as the source reads it."""
    return {key: rows_of(doc.get(key) or [], key, parser) for key, parser in OVERVIEW_ARRAYS}


def test_the_recorded_budgets_overview_parses_as_row_by_row_and_keeps_its_rows():
    recorded = load(OVERVIEW)
    recorded["activeIncidents"] = recorded.get("activeIncidents") or [
        {
            "id": "inc-1",
            "companyId": "c",
            "policyId": p["policyId"],
            "scopeType": "agent",
            "scopeId": "a",
            "thresholdType": "soft",
            "status": "open",
            "createdAt": "2026-11-24T05:10:46.834Z",
        }
        for p in recorded["policies"][:1]
    ]
    raw = json.dumps(recorded).encode()
    kept = KeptOverview()
    first = kept.decode(raw)
    assert all(type(first[key]) is ParsedRows and first[key].rows for key, _ in OVERVIEW_ARRAYS)
    assert overview_parsed(first) == overview_parsed(json.loads(raw))
    again = kept.decode(raw)
    for key, _ in OVERVIEW_ARRAYS:
        assert all(a is b for a, b in zip(again[key].rows, first[key].rows, strict=True))


def test_the_kept_budgets_overview_agrees_with_json_loads_on_any_document():
    """Recorded policies with values changed to any JSON value, incidents of any values, and any
    JSON value in place of either array or of the whole document; read twice by one
    ``KeptOverview``, the second read on the rows of the first."""
    recorded = [p for p in load(OVERVIEW)["policies"] if isinstance(p, dict)]
    policy_keys = sorted({k for p in recorded for k in p})
    incident_keys = ["id", "companyId", "policyId", "scopeType", "scopeId", "thresholdType", "status", "createdAt"]
    rows = lambda keys: json_values | st.dictionaries(st.sampled_from(keys), json_values, max_size=8)  # noqa: E731
    policies = st.lists(
        rows(policy_keys)
        | st.builds(
            lambda base, changes: {**base, **changes},
            st.sampled_from(recorded),
            st.dictionaries(st.sampled_from(policy_keys), json_values, max_size=3),
        ),
        max_size=4,
    )
    documents = (
        st.fixed_dictionaries(
            {}, optional={"policies": policies | json_values, "activeIncidents": st.lists(rows(incident_keys), max_size=4) | json_values}
        )
        | json_values
    )

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(documents, min_size=1, max_size=2))
    def check(docs):
        kept = KeptOverview()
        for doc in docs:
            raw = json.dumps(doc).encode()
            read, plain = kept.decode(raw), json.loads(raw)
            assert isinstance(read, dict) == isinstance(plain, dict)
            if isinstance(plain, dict):
                outcome = {}
                for name, d in (("kept", read), ("plain", plain)):
                    try:
                        outcome[name] = overview_parsed(d)
                    except SchemaError:
                        outcome[name] = "SchemaError"
                assert outcome["kept"] == outcome["plain"]
            else:
                assert read == plain

    check()


def _fuzzed_snapshot(agent_names, roles, statuses, models, issue_titles):
    company = parse.company(load("api_companies.json")[0])
    cs = CompanySnapshot(company=company)
    agents = load("api_companies_{companyId}_agents.json")
    for i, row in enumerate(agents):
        row = dict(row, name=agent_names[i % len(agent_names)] + str(i), role=roles[i % len(roles)], status=statuses[i % len(statuses)])
        row["adapterConfig"] = dict(row.get("adapterConfig") or {}, model=models[i % len(models)])
        agent = parse.agent(row)
        if agent is not None:
            cs.agents[agent.id] = agent
    for i, row in enumerate(load("api_companies_{companyId}_issues__view-compact.json")):
        issue = parse.issue(dict(row, title=issue_titles[i % len(issue_titles)], status=statuses[i % len(statuses)]))
        if issue is not None:
            cs.issues[issue.id] = issue
    cs.runs = parse.parse_rows(load("api_companies_{companyId}_heartbeat-runs__limit-50.json"), parse.run)[0]
    return Snapshot(source="fuzz", taken_at=time.time(), companies={company.id: cs})


labels_text = st.one_of(st.sampled_from(NASTY), st.text(min_size=0, max_size=12))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(labels_text, min_size=1, max_size=4),
    st.lists(labels_text, min_size=1, max_size=3),
    st.lists(st.sampled_from(["idle", "running", "paused", "error", "terminated", "weird\n", ""]), min_size=1, max_size=3),
    st.lists(labels_text, min_size=1, max_size=2),
    st.lists(labels_text, min_size=1, max_size=3),
)
def test_the_analysis_and_exposition_take_hostile_values(names, roles, statuses, models, titles):
    """Hostile names, roles, statuses and models through the analysis and the families: no
    exception, and the text format parses back with the same label values."""
    settings_ = Settings()
    builder = FleetBuilder(settings_)
    snapshot = _fuzzed_snapshot(names, roles, statuses, models, titles)
    ledger = RunLedger(builder.windows, settings_.analysis.context_high_ratio)
    families, _ = builder.build(snapshot, ledger, snapshot.taken_at)
    text = join_rendered([families.render()]).decode()
    parsed = {s.labels.get("agent") for f in text_string_to_metric_families(text) for s in f.samples if "agent" in s.labels}
    expected = {a.name for a in snapshot.companies[COMPANY_ID].agents.values()} if COMPANY_ID in snapshot.companies else set()
    assert parsed <= expected | {"", "(unassigned)"}


label_values = st.text(max_size=12) | st.sampled_from(NASTY)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["gauge", "counter", "info", "histogram"]),
            st.sampled_from(["a", "b_c"]),
            st.dictionaries(st.sampled_from(["agent", "role", "x_y"]), label_values, max_size=3),
            st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**63), 2**63) | st.integers(-1_000_001, 1_000_001),
            st.booleans(),
            st.none() | st.tuples(st.sampled_from(["a", "agent", "le_x", "role", "status", "zz"]), label_values),
        ),
        max_size=8,
    ),
    st.sampled_from(NASTY),
)
def test_families_write_what_client_python_writes(samples, doc):
    """``Families`` formats its lines itself, from plain labels or labels written once
    (``LabelSet``), with or without one further label; ``generate_latest`` over the same
    families as client_python ``Metric`` objects writes the very same bytes."""
    ours, theirs, families = Families(), {}, {}
    for kind, name, labels, value, written, extra in samples:
        name = f"{kind}_{name}"
        given_labels = ours.labels(labels) if written else labels
        family_name = name + "_info" if kind == "info" else name
        family = families.setdefault(family_name, Family(family_name, "gauge" if kind == "info" else kind, doc))
        if kind == "histogram":
            ours.histogram(family, given_labels, (0.5, 10.0), (0, 1), 2, abs(value))
        elif kind == "info":
            ours.add(family, given_labels, 1.0)
        else:
            ours.add(family, given_labels, value, extra)
            if extra is not None:
                labels = {**labels, extra[0]: extra[1]}
        metric = theirs.setdefault(family_name, Metric(family_name, doc, "gauge" if kind == "info" else kind))
        if kind == "histogram":
            for le, n in (("0.5", 0), ("10.0", 1), ("+Inf", 2)):
                metric.add_sample(name + "_bucket", {**labels, "le": le}, n)
            metric.add_sample(name + "_count", labels, 2)
            metric.add_sample(name + "_sum", labels, abs(value))
        else:
            metric.add_sample(
                {"counter": name + "_total", "info": name + "_info"}.get(kind, name), labels, 1.0 if kind == "info" else value
            )

    class Registry:
        def collect(self):
            return theirs.values()

    assert join_rendered([ours.render()]) == generate_latest(Registry())


@settings(max_examples=2000, deadline=None)
@given(st.floats() | st.floats(1e5, 1e17) | st.integers(-(2**64), 2**64) | st.sampled_from([1e6, 999_999.9999999999, 1e16, 1.5e15, -1e6]))
def test_values_are_written_as_client_python_writes_them(value):
    """``format_value``'s fast paths (below 1e6, and the positive floats from 1e6 to 1e16 that
    take an exponent) write what ``floatToGoString`` writes."""
    assert format_value(value) == floatToGoString(value)


def test_labels_written_once_cannot_change_under_their_lines():
    written = Families().labels({"agent": "a", "role": "r"})
    for change in (
        lambda labels: labels.__setitem__("agent", "b"),
        lambda labels: labels.update(role="x"),
        lambda labels: labels.pop("agent"),
        lambda labels: labels.clear(),
        lambda labels: labels.setdefault("zone", "z"),
    ):
        with pytest.raises(TypeError):
            change(written)
    assert {**written, "status": "ok"} == {"agent": "a", "role": "r", "status": "ok"}


@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10**7), max_size=30),
    st.lists(st.floats(0, 10**6) | st.integers(0, 10**6), max_size=6).map(lambda b: sorted(set(b))),
)
def test_histogram_buckets_count_every_value_at_or_below_their_bound(values, buckets):
    """``Histogram.of`` and ``observe`` (bisect) against the definition: bucket i counts the values
    <= bound i; values observed with ``times=-1`` leave the counts as they were."""
    buckets = tuple(buckets)
    at_once = Histogram.of(buckets, values)
    one_by_one = Histogram(buckets)
    for v in values:
        one_by_one.observe(v)
    for h in (at_once, one_by_one):
        assert h.counts == [sum(1 for v in values if v <= bound) for bound in buckets]
        assert h.count == len(values)
    expected = sum(map(float, values))
    assert at_once.total == expected or (math.isnan(at_once.total) and math.isnan(expected))
    finite = [v for v in values if not isinstance(v, float) or math.isfinite(v)]
    for v in finite:
        one_by_one.observe(v, -1)
    assert one_by_one.count == len(values) - len(finite)
    assert one_by_one.counts == [sum(1 for v in values if v not in finite and v <= bound) for bound in buckets]


@pytest.mark.prometheus
def test_hostile_label_values_still_render_a_valid_exposition(server):
    """Names with quotes, newlines, backslashes, tabs, unicode and length, from the platform itself:
    the /metrics body passes ``promtool check metrics`` and every value parses back intact; a
    duplicate name gets an id suffix."""
    agents = load("api_companies_{companyId}_agents.json")
    hostile = ['say "hi"', "line\nbreak", "back\\slash", "名前 💥", "tab\there", "x" * 200, 'end\\"']
    for i, row in enumerate(agents):
        row["name"] = hostile[i % len(hostile)] + f"-{i}"
        row["role"] = hostile[(i + 1) % len(hostile)]
    twin = 'Eve "the" \\ agent\nnewline ✨ 名前'
    agents[0]["name"] = agents[1]["name"] = twin
    companies = load("api_companies.json")
    companies[0]["name"] = 'Hostile "Co"\n\\ 🏢'
    server.overrides["/api/companies"] = companies
    server.overrides[f"/api/companies/{COMPANY_ID}/agents"] = agents
    text = render(server)
    promtool_check(text)
    assert 'agent="Eve \\"the\\" \\\\ agent\\nnewline ✨ 名前 (' in text
    families = list(text_string_to_metric_families(text))
    names = {s.labels["agent"] for f in families for s in f.samples if f.name == "agentwatch_agent_info"}
    assert names - {n for n in names if n.startswith(twin + " (")} == {row["name"] for row in agents[2:]}
    assert len([n for n in names if n.startswith(twin + " (")]) == 2
    assert any(s.labels.get("company") == companies[0]["name"] for f in families for s in f.samples)


def test_the_cardinality_guard_caps_agents_and_removes_the_gone(server):
    agents = load("api_companies_{companyId}_agents.json")
    assert len(agents) >= 3
    poller, registry = make_exporter(server.url, Clock(), limits={"max_agents": 2})
    assert poller.poll_once()
    s = parse_exposition(generate_latest(registry).decode())
    assert len(s.select("agentwatch_agent_info")) == 2
    assert s.get_value("agentwatch_dropped_series", source="pc", kind="agents") == len(agents) - 2
    assert s.get_value("agentwatch_series_dropped_total", source="pc", kind="agents") == len(agents) - 2
    assert poller.poll_once()
    s = parse_exposition(generate_latest(registry).decode())
    assert s.get_value("agentwatch_series_dropped_total", source="pc", kind="agents") == 2 * (len(agents) - 2)

    # an agent that disappears from the platform takes its series with it
    poller, registry = make_exporter(server.url, Clock())
    assert poller.poll_once()
    before = {x[0]["agent"] for x in parse_exposition(generate_latest(registry).decode()).select("agentwatch_agent_info")}
    gone = agents[0]["name"]
    server.overrides[f"/api/companies/{COMPANY_ID}/agents"] = agents[1:]
    assert poller.poll_once()
    text = generate_latest(registry).decode()
    after = {x[0]["agent"] for x in parse_exposition(text).select("agentwatch_agent_info")}
    assert after == before - {gone}
    assert f'agent="{gone}"' not in text


@pytest.mark.parametrize(
    ("adapter_config", "expected"),
    [
        ({"command": "/bin/bash", "timeoutSec": 3600}, 3600.0),  # process and CLI adapters
        ({"url": "http://127.0.0.1:9/", "timeoutMs": 15000}, 15.0),  # the http adapter
        ({"timeoutSec": "90"}, 90.0),
        ({"timeoutSec": 0}, 0.0),  # none: Paperclip applies a timeout only when it is > 0
        ({}, 0.0),
        ({"timeoutSec": -5}, 0.0),
        ({"timeoutSec": "soon"}, 0.0),
        ({"timeoutSec": {"nested": 1}}, 0.0),
        ({"timeoutSec": float("inf")}, 0.0),
        ("redacted", 0.0),
        (None, 0.0),
    ],
)
def test_an_agents_run_timeout_is_read_from_any_adapter_config(adapter_config, expected):
    from agentwatch.source.paperclip import parse

    row = {"id": "a1", "companyId": "c", "name": "A", "adapterType": "process", "adapterConfig": adapter_config}
    assert parse.agent(row).run_timeout_seconds == expected
