"""The figures of the live-events benchmark (``bench/live_events.py``) from what it recorded: freshness
percentiles per exporter and kind, requests and bytes per hour, the live exporter's refreshes and
events, the page latency, the targets; and the markdown tables printed from them."""

from __future__ import annotations

import math
from typing import Any

from live_events_watch import Expectation, Refresh

KINDS = ("run_start", "run_finish", "run_fail", "issue", "cost")


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear between the closest ranks; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: list[float], missed: int = 0) -> dict[str, Any]:
    return {
        "n": len(values),
        "missed": missed,
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
    }


def freshness(samples: list[Expectation], names: list[str]) -> dict[str, Any]:
    """Per exporter: overall and per kind, the p50/p95/max of t1 - t0 and how many it never showed."""
    out: dict[str, Any] = {}
    for name in names:
        per_kind: dict[str, Any] = {}
        every: list[float] = []
        missed_all = 0
        for kind in KINDS:
            mine = [s for s in samples if s.kind == kind and s.t0 is not None]
            got = [lat for s in mine if (lat := s.latencies()[name]) is not None]
            missed = len(mine) - len(got)
            per_kind[kind] = summary(got, missed)
            every += got
            missed_all += missed
        out[name] = {"overall": summary(every, missed_all), "kinds": per_kind}
    return out


def traffic(
    name: str, before: dict, after: dict, refreshes: list[Refresh], window: tuple[float, float], full_poll_interval: float | None
) -> dict[str, Any]:
    """Requests and bytes to Paperclip of one exporter over the window (its own counters), per
    hour; its refreshes by trigger. With ``full_poll_interval`` (the live exporter), also the
    steady figure (``_steady``)."""
    start, end = window
    hours = (end - start) / 3600

    def grown(family: str) -> float:
        return sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == family)

    def by_label(family: str) -> dict[str, float]:
        return {k[1]: v - before.get(k, 0.0) for k, v in after.items() if k[0] == family and v - before.get(k, 0.0) > 0}

    requests, nbytes = grown("source_requests_total"), grown("source_response_bytes_total")
    took, answered = by_label("source_request_duration_seconds_sum"), by_label("source_request_duration_seconds_count")
    triggers = by_trigger([r for r in refreshes if start <= r.at <= end])
    out: dict[str, Any] = {
        "exporter": name,
        "window_seconds": end - start,
        "requests": requests,
        "bytes": nbytes,
        "requests_per_hour": requests / hours,
        "bytes_per_hour": nbytes / hours,
        "not_modified": grown("source_not_modified_total"),
        "by_endpoint": by_label("source_requests_total"),
        "latency_by_endpoint": {k: took.get(k, 0.0) / n for k, n in answered.items()},
        "bytes_by_endpoint": by_label("source_response_bytes_total"),
        "refreshes": by_label("refreshes_total"),
        "by_trigger": triggers,
        "events": by_label("live_events_received_total"),
    }
    if full_poll_interval:
        full = by_trigger([r for r in refreshes if r.trigger in ("scheduled", "resync")])
        out["steady"] = _steady(out, triggers.get("scheduled"), full, hours, full_poll_interval)
    return out


def by_trigger(refreshes: list[Refresh]) -> dict[str, dict[str, float]]:
    """Count, requests, bytes and seconds of ``refreshes``, by trigger."""
    out: dict[str, dict[str, float]] = {}
    for r in refreshes:
        t = out.setdefault(r.trigger, {"count": 0, "requests": 0.0, "bytes": 0.0, "seconds": 0.0})
        t["count"] += 1
        t["requests"] += r.requests
        t["bytes"] += r.bytes
        t["seconds"] += r.duration
    return out


def _steady(measured: dict[str, Any], in_window: dict | None, full: dict, hours: float, full_poll_interval: float) -> dict[str, float]:
    """Per hour: the window's requests and bytes without its scheduled full polls, plus
    ``3600 / full_poll_interval`` full polls, each the mean of every full poll (scheduled or
    resync) the run saw. The measured figure counts the window's full polls as they fell."""
    n = sum(t["count"] for t in full.values())
    per_full = (sum(t["requests"] for t in full.values()) / n, sum(t["bytes"] for t in full.values()) / n) if n else (0.0, 0.0)
    skip = in_window or {"requests": 0.0, "bytes": 0.0}
    fulls = 3600 / full_poll_interval
    requests = (measured["requests"] - skip["requests"]) / hours + fulls * per_full[0]
    return {
        "full_polls_per_hour": fulls,
        "requests_per_full_poll": per_full[0],
        "bytes_per_full_poll": per_full[1],
        "requests_per_hour": requests,
        "bytes_per_hour": (measured["bytes"] - skip["bytes"]) / hours + fulls * per_full[1],
        "full_poll_share_of_requests": fulls * per_full[0] / requests if requests else 0.0,
    }


def pages(faults: dict[str, Expectation], arrivals: list[dict], active: dict, names: list[str], for_seconds: float) -> dict[str, Any]:
    """Per exporter, per fault agent: the third failure's end (t0), when the exporter showed it,
    when Prometheus's alert went pending, when the webhook got it; and the latency minus ``for``."""
    out: dict[str, Any] = {}
    for name in names:
        rows = []
        for agent, exp in sorted(faults.items()):
            if exp.t0 is None:
                continue
            got = [a["at"] for a in arrivals if is_page(a, name, agent)]
            notified = min(got) - exp.t0 if got else None
            pending = active.get((name, agent))
            rows.append(
                {
                    "agent": agent,
                    "t0": exp.t0,
                    "exporter_shows": exp.seen[name] - exp.t0 if name in exp.seen else None,
                    "pending": pending - exp.t0 if pending is not None else None,
                    "notified": notified,
                    "over_for": notified - for_seconds if notified is not None else None,
                }
            )
        over = [r["over_for"] for r in rows if r["over_for"] is not None]
        out[name] = {"samples": rows, "over_for": summary(over, len(rows) - len(over))}
    return out


def is_page(arrival: dict, source: str, agent: str) -> bool:
    labels = arrival["labels"]
    return (
        arrival["event"] == "firing"
        and labels.get("alertname") == "AgentRunsFailing"
        and labels.get("source") == source
        and labels.get("agent") == agent
    )


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's three targets, met or not, with the figures they compare."""
    fresh = result["freshness"]
    live_p95 = fresh["live"]["overall"]["p95"]
    fast_p95 = fresh["pollfast"]["overall"]["p95"]
    page = result["page"].get("live", {}).get("over_for", {})
    traffic = result["traffic"]
    live_rph = traffic["live"]["steady"]["requests_per_hour"]
    fast_rph = traffic["pollfast"]["requests_per_hour"]
    return {
        "freshness_p95_live_le_2s": {"value": live_p95, "met": live_p95 is not None and live_p95 <= 2.0},
        "page_latency_live_le_for_plus_5s": {
            "max_over_for": page.get("max"),
            "met": page.get("n", 0) > 0 and page.get("missed", 1) == 0 and page["max"] <= 5.0,
        },
        "live_requests_le_half_of_pollfast": {
            "live_per_hour": live_rph,
            "pollfast_per_hour": fast_rph,
            "ratio": live_rph / fast_rph if fast_rph else None,
            "freshness_equal_or_better": live_p95 is not None and fast_p95 is not None and live_p95 <= fast_p95,
            "met": bool(fast_rph) and live_rph <= fast_rph / 2 and live_p95 is not None and fast_p95 is not None and live_p95 <= fast_p95,
        },
    }


# -- tables ----------------------------------------------------------------------------------


def _s(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _n(value: float) -> str:
    return f"{value:,.0f}"


def freshness_table(fresh: dict[str, Any]) -> str:
    names = list(fresh)
    lines = ["| change | " + " | ".join(f"{n} p50 / p95 (s)" for n in names) + " | samples (missed) |", "|---" * (len(names) + 2) + "|"]
    for kind in (*KINDS, "overall"):
        cells = []
        for n in names:
            s = fresh[n]["overall"] if kind == "overall" else fresh[n]["kinds"][kind]
            cells.append(f"{_s(s['p50'])} / {_s(s['p95'])}")
        counts = ", ".join(
            f"{(fresh[n]['overall'] if kind == 'overall' else fresh[n]['kinds'][kind])['n']}"
            f" ({(fresh[n]['overall'] if kind == 'overall' else fresh[n]['kinds'][kind])['missed']})"
            for n in names
        )
        label = f"**{kind}**" if kind == "overall" else kind
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {counts} |")
    return "\n".join(lines)


def traffic_table(traffic: dict[str, Any]) -> str:
    lines = [
        "| exporter | requests/h (measured) | bytes/h (measured) | requests/h (steady) | bytes/h (steady) | refreshes in window |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in traffic.items():
        steady = t.get("steady")
        refreshes = ", ".join(f"{k} {v:.0f}" for k, v in sorted(t["refreshes"].items()))
        lines.append(
            f"| {name} | {_n(t['requests_per_hour'])} | {_n(t['bytes_per_hour'])} | "
            f"{_n(steady['requests_per_hour']) if steady else '='} | {_n(steady['bytes_per_hour']) if steady else '='} | {refreshes} |"
        )
    return "\n".join(lines)


def page_table(page: dict[str, Any], for_seconds: float) -> str:
    lines = [
        f"| exporter | agent | exporter shows (s) | alert pending (s) | notified (s) | notified − for ({for_seconds:.0f} s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in page.items():
        for r in p["samples"]:
            lines.append(
                f"| {name} | {r['agent']} | {_s(r['exporter_shows'])} | {_s(r['pending'])} | {_s(r['notified'])} | {_s(r['over_for'])} |"
            )
        o = p["over_for"]
        lines.append(f"| **{name}** | p50 / p95 / max | | | | {_s(o['p50'])} / {_s(o['p95'])} / {_s(o['max'])} (missed {o['missed']}) |")
    return "\n".join(lines)
