"""jpsi-serve for real: two uvicorn workers on 127.0.0.1, shared metrics, SIGTERM exits cleanly."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.service.conftest import write_artifacts
from tests.service.server import get, start, stop


@pytest.mark.slow
def test_two_workers_serve_and_share_metrics(tmp_path):
    write_artifacts(tmp_path)
    env = {"JPSI_ARTIFACT_DIR": str(tmp_path), "JPSI_LOG_LEVEL": "warning"}
    proc, port = start(env, workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
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
        assert stop(proc) == 0
