"""A token-checking reverse proxy in front of a Chroma server, for the authentication tests.

Chroma 1.x ships no authentication of its own; deployments that need it put a proxy (or Chroma
Cloud) in front that checks `x-chroma-token` or `Authorization: Bearer`. This is that proxy, small:
a request with the right token is forwarded as it is, anything else gets 401 with a body shaped like
Chroma's errors.

    python chroma_auth_proxy.py --listen-port P --upstream http://127.0.0.1:U --token T [--echo-credentials]

With --echo-credentials it misbehaves as some proxies do, repeating the credentials it received in
its error bodies, so that the tests can check mcp-rag never passes them on: a wrong token gets a 401
whose JSON `message` quotes the `x-chroma-token` and `Authorization` values (plainly and
percent-encoded); with the right token, asking the version gets a 503 saying the same, and an
upsert a 500 whose plain-text body quotes them after padding that puts an `x-chroma-token` across
the 300-byte mark, where a client might cut an error body short.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit


def make_handler(upstream: str, token: str, echo_credentials: bool = False):
    target = urlsplit(upstream)
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the tests read the answers, not the log
            pass

        def authorised(self) -> bool:
            return (self.headers.get("x-chroma-token") == token
                    or self.headers.get("Authorization") == f"Bearer {token}")

        def answer(self, status: int, payload: bytes, content_type: str = "application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def echo(self) -> str:
            """The credentials received, as a careless proxy repeats them."""
            received = [self.headers.get("x-chroma-token") or "", self.headers.get("Authorization") or ""]
            return (f"credentials echoed: x-chroma-token={received[0]} authorization={received[1]} "
                    f"(encoded: {quote(received[0], safe='')} {quote(received[1], safe='')})")

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if not self.authorised():
                message = f"Unauthorized: {self.echo()}" if echo_credentials else "Unauthorized: a valid token is required"
                self.answer(401, json.dumps({"error": "AuthError", "message": message}).encode())
                return
            if echo_credentials and self.path.endswith("/version"):
                self.answer(503, json.dumps({"error": "Unavailable", "message": self.echo()}).encode())
                return
            if echo_credentials and self.path.endswith("/upsert"):
                self.answer(500, f"upstream refused the write {'.' * 220} {self.echo()}".encode(), "text/plain")
                return
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
            except (OSError, http.client.HTTPException):
                local.connection = None
                self.send_error(502)
                return
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = forward

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--echo-credentials", action="store_true",
                        help="repeat the credentials received in error bodies (see above)")
    arguments = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", arguments.listen_port),
                                 make_handler(arguments.upstream, arguments.token, arguments.echo_credentials))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
