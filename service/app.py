"""The application factory: ``create_app(settings)`` with a lifespan that loads everything once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from physics.pdf import available_sets
from service import errors, pages
from service.fastpath import FastPathMiddleware
from service.metrics import Metrics
from service.middleware import OPERATIONS, Guards
from service.routers import anomaly, exact, explain, health, models, pdf, predict, theory, v2
from service.schemas import v2 as v2_schemas
from service.schemas.theory import document_pdf_sets
from service.settings import Settings
from service.state import load_state

DESCRIPTION = """\
Differential cross sections for J/ψ production in semi-inclusive DIS,
e + p → e + J/ψ + X, at leading order (NRQCD + TMD): the exact engine
(`/v1/exact`, `/v1/exact/binned`), the ONNX surrogate (`/v1/predict`) and the
parton distributions behind them (`/v1/pdf`), Shapley explanations of
log10 σ (`/v1/explain`) and anomaly scores of submitted points (`/v1/anomaly`).
To look rather than read: the interactive explorer at `/explore`.
Units: GeV for Q, P_T, √s; pb/GeV⁴ for point cross sections, pb/GeV² for
binned ones.

Schema violations (including NaN/Infinity, too many points, unknown channels
or PDF sets, an object that repeats a key) are refused whole with 422 problem
details naming the field and index; unphysical points are answered in place
with `valid: false`. Bodies are `application/json` in UTF-8, uncompressed
(else 415), at most `JPSI_MAX_BODY_BYTES` (413), received within
`JPSI_BODY_TIMEOUT_SECONDS` (408). Every response carries `X-Request-ID`
(yours if you send a short plain one). Past the in-flight limit the answer is
503 with `Retry-After`, past the rate limit (if set) 429 with `Retry-After`.
When an API key is set, every endpoint but /healthz, /readyz and this page
requires the header `X-API-Key` (the Authorize button).
"""


OPEN_PATHS = (
    frozenset({"/healthz", "/readyz", "/openapi.json"}) | pages.PAGE_PATHS | pages.STATIC_PATHS
)
"""Open even when an API key is set: probes, and the pages that show how to send the key with
their assets (a browser cannot add the header to load /docs, /explore and /openapi.json; they
hold no data)."""

API_KEY_SCHEME = {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def _problem(description: str) -> dict:
    return {
        "description": description,
        "content": {errors.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _operational_responses(settings: Settings, path: str, operation: dict) -> dict[str, dict]:
    """The refusals of the middleware and of the JSON route class that apply to an operation."""
    out = {}
    if "requestBody" in operation:
        out["408"] = _problem(f"Body not received within {settings.body_timeout_seconds:g} s.")
        out["415"] = _problem("Content-Type is not application/json, or the body is encoded.")
        out["413"] = _problem(
            "Body over the byte limit, or a request that alone would take longer than the "
            "deadline (JPSI_REQUEST_DEADLINE_SECONDS)."
        )
    if path not in OPERATIONS:
        out["503"] = _problem(
            "Over the in-flight limit, or it would finish past the deadline behind the work "
            "already admitted (both with Retry-After), or a model is not loaded."
        )
        if settings.rate_limit_per_second:
            out["429"] = _problem("Over the rate limit; Retry-After says when to retry.")
    if settings.api_key and path not in OPEN_PATHS:
        out["401"] = _problem("X-API-Key missing or wrong.")
    return out


def _customise_openapi(app: FastAPI, settings: Settings) -> None:
    """Error bodies documented as application/problem+json, the type they are sent with; the
    refusals that come from middleware; the API key scheme (Swagger's Authorize button)."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = base()
            v2_schemas.document(spec)  # the V2 infer bodies, which the route parses itself
            for path, item in spec.get("paths", {}).items():
                for operation in item.values():
                    responses = operation.setdefault("responses", {})
                    for status, response in responses.items():
                        content = response.get("content", {})
                        if status.startswith(("4", "5")) and "application/json" in content:
                            schema = content.pop("application/json")
                            if schema.get("schema", {}).get("$ref", "").endswith("/Problem"):
                                content[errors.PROBLEM_JSON] = schema
                            else:
                                content["application/json"] = schema
                    for status, extra in _operational_responses(settings, path, operation).items():
                        responses.setdefault(status, extra)
                    if settings.api_key and path not in OPEN_PATHS:
                        operation["security"] = [{"ApiKey": []}]
            if settings.api_key:
                spec.setdefault("components", {})["securitySchemes"] = {"ApiKey": API_KEY_SCHEME}
            _describe_semantic_refusals(spec, _installed_pdf_sets(app))
            _document_list_limits(spec, settings)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


SEMANTIC_422 = {
    "/v1/exact": "an unknown PDF set or LDME set",
    "/v1/exact/binned": "an unknown PDF set or LDME set, or a bin whose integral diverges "
    "(z_lo = 0; P_T < 1e-3 GeV in a bin reaching z = 1 when sing3s1_U is asked for) or overflows",
    "/v1/pdf": "an unknown PDF set",
}
"""422s that the JSON schema cannot express, by path: documented on the operation."""


def _installed_pdf_sets(app: FastAPI) -> list[str]:
    state = getattr(app.state, "jpsi", None)
    return list(state.pdf_sets.installed) if state is not None else available_sets()


def _describe_semantic_refusals(spec: dict, pdf_sets: list[str]) -> None:
    """The PDF set fields list the installed sets (an ``enum``, so a schema-valid request
    names one), and each 422 says what besides the schema it refuses."""
    schemas = spec.get("components", {}).get("schemas", {})
    for name in ("Theory", "PdfRequest"):
        field = schemas.get(name, {}).get("properties", {}).get("pdf_set")
        if field is not None and pdf_sets:
            field["enum"] = pdf_sets
    document_pdf_sets(schemas, pdf_sets)
    for path, what in SEMANTIC_422.items():
        for operation in spec.get("paths", {}).get(path, {}).values():
            response = operation.get("responses", {}).get("422")
            if response is not None:
                response["description"] = (
                    f"The request breaks the schema, or names {what}; nothing is computed."
                )


def _document_list_limits(spec: dict, settings: Settings) -> None:
    """``maxItems`` from the settings in force, so that the document states the limits
    the service applies (a longer list is a 422)."""
    schemas = spec.get("components", {}).get("schemas", {})
    limits = {
        ("ExactRequest", "points"): settings.max_points,
        ("PredictRequest", "points"): settings.max_points,
        ("AnomalyRequest", "points"): settings.max_points,
        ("PdfRequest", "points"): settings.max_points,
        ("BinnedRequest", "bins"): settings.max_bins,
        ("BinnedRequest", "PT"): settings.max_pt_values,
    }
    for (model, field), limit in limits.items():
        prop = schemas.get(model, {}).get("properties", {}).get(field)
        if prop is not None:
            prop["maxItems"] = min(limit, prop.get("maxItems", limit))
    for model in ("PointColumns", "AnomalyColumns"):  # rows of a columnar request
        columns = schemas.get(model, {})
        props = [*columns.get("properties", {}).values()]
        props += columns.get("patternProperties", {}).values()
        for prop in props:
            prop["maxItems"] = min(settings.max_points, prop.get("maxItems", settings.max_points))
    explain = schemas.get("ExplainRequest", {}).get("properties", {}).get("points")
    if explain is not None:  # its own limit, and the general one
        explain["maxItems"] = min(settings.max_points, explain.get("maxItems", settings.max_points))


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
        docs_url=None,  # service.pages serves /docs and /redoc from local assets
        redoc_url=None,
        openapi_tags=pages.OPENAPI_TAGS,
        # FastAPI's OpenTelemetry hooks cost ~5 µs a request, checking for a provider that
        # is never configured here: the service has its Prometheus metrics and request ids
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    _customise_openapi(app, settings)
    for module in (exact, predict, explain, anomaly, pdf, models, theory, health, v2):
        app.include_router(module.router)
    pages.install(app)
    if settings.fast_path:  # innermost: what it answers has passed every guard
        app.add_middleware(FastPathMiddleware)
    app.add_middleware(
        Guards,
        metrics=metrics,
        body_limit=settings.max_body_bytes,
        body_timeout=settings.body_timeout_seconds,
        bulk_body_limit=settings.max_arrow_bytes,
        max_in_flight=settings.max_concurrent_requests,
        retry_after=settings.retry_after_seconds,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        open_paths=OPEN_PATHS,
        rate=settings.rate_limit_per_second,
        bucket_size=settings.bucket_size,
        rate_by_api_key=settings.api_key is not None,
        # a page load fetches several static assets at once: only the API is limited
        rate_exempt=OPERATIONS | OPEN_PATHS,
        log_access=settings.access_log,
    )
    app.state.metrics = metrics
    app.state.settings = settings
    return app
