"""Service settings: pydantic-settings, every field overridable by an env var ``JPSI_<NAME>``.

Example: ``JPSI_PORT=9000 JPSI_MAX_POINTS=50000 jpsi-serve``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from physics.pdf import DEFAULT_PDF_SET

DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent.parent / "artifacts"
"""``<repo>/artifacts``, resolved relative to the package (the Docker image bakes it in there)."""

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Runtime configuration of the HTTP service (env prefix ``JPSI_``)."""

    model_config = SettingsConfigDict(env_prefix="JPSI_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Interface to bind (0.0.0.0 inside a container).")
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(
        2,
        ge=1,
        description="uvicorn worker processes. 2 measured best on a 2-core machine "
        "(bench/load.py: ~2000 vs ~1100-1600 req/s at 16 connections, same single-request "
        "latency; the +40 ms keep-alive penalty reported for multi-worker uvicorn did not "
        "show with uvicorn 0.54 + uvloop/httptools). Use 1 on a single core.",
    )
    artifact_dir: Path = Field(DEFAULT_ARTIFACT_DIR, description="Directory of artifact sets.")
    required_artifacts: tuple[str, ...] = Field(
        ("surrogate", "explain", "anomaly"),
        description="Artifact sets that must be loaded for /readyz to be 200.",
    )
    pdf_set: str = Field(
        DEFAULT_PDF_SET,
        description="PDF set loaded and checked at start-up, and used by requests that name "
        "none (/v1/exact, /v1/exact/binned, /v1/pdf); if it cannot be read, /readyz and those "
        "requests answer 503 naming it.",
    )
    max_points: int = Field(10_000, ge=1, description="Points per request (exact, predict, pdf).")
    max_bins: int = Field(100, ge=1, description="Bins per /v1/exact/binned request.")
    max_pt_values: int = Field(200, ge=1, description="PT values per /v1/exact/binned request.")
    max_body_bytes: int = Field(8 * MiB, ge=1024, description="Largest request body (bytes).")
    max_arrow_rows: int = Field(
        2_000_000,
        ge=1,
        description="Rows per bulk request: an Arrow stream (/v1/exact, /v1/predict, "
        "/v1/anomaly) or a V2 infer request (per input tensor). Computed in chunks of "
        "65 536 rows, so the server holds about 150 bytes a row of answer (2 M rows: ~0.3 GB, "
        "well inside a 24 GB, 2-core machine; a 10^6-row request takes ~0.5 s of CPU).",
    )
    max_arrow_bytes: int = Field(
        256 * MiB,
        ge=1024,
        description="Largest body (bytes) of an Arrow stream (Content-Type "
        "application/vnd.apache.arrow.stream) or of a V2 infer request with binary tensors "
        "(header Inference-Header-Content-Length); every other body has max_body_bytes. "
        "Four float64 columns of max_arrow_rows rows take 64 MB: 256 MiB leaves room for "
        "anomaly columns sigma.<output>.",
    )
    threads: int = Field(
        4,
        ge=1,
        description="Thread-pool size for the CPU-bound handlers (anyio's default is 40: more "
        "threads than cores only fight over the GIL and stretch tail latencies).",
    )
    onnx_threads: int = Field(1, ge=1, description="onnxruntime intra-op threads per session.")
    access_log: bool = Field(
        False,
        description="One log line per request, with its request id, route template, status, "
        "duration and client; never the body (off by default: the metrics count requests).",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object per line (for collectors); text: for people."
    )
    api_key: SecretStr | None = Field(
        None,
        description="If set, every endpoint but /healthz, /readyz, /docs and /openapi.json "
        "requires the header X-API-Key with this value.",
    )
    max_concurrent_requests: int = Field(
        64,
        ge=1,
        description="Requests in flight per worker; past it the service answers 503 with "
        "Retry-After at once instead of queueing (/healthz, /readyz, /metrics are exempt). "
        "64 holds ~16 × `threads` queued behind the thread pool: about a second of 10 000-point "
        "requests.",
    )
    retry_after_seconds: int = Field(1, ge=1, description="Retry-After of an overload 503.")
    request_deadline_seconds: float = Field(
        5.0,
        gt=0,
        description="A request is admitted only if, with the work this worker has already "
        "admitted (its estimated cost, service/admission.py), it should finish within this "
        "many seconds of arriving; otherwise 503 with Retry-After at once. A request that "
        "alone would take longer gets 413. The largest default request (binned, 100 bins × "
        "200 P_T) is estimated at 1.7 s.",
    )
    fast_path: bool = Field(
        True,
        description="Answer small plain surrogate requests (/v1/predict and V2 jpsi-surrogate "
        "JSON infer, at most 16 points, all physical) without the framework's routing and "
        "validation, behind every guard: the same bytes in a third of the time "
        "(service/fastpath.py). Off: every request goes through the routes.",
    )
    rate_limit_per_second: float | None = Field(
        None,
        gt=0,
        description="If set, requests per second per API key (per client address when no key "
        "is set), per worker; over it, 429 with Retry-After. Operations are exempt.",
    )
    rate_limit_burst: int | None = Field(
        None, ge=1, description="Token-bucket size; default one second's worth of the rate."
    )
    body_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Time to receive a whole request body (408 past it): 8 MiB at 0.8 MB/s, "
        "while a client dribbling bytes holds a request slot for at most this long.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Time to receive the request line and headers from a new connection or "
        "from the first byte of a request (uvicorn has no such timeout of its own).",
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Bytes of a request head: request line and headers up to the blank line "
        "that ends them, CRLFs included; a longer head gets 431 (httptools has no limit).",
    )
    max_connections: int = Field(
        1024,
        ge=1,
        description="Open connections per worker, idle and half-sent ones included, past "
        "which a request gets 503 problem+json with Retry-After and its connection is closed "
        "(/healthz, /readyz and /metrics are still answered): a backstop, keep it above "
        "max_concurrent_requests.",
    )
    keep_alive_seconds: int = Field(
        5, ge=1, description="Idle keep-alive connections are closed after this long."
    )

    @property
    def bucket_size(self) -> int:
        """Token-bucket size of the rate limit (``rate_limit_burst`` or one second's worth)."""
        if self.rate_limit_burst is not None:
            return self.rate_limit_burst
        return max(1, math.ceil(self.rate_limit_per_second or 1))


@functools.cache
def settings_from_env() -> Settings:
    """The process's one ``Settings``, read from the environment once: the app and the HTTP
    protocol of a worker share it (``jpsi-serve`` sets the environment before workers start)."""
    return Settings()
