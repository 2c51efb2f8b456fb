"""The ``agentwatch`` command.

    agentwatch [serve]       poll in the background and serve /metrics (the default)
    agentwatch once          poll every source once, print the exposition and exit
    agentwatch check-config  validate the configuration and exit

Flags follow the Prometheus exporter convention: ``--config.file``,
``--web.listen-address``, ``--log.level``, ``--log.format``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from prometheus_client import CollectorRegistry, generate_latest

from agentwatch import __version__, config, logs
from agentwatch.exposition.collector import AgentwatchCollector
from agentwatch.poller import Poller
from agentwatch.source.paperclip import PaperclipSource

log = logging.getLogger("agentwatch")

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agentwatch", description="Prometheus exporter for AI-agent fleets on Paperclip.")
    p.add_argument("command", nargs="?", default="serve", choices=("serve", "once", "check-config"))
    p.add_argument("--config.file", dest="config_file", metavar="PATH", help="YAML configuration file")
    p.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT", help=f"default {config.DEFAULT_LISTEN_ADDRESS}")
    p.add_argument("--log.level", dest="log_level", choices=("debug", "info", "warning", "error"))
    p.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"))
    p.add_argument("--version", action="version", version=f"agentwatch {__version__}")
    return p


def build_pollers(settings: config.Settings) -> list[Poller]:
    pollers = []
    for source_config in settings.sources:
        if source_config.token:
            logs.register_secret(source_config.token.get_secret_value())
        source = PaperclipSource(source_config, canary=settings.canary)
        pollers.append(Poller(source, source_config, settings))
    return pollers


def build_registry(pollers: list[Poller]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentwatchCollector(pollers))
    return registry


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {"listen_address": args.listen_address, "log_level": args.log_level, "log_format": args.log_format}
    try:
        settings = config.load(args.config_file, overrides)
    except config.ConfigError as exc:
        print(f"agentwatch: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(settings.log_level, settings.log_format)
    if args.command == "check-config":
        names = ", ".join(s.name for s in settings.sources)
        print(f"configuration OK: {len(settings.sources)} source(s): {names}")
        return 0
    pollers = build_pollers(settings)
    registry = build_registry(pollers)
    if args.command == "once":
        ok = all([p.poll_once() for p in pollers])
        sys.stdout.write(generate_latest(registry).decode())
        for p in pollers:
            p.source.close()
        return 0 if ok else 1
    return serve(settings, pollers, registry)


def serve(settings: config.Settings, pollers: list[Poller], registry: CollectorRegistry) -> int:
    from agentwatch.server import MetricsServer

    host, port = config.split_listen_address(settings.listen_address)
    try:
        server = MetricsServer(host, port, registry)
    except OSError as exc:
        print(f"agentwatch: listen_address={settings.listen_address!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    stop = threading.Event()

    def _terminate(signum, _frame):
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    server.start()
    log.info(
        "listening",
        extra={"address": f"{host}:{server.port}", "sources": ",".join(p.source.name for p in pollers), "version": __version__},
    )
    for p in pollers:
        p.start()
    stop.wait()
    server.stop()
    for p in pollers:
        p.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
