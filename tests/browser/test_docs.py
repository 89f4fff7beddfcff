"""/docs (Swagger UI) and /redoc in a real browser with every request kept on the host."""

from __future__ import annotations

import json
import urllib.request


def openapi(server) -> dict:
    with urllib.request.urlopen(server.base + "/openapi.json", timeout=30) as r:
        return json.loads(r.read())


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]


def test_swagger_ui_renders_every_operation_offline(server, visit):
    v = visit()
    v.page.goto(server.base + "/docs")
    spec = openapi(server)
    ops = operations(spec)
    blocks = v.page.locator(".opblock")
    blocks.first.wait_for(timeout=30_000)
    assert blocks.count() == len(ops)
    for tag in ("predictions", "explanations", "operations"):
        assert v.page.locator(f"#operations-tag-{tag}").is_visible()
    text = v.page.locator(".swagger-ui").inner_text()
    for _, _, op in ops:
        assert op["summary"] in text
    # the assets came from the service itself
    assert any(u.endswith("/static/vendor/swagger-ui/swagger-ui-bundle.js") for u in v.requests)
    v.screenshot("docs.png", full_page=False)
    v.assert_local()


def test_redoc_renders_offline(server, visit):
    v = visit()
    v.page.goto(server.base + "/redoc")
    heading = v.page.locator("h2").filter(has_text="P_T spectra in bins of x, z and Q")
    heading.first.wait_for(timeout=30_000)  # the operation's section in the main column
    body = v.page.locator("body").inner_text()
    for group in ("predictions", "explanations", "operations"):
        assert group in body.lower()
    assert any(u.endswith("/static/vendor/redoc/redoc.standalone.js") for u in v.requests)
    v.screenshot("redoc.png", full_page=False)
    # ReDoc's footer logo points at its CDN: the page's policy refuses it (no request is made)
    v.assert_local(may_block=("cdn.redoc.ly/redoc/logo-mini.svg",))
