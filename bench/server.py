"""``jpsi-serve`` for the benchmarks: started on a free port of 127.0.0.1, polled until it
answers, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    workers: int,
    env: dict[str, str] | None = None,
    ready: str = "/readyz",
    timeout: float = 120,
    log: IO | None = None,
    cwd: Path = REPO,
) -> tuple[subprocess.Popen, int]:
    """``jpsi-serve`` with ``env`` over this environment, and its port, once GET ``ready``
    answers 2xx. Its stdout and stderr go to ``log`` if given; ``cwd`` is the checkout whose
    ``service`` runs (default this one)."""
    port = free_port()
    full = dict(os.environ, **(env or {}))
    full.pop("PROMETHEUS_MULTIPROC_DIR", None)  # jpsi-serve makes a fresh one: no stale counts
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers)]
    stderr = None if log is None else subprocess.STDOUT
    proc = subprocess.Popen(cmd, cwd=cwd, env=full, stdout=log, stderr=stderr)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=2):
                return proc, port
        except OSError:  # not listening yet, or an error status (urllib raises on it)
            time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"server did not answer {ready} within {timeout:.0f} s")


def stop(proc: subprocess.Popen, timeout: float = 40) -> int | None:
    """SIGTERM, SIGKILL if still running after ``timeout`` s; the exit status, None if killed."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
