"""Real loopback targets for tests: healthy HTTP(S), hostile HTTP, closed and stalled ports.

Each server is an async context manager that owns its nursery, listens on an
ephemeral port of 127.0.0.1 with one trio task per connection, and stops when the
block ends or its enclosing nursery is cancelled:

    async with serve_http() as server:          # HttpServer: .url, .url_for(path),
        ...                                     #   .routes[path] = Reply(...), .requests
    async with serve_http(ssl_context=certificates.server_context("expired")) as server:
        ...                                     # https://127.0.0.1:<port>
    async with serve_hostile() as hostile:      # HostileServer: .url_for("/silent"), ...
        ...
    async with serve_tcp(handler) as listening: # Listening(host, port), any raw behaviour
        ...
    async with unresponsive_port() as port:     # connecting hangs (full listen backlog)
        ...
    port = closed_port()                        # connecting is refused
"""

from tests.servers.certs import CertCase, CertificateAuthority
from tests.servers.healthy import HttpServer, Reply, SeenRequest, serve_http
from tests.servers.hostile import BEHAVIOURS, HostileServer, serve_hostile
from tests.servers.listeners import Listening, closed_port, serve_tcp, unresponsive_port

__all__ = [
    "BEHAVIOURS",
    "CertCase",
    "CertificateAuthority",
    "HostileServer",
    "HttpServer",
    "Listening",
    "Reply",
    "SeenRequest",
    "closed_port",
    "serve_hostile",
    "serve_http",
    "serve_tcp",
    "unresponsive_port",
]
