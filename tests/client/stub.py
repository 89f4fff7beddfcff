"""A tiny HTTP server in a thread for the client's failure paths: it answers each request
with what ``decide`` says (status, headers, body) or, when ``decide`` returns None,
forwards it to a real jpsi-serve and relays the real answer."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = tuple[int, dict[str, str], bytes]


def problem(status: int, title: str, detail: str, **extra) -> bytes:
    return json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    ).encode()


class Stub:
    """``with Stub(upstream, decide) as url: ...``; ``seen`` lists (method, path,
    content-type, body) of every request."""

    def __init__(
        self, upstream: str, decide: Callable[[int, str, str, dict, bytes], Answer | None]
    ):
        self.upstream = upstream
        self.decide = decide
        self.seen: list[tuple[str, str, str, bytes]] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with stub.lock:
                    index = len(stub.seen)
                    stub.seen.append(
                        (self.command, self.path, headers.get("content-type", ""), body)
                    )
                answer = stub.decide(index, self.command, self.path, headers, body)
                if answer is None:
                    answer = stub.forward(self.command, self.path, headers, body)
                status, out_headers, out = answer
                self.send_response(status)
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, method: str, path: str, headers: dict, body: bytes) -> Answer:
        keep = {k: v for k, v in headers.items() if k in ("content-type", "accept", "x-api-key")}
        req = urllib.request.Request(
            self.upstream + path, data=body or None, method=method, headers=keep
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, {"Content-Type": r.headers["Content-Type"]}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {"Content-Type": e.headers["Content-Type"]}, e.read()

    def __enter__(self) -> str:
        self.thread.start()
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, path: str) -> list[tuple[str, str, str, bytes]]:
        return [s for s in self.seen if s[0] == "POST" and s[1].startswith(path)]
