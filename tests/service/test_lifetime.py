"""jpsi-serve's lifetime for real: graceful shutdown under load, and a worker killed mid-request.

Shutdown: on SIGTERM uvicorn stops accepting, lets every accepted request
finish (30 s grace) and closes idle keep-alive connections. jpsi-serve's
supervisor (``service.__main__.Supervisor``) also closes its own copy of the
listening socket, so a new client is refused at once instead of being queued
by the kernel and reset at exit.

Worker crash: uvicorn's multiprocess supervisor (uvicorn 0.54,
``uvicorn/supervisors/multiprocess.py``) pings each worker every 0.5 s over a
pipe; a dead one (any exit but the start-up failure status 3) is joined and
replaced by a fresh worker on the same listening socket. The survivor keeps
accepting meanwhile, so only the connections the killed worker held see an
error (the client of the request it was computing gets a closed connection,
no status); every new request is answered.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.service.server import REPO, get, start, stop

JSON = {"content-type": "application/json"}

pytestmark = pytest.mark.slow


SHIPPED = {"JPSI_ARTIFACT_DIR": str(REPO / "artifacts"), "JPSI_LOG_LEVEL": "warning"}


def explain_body(seed: int, n: int = 100) -> bytes:
    """/v1/explain at n points: ~0.1-1 s of work, the slowest request within the limits."""
    rng = np.random.default_rng(seed)
    pts = [
        {"x": float(a), "z": float(b), "Q": float(c), "PT": float(d)}
        for a, b, c, d in zip(
            rng.uniform(0.05, 0.5, n), rng.uniform(0.2, 0.8, n),
            rng.uniform(5.0, 30.0, n), rng.uniform(0.1, 2.0, n), strict=True,
        )
    ]  # fmt: skip
    return json.dumps({"points": pts, "model": "surrogate"}).encode()


def post(port: int, path: str, body: bytes, conn=None) -> tuple[int, bytes]:
    """POST on ``conn`` (kept open), or on a connection of its own (closed)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body, JSON)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        if own:
            conn.close()


def children(pid: int) -> list[int]:
    """The worker processes of the supervisor ``pid`` (uvicorn spawns them)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            cmdline = Path(f"/proc/{d}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            out.append(int(d))
    return sorted(out)


def serving_pid(conn: http.client.HTTPConnection, candidates: list[int]) -> int | None:
    """Which of ``candidates`` holds the server end of ``conn`` (from /proc/net/tcp)."""
    client_port = conn.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[2].split(":")[1], 16) == client_port:  # remote end is our client
            inode = f[9]
    for pid in candidates:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_in_flight_requests_then_exits_0(workers):
    proc, port = start(SHIPPED, workers)
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        results: dict[int, object] = {}
        done_at: dict[int, float] = {}
        sent = threading.Semaphore(0)

        def run(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                # a kept-alive connection that already served a request, as clients use them
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                conn.request("POST", "/v1/explain", explain_body(i), JSON)
                sent.release()
                r = conn.getresponse()
                results[i] = (r.status, len(json.loads(r.read())["results"]))
            except Exception as exc:  # any failure is what the test reports
                results[i] = exc
            finally:
                conn.close()
            done_at[i] = time.monotonic()

        idle.request("GET", "/healthz")
        idle.getresponse().read()  # then left idle: must not hold the shutdown up
        threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for _ in threads:
            assert sent.acquire(timeout=30)
        time.sleep(0.3)  # each request sent; now read by the server
        proc.send_signal(signal.SIGTERM)
        sigterm = time.monotonic()
        while not refused(port):
            assert time.monotonic() - sigterm < 5, "still accepting connections 5 s after SIGTERM"
            time.sleep(0.05)
        refused_at = time.monotonic()
        draining = proc.poll() is None and len(done_at) < len(threads)
        for t in threads:
            t.join(timeout=60)
        code = proc.wait(timeout=40)
        exited = time.monotonic() - sigterm
    finally:
        idle.close()
        stop(proc)

    assert results == {i: (200, 100) for i in range(20)}  # each complete, none reset
    assert sum(t > sigterm for t in done_at.values()) >= 10, "SIGTERM landed after the load"
    assert draining, "new connections were refused only once the requests had finished"
    assert refused_at < max(done_at.values())
    assert code == 0 and exited < 30  # within uvicorn's 30 s grace, idle connection or not


def test_a_worker_killed_mid_request_is_replaced_and_the_service_keeps_answering():
    proc, port = start(SHIPPED, 2)
    base = f"http://127.0.0.1:{port}"
    one = json.dumps({"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}]}).encode()
    try:
        first = children(proc.pid)
        assert len(first) == 2
        # a slow request, and the worker computing it
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/v1/explain", explain_body(0), JSON)
        deadline = time.monotonic() + 5
        while (victim := serving_pid(conn, first)) is None:
            assert time.monotonic() < deadline, "no worker holds the connection"
            time.sleep(0.01)
        os.kill(victim, signal.SIGKILL)
        # that one client sees its connection closed without an answer
        with pytest.raises(ConnectionResetError):  # http.client.RemoteDisconnected is one
            conn.getresponse().read()
        conn.close()
        # while the supervisor replaces it, the survivor answers every new request
        for _ in range(10):
            assert post(port, "/v1/predict", one)[0] == 200
        deadline = time.monotonic() + 60
        while len(now := children(proc.pid)) != 2 or victim in now:
            assert time.monotonic() < deadline, f"workers not back to 2: {now}"
            time.sleep(0.2)
        (replacement,) = set(now) - set(first)
        # the replacement takes connections once its start-up is done
        deadline = time.monotonic() + 60
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            assert post(port, "/v1/predict", one, conn)[0] == 200
            served_by = serving_pid(conn, [replacement])
            conn.close()
            if served_by == replacement:
                break
            assert time.monotonic() < deadline, "the replacement never answered"
            time.sleep(0.1)
        status, body = get(base + "/readyz")
        assert status == 200 and json.loads(body)["status"] == "ready"
        assert children(proc.pid) == now
        metrics = get(base + "/metrics")
        assert metrics[0] == 200 and b"jpsi_http_requests_total" in metrics[1]
    finally:
        stop(proc)
    assert proc.returncode == 0
