"""Protected /metrics: TLS and bcrypt basic auth from an exporter-toolkit web-config file, checked
with a real TLS client (requests/OpenSSL, the CA pinned) and a real Prometheus scraping over TLS
with basic auth. Certificates are made per test run with the openssl CLI."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import warnings
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml

from agentwatch import webconfig
from agentwatch.config import ConfigError
from agentwatch.stack import local as localstack
from harness.paperclip import wait_for
from harness.tools import tool

PASSWORD = "s3cret-scrape-password"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 signed by it, and a certificate from another CA."""
    d = tmp_path_factory.mktemp("certs")
    openssl = tool("openssl")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        run(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN=agentwatch test {ca}",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.crt",
        )
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    )
    return {name: d / name for name in ("ca.crt", "other-ca.crt", "server.crt", "server.key")}


def web_config(path: Path, certs: dict[str, Path], users: dict[str, str] | None = None, tls: bool = True) -> Path:
    data: dict = {}
    if tls:
        data["tls_server_config"] = {"cert_file": str(certs["server.crt"]), "key_file": str(certs["server.key"])}
    if users:
        data["basic_auth_users"] = users
    path.write_text(yaml.safe_dump(data))
    return path


def start_agentwatch(tmp_path: Path, platform_url: str, web: Path) -> tuple[localstack.Process, int]:
    port = localstack.free_port()
    config = tmp_path / "agentwatch.yml"
    config.write_text(yaml.safe_dump({"poll_interval": "2s", "sources": [{"name": "pc", "url": platform_url, "timeout": "2s"}]}))
    proc = localstack.Process(
        [
            sys.executable,
            "-m",
            "agentwatch",
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={web}",
        ],
        tmp_path / "agentwatch.log",
    )

    def listening():
        if proc.proc.poll() is not None:
            raise RuntimeError((tmp_path / "agentwatch.log").read_text())
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, timeout=30)
    return proc, port


@pytest.fixture
def hashed() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()


def test_tls_and_basic_auth_with_a_real_tls_client(tmp_path, certs, server, hashed):
    web = web_config(tmp_path / "web.yml", certs, {"prometheus": hashed})
    proc, port = start_agentwatch(tmp_path, server.url, web)
    url = f"https://127.0.0.1:{port}/metrics"
    try:
        ca = str(certs["ca.crt"])
        assert requests.get(url, verify=ca, timeout=10).status_code == 401
        denied = requests.get(url, verify=ca, auth=("prometheus", "wrong"), timeout=10)
        assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
        assert requests.get(url, verify=ca, auth=("nobody", PASSWORD), timeout=10).status_code == 401
        assert requests.get(f"https://127.0.0.1:{port}/-/healthy", verify=ca, timeout=10).status_code == 401  # every path
        ok = wait_for(
            lambda: (
                (r := requests.get(url, verify=ca, auth=("prometheus", PASSWORD), timeout=10)).status_code == 200
                and 'agentwatch_up{source="pc"} 1.0' in r.text
                and r
            ),
            timeout=30,
        )
        assert ok.headers["Content-Type"].startswith("text/plain")
        # the certificate is checked: another CA does not trust it, and plain HTTP gets no answer
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, verify=str(certs["other-ca.crt"]), timeout=10)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        # TLS below 1.2 is refused
        ctx = ssl.create_default_context(cafile=ca)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # on purpose: an old client
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        # a client that connects and says nothing does not block the others
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            assert requests.get(url, verify=ca, auth=("prometheus", PASSWORD), timeout=10).status_code == 200
    finally:
        proc.stop()
    assert proc.proc.returncode == 0  # SIGTERM: a clean shutdown
    assert PASSWORD not in (tmp_path / "agentwatch.log").read_text()


@pytest.mark.slow
@pytest.mark.prometheus
def test_real_prometheus_scrapes_over_tls_with_basic_auth(tmp_path, certs, server, hashed):
    localstack.binary("prometheus")
    web = web_config(tmp_path / "web.yml", certs, {"prometheus": hashed})
    proc, port = start_agentwatch(tmp_path, server.url, web)
    prom_port = localstack.free_port()
    (tmp_path / "password").write_text(PASSWORD)
    tls = {"ca_file": str(certs["ca.crt"]), "server_name": "127.0.0.1"}
    target = {"static_configs": [{"targets": [f"127.0.0.1:{port}"]}], "scheme": "https", "tls_config": tls}
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "agentwatch", **target, "basic_auth": {"username": "prometheus", "password_file": str(tmp_path / "password")}},
            {"job_name": "wrong-password", **target, "basic_auth": {"username": "prometheus", "password": "wrong"}},
            {"job_name": "plain-http", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = localstack.Process(
        [
            localstack.binary("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        tmp_path / "prometheus.log",
    )
    api = f"http://127.0.0.1:{prom_port}/api/v1/query"

    def value(expr: str):
        try:
            result = requests.get(api, params={"query": expr}, timeout=5).json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError):
            return None
        return {r["metric"].get("job"): float(r["value"][1]) for r in result}

    try:
        ups = wait_for(lambda: (v := value("up")) and len(v) == 3 and v["agentwatch"] == 1 and v, timeout=60)
        assert ups == {"agentwatch": 1.0, "wrong-password": 0.0, "plain-http": 0.0}
        scraped = wait_for(lambda: value('agentwatch_up{source="pc"}'), timeout=30)
        assert scraped == {"agentwatch": 1.0}
    finally:
        prom.stop()
        proc.stop()


def test_web_config_errors_name_the_key(tmp_path, certs):
    def error(data) -> str:
        path = tmp_path / "web.yml"
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError) as exc:
            webconfig.load(path)
        return str(exc.value)

    msg = error({"basic_auth_users": {"prometheus": "plain-text-password"}})
    assert "basic_auth_users.prometheus" in msg and "bcrypt" in msg and "plain-text-password" not in msg
    assert "unknown or unsupported key tls_server_config.cipher_suitez" in error(
        {"tls_server_config": {"cert_file": str(certs["server.crt"]), "key_file": str(certs["server.key"]), "cipher_suitez": []}}
    )
    msg = error({"tls_server_config": {"cert_file": str(tmp_path / "missing.crt"), "key_file": str(certs["server.key"])}})
    assert "cert_file=" in msg and "missing.crt" in msg
    assert "client_ca_file" in error(
        {
            "tls_server_config": {
                "cert_file": str(certs["server.crt"]),
                "key_file": str(certs["server.key"]),
                "client_auth_type": "RequireAndVerifyClientCert",
            }
        }
    )
    assert "min_version" in error({"tls_server_config": {"cert_file": "a", "key_file": "b", "min_version": "SSL3"}})
    with pytest.raises(ConfigError, match="cannot be read"):
        webconfig.load(tmp_path / "absent.yml")


def test_bad_web_config_exits_with_a_message(tmp_path):
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users:\n  admin: hunter2\n")
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "check-config", f"--web.config.file={path}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "basic_auth_users.admin" in result.stderr and "hunter2" not in result.stderr


def test_basic_auth_remembers_only_verified_passwords():
    auth = webconfig.BasicAuth({"u": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()})
    import base64

    header = lambda user, pw: "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()  # noqa: E731
    assert auth.check(header("u", "pw")) and auth.check(header("u", "pw"))
    assert len(auth._verified) == 1
    for bad in (header("u", "nope"), header("x", "pw"), "Basic !!!", "Bearer t", None, "Basic " + base64.b64encode(b"nocolon").decode()):
        assert not auth.check(bad)
    assert len(auth._verified) == 1
    auth.users["u"] = bcrypt.hashpw(b"new", bcrypt.gensalt(rounds=4))  # the cache is keyed on the hash too:
    assert auth.check(header("u", "pw")) is False  # a changed password is checked again, not answered from memory
    assert auth.check(header("u", "new"))
