"""Service settings: pydantic-settings, every field overridable by an env var ``JPSI_<NAME>``.

Example: ``JPSI_PORT=9000 JPSI_MAX_POINTS=50000 jpsi-serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    pdf_set: str = Field("NNPDF31_lo_as_0118", description="PDF set loaded at start-up.")
    max_points: int = Field(10_000, ge=1, description="Points per request (exact, predict, pdf).")
    max_bins: int = Field(100, ge=1, description="Bins per /v1/exact/binned request.")
    max_pt_values: int = Field(200, ge=1, description="PT values per /v1/exact/binned request.")
    max_body_bytes: int = Field(8 * MiB, ge=1024, description="Largest request body (bytes).")
    threads: int = Field(
        4,
        ge=1,
        description="Thread-pool size for the CPU-bound handlers (anyio's default is 40: more "
        "threads than cores only fight over the GIL and stretch tail latencies).",
    )
    onnx_threads: int = Field(1, ge=1, description="onnxruntime intra-op threads per session.")
    access_log: bool = Field(
        False, description="One log line per request (the metrics count requests anyway)."
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    api_key: SecretStr | None = Field(
        None, description="If set, /v1/* requires the header X-API-Key with this value."
    )
