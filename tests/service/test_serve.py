"""jpsi-serve for real: two uvicorn workers on 127.0.0.1, shared metrics, SIGTERM exits cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.service.conftest import write_artifacts

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.slow
def test_two_workers_serve_and_share_metrics(tmp_path):
    write_artifacts(tmp_path)
    port = free_port()
    env = dict(os.environ, JPSI_ARTIFACT_DIR=str(tmp_path), JPSI_LOG_LEVEL="warning")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "server exited"
            try:
                if get(base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "not ready within 90 s"
            time.sleep(0.3)
        body = json.dumps({"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}]}).encode()
        for _ in range(6):
            req = urllib.request.Request(
                base + "/v1/predict", data=body, headers={"content-type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                assert json.loads(r.read())["results"][0]["valid"] is True
        pattern = (
            r'jpsi_http_requests_total\{method="POST",route="/v1/predict",status="200"\} (\S+)'
        )
        for _ in range(4):  # whichever worker answers, it reports all of them
            text = get(base + "/metrics")[1].decode()
            assert float(re.search(pattern, text).group(1)) == 6.0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
