"""The application factory: ``create_app(settings)`` with a lifespan that loads everything once."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from service import errors
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, MetricsMiddleware
from service.routers import anomaly, exact, explain, health, models, pdf, predict
from service.settings import Settings
from service.state import load_state

DESCRIPTION = """\
Differential cross sections for J/ψ production in semi-inclusive DIS,
e + p → e + J/ψ + X, at leading order (NRQCD + TMD): the exact engine
(`/v1/exact`, `/v1/exact/binned`), the ONNX surrogate (`/v1/predict`) and the
parton distributions behind them (`/v1/pdf`), Shapley explanations of
log10 σ (`/v1/explain`) and anomaly scores of submitted points (`/v1/anomaly`).
Units: GeV for Q, P_T, √s; pb/GeV⁴ for point cross sections, pb/GeV² for
binned ones.

Schema violations (including NaN/Infinity, too many points, unknown channels
or PDF sets) are refused whole with 422 problem details naming the field and
index; unphysical points are answered in place with `valid: false`.
"""


def _api_key_check(key: SecretStr):
    expected = key.get_secret_value().encode()

    async def check(request: Request) -> None:
        given = request.headers.get("x-api-key", "").encode()
        if not secrets.compare_digest(given, expected):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    return check


def _problem_media_type(app: FastAPI) -> None:
    """Document error bodies as application/problem+json, the type they are sent with."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = base()
            for path in spec.get("paths", {}).values():
                for operation in path.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status.startswith(("4", "5")) and "application/json" in content:
                            schema = content.pop("application/json")
                            if schema.get("schema", {}).get("$ref", "").endswith("/Problem"):
                                content[errors.PROBLEM_JSON] = schema
                            else:
                                content["application/json"] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.threads
        # reading the grid and hashing artifacts is blocking work: off the event loop
        app.state.jpsi = await run_in_threadpool(load_state, settings, metrics)
        yield

    app = FastAPI(
        title="jpsi-sidis",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    errors.install(app)
    _problem_media_type(app)
    guarded = [Depends(_api_key_check(settings.api_key))] if settings.api_key else []
    app.include_router(exact.router, dependencies=guarded)
    app.include_router(predict.router, dependencies=guarded)
    app.include_router(explain.router, dependencies=guarded)
    app.include_router(anomaly.router, dependencies=guarded)
    app.include_router(pdf.router, dependencies=guarded)
    app.include_router(models.router, dependencies=guarded)
    app.include_router(health.router)
    # outermost first: metrics see the 413s of the body limit too
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    app.state.settings = settings
    return app
