"""The ``agentwatch`` command.

    agentwatch [serve]       poll in the background and serve /metrics (the default)
    agentwatch once          poll every source once, print the exposition and exit
    agentwatch check-config  validate the configuration and exit
    agentwatch rules         print the alerting rules with your runbook and Grafana base URLs
    agentwatch demo          serve a simulated Paperclip company where every failure mode happens
    agentwatch stack         run the whole stack without Docker (demo, agentwatch, Prometheus, Alertmanager)
    agentwatch incidents     receive Alertmanager webhooks: the incident log, postmortem stubs, opt-in remediation
    agentwatch tune          propose alert thresholds from Prometheus history (prints a diff; --write applies it)
    agentwatch audit         the monthly report (HTML with charts, and Markdown) from Prometheus history

Flags follow the Prometheus exporter convention: ``--config.file``,
``--web.listen-address``, ``--log.level``, ``--log.format``.

Each command imports what it runs when it runs: ``check-config`` and the tools never load the
poller, the analysis or the exposition, so they start in a fraction of the exporter's time.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentwatch import __version__, config, logs, memory, webconfig

if TYPE_CHECKING:
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from agentwatch.canary.runner import CanaryRunner
    from agentwatch.exposition.collector import AgentwatchCollector
    from agentwatch.model import Snapshot
    from agentwatch.poller import Poller

log = logging.getLogger("agentwatch")

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agentwatch", description="Prometheus exporter for AI-agent fleets on Paperclip.")
    p.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=("serve", "once", "check-config", "rules", "demo", "stack", "incidents", "tune", "audit"),
    )
    p.add_argument("--config.file", dest="config_file", metavar="PATH", help="YAML configuration file")
    p.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT", help=f"default {config.DEFAULT_LISTEN_ADDRESS}")
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="TLS and basic auth for /metrics, in the Prometheus exporter-toolkit web-config format",
    )
    p.add_argument("--log.level", dest="log_level", choices=("debug", "info", "warning", "error"))
    p.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"))
    p.add_argument("--version", action="version", version=f"agentwatch {__version__}")
    _bundle_flags(p)
    _tool_flags(p)
    return p


def _bundle_flags(p: argparse.ArgumentParser) -> None:
    """The flags of ``rules``, ``demo`` and ``stack``: the bundle's files and the local stack."""
    p.add_argument("--rules.file", dest="rules_file", default="prometheus/rules/alerts.yml", help="for `rules`")
    p.add_argument("--runbook.base-url", dest="runbook_base", metavar="URL", help="for `rules`: where the runbooks are served")
    p.add_argument("--dashboard.base-url", dest="dashboard_base", metavar="URL", help="for `rules`: your Grafana URL")
    p.add_argument(
        "--time-scale",
        dest="time_scale",
        type=float,
        default=1.0,
        help="for `rules` and `stack`: compress rule durations this many times (demos)",
    )
    p.add_argument("--demo.listen-address", dest="demo_listen", default="127.0.0.1:3100", metavar="HOST:PORT", help="for `demo`")
    p.add_argument("--demo.pace", dest="demo_pace", type=float, default=1.0, help="for `demo`: stretch the fault schedule")
    p.add_argument(
        "--bundle.dir",
        dest="bundle_dir",
        default=".",
        metavar="DIR",
        help="for `stack`: the checkout holding prometheus/, alertmanager/ and deploy/",
    )
    p.add_argument("--paperclip.url", dest="paperclip_url", metavar="URL", help="for `stack`: your Paperclip instead of the demo")
    p.add_argument("--state.dir", dest="state_dir", default=".stack", metavar="DIR", help="for `stack`: data, configs and logs")


def _tool_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the operator tools: ``incidents``, ``tune`` and ``audit``."""
    p.add_argument(
        "--incidents.listen-address", dest="incidents_listen", metavar="HOST:PORT", help="for `incidents`: default 127.0.0.1:9096"
    )
    p.add_argument(
        "--incidents.dir",
        dest="incidents_dir",
        metavar="DIR",
        help="for `incidents`: the incident log and postmortem stubs, default ./incidents",
    )
    p.add_argument(
        "--incidents.secret-file",
        dest="incidents_secret_file",
        metavar="PATH",
        help="for `incidents`: the shared secret Alertmanager sends as a bearer token",
    )
    p.add_argument(
        "--prometheus.url",
        dest="prometheus_url",
        default="http://127.0.0.1:9090",
        metavar="URL",
        help="for `tune` and `audit`: the Prometheus holding agentwatch's history",
    )
    p.add_argument("--window", dest="window", default="14d", metavar="DURATION", help="for `tune`: how much history to read")
    p.add_argument(
        "--window.end", dest="window_end", metavar="TIME", help="for `tune`: the end of the window (RFC 3339 or unix seconds), default now"
    )
    p.add_argument(
        "--write",
        dest="write",
        action="store_true",
        help="for `tune`: apply the proposal to --config.file (the default only prints a diff)",
    )
    p.add_argument("--month", dest="month", metavar="YYYY-MM", help="for `audit`: the month to report on")
    p.add_argument("--out.dir", dest="out_dir", default="reports", metavar="DIR", help="for `audit`: where the report is written")


def build_pollers(settings: config.Settings, web: webconfig.WebConfig | None = None) -> list[Poller]:
    """One poller per source. Raises ``ConfigError`` when an OTLP receiver cannot listen."""
    from agentwatch.poller import Poller
    from agentwatch.source.paperclip.client import PaperclipSource

    pollers = []
    for index, source_config in enumerate(settings.sources):
        secrets = [source_config.token]
        if isinstance(source_config, config.SourceConfig):
            secrets += [source_config.canary.token, source_config.live_events.token]
        for secret in secrets:
            if secret:
                logs.register_secret(secret.get_secret_value())
        if isinstance(source_config, config.OtelSourceConfig):
            source = _otel_source(settings, source_config, index, web)
        else:
            source = PaperclipSource(source_config, marker=settings.canary_marker)
        pollers.append(Poller(source, source_config, settings))
    return pollers


def without_live_events(source_config: config.AnySourceConfig) -> config.AnySourceConfig:
    """A Paperclip source's config with its live events off (any other source as it is)."""
    if not isinstance(source_config, config.SourceConfig):
        return source_config
    live = source_config.live_events.model_copy(update={"enabled": False})
    return source_config.model_copy(update={"live_events": live})


def _otel_source(settings: config.Settings, source_config: config.OtelSourceConfig, index: int, web: webconfig.WebConfig | None):
    from agentwatch.source.otel.source import OtelSource

    try:
        return OtelSource(source_config, settings.limits.max_agents, web)
    except OSError as exc:
        key = f"sources.{index}.listen_address"
        raise config.ConfigError(f"{key}={source_config.listen_address!r}: {exc.strerror or exc}") from None


def _latest_snapshot(poller: Poller) -> Callable[[], Snapshot | None]:
    """What the canary runner calls for the poller's latest snapshot."""
    return lambda: poller.last_snapshot


def build_runners(settings: config.Settings, pollers: list[Poller]) -> dict[str, CanaryRunner]:
    """One canary runner per source that enables it. Raises ``ConfigError`` for a bad suite."""
    from agentwatch.canary.runner import CanaryRunner
    from agentwatch.canary.suite import load_suite
    from agentwatch.source.http import HttpClient
    from agentwatch.source.paperclip.canary_api import CanaryAPI

    runners: dict[str, CanaryRunner] = {}
    for poller in pollers:
        if isinstance(poller.config, config.OtelSourceConfig):
            if poller.config.canary_suite_file is not None:
                runners[poller.source.name] = _reported_canaries(poller, poller.config.canary_suite_file)
            continue
        cfg = poller.config.canary
        if not cfg.enabled or cfg.suite_file is None:
            continue
        suite = load_suite(cfg.suite_file)
        secret = cfg.token or poller.config.token
        client = HttpClient(poller.config.url, token=secret.get_secret_value() if secret else None, timeout=poller.config.timeout)
        runners[poller.source.name] = CanaryRunner(
            suite,
            CanaryAPI(client, label=settings.canary_marker.label),
            poller.source.name,
            _latest_snapshot(poller),
            title_prefix=settings.canary_marker.title_prefix,
            check_interval=cfg.check_interval,
            model_of=poller.models.current,
        )
    return runners


def _reported_canaries(poller: Poller, suite_file: Path) -> CanaryRunner:
    from agentwatch.canary.reported import ReportedCanaries
    from agentwatch.canary.suite import load_suite

    return ReportedCanaries(load_suite(suite_file), poller.source.name, _latest_snapshot(poller), model_of=poller.models.current)


def check_canary_access(runners: dict[str, CanaryRunner]) -> None:
    """Fail at start-up when a canary token cannot write; a platform that is down is checked later."""
    from agentwatch.source import SourceError

    for runner in runners.values():
        if runner.write_checked:  # nothing to write (canaries the agents' harness reports)
            continue
        try:
            runner.api.check_write_access([])
        except SourceError as exc:
            log.warning("canary write access not checked yet", extra={"source": runner.source, "error": str(exc)})
            continue
        runner.write_checked = True


def build_registry(pollers: list[Poller], runners: dict[str, CanaryRunner] | None = None) -> CollectorRegistry:
    """A client_python registry over the collector (for ``generate_latest`` and the tests)."""
    from prometheus_client import CollectorRegistry

    from agentwatch.exposition.collector import AgentwatchCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentwatchCollector(pollers, runners=runners))
    return registry


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tool = TOOLS.get(args.command)
    return tool(args) if tool is not None else run_exporter(args)


def run_rules(args: argparse.Namespace) -> int:
    from agentwatch.stack.bundle import scale_time, with_links

    try:
        text = open(args.rules_file).read()
    except OSError as exc:
        print(f"agentwatch: rules.file={args.rules_file!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(scale_time(with_links(text, args.runbook_base, args.dashboard_base), args.time_scale))
    return 0


def run_tune(args: argparse.Namespace) -> int:
    from agentwatch.tune import run

    return run(args)


def run_audit(args: argparse.Namespace) -> int:
    from agentwatch.audit import run  # matplotlib only once the charts are drawn: see agentwatch.audit

    return run(args)


def run_exporter(args: argparse.Namespace) -> int:
    """``serve``, ``once`` and ``check-config``: the exporter itself."""
    overrides = {
        "listen_address": args.listen_address,
        "log_level": args.log_level,
        "log_format": args.log_format,
        "web_config_file": args.web_config_file,
    }
    try:
        settings = config.load(args.config_file, overrides)
        web = webconfig.load(settings.web_config_file) if settings.web_config_file else None
    except config.ConfigError as exc:
        print(f"agentwatch: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(settings.log_level, settings.log_format)
    memory.setup()  # a long-running poller: see agentwatch/memory.py
    if args.command == "check-config":
        names = ", ".join(s.name for s in settings.sources)
        print(f"configuration OK: {len(settings.sources)} source(s): {names}")
        return 0
    from agentwatch.exposition.collector import AgentwatchCollector
    from agentwatch.source.paperclip.canary_api import CanaryPermissionError

    if args.command == "once":  # one poll and out: no live-events sockets to open and close again
        settings = settings.model_copy(update={"sources": [without_live_events(s) for s in settings.sources]})
    try:
        pollers = build_pollers(settings, web)
        runners = build_runners(settings, pollers)
        if args.command == "serve":
            check_canary_access(runners)
    except config.ConfigError as exc:
        print(f"agentwatch: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CanaryPermissionError as exc:
        print(f"agentwatch: canary: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    collector = AgentwatchCollector(pollers, runners=runners)
    if args.command == "once":
        ok = all([p.poll_once() for p in pollers])
        sys.stdout.write(collector.exposition().decode())
        for p in pollers:
            p.source.close()
        return 0 if ok else 1
    return serve(settings, pollers, collector, runners, web)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def _terminate(signum, _frame):
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    stop.wait()


def run_demo(args: argparse.Namespace) -> int:
    from agentwatch.demo.server import DemoServer

    logs.setup(args.log_level or "info", args.log_format or "logfmt")
    try:
        host, port = config.split_listen_address(args.demo_listen)
        server = DemoServer(host, port, pace=args.demo_pace)
    except (ValueError, OSError) as exc:
        print(f"agentwatch: demo.listen-address={args.demo_listen!r}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return EXIT_CONFIG
    server.start()
    log.info("demo Paperclip serving", extra={"address": server.url, "companies": "Demo Robotics, Flaky Labs (at /flaky)"})
    _wait_for_signal()
    server.stop()
    return 0


def run_incidents(args: argparse.Namespace) -> int:
    from agentwatch.incidents import settings as incidents_settings
    from agentwatch.incidents.receiver import IncidentReceiver
    from agentwatch.incidents.remediate import Remediator, platform_api
    from agentwatch.incidents.store import IncidentLog

    logs.setup(args.log_level or "info", args.log_format or "logfmt")
    overrides = {"listen_address": args.incidents_listen, "dir": args.incidents_dir, "secret_file": args.incidents_secret_file}
    try:
        settings = incidents_settings.load(args.config_file, overrides)
    except config.ConfigError as exc:
        print(f"agentwatch: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    policy = settings.remediation
    for secret in (settings.secret, policy.token):
        if secret:
            logs.register_secret(secret.get_secret_value())
    try:
        host, port = config.split_listen_address(settings.listen_address)
        store = IncidentLog(settings.dir)
        receiver = IncidentReceiver(
            store,
            Remediator(policy, store, platform_api(policy)),
            settings.secret.get_secret_value() if settings.secret else None,
            host=host,
            port=port,
        )
    except OSError as exc:
        print(f"agentwatch: incidents: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    log.info(
        "receiving Alertmanager webhooks",
        extra={
            "address": receiver.url,
            "dir": str(settings.dir),
            "shared_secret": settings.secret is not None,
            "remediation": ("dry-run" if policy.dry_run else "on") if policy.enabled else "off",
        },
    )
    _wait_for_signal()
    receiver.stop()
    return 0


def run_stack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agentwatch.stack import local as localstack

    logs.setup(args.log_level or "info", args.log_format or "logfmt")
    bundle = Path(args.bundle_dir).resolve()
    if not (bundle / "prometheus" / "prometheus.yml").exists():
        print(f"agentwatch: bundle.dir={args.bundle_dir!r}: no prometheus/prometheus.yml there (run from the checkout)", file=sys.stderr)
        return EXIT_CONFIG
    ports = {"demo": 3100, "agentwatch": 10133, "prometheus": 9090, "alertmanager": 9093, "webhook": 9096}
    try:
        stack = localstack.Stack(
            bundle,
            Path(args.state_dir).resolve(),
            paperclip_url=args.paperclip_url,
            time_scale=args.time_scale,
            interval="5s" if args.time_scale > 1 else None,
            ports=ports,
        )
    except (OSError, RuntimeError, TimeoutError) as exc:
        print(f"agentwatch: stack: {exc}", file=sys.stderr)
        return 1
    log.info(
        "stack running",
        extra={
            "paperclip": stack.demo.url if stack.demo else args.paperclip_url,
            "agentwatch": stack.exporter.url,
            "prometheus": stack.prometheus.url,
            "alertmanager": stack.alertmanager.url,
            "incidents": str(Path(args.state_dir) / "incidents"),
        },
    )
    _wait_for_signal()
    stack.stop()
    return 0


def serve(
    settings: config.Settings,
    pollers: list[Poller],
    collector: AgentwatchCollector,
    runners: dict[str, CanaryRunner],
    web: webconfig.WebConfig | None = None,
) -> int:
    from agentwatch.server import MetricsServer

    host, port = config.split_listen_address(settings.listen_address)
    try:
        server = MetricsServer(host, port, collector.exposition, web)
    except OSError as exc:
        print(f"agentwatch: listen_address={settings.listen_address!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    server.start()
    log.info(
        "listening",
        extra={
            "address": f"{server.scheme}://{host}:{server.port}",
            "basic_auth": bool(web and web.basic_auth_users),
            "sources": ",".join(p.source.name for p in pollers),
            "version": __version__,
        },
    )
    for p in pollers:
        p.start()
    for r in runners.values():
        r.start()
    _wait_for_signal()
    server.stop()
    for r in runners.values():
        r.stop()
    for p in pollers:
        p.stop()
    log.info("stopped")
    return 0


# the commands around the exporter; any other runs the exporter itself (``run_exporter``)
TOOLS: dict[str, Callable[[argparse.Namespace], int]] = {
    "rules": run_rules,
    "demo": run_demo,
    "stack": run_stack,
    "incidents": run_incidents,
    "tune": run_tune,
    "audit": run_audit,
}


if __name__ == "__main__":
    raise SystemExit(main())
