"""What ``serve`` checks before it starts anything, in one place: ``agentwatch check-config`` runs
exactly this and stops, so that an OK from it means serve starts.

``load_checked`` is the gate of ``serve``, ``once`` and ``check-config`` alike:

1. The schema (``config.load``): every key and value of the file, the environment and the flags,
   all at once. An unknown key gets a "did you mean" from the keys allowed where it stands;
   durations, listen addresses and every URL-valued key (``config.http_url``) are checked, and
   token files are read.
2. Once the schema holds, the files its keys name: the web-config file (its TLS certificate and key
   loaded, as serve does), every canary suite serve would load (``sources.N.canary.suite_file`` of
   an enabled canary, an OpenTelemetry source's ``sources.N.canary_suite_file``), and the listen
   addresses serve would bind twice (the web address and the OTLP receivers').

Each error is one line naming its key path and value, such as
``agentwatch: invalid configuration: sources.0.canary.suite_file='/etc/agentwatch/canaries.yml': cannot be read: No such file or directory``;
every line is printed and the exit code is 2, from check-config and from serve alike.

Left to serve, because they need a socket or the network: a port another process holds, a host
name that does not resolve, a canary token that cannot write, a platform that is down.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentwatch import config, webconfig
from agentwatch.canary.suite import load_suite

# a host that listens on every address, and so shares its port with any other host
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Checked:
    """A configuration that passed every check, and its web config (None: plain HTTP, no auth)."""

    settings: config.Settings
    web: webconfig.WebConfig | None


def load_checked(config_file: str | None, overrides: dict[str, Any]) -> Checked:
    """Load and check everything serve checks, touching no socket; ``ConfigError`` lists every error."""
    settings = config.load(config_file, overrides)
    web, errors = _web_config(settings)
    errors += [*suite_errors(settings), *listen_conflicts(settings)]
    if errors:
        raise config.ConfigError(*errors)
    return Checked(settings, web)


def print_errors(exc: config.ConfigError) -> None:
    """One line on stderr per error."""
    for error in exc.errors:
        print(f"agentwatch: invalid configuration: {error}", file=sys.stderr)


def _web_config(settings: config.Settings) -> tuple[webconfig.WebConfig | None, list[str]]:
    if settings.web_config_file is None:
        return None, []
    try:
        return webconfig.load(settings.web_config_file), []
    except config.ConfigError as exc:
        return None, exc.errors


def suites_to_load(settings: config.Settings) -> Iterator[tuple[str, Path]]:
    """(key, path) of every canary suite serve loads at start-up (a disabled canary's is not)."""
    for index, source in enumerate(settings.sources):
        if isinstance(source, config.OtelSourceConfig):
            if source.canary_suite_file is not None:
                yield f"sources.{index}.canary_suite_file", source.canary_suite_file
        elif source.canary.enabled and source.canary.suite_file is not None:
            yield f"sources.{index}.canary.suite_file", source.canary.suite_file


def suite_errors(settings: config.Settings) -> list[str]:
    """What is wrong with each suite serve would load, under the key that names it."""
    errors = []
    for key, path in suites_to_load(settings):
        try:
            load_suite(path)
        except config.ConfigError as exc:
            errors += [_under_key(key, path, error) for error in exc.errors]
    return errors


def _under_key(key: str, path: Path, error: str) -> str:
    """``load_suite``'s error, located at ``key``: it names the file as ``canary.suite_file``."""
    about_the_file = error.removeprefix("canary.suite_file=")
    if about_the_file != error:  # unreadable, not YAML, not a mapping: ``'path': why``
        return f"{key}={about_the_file}"
    return f"{key}={str(path)!r}: {error}"


def listen_addresses(settings: config.Settings) -> list[tuple[str, str]]:
    """(key, HOST:PORT) of every socket serve listens on: the web address, then each OTLP receiver."""
    otlp = [
        (f"sources.{i}.listen_address", s.listen_address) for i, s in enumerate(settings.sources) if isinstance(s, config.OtelSourceConfig)
    ]
    return [("listen_address", settings.listen_address), *otlp]


def listen_conflicts(settings: config.Settings) -> list[str]:
    """Listen addresses serve would bind twice (port 0 takes any free port, so never clashes)."""
    errors = []
    bound: list[tuple[str, str, int]] = []
    for key, address in listen_addresses(settings):
        host, port = config.split_listen_address(address)
        for other_key, other_host, other_port in bound:
            if port and port == other_port and (host == other_host or {host, other_host} & set(WILDCARD_HOSTS)):
                errors.append(f"{key}={address!r}: {other_key} listens on that port too")
                break
        bound.append((key, host, port))
    return errors
