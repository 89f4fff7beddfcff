"""The pages a browser opens: /docs (Swagger UI), /redoc and /explore, with every asset served
from the package itself (``service/static``), so they work with no network at all.

The vendored libraries (Swagger UI, ReDoc, Plotly.js) and their licences are under
``service/static/vendor``; ``service/static/vendor/VENDOR.md`` says where each came from.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/static"

STATIC_PATHS = frozenset(
    f"{STATIC_PREFIX}/{p.relative_to(STATIC_DIR).as_posix()}"
    for p in STATIC_DIR.rglob("*")
    if p.is_file()
)
"""Every file served under /static: open like the pages that load them (they hold no data)."""

PAGE_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/explore"})

SWAGGER = f"{STATIC_PREFIX}/vendor/swagger-ui"
REDOC = f"{STATIC_PREFIX}/vendor/redoc"
FAVICON = f"{SWAGGER}/favicon-32x32.png"

OPENAPI_TAGS = [
    {
        "name": "predictions",
        "description": "Cross sections from the exact engine and the surrogate, and the "
        "parton distributions behind them.",
    },
    {
        "name": "explanations",
        "description": "Why a cross section is what it is (Shapley values), and how unusual "
        "a submitted point is (anomaly scores).",
    },
    {
        "name": "operations",
        "description": "Probes, metrics and what is loaded: for orchestrators, scrapers and "
        "operators.",
    },
]
"""The groups of /docs and /redoc, in this order."""

CSP = "; ".join(
    [
        "default-src 'self'",
        # Swagger UI and ReDoc start from an inline script; ReDoc's worker is a blob
        "script-src 'self' 'unsafe-inline' blob:",
        "worker-src 'self' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'self'",
        "frame-ancestors 'self'",
    ]
)
"""The pages may load nothing from another host: the browser refuses it before any request
is made (ReDoc's footer logo points at a CDN; refused, it is simply not shown)."""

EXPLORE_CSP = CSP.replace("script-src 'self' 'unsafe-inline' blob:", "script-src 'self'")
"""The explorer has no inline script: only its own files run (Plotly needs inline styles)."""

router = APIRouter(include_in_schema=False)


def _page(response: HTMLResponse, csp: str = CSP) -> HTMLResponse:
    response.headers["content-security-policy"] = csp
    return response


def _root(request: Request) -> str:
    """The prefix the service is mounted under (behind a proxy), without a trailing slash."""
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    app: FastAPI = request.app
    return _page(
        get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} — Swagger UI",
            swagger_js_url=root + f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=root + f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=root + FAVICON,
            oauth2_redirect_url=root + "/docs/oauth2-redirect",
            # no call to the public validator service (and no badge that would make one)
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    app: FastAPI = request.app
    return _page(
        get_redoc_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} — ReDoc",
            redoc_js_url=root + f"{REDOC}/redoc.standalone.js",
            redoc_favicon_url=root + FAVICON,
            with_google_fonts=False,
        )
    )


@router.get("/explore")
async def explore() -> HTMLResponse:
    """The explorer: one HTML file whose assets are relative to it (so it works behind a
    prefix too)."""
    return _page(HTMLResponse((STATIC_DIR / "explore" / "index.html").read_bytes()), EXPLORE_CSP)


def install(app: FastAPI) -> None:
    """The page routes and the static files (FastAPI's own /docs and /redoc must be off)."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
