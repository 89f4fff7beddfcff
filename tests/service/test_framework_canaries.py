"""Canaries for the framework internals the service touches: each fails loudly, naming the
internal, when an upgrade of FastAPI, Starlette or uvicorn changes it. pyproject.toml pins the
frameworks to the minor versions these tests cover; the internals of uvicorn's HTTP protocol
have their own canary in tests/service/test_http.py.
"""

from __future__ import annotations

import inspect
from importlib import metadata

import fastapi.routing
import uvicorn.config
from fastapi import APIRouter, FastAPI
from starlette.routing import Match
from uvicorn.supervisors import Multiprocess

from service.__main__ import Supervisor
from service.middleware import route_template


def test_pinned_framework_versions_are_installed():
    assert metadata.version("fastapi").startswith("0.165.")
    assert metadata.version("starlette").startswith("1.10.")
    assert metadata.version("uvicorn").startswith("0.54.")


def test_iter_route_contexts_walks_included_routers():
    """service.middleware.route_template names the route of a request refused before
    routing with FastAPI's ``iter_route_contexts`` (0.165 keeps included routers as nodes)."""
    assert callable(fastapi.routing.iter_route_contexts)
    app = FastAPI()
    router = APIRouter(prefix="/v1")

    @router.post("/thing/{name}")
    def thing(name: str) -> dict:
        return {}

    app.include_router(router)
    contexts = list(fastapi.routing.iter_route_contexts(app.routes))
    assert any(getattr(c, "path", None) == "/v1/thing/{name}" for c in contexts)
    scope = {"type": "http", "method": "POST", "path": "/v1/thing/x", "app": app}
    matched = [c for c in contexts if c.matches(scope)[0] is Match.FULL]
    assert matched
    assert route_template(scope) == "/v1/thing/{name}"


def test_api_route_handler_can_be_wrapped():
    """service.routers.base.OrjsonRoute overrides ``APIRoute.get_route_handler``."""
    sig = inspect.signature(fastapi.routing.APIRoute.get_route_handler)
    assert list(sig.parameters) == ["self"]


def test_supervisor_hooks_exist():
    """service.__main__.Supervisor extends ``terminate_all`` and closes ``self.sockets``."""
    assert "terminate_all" in vars(Multiprocess)
    assert "sockets" in inspect.signature(Multiprocess.__init__).parameters
    assert issubclass(Supervisor, Multiprocess)
    assert isinstance(uvicorn.config.STARTUP_FAILURE, int)
