"""TLS and basic auth for /metrics, from a web-config file in the Prometheus exporter-toolkit format.

    tls_server_config:
      cert_file: /etc/agentwatch/tls.crt
      key_file: /etc/agentwatch/tls.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: /etc/agentwatch/clients.crt
      min_version: TLS12                              # TLS12 (default) or TLS13
    basic_auth_users:
      prometheus: $2y$10$...                          # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':')

The same file works for node_exporter and friends, so agentwatch drops into existing setups
(https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md).
Unsupported exporter-toolkit keys are refused by name rather than silently ignored.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import threading
from pathlib import Path
from typing import Annotated, Literal

import bcrypt
from pydantic import AfterValidator, BaseModel, ConfigDict, PrivateAttr, ValidationError

from agentwatch.config import ConfigError, read_yaml_mapping

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,  # Python's ssl always verifies a presented certificate
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class TLSServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert_file: Path
    key_file: Path
    client_auth_type: Literal[
        "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
    ] = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"


def _bcrypt_hash(value: str) -> str:
    if not (value.startswith(("$2a$", "$2b$", "$2y$")) and len(value) == 60):
        raise ValueError("must be a bcrypt hash ($2y$...), not a plain-text password")
    return value


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, Annotated[str, AfterValidator(_bcrypt_hash)]] = {}
    _ssl_context: ssl.SSLContext | None = PrivateAttr(default=None)

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The server context, built (certificate and key read) once."""
        if self._ssl_context is None and self.tls_server_config is not None:
            self._ssl_context = web_ssl_context(self)
        return self._ssl_context


def load(path: str | Path) -> WebConfig:
    """Read and validate the file; ``ConfigError`` names the key and the value."""
    where = f"web.config.file={str(path)!r}"
    data = read_yaml_mapping(path, "web.config.file")
    try:
        web = WebConfig(**data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"{where}: unknown or unsupported key {key}") from None
        value = "**********" if key.startswith("basic_auth_users") else err.get("input")
        raise ConfigError(f"{where}: {key}={value!r}: {err['msg'].removeprefix('Value error, ')}") from None
    if web.tls_server_config is not None:
        web._ssl_context = web_ssl_context(web, where)  # certificate and key problems surface at start-up, by name
    return web


def web_ssl_context(web: WebConfig, where: str = "web.config.file") -> ssl.SSLContext | None:
    tls = web.tls_server_config
    if tls is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{where}: tls_server_config.cert_file={str(tls.cert_file)!r}, key_file={str(tls.key_file)!r}: "
            f"{getattr(exc, 'strerror', None) or exc}"
        ) from None
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if context.verify_mode != ssl.CERT_NONE:
        if tls.client_ca_file is None:
            raise ConfigError(f"{where}: tls_server_config.client_auth_type={tls.client_auth_type!r} needs client_ca_file")
        try:
            context.load_verify_locations(tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{where}: tls_server_config.client_ca_file={str(tls.client_ca_file)!r}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
    return context


class BasicAuth:
    """Checks ``Authorization: Basic`` against the bcrypt hashes. bcrypt is slow on purpose, so a
    verified (user, password) pair is remembered by its SHA-256, as exporter-toolkit does; a wrong
    password is never remembered and always pays the bcrypt cost."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = {u: h.encode() for u, h in users.items()}
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()
        self._dummy = bcrypt.hashpw(b"agentwatch", bcrypt.gensalt(rounds=10))

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def check(self, header: str | None) -> bool:
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        if not sep:
            return False
        hashed = self.users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed or b""))).digest()
        with self._lock:
            if key in self._verified:
                return True
        # an unknown user costs the same as a wrong password, so timing does not reveal user names
        ok = bcrypt.checkpw(password.encode(), hashed or self._dummy) and hashed is not None
        if ok:
            with self._lock:
                if len(self._verified) < 1024:
                    self._verified.add(key)
        return ok
