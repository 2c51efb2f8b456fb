"""``agentwatch audit``: the monthly report.

The computations on plain numbers; then the command against a real Prometheus holding two months
of synthetic history (``harness.history_data``, backfilled with promtool): the report's numbers are
the seeded ones and the ones Prometheus itself computes, the HTML needs no network, and headless
Chromium shows every chart; then a bad month, an unreachable Prometheus and one with no data.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

import agentwatch.audit as audit_command
from agentwatch.audit.charts import COLOURS, SpendAxis, spend_axis
from agentwatch.audit.charts import spend as spend_chart
from agentwatch.audit.layout import sections
from agentwatch.audit.period import Month, last_complete_month, parse_month
from agentwatch.audit.render import to_markdown
from agentwatch.audit.report import (
    DurationRow,
    Durations,
    Report,
    SpendRow,
    alert_episodes,
    durations,
    episode_counts,
    hour_of,
    hourly_outcomes,
    models_around,
)
from agentwatch.audit.stats import bucket_quantile, counter_increases, episodes, sample_quantile, values_within
from agentwatch.cli import main
from agentwatch.history.client import PrometheusHistory, Series
from harness.history import SeededPrometheus, write_openmetrics
from harness.history_data import (
    DEFAULT_AGENTS,
    Episode,
    ModelChange,
    default_episodes,
    default_model_change,
    month_of_history,
    rule_labels,
)
from harness.paperclip import free_port
from harness.tools import tool

OCT = Month(2026, 10)
SEP = OCT.previous()
STEM = "agentwatch-audit-2026-10"


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


# -- computations ------------------------------------------------------------------------------


def test_month_boundaries_are_utc_and_roll_over_years():
    assert (OCT.start, OCT.end) == (utc(2026, 10, 1), utc(2026, 11, 1))
    assert parse_month("2026-01").previous() == Month(2025, 12)
    assert parse_month("2026-12").next() == Month(2027, 1)
    assert parse_month("2028-02").end - parse_month("2028-02").start == 29 * 86400
    assert last_complete_month(utc(2026, 11, 1)) == OCT
    assert last_complete_month(utc(2026, 11, 30, 23, 59)) == OCT
    for bad in ("2026-13", "2026-00", "2026-1", "26-10", "October", "2026-10-01", ""):
        with pytest.raises(ValueError):
            parse_month(bad)


def test_bucket_quantile_interpolates_like_histogram_quantile():
    buckets = [(1.0, 10.0), (2.0, 20.0), (4.0, 40.0), (math.inf, 40.0)]
    assert bucket_quantile(0.25, buckets) == pytest.approx(1.0)
    assert bucket_quantile(0.375, buckets) == pytest.approx(1.5)
    assert bucket_quantile(0.75, list(reversed(buckets))) == pytest.approx(3.0)  # any order
    assert bucket_quantile(0.1, buckets) == pytest.approx(0.4)  # the first bucket starts at 0
    assert bucket_quantile(0.99, [(1.0, 5.0), (math.inf, 10.0)]) == 1.0  # +Inf: the highest finite bound
    assert bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    assert bucket_quantile(0.5, [(1.0, 3.0)]) is None  # no +Inf bucket
    # increase() can leave a bucket a hair below the one before it: treated as monotonic
    assert bucket_quantile(0.5, [(1.0, 10.0), (2.0, 9.99), (math.inf, 20.0)]) == pytest.approx(1.0)


def test_durations_from_buckets_and_sum():
    d = durations({60.0: 2.0, 3600.0: 8.0, math.inf: 10.0}, total=20_000.0)
    assert d.count == 10 and d.mean == 2000.0
    assert d.p50 == pytest.approx(60 + (3600 - 60) * (5 - 2) / 6)
    assert durations({math.inf: 0.2}, 5.0).p95 is None  # well under one task is none


def test_sample_quantile():
    assert sample_quantile(0.5, [3.0, 1.0, 2.0]) == 2.0
    assert sample_quantile(0.95, [0.0, 10.0]) == pytest.approx(9.5)
    assert sample_quantile(0.5, []) is None


def test_episodes_split_on_gaps_of_more_than_one_step():
    times = [0, 60, 120, 600, 660, 2000]
    assert episodes(reversed(times), 60) == [(0, 180), (600, 720), (2000, 2060)]
    assert episodes([], 60) == []


def test_alert_counts_per_alert_per_class_and_stuck_per_agent():
    def firing(name, agent, minutes):
        labels = {"alertname": name, "alertstate": "firing", **rule_labels()[name], "company": "C", "agent": agent, "role": "qa"}
        return Series(labels, [(t * 60.0, 1.0) for t in minutes])

    now = alert_episodes(
        [
            firing("AgentTaskStuck", "a", [1, 2, 3, 10, 11]),
            firing("AgentTaskStuck", "b", [5]),
            firing("AgentReasoningLoop", "a", range(20, 80)),
        ]
    )
    before = alert_episodes([firing("AgentRunsFailing", "b", [1, 2])])
    alerts = episode_counts(now, before, lambda e: e.alertname)
    classes = episode_counts(now, before, lambda e: e.labels["failure_class"])
    assert [(r.name, r.failure_class, r.episodes, r.prev_episodes) for r in alerts] == [
        ("AgentTaskStuck", "stuck", 3, 0),
        ("AgentReasoningLoop", "loop", 1, 0),
        ("AgentRunsFailing", "runs", 0, 1),
    ]
    assert {r.name: (r.episodes, r.prev_episodes) for r in classes} == {"stuck": (3, 0), "loop": (1, 0), "runs": (0, 1)}
    assert alerts[1].hours == pytest.approx(1.0)
    rows = episode_counts([e for e in now if e.alertname == "AgentTaskStuck"], [], lambda e: e.labels["agent"])
    assert [(r.name, r.episodes, r.longest) for r in rows] == [("a", 2, pytest.approx(3 / 60)), ("b", 1, pytest.approx(1 / 60))]


def test_counter_growth_baseline_resets_and_new_series():
    samples = [(0, 5.0), (1, 7.0), (2, 7.0), (3, 2.0), (4, 4.0)]
    assert counter_increases(samples, from_zero=False) == [(1, 2.0), (2, 0.0), (3, 2.0), (4, 2.0)]
    assert counter_increases([(5, 1.0), (6, 3.0)], from_zero=True) == [(5, 1.0), (6, 2.0)]
    start = 1000.0
    old = Series({"agent": "a", "outcome": "pass"}, [(start - 0.001, 10.0), (start + 3600, 12.0)])
    new = Series({"agent": "a", "outcome": "fail"}, [(start + 3600, 1.0)])  # created in the month
    skipped = Series({"agent": "a", "outcome": "skipped"}, [(start + 3600, 9.0)])
    hours = hourly_outcomes([old, new, skipped], start)[("", "a", "")]
    assert dict(hours[start + 3600]) == {"pass": 2.0, "fail": 1.0}


def test_model_change_reads_the_models_either_side():
    def info(model, minutes):
        return Series({"model": model}, [(m * 60.0, 1.0) for m in minutes])

    # read every minute around the change: the last model before it, the first other one from it on
    assert models_around([info("old", range(0, 12)), info("new", range(12, 30))], at=12 * 60) == ("old", "new")
    assert models_around([info("new", range(13, 30)), info("old", range(0, 13))], at=12.5 * 60) == ("old", "new")  # seen a scrape later
    assert models_around([info("a", range(0, 10)), info("b", range(10, 20)), info("c", range(20, 30))], at=10 * 60) == ("a", "b")
    assert models_around([info("only", range(5, 30))], at=5 * 60) == ("", "only")  # a creation, not a change
    assert models_around([info("old", range(0, 12))], at=12 * 60) == ("old", "")  # the history ends at the change
    assert values_within([(0, 5.0), (1, 5.0), (2, 50.0), (3, 500.0)], 10, 100) == [50.0]


def test_hour_of_an_hourly_value():
    # read just before the hour's end, or (an unfinished hour) at a time inside it
    assert hour_of(utc(2026, 10, 10, 15) - 0.001) == utc(2026, 10, 10, 14)
    assert hour_of(utc(2026, 10, 10, 14, 58)) == utc(2026, 10, 10, 14)


def _report(**rows) -> Report:
    return Report("2026-10", "2026-09", OCT.start, OCT.end, False, "http://prometheus.invalid", **rows)


def test_spend_bars_show_beside_big_budgets():
    """An hour of spend beside $20,000 budgets: on a log axis from below the smallest value, every
    agent's bar spans a good part of the axis (on a linear one the smallest would be 0.002 % of it)."""
    report = _report(
        spend=[
            SpendRow(("C", "big", "ceo"), 3.20, 20_000.0, None),
            SpendRow(("C", "tiny", "qa"), 0.45, 20_000.0, 0.30),
            SpendRow(("C", "near", "pm"), 380.0, 400.0, 350.0),
        ]
    )
    ax = spend_chart(report).axes[0]
    assert ax.get_xscale() == "log"
    low, high = ax.get_xlim()
    bars = [p.get_width() for p in ax.patches if p.get_width() > 0]
    assert sorted(bars) == [0.30, 0.45, 3.20, 350.0, 380.0]
    for width in bars:
        assert math.log(width / low) / math.log(high / low) > 0.1, (width, low, high)
    assert spend_axis([3.2, 0.45, 20_000.0]) == SpendAxis(True, 0.45 / 4)
    # spends of one order as their budgets keep a linear axis from 0, where lengths compare directly
    assert spend_axis([250.0, 300.0, 400.0, 0.0]) == SpendAxis(False, 0.0)
    even = _report(spend=[SpendRow(("C", "a", "qa"), 250.0, 400.0, 300.0), SpendRow(("C", "b", "qa"), 90.0, 120.0, None)])
    assert spend_chart(even).axes[0].get_xscale() == "linear"


def test_identical_quantiles_are_explained_under_the_table():
    same = Durations(12, 40.0, 30.0, 54.0, 57.0)  # every task under a minute: one bucket, one estimate
    rows = [DurationRow(("C", name, "qa"), same, Durations()) for name in ("Dee", "Eve")]
    rows.append(DurationRow(("C", "Ada", "ceo"), Durations(3, 5000.0, 4000.0, 6500.0, 7000.0), Durations()))
    report = _report(role_durations=rows[:1], agent_durations=rows)
    durations_section = sections(report)[0]
    assert durations_section.id == "durations" and len(durations_section.footnotes) == 1
    note = durations_section.footnotes[0]
    assert "bounds 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 1 d, 3 d, 7 d" in note
    assert "identical quantiles mean the same bucket" in note and note.endswith("Identical here: Dee, Eve.")
    md = to_markdown(report, {})
    assert md.index("| C | Ada | ceo |") < md.index("interpolated inside the histogram's buckets") < md.index("## Task age")


# -- against a real Prometheus -----------------------------------------------------------------


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    tool("promtool")
    tool("prometheus")
    work = tmp_path_factory.mktemp("audit-history")
    families = month_of_history(SEP.start, OCT.end)
    prom = SeededPrometheus(work / "prometheus", write_openmetrics(work / "history.om", families))
    try:
        yield prom, families
    finally:
        prom.stop()


@pytest.fixture(scope="module")
def audit(history, tmp_path_factory):
    prom, families = history
    out = tmp_path_factory.mktemp("audit-out")
    assert main(["audit", "--month", "2026-10", "--prometheus.url", prom.url, "--out.dir", str(out)]) == 0
    return out, (out / f"{STEM}.html").read_text(), (out / f"{STEM}.md").read_text()


def section(md: str, title: str, until: str) -> str:
    return md.split(f"## {title}")[1].split(until)[0]


def seconds(shown: str) -> float:
    number, unit = shown.split()
    return float(number) * {"s": 1, "min": 60, "h": 3600, "d": 86400}[unit]


def md_row(md: str, *cells: str) -> list[str]:
    """The Markdown table row whose first cells are ``cells``."""
    head = "| " + " | ".join(cells) + " |"
    rows = [line for line in md.splitlines() if line.startswith(head)]
    assert len(rows) == 1, f"no single row starting {head!r}"
    return [c.strip() for c in rows[0].strip("|").split("|")]


@pytest.mark.slow
@pytest.mark.prometheus
def test_report_files_and_sections(audit):
    out, html, md = audit
    for title in (
        "Task duration",
        "Task age",
        "Stuck tasks",
        "Slowest work",
        "Spend against budget",
        "Alerts per failure class",
        "Canary pass rates around model changes",
    ):
        assert f"<h2>{title}" in html and f"## {title}" in md
    assert "No completed task" not in md and "No agentwatch alert" not in md


@pytest.mark.slow
@pytest.mark.prometheus
def test_alert_episodes_are_the_seeded_ones(audit):
    _, html, md = audit
    seeded = default_episodes(SEP.start, OCT.end)
    october = Counter(e.alertname for e in seeded if OCT.start <= e.start < OCT.end)
    september = Counter(e.alertname for e in seeded if SEP.start <= e.start < SEP.end)
    labels = rule_labels()
    for name in october | september:
        row = md_row(md, name)
        assert row[1:4] == [labels[name]["failure_class"], labels[name]["severity"], str(october[name])], row
        assert row[5] == str(september[name])
    classes = Counter(labels[e.alertname]["failure_class"] for e in seeded if OCT.start <= e.start < OCT.end)
    for cls, n in classes.items():
        assert md_row(md, cls)[1] == str(n)
    assert "Watchdog" not in md.split("## Alerts per failure class")[1].split("**Per alert**")[1]
    assert f"{sum(october.values())} episode(s) in 2026-10; {sum(september.values())} in 2026-09" in md
    stuck = Counter(e.agent for e in seeded if e.alertname == "AgentTaskStuck" and OCT.start <= e.start < OCT.end)
    stuck_md = section(md, "Stuck tasks", "**Episodes**")
    for agent, n in stuck.items():
        assert md_row(stuck_md, "Acme Robotics", agent)[3] == str(n)
    assert f"{sum(stuck.values())} episode(s) on {len(stuck)} agent(s)" in html


@pytest.mark.slow
@pytest.mark.prometheus
def test_durations_match_prometheus_histogram_quantile(history, audit):
    prom, _ = history
    _, _, md = audit
    window = f"[{int(OCT.end - OCT.start)}s]"
    expr = f"histogram_quantile(0.95, sum by (role, le) (increase(agentwatch_agent_task_duration_seconds_bucket{window})))"
    p95 = {s.labels["role"]: s.last for s in PrometheusHistory(prom.url).query(expr, OCT.end - 0.001)}
    assert set(p95) == {a.role for a in DEFAULT_AGENTS}
    durations_md = section(md, "Task duration", "## Task age")
    for role, value in p95.items():
        shown = md_row(durations_md, role)[5]
        assert seconds(shown) == pytest.approx(value, abs=0.05 * (3600 if shown.endswith("h") else 60) + 1e-6), (role, shown, value)
    # the engineer whose model changed got slower than the month before
    bob = md_row(durations_md, "Acme Robotics", "Bob")
    assert bob[-1].startswith("+") and int(bob[-1].strip("+%")) > 30


@pytest.mark.slow
@pytest.mark.prometheus
def test_spend_is_the_last_value_of_the_month(history, audit):
    _, families = history
    _, _, md = audit
    spend_md = section(md, "Spend against budget", "## Alerts")
    for labels, samples in families["agentwatch_agent_spend_month_usd"][1]:
        last = max((t, v) for t, v in samples if t < OCT.end)[1]
        agent = next(a for a in DEFAULT_AGENTS if a.name == labels["agent"])
        row = md_row(spend_md, "Acme Robotics", agent.name)
        assert row[3] == f"${float(f'{last:g}'):,.2f}" and row[4] == f"${agent.budget:,.2f}", row
    assert "1 agent(s) at or over budget" in spend_md  # Cyd, whose loop burned 8x for hours


@pytest.mark.slow
@pytest.mark.prometheus
def test_model_change_and_canary_drop(audit):
    _, html, md = audit
    change = default_model_change(SEP.start, OCT.end)
    row = md_row(section(md, "Canary pass rates", "**Exporter's"), "Acme Robotics", change.agent, "engineer")
    assert row[3].startswith(datetime.fromtimestamp(change.at, tz=timezone.utc).strftime("%Y-%m-%d "))
    assert row[4:6] == ["claude-sonnet-4", change.model]
    before, after = int(row[6].rstrip("%")), int(row[8].rstrip("%"))
    assert before >= 85 and after <= 75, row
    assert row[7] == "84" and row[9] == "84"  # a canary every 2 h: 7 days either side
    ratio = md_row(md.split("**Exporter's")[1], "Acme Robotics", change.agent)  # ... canary, before, since
    assert int(ratio[5].rstrip("%")) < int(ratio[4].rstrip("%"))
    assert 'id="chart-canary"' in html


@pytest.mark.slow
@pytest.mark.prometheus
def test_html_is_self_contained_and_markdown_links_its_charts(history, audit):
    prom, _ = history
    out, html, md = audit
    for ref in ('src="http', "src='http", 'href="http', "url(http", "@import", "<link", "<script", "<img"):
        assert ref not in html.lower(), ref
    assert set(re.findall(r"https?://[^\s\"'<`]+", html)) == {prom.url}  # only named as the source, never fetched
    assert html.count("<svg") == len(COLOURS)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(Path(link).stem for link in links) == sorted(COLOURS)
    for link in links:
        assert not link.startswith(("/", "http")) and (out / link).read_text().lstrip().startswith("<?xml")
    assert not list(out.glob(".*.tmp")) and not list((out / STEM).glob(".*.tmp"))


# -- what a person sees ------------------------------------------------------------------------


def screenshot(html_file: Path, png: Path, profile: Path) -> "numpy.ndarray":  # noqa: F821
    import matplotlib.image

    profile.mkdir()
    args = [
        tool("chromium"),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,9000",
        f"--screenshot={png}",
        html_file.as_uri(),
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "HOME": str(profile)}
    )
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # chromium and the helpers it started, by the group it leads
        proc.communicate()
        pytest.fail("chromium did not finish its screenshot in 90 s")
    assert png.exists(), err.decode(errors="replace")[-2000:]
    return matplotlib.image.imread(str(png))[:, :, :3]


def pixels_near(image, colour: str, tolerance: float = 0.1) -> int:
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return int((abs(image - rgb).max(axis=2) <= tolerance).sum())


@pytest.mark.slow
@pytest.mark.prometheus
def test_chromium_shows_every_chart(audit, tmp_path):
    out, html, _ = audit
    shown = screenshot(out / f"{STEM}.html", tmp_path / "report.png", tmp_path / "profile")
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<svg.*?</svg>", "", html, flags=re.S))
    control = screenshot(bare, tmp_path / "bare.png", tmp_path / "profile-bare")
    for name, colour in COLOURS.items():
        assert pixels_near(shown, colour) > 400, f"{name} chart ({colour}) not visible"
        assert pixels_near(control, colour) < 20, f"{colour} appears without the charts"
    # and each chart sits in its own section, in order down the page
    tops = []
    for colour in COLOURS.values():
        rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        rows = (abs(shown - rgb).max(axis=2) <= 0.1).any(axis=1).nonzero()[0]
        tops.append(rows.min())
    assert tops == sorted(tops)


# -- failures and no data ----------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "oct", "2999-01"])
def test_bad_month_exits_2_naming_it(month, tmp_path, capsys):
    assert main(["audit", "--month", month, "--prometheus.url", "http://127.0.0.1:9", "--out.dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"agentwatch: month={month!r}: ")
    assert not list(tmp_path.iterdir())


def test_unreachable_prometheus_exits_1_naming_the_url(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["audit", "--month", "2026-10", "--prometheus.url", url, "--out.dir", str(tmp_path)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ts=")]
    assert len(err) == 1 and err[0].startswith(f"agentwatch: prometheus.url={url!r}: ") and "unreachable" in err[0]
    assert not list(tmp_path.iterdir())
    # a password in the URL is never printed
    secret = url.replace("http://", "http://audit:s3cret-pw@")
    assert main(["audit", "--month", "2026-10", "--prometheus.url", secret, "--out.dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "s3cret-pw" not in err and f"prometheus.url={url!r}" in err


@pytest.mark.prometheus
def test_a_month_without_data_says_so_per_section(tmp_path):
    tool("promtool")
    prom = SeededPrometheus(tmp_path / "prometheus", write_openmetrics(tmp_path / "empty.om", {}))
    out = tmp_path / "out"
    stale = out / STEM / "durations.svg"  # a chart of an earlier run the report no longer has
    stale.parent.mkdir(parents=True)
    stale.write_text("<svg/>")
    try:
        assert main(["audit", "--month", "2026-10", "--prometheus.url", prom.url, "--out.dir", str(out)]) == 0
    finally:
        prom.stop()
    html, md = (out / f"{STEM}.html").read_text(), (out / f"{STEM}.md").read_text()
    for empty in (
        "No completed task in 2026-10",
        "No in-progress task in 2026-10",
        "No `AgentTaskStuck` episode in 2026-10",
        "No task in progress or completed in 2026-10",
        "No spend recorded in 2026-10",
        "No agentwatch alert fired in 2026-10",
        "No canary run and no model change in 2026-10",
    ):
        assert empty in md
        assert empty.replace("`AgentTaskStuck`", "<code>AgentTaskStuck</code>") in html
    assert "<svg" not in html and "![" not in md and not stale.exists()


# -- a short or partial month ------------------------------------------------------------------

# the stack ran 50 minutes inside one clock hour, mid-October: the model change 3 minutes in, the
# quality alert after it and a stuck task, all inside the run
RUN_START, RUN_END = utc(2026, 10, 10, 14, 5), utc(2026, 10, 10, 14, 55)
SHORT_CHANGE = ModelChange("Bob", RUN_START + 180, "claude-haiku-4-5")
SHORT_EPISODES = [
    Episode("AgentTaskStuck", "Dee", RUN_START + 15 * 60, 25),
    Episode("ModelQualityDegraded", "Bob", SHORT_CHANGE.at + 5 * 60, 40),
]


@pytest.fixture(scope="module")
def short_history(tmp_path_factory):
    tool("promtool")
    tool("prometheus")
    work = tmp_path_factory.mktemp("audit-short")
    families = month_of_history(RUN_START, RUN_END, step=60.0, hist_step=300.0, change=SHORT_CHANGE, episodes=SHORT_EPISODES)
    prom = SeededPrometheus(work / "prometheus", write_openmetrics(work / "short.om", families))
    try:
        yield prom
    finally:
        prom.stop()


@pytest.mark.slow
@pytest.mark.prometheus
@pytest.mark.parametrize(
    "now",
    [RUN_END + 180, utc(2026, 11, 5)],
    ids=["month-in-progress", "data-ending-mid-month"],
)
def test_a_short_run_shows_its_in_progress_tasks_and_model_change(short_history, now, tmp_path, monkeypatch):
    monkeypatch.setattr(audit_command, "time", SimpleNamespace(time=lambda: now))
    out = tmp_path / "not" / "yet" / "there"  # audit makes --out.dir
    assert main(["audit", "--month", "2026-10", "--prometheus.url", short_history.url, "--out.dir", str(out)]) == 0
    md = (out / f"{STEM}.md").read_text()
    in_progress = now < OCT.end
    assert ("month not over" in md) == in_progress
    if in_progress:  # a month in progress ends now, not at the month's end
        assert f"to {datetime.fromtimestamp(now, tz=timezone.utc):%Y-%m-%d %H:%M} UTC" in md
    ages = section(md, "Task age", "## Stuck tasks")
    assert "No in-progress task" not in ages
    for agent in DEFAULT_AGENTS:
        assert md_row(ages, agent.company, agent.name, agent.role)[3] == "1", agent  # one hour busy: the run
    slowest = section(md, "Slowest work", "**Slowest completed")
    assert md_row(slowest, "Acme Robotics", "Dee")[4] == "2026-10-10 14:00 UTC"
    canary = section(md, "Canary pass rates", "**Exporter's")
    change = md_row(canary, "Acme Robotics", "Bob", "engineer")
    assert change[3:6] == ["2026-10-10 14:08 UTC", "claude-sonnet-4", "claude-haiku-4-5"], change
    assert "No model change" not in canary
    assert md_row(md, "Model changes")[1] == "1"
    assert md_row(section(md, "Stuck tasks", "**Episodes**"), "Acme Robotics", "Dee")[3] == "1"
    assert md_row(md, "ModelQualityDegraded")[3] == "1"
