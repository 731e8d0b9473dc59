"""A stand-in HTTP server for tests: http.server on 127.0.0.1 port 0, in a thread.

It hands every request to one `handle(method, path, headers, body)` function that returns
`(status, json_answer)`, so each test's stand-in (a model vendor's API, the ngrok agent's
local API) is only that function. Start and stop it with `with StubServer(handle) as stub:`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]


class StubServer:
    """Serve `handle` on a free loopback port until `stop()`; `base_url` once started."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(handle))
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> StubServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _make_handler(handle: Handler) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self._read_body()
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                status, answer = handle(self.command, self.path, headers, body)
            except Exception as exc:  # a broken stand-in must fail the test, not hang it
                status, answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": repr(exc)}
            data = json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _read_body(self) -> bytes:
            # Node's fetch (the OpenAI SDK's transport) sends bodies chunked, without a length.
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after each chunk
                while self.rfile.readline().strip():  # trailers, up to the empty line
                    pass
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """Keep test output quiet."""

    return _Handler
