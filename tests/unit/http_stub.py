"""An in-process HTTP server for a stand-in API (Flink's REST API in unit tests)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

from lepton_stream.stack.processes import free_ports


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """host:port of `handler` served on a free loopback port until the block ends."""
    server = HTTPServer(("127.0.0.1", free_ports(1)[0]), handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
