"""The ``agentwatch`` command: ``agentwatch [COMMAND] [FLAGS]``, ``serve`` when none is named.

``COMMANDS`` below lists every command with its line (``agentwatch help``); each has a parser of
its own (``command_parser``), so ``agentwatch stack --help`` shows the stack's flags alone, each with
its default. The command may stand anywhere among the flags, as it could before: ``agentwatch
--config.file=x.yml check-config``.

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
    from agentwatch.stack.local import Addresses

log = logging.getLogger("agentwatch")

EXIT_CONFIG = 2


COMMANDS: dict[str, str] = {
    "serve": "poll the sources in the background and serve /metrics (the default command)",
    "once": "poll every source once, print the exposition and exit (1 if a poll failed)",
    "check-config": "validate the configuration (files included) and exit; every error at once",
    "rules": "print the alerting rules with your runbook and Grafana base URLs",
    "demo": "serve a simulated Paperclip company where every failure mode happens",
    "stack": "run the whole stack without Docker: demo, agentwatch, Prometheus, Alertmanager, incidents",
    "incidents": "receive Alertmanager webhooks: the incident log, postmortem stubs, opt-in remediation",
    "tune": "propose alert thresholds from Prometheus history (prints a diff; --write applies it)",
    "audit": "write the monthly report (HTML with charts, and Markdown) from Prometheus history",
    "help": "show the commands, or one command's flags (`agentwatch help stack`)",
}
"""Every command and its one-line description: ``agentwatch help`` lists them."""

# the flags that take no value: a word after one of them is a command, not the flag's value
_SWITCHES = {"--write", "--version", "-h", "--help"}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default; a flag without one (None or False) shows none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def _exporter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config.file", dest="config_file", metavar="PATH", help="the YAML configuration file (examples/agentwatch.yml)")
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        help=f"where /metrics is served; default {config.DEFAULT_LISTEN_ADDRESS}",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="TLS and basic auth for every path, in the Prometheus exporter-toolkit web-config format",
    )


def _log_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log.level", dest="log_level", choices=("debug", "info", "warning", "error"), help="default info")
    p.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"), help="default logfmt")


def _link_flags(p: argparse.ArgumentParser) -> None:
    from agentwatch.stack.bundle import DEFAULT_DASHBOARD_BASE, DEFAULT_RUNBOOK_BASE

    p.add_argument(
        "--runbook.base-url",
        dest="runbook_base",
        metavar="URL",
        help=f"where the runbooks are served (agentwatch serves them at /runbooks/); default {DEFAULT_RUNBOOK_BASE}",
    )
    p.add_argument("--dashboard.base-url", dest="dashboard_base", metavar="URL", help=f"your Grafana; default {DEFAULT_DASHBOARD_BASE}")
    p.add_argument("--time-scale", dest="time_scale", type=float, default=1.0, help="compress rule durations this many times (demos)")


def _prometheus_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prometheus.url",
        dest="prometheus_url",
        default="http://127.0.0.1:9090",
        metavar="URL",
        help="the Prometheus holding agentwatch's history",
    )


def _command_flags(command: str, p: argparse.ArgumentParser) -> None:  # noqa: C901 - one branch per command
    """The flags of ``command`` alone."""
    if command in ("serve", "once", "check-config"):
        _exporter_flags(p)
    elif command == "rules":
        p.add_argument("--rules.file", dest="rules_file", metavar="PATH", help="the rules to print; default the shipped alerts.yml")
        p.add_argument(
            "--out.dir",
            dest="out_dir",
            metavar="DIR",
            help="write every rule file of --rules.file's folder here (alerts and recording rules)",
        )
        _link_flags(p)
    elif command == "demo":
        p.add_argument(
            "--demo.listen-address", dest="demo_listen", default="127.0.0.1:3100", metavar="HOST:PORT", help="where the demo listens"
        )
        p.add_argument("--demo.pace", dest="demo_pace", type=float, default=1.0, help="stretch the fault schedule this many times")
    elif command == "stack":
        _stack_flags(p)
    elif command == "incidents":
        p.add_argument("--config.file", dest="config_file", metavar="PATH", help="YAML with an `incidents:` section (remediation)")
        p.add_argument("--incidents.listen-address", dest="incidents_listen", metavar="HOST:PORT", help="default 127.0.0.1:9096")
        p.add_argument(
            "--incidents.dir", dest="incidents_dir", metavar="DIR", help="the incident log and postmortem stubs; default ./incidents"
        )
        p.add_argument(
            "--incidents.secret-file",
            dest="incidents_secret_file",
            metavar="PATH",
            help="the shared secret Alertmanager sends as a bearer token",
        )
    elif command == "tune":
        p.add_argument(
            "--config.file", dest="config_file", metavar="PATH", help="the configuration whose `thresholds:` the proposal changes"
        )
        _prometheus_flag(p)
        p.add_argument("--window", dest="window", default="14d", metavar="DURATION", help="how much history to read")
        p.add_argument("--window.end", dest="window_end", metavar="TIME", help="the window's end (RFC 3339 or unix seconds); default now")
        p.add_argument(
            "--write", dest="write", action="store_true", help="apply the proposal to --config.file (the default only prints a diff)"
        )
    elif command == "audit":
        _prometheus_flag(p)
        p.add_argument("--month", dest="month", metavar="YYYY-MM", help="the month to report on; default the last full month")
        p.add_argument("--out.dir", dest="out_dir", default="reports", metavar="DIR", help="where the report is written")
    elif command == "help":
        p.add_argument("topic", nargs="?", choices=[c for c in COMMANDS if c != "help"], help="the command to show")
    if command not in ("rules", "help"):
        _log_flags(p)


def _stack_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--paperclip.url", dest="paperclip_url", metavar="URL", help="watch your Paperclip instead of the demo (no canaries then)"
    )
    p.add_argument("--state.dir", dest="state_dir", default=".stack", metavar="DIR", help="data, configs and logs")
    p.add_argument("--bundle.dir", dest="bundle_dir", metavar="DIR", help="a folder laid out like the checkout; default the shipped bundle")
    _link_flags(p)
    for part, default, what in (
        ("demo", "127.0.0.1:3100", "the demo Paperclip"),
        ("web", "127.0.0.1:10133", "agentwatch (/metrics, the landing page, /runbooks/)"),
        ("prometheus", "127.0.0.1:9090", "Prometheus"),
        ("alertmanager", "127.0.0.1:9093", "Alertmanager"),
        ("incidents", "127.0.0.1:9096", "the incident webhook receiver"),
        ("otlp", "127.0.0.1:4318", "the demo's OTLP/HTTP receiver"),
    ):
        p.add_argument(
            f"--{part}.listen-address", dest=f"{part}_listen", default=default, metavar="HOST:PORT", help=f"where {what} listens"
        )
    for part, env in (("prometheus", "AGENTWATCH_PROMETHEUS_BIN"), ("alertmanager", "AGENTWATCH_ALERTMANAGER_BIN")):
        p.add_argument(
            f"--{part}.binary",
            dest=f"{part}_binary",
            metavar="PATH",
            help=f"the {part} to run; default ${env}, else the newest on PATH and in $AGENTWATCH_PROMETHEUS3_BIN",
        )


def command_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one command: its own flags, each with its default and a line on what it does."""
    p = argparse.ArgumentParser(
        prog=f"agentwatch {command}", description=COMMANDS[command], formatter_class=lambda prog: _HelpFormatter(prog, width=100)
    )
    _command_flags(command, p)
    return p


def overview() -> str:
    """``agentwatch help``: every command with its line."""
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: agentwatch [COMMAND] [FLAGS]   (agentwatch {__version__})",
        "",
        "Prometheus exporter and monitoring bundle for AI-agent fleets.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {line}" for name, line in COMMANDS.items()]
    lines += ["", "`agentwatch help COMMAND` or `agentwatch COMMAND --help` shows the command's flags and their defaults.", ""]
    return "\n".join(lines)


def split_command(argv: list[str]) -> tuple[str, list[str]]:
    """The command named anywhere in ``argv`` (``serve`` when none is), and the other words.

    A word that follows a flag given without ``=`` is that flag's value, not a command:
    ``--config.file rules`` names a file called ``rules``.
    """
    for index, word in enumerate(argv):
        if word not in COMMANDS:
            continue
        previous = argv[index - 1] if index else ""
        if previous.startswith("-") and "=" not in previous and previous not in _SWITCHES:
            continue
        return word, argv[:index] + argv[index + 1 :]
    return "serve", list(argv)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in ("-h", "--help"):
        sys.stdout.write(overview())
        raise SystemExit(0)
    if "--version" in words:
        print(f"agentwatch {__version__}")
        raise SystemExit(0)
    command, rest = split_command(words)
    args = command_parser(command).parse_args(rest)
    args.command = command
    return args


def run_help(args: argparse.Namespace) -> int:
    if args.topic:
        command_parser(args.topic).print_help()
    else:
        sys.stdout.write(overview())
    return 0


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
    args = parse_args(argv)
    tool = TOOLS.get(args.command)
    return tool(args) if tool is not None else run_exporter(args)


def run_rules(args: argparse.Namespace) -> int:
    """The rules with your links (and ``--time-scale``): printed, or with ``--out.dir`` every rule file
    of the folder written there (compose writes the rules Prometheus loads this way)."""
    from pathlib import Path

    from agentwatch.shipped import RULES
    from agentwatch.stack.bundle import scale_time, with_links

    source = Path(args.rules_file) if args.rules_file else RULES / "alerts.yml"
    try:
        paths = [source, *sorted(p for p in source.parent.glob("*.yml") if p != source)] if args.out_dir else [source]
        rendered = {p.name: scale_time(with_links(p.read_text(), args.runbook_base, args.dashboard_base), args.time_scale) for p in paths}
    except OSError as exc:
        print(f"agentwatch: rules.file={args.rules_file!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    if not args.out_dir:
        sys.stdout.write(rendered[source.name])
        return 0
    try:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (Path(args.out_dir) / name).write_text(text)
    except OSError as exc:
        print(f"agentwatch: out.dir={args.out_dir!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"wrote {', '.join(rendered)} to {args.out_dir}", file=sys.stderr)
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
    from agentwatch.check import load_checked, print_errors

    try:  # what check-config checks is what serve checks: agentwatch/check.py
        checked = load_checked(args.config_file, overrides)
    except config.ConfigError as exc:
        print_errors(exc)
        return EXIT_CONFIG
    settings, web = checked.settings, checked.web
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
    except config.ConfigError as exc:  # an OTLP receiver's port is taken
        print_errors(exc)
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

    from agentwatch.shipped import BUNDLE
    from agentwatch.stack import local as localstack

    logs.setup(args.log_level or "info", args.log_format or "logfmt")
    bundle = Path(args.bundle_dir).resolve() if args.bundle_dir else BUNDLE
    if not (bundle / "prometheus" / "prometheus.yml").exists():
        print(
            f"agentwatch: bundle.dir={args.bundle_dir!r}: no prometheus/prometheus.yml (it takes a folder laid out like the checkout)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    addresses = localstack.Addresses(
        demo=args.demo_listen,
        agentwatch=args.web_listen,
        prometheus=args.prometheus_listen,
        alertmanager=args.alertmanager_listen,
        incidents=args.incidents_listen,
        otlp=args.otlp_listen,
    )
    return _run_stack_at(args, bundle, addresses)


def _run_stack_at(args: argparse.Namespace, bundle: Path, addresses: Addresses) -> int:
    """Start the stack (SIGTERM while starting stops what started), log its addresses, run until a signal."""
    from pathlib import Path

    from agentwatch.stack import local as localstack

    def _stop_starting(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # SIGTERM before _wait_for_signal takes over unwinds like Ctrl-C: the children started so far stop
    previous = signal.signal(signal.SIGTERM, _stop_starting)
    try:
        prometheus = localstack.choose_binary(("prometheus",), args.prometheus_binary, "AGENTWATCH_PROMETHEUS_BIN")
        alertmanager = localstack.choose_binary(
            ("prometheus-alertmanager", "alertmanager"), args.alertmanager_binary, "AGENTWATCH_ALERTMANAGER_BIN"
        )
        stack = localstack.Stack(
            bundle,
            Path(args.state_dir).resolve(),
            paperclip_url=args.paperclip_url,
            time_scale=args.time_scale,
            interval="5s" if args.time_scale > 1 else None,
            addresses=addresses,
            prometheus_binary=prometheus.path,
            alertmanager_binary=alertmanager.path,
            runbook_base=args.runbook_base,
            dashboard_base=args.dashboard_base,
        )
    except (OSError, RuntimeError, TimeoutError, KeyboardInterrupt) as exc:  # StackError names the address and its flag
        signal.signal(signal.SIGTERM, previous)
        interrupted = isinstance(exc, KeyboardInterrupt)
        print(f"agentwatch: stack: {'stopped while starting' if interrupted else exc}", file=sys.stderr)
        return 130 if interrupted else 1
    try:
        log.info(
            "stack running",
            extra={
                "paperclip": stack.demo.url if stack.demo else args.paperclip_url,
                "agentwatch": stack.exporter.url,
                "prometheus": stack.prometheus.url,
                "prometheus_ui": stack.prometheus.ui() or "none (this package has no web UI: see agentwatch's landing page)",
                "alertmanager": stack.alertmanager.url,
                "incidents": str(Path(args.state_dir) / "incidents"),
            },
        )
        _wait_for_signal()
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
    return 0


def serve(
    settings: config.Settings,
    pollers: list[Poller],
    collector: AgentwatchCollector,
    runners: dict[str, CanaryRunner],
    web: webconfig.WebConfig | None = None,
) -> int:
    from agentwatch.landing import source_statuses
    from agentwatch.server import MetricsServer

    host, port = config.split_listen_address(settings.listen_address)
    try:
        server = MetricsServer(host, port, collector.exposition, web, status=lambda: source_statuses(pollers), ui=settings.ui)
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
    "help": run_help,
    "rules": run_rules,
    "demo": run_demo,
    "stack": run_stack,
    "incidents": run_incidents,
    "tune": run_tune,
    "audit": run_audit,
}


if __name__ == "__main__":
    raise SystemExit(main())
