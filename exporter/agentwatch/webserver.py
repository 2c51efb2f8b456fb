"""What agentwatch's HTTP servers (/metrics and the OTLP receiver) share: a threading WSGI server
whose connections time out and whose TLS handshakes run off the accept loop, request handlers that
log nothing per request, and the check of the ``Authorization`` header (bcrypt Basic users from
the web-config file, and/or one bearer token)."""

from __future__ import annotations

import hmac
import io
import socket
import ssl
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from agentwatch.webconfig import BasicAuth, WebConfig

REQUEST_TIMEOUT = 30.0


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per connection; TLS from ``ssl_context`` when it is set."""

    daemon_threads = True
    ssl_context: ssl.SSLContext | None = None

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(REQUEST_TIMEOUT)  # a client that stalls cannot hold a thread for ever
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            request.do_handshake()  # here, in the request's own thread, so a slow client cannot stall accept()
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # a failed handshake or a dropped client is not ours to print
        pass


class LingeringServer(ThreadingServer):
    """Closes a connection as nginx does (a "lingering close"): after the answer it reads and drops
    what the client still sends, up to ``linger_bytes`` and for at most ``linger_seconds``. A client
    whose body was refused unread (too large, unauthorized) so gets its answer: a socket closed
    with unread data is reset, and the reset can destroy the answer before the client reads it."""

    linger_bytes = 4 * 1024 * 1024
    linger_seconds = 2.0

    def shutdown_request(self, request):
        try:
            request.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + self.linger_seconds
            dropped = 0
            while dropped <= self.linger_bytes and (left := deadline - time.monotonic()) > 0:
                request.settimeout(left)
                data = request.recv(65536)
                if not data:
                    break
                dropped += len(data)
        except OSError:
            pass
        self.close_request(request)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - access logs are not ours to flood
        pass


class _Discard(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


class SilentHandler(QuietHandler):
    """Also drops wsgiref's own error reports, such as a traceback for a client that stopped
    reading its answer: for a server that any client may reach, where the app itself never raises."""

    def get_stderr(self):
        return _Discard()


class Credentials:
    """Who may call: a valid ``Basic`` user of ``basic`` or ``Bearer <bearer_token>`` (compared in
    constant time). Either one is enough when both are set."""

    def __init__(self, basic: BasicAuth | None = None, bearer_token: str | None = None) -> None:
        if bearer_token is not None and not bearer_token.strip():
            raise ValueError("bearer_token must not be empty")
        self.basic = basic if basic is not None and basic.enabled else None
        self._token = bearer_token.encode() if bearer_token is not None else None

    @classmethod
    def from_web(cls, web: WebConfig | None, bearer_token: str | None = None) -> Credentials | None:
        """The credentials that ``web``'s users and ``bearer_token`` ask for, or None when neither does."""
        basic = BasicAuth(web.basic_auth_users) if web is not None and web.basic_auth_users else None
        if basic is None and bearer_token is None:
            return None
        return cls(basic, bearer_token)

    def check(self, header: str | None) -> bool:
        """Whether the ``Authorization`` header (as WSGI gives it, latin-1) lets the request in."""
        if header is None:
            return False
        scheme, _, value = header.strip().partition(" ")
        if self._token is not None and scheme.lower() == "bearer":
            given = value.strip().encode("latin-1", "replace")
            return hmac.compare_digest(given, self._token)
        return self.basic is not None and self.basic.check(header)

    @property
    def challenges(self) -> list[tuple[str, str]]:
        """The ``WWW-Authenticate`` headers of a 401 answer: one per accepted scheme."""
        headers = [("WWW-Authenticate", 'Basic realm="agentwatch"')] if self.basic is not None else []
        if self._token is not None:
            headers.append(("WWW-Authenticate", 'Bearer realm="agentwatch"'))
        return headers
