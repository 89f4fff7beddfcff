"""Connection flood and request-head limit of one ``jpsi-serve`` worker on 127.0.0.1.

    .venv/bin/python bench/flood.py [--connections 3000] [--asks 20]

With the default settings (``JPSI_MAX_CONNECTIONS`` 1024, ``JPSI_MAX_HEADER_BYTES``
65536), request heads of the limit − 1, the limit, the limit + 1, 128 kB and
200 kB are each sent in one write. Then ``--connections`` connections are
opened and held, half of them idle, half with a request head begun and never
finished; while they are open /healthz, /readyz, /metrics and /v1/models are
each asked ``--asks`` times on fresh connections. The probes must answer 200,
/v1/models must answer 503 problem+json with Retry-After. Last, the flood is
closed and the time until /v1/models answers 200 again is measured.

Prints a table and writes ``bench/results/flood.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "flood.json"
sys.path.insert(0, str(REPO))

from bench.server import start, stop  # noqa: E402
from service import Settings  # noqa: E402


def exchange(port: int, data: bytes) -> tuple[int | None, dict[str, str], float]:
    """Send ``data`` on a new connection and read to the close: status (None without an
    answer), headers, milliseconds."""
    begin = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # refused before everything was sent
        raw = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            raw += chunk
    ms = (time.perf_counter() - begin) * 1e3
    if not raw.startswith(b"HTTP/1.1 "):
        return None, {}, ms
    lines = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    return int(lines[0].split(" ", 2)[1]), headers, ms


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()


def head(size: int) -> bytes:
    """A GET /healthz head of exactly ``size`` bytes."""
    start = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def asks(port: int, path: str, n: int) -> dict:
    got = [exchange(port, get(path)) for _ in range(n)]
    ms = [m for _, _, m in got]
    return {
        "statuses": dict(Counter(str(s) for s, _, _ in got)),
        "problem_json": sum(h.get("content-type") == "application/problem+json" for _, h, _ in got),
        "retry_after": sum("retry-after" in h for _, h, _ in got),
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p99": float(np.percentile(ms, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=3000, help="connections held open")
    ap.add_argument("--asks", type=int, default=20, help="requests per path during the flood")
    args = ap.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 256  # this process and the server (which inherits it)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    settings = Settings()
    limit = settings.max_header_bytes
    server, port = start(1, {"JPSI_LOG_LEVEL": "error"}, ready="/healthz")
    try:
        sizes = [limit - 1, limit, limit + 1, 128 * 1024, 200 * 1024]
        heads = {str(n): exchange(port, head(n))[0] for n in sizes}

        flood = []
        begin = time.monotonic()
        for i in range(args.connections):
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            if i % 2:
                flood[-1].sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        opened_s = time.monotonic() - begin
        during = {p: asks(port, p, args.asks) for p in ["/healthz", "/readyz", "/metrics"]}
        during["/v1/models"] = asks(port, "/v1/models", args.asks)
        for s in flood:
            s.close()
        begin = time.monotonic()
        while exchange(port, get("/v1/models"))[0] != 200 and time.monotonic() - begin < 30:
            time.sleep(0.05)
        recovered_s = time.monotonic() - begin
    finally:
        stop(server, timeout=30)

    probes_ok = all(during[p]["statuses"] == {"200": args.asks} for p in ["/healthz", "/readyz"])
    refused = during["/v1/models"]
    checks = {
        f"head of {limit} B answered, {limit + 1} B refused": heads[str(limit)] == 200
        and heads[str(limit + 1)] == 431,
        "/healthz and /readyz 200 through the flood": probes_ok,
        "/v1/models 503 problem+json with Retry-After": refused["statuses"] == {"503": args.asks}
        and refused["problem_json"] == refused["retry_after"] == args.asks,
    }

    print(f"\nrequest heads in one write (limit {limit} B), 1 worker, cpus={os.cpu_count()}")
    print("  ".join(f"{n} B: {s}" for n, s in heads.items()))
    print(
        f"\n{args.connections} connections held ({args.connections // 2} idle, the rest with "
        f"half a head; limit {settings.max_connections}), opened in {opened_s:.1f} s"
    )
    print(f"{'path':12} {'statuses':16} {'problem+json':>13} {'Retry-After':>12} {'p50 ms':>8} "
          f"{'p99 ms':>8}")  # fmt: skip
    for path, r in during.items():
        statuses = ",".join(f"{k}×{v}" for k, v in r["statuses"].items())
        print(
            f"{path:12} {statuses:16} {r['problem_json']:13d} {r['retry_after']:12d} "
            f"{r['ms_p50']:8.1f} {r['ms_p99']:8.1f}"
        )
    print(f"/v1/models 200 again {recovered_s:.2f} s after the flood closed")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "connections": args.connections,
        "max_connections": settings.max_connections,
        "max_header_bytes": limit,
        "heads_one_write": heads,
        "opened_s": opened_s,
        "during_flood": during,
        "recovered_s": recovered_s,
        "checks": checks,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
