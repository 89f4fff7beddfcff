"""/docs, /redoc and /explore without a browser: everything they load is served by the
service, open even with an API key, and the pages may load nothing from another host."""

from __future__ import annotations

import re

import pytest

from service import Settings, create_app
from service.pages import CSP, EXPLORE_CSP, PAGE_PATHS, STATIC_DIR, STATIC_PATHS
from tests.service.conftest import TestClient

PAGES = ("/docs", "/redoc", "/explore")
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
def keyed(artifact_dir):
    with TestClient(create_app(Settings(artifact_dir=artifact_dir, api_key="k3y"))) as c:
        yield c


def test_the_vendored_assets_and_their_licences_are_there():
    for folder in ("swagger-ui", "redoc", "plotly"):
        assert (STATIC_DIR / "vendor" / folder / "LICENSE").is_file(), folder
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in STATIC_PATHS
    assert "/static/vendor/plotly/plotly-basic.min.js" in STATIC_PATHS


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_only_local_assets_and_say_so_in_their_policy(keyed, path):
    r = keyed.get(path)  # no key: the pages are open
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = r.headers["content-security-policy"]
    assert policy == (EXPLORE_CSP if path == "/explore" else CSP)
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    if path == "/explore":
        assert "script-src 'self';" in policy  # no inline script at all
    assets = ASSET.findall(r.text)
    assert assets, "the page loads nothing?"
    for url in assets:
        assert not re.match(r"^(https?:)?//", url), (path, url)
        if not url.startswith(("data:", "#", "docs", "redoc", "/docs")):
            local = url if url.startswith("/") else "/" + url
            assert keyed.get(local).status_code == 200, (path, url)


def test_every_static_file_is_open_and_nothing_else_is(keyed):
    for path in sorted(STATIC_PATHS):
        assert keyed.get(path).status_code == 200, path
    assert keyed.get("/static/no-such-file.js").status_code == 401  # says nothing either
    assert keyed.get("/v1/models").status_code == 401
    assert PAGE_PATHS == {"/docs", "/docs/oauth2-redirect", "/redoc", "/explore"}


def test_pages_behind_a_path_prefix_point_at_the_prefixed_assets(artifact_dir):
    app = create_app(Settings(artifact_dir=artifact_dir))
    with TestClient(app, root_path="/jpsi") as c:
        html = c.get("/docs").text
    assert "/jpsi/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "/jpsi/openapi.json" in html


def test_every_operation_has_a_summary_a_description_a_group_and_an_example(client):
    spec = client.get("/openapi.json").json()
    assert [t["name"] for t in spec["tags"]] == ["predictions", "explanations", "operations"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op.get("summary"), (method, path)
            assert len(op.get("description", "")) > 20, (method, path)
            assert op.get("tags") and op["tags"][0] in ("predictions", "explanations", "operations")
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                name = schema["$ref"].rsplit("/", 1)[1]
                assert spec["components"]["schemas"][name].get("examples"), (path, name)
