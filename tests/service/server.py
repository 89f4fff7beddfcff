"""A real ``jpsi-serve`` for the tests: started on a free port of 127.0.0.1, polled until it
answers, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    """Status and body; an error status is an answer too (OSError only without one)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start(
    env: dict[str, str] | None = None,
    workers: int = 1,
    ready: str = "/readyz",
    timeout: float = 90,
    accept: Callable[[int], bool] = lambda status: status == 200,
    log: Path | None = None,
) -> tuple[subprocess.Popen, int]:
    """``jpsi-serve`` with ``env`` over this environment, and its port, once GET ``ready``
    answers a status ``accept`` takes. Its stdout and stderr go to ``log`` if given."""
    port = free_port()
    full = dict(os.environ, **(env or {}))
    full.pop("PROMETHEUS_MULTIPROC_DIR", None)  # jpsi-serve makes a fresh one: no stale counts
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers)]
    if log is None:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full)
    else:
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=REPO, env=full, stdout=out, stderr=out)
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert proc.poll() is None, log.read_text() if log else "jpsi-serve exited"
            try:
                if accept(get(f"http://127.0.0.1:{port}{ready}")[0]):
                    return proc, port
            except OSError:  # not listening yet
                pass
            assert time.monotonic() < deadline, f"no answer from {ready} within {timeout} s"
            time.sleep(0.2)
    except BaseException:
        stop(proc)  # a failed start leaves no server behind
        raise


def stop(proc: subprocess.Popen, timeout: float = 40) -> int:
    """SIGTERM, SIGKILL if still running after ``timeout`` s; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
