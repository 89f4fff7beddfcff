"""Guards in front of the routes: the in-flight limit, the rate limit, the API key everywhere,
the body timeout; and how /docs shows them."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.routing import iter_route_contexts

from service import Settings, create_app
from service.app import OPEN_PATHS
from service.middleware import Guards, TokenBuckets
from tests.service.conftest import TestClient, make_client
from tests.service.test_exact import POINTS


def blocking_app(settings: Settings):
    """The app plus GET /v1/block, which holds its request until ``release`` is set."""
    app = create_app(settings)
    entered = threading.Semaphore(0)
    release = threading.Event()

    @app.get("/v1/block")  # added after create_app: behind the same middleware as the rest
    def block() -> dict:
        entered.release()
        release.wait(10)
        return {}

    return app, entered, release


def test_past_the_in_flight_limit_the_answer_is_503_at_once(artifact_dir):
    settings = Settings(artifact_dir=artifact_dir, max_concurrent_requests=2, retry_after_seconds=7)
    app, entered, release = blocking_app(settings)
    with TestClient(app) as c, ThreadPoolExecutor(2) as pool:
        try:
            held = [pool.submit(c.get, "/v1/block") for _ in range(2)]
            assert entered.acquire(timeout=10) and entered.acquire(timeout=10)
            start = time.perf_counter()
            r = c.post("/v1/exact", json={"points": POINTS})
            elapsed = time.perf_counter() - start
            assert r.status_code == 503 and r.headers["retry-after"] == "7"
            assert r.headers["content-type"] == "application/problem+json"
            assert "2 requests in flight" in r.json()["detail"]
            assert elapsed < 0.5  # refused, not queued
            # orchestrators and scrapers still get through
            for path in ("/healthz", "/readyz", "/metrics"):
                assert c.get(path).status_code == 200, path
            metrics = c.get("/metrics").text
            assert 'route="/v1/exact",status="503"' in metrics  # refused, yet named by route
        finally:
            release.set()
        assert [f.result(timeout=10).status_code for f in held] == [200, 200]
        assert c.post("/v1/exact", json={"points": POINTS}).status_code == 200  # slots returned


def test_token_bucket_refills_at_the_rate_and_says_how_long_to_wait():
    now = [0.0]
    buckets = TokenBuckets(rate=0.5, size=2, clock=lambda: now[0])
    assert buckets.take(b"a") == 0 and buckets.take(b"a") == 0
    assert buckets.take(b"a") == pytest.approx(2.0)  # one token takes 1 / 0.5 s
    assert buckets.take(b"b") == 0  # buckets are per key
    now[0] = 1.0
    assert buckets.take(b"a") == pytest.approx(1.0)  # half a token back after 1 s
    now[0] = 3.0
    assert buckets.take(b"a") == 0


def test_token_buckets_are_bounded_in_number():
    buckets = TokenBuckets(rate=1.0, size=1, max_keys=3, clock=lambda: 0.0)
    for key in (b"a", b"b", b"c", b"d"):
        assert buckets.take(key) == 0
    assert len(buckets._buckets) == 3
    assert buckets.take(b"a") == 0  # the least recently used went first: back with a full bucket
    assert buckets.take(b"d") > 0


def test_rate_limit_is_429_with_retry_after_per_client_address(artifact_dir):
    settings = Settings(artifact_dir=artifact_dir, rate_limit_per_second=0.1, rate_limit_burst=2)
    app = create_app(settings)
    with TestClient(app, client=("10.0.0.1", 1000)) as a:
        assert [a.get("/v1/models").status_code for _ in range(2)] == [200, 200]
        r = a.get("/v1/models")
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "10"  # a token every 10 s, the bucket just emptied
        assert all(a.get(p).status_code == 200 for p in ("/healthz", "/readyz", "/metrics"))
        other = TestClient(app, client=("10.0.0.2", 1000))  # same app, so the same buckets
        assert other.get("/v1/models").status_code == 200


def test_rate_limit_is_per_api_key_when_a_key_is_set(artifact_dir):
    settings = Settings(
        artifact_dir=artifact_dir, api_key="k", rate_limit_per_second=0.1, rate_limit_burst=1
    )
    app = create_app(settings)
    key = {"X-API-Key": "k"}
    with TestClient(app, client=("10.0.0.1", 1)) as a:
        assert a.get("/v1/models", headers=key).status_code == 200
        other = TestClient(app, client=("10.0.0.2", 1))
        assert other.get("/v1/models", headers=key).status_code == 429  # same key, same bucket
        assert other.get("/v1/models").status_code == 401  # the key is checked first


def routes_of(app) -> list[tuple[str, str]]:
    out = []
    for route in iter_route_contexts(app.routes):
        for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD"}):
            out.append((method, route.path))
    return out


def test_with_a_key_every_endpoint_but_probes_and_docs_requires_it(artifact_dir):
    app = create_app(Settings(artifact_dir=artifact_dir, api_key="s3cret"))
    routes = routes_of(app)
    assert ("POST", "/v1/exact") in routes and ("GET", "/metrics") in routes
    with TestClient(app) as c:
        for method, path in routes:
            r = c.request(method, path)
            if path in OPEN_PATHS:
                assert r.status_code == 200, (method, path)
            else:
                assert r.status_code == 401, (method, path)
                assert r.json()["detail"] == "missing or wrong X-API-Key header"
                # with the key, the request gets past the guard (to the route's own checks)
                with_key = c.request(method, path, headers={"X-API-Key": "s3cret"})
                assert with_key.status_code != 401, (method, path)
        assert c.get("/no/such/path").status_code == 401  # unknown paths say nothing either


def test_openapi_declares_the_key_scheme_on_the_protected_operations(artifact_dir):
    app = create_app(Settings(artifact_dir=artifact_dir, api_key="s3cret"))
    with TestClient(app) as c:
        # open: a browser cannot send the header to load them, and they hold no data
        assert c.get("/docs").status_code == 200
        spec = c.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    for path, item in spec["paths"].items():
        for operation in item.values():
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation, path
            else:
                assert operation["security"] == [{"ApiKey": []}], path
                assert "401" in operation["responses"], path


def test_openapi_documents_the_middleware_refusals(client):
    spec = client.get("/openapi.json").json()
    assert "securitySchemes" not in spec.get("components", {})  # no key, no Authorize button
    exact = spec["paths"]["/v1/exact"]["post"]["responses"]
    for status in ("408", "413", "415", "422", "503"):
        assert "application/problem+json" in exact[status]["content"], status
    assert "429" not in exact  # no rate limit configured
    assert "503" not in spec["paths"]["/healthz"]["get"]["responses"]


def run_body_limit(chunks: list[bytes], gap: float, timeout: float) -> tuple[list, float]:
    """The guards around an app reading the whole body; the client sends
    ``chunks`` ``gap`` seconds apart."""
    sent: list[dict] = []

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    async def main() -> float:
        queue = list(chunks)

        async def receive():
            await asyncio.sleep(gap)
            body = queue.pop(0) if queue else b""
            return {"type": "http.request", "body": body, "more_body": bool(queue)}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        start = time.perf_counter()
        guards = Guards(app, metrics=None, body_limit=1 << 20, body_timeout=timeout)
        await guards(scope, receive, send)
        return time.perf_counter() - start

    return sent, asyncio.run(main())


def test_a_body_dribbled_past_the_timeout_is_408_and_the_connection_closed():
    sent, elapsed = run_body_limit([b"x"] * 100, gap=0.02, timeout=0.3)  # 2 s of dribbling
    start = sent[0]
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert 0.3 <= elapsed < 1.0


def test_a_body_within_the_timeout_is_read():
    sent, _ = run_body_limit([b"x"] * 5, gap=0.01, timeout=1.0)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"read"


def test_pages_and_their_assets_are_not_rate_limited(artifact_dir):
    """A page load fetches several assets at once; a tight limit must not break it."""
    from service import pages

    settings = Settings(artifact_dir=artifact_dir, rate_limit_per_second=0.1, rate_limit_burst=1)
    with make_client(settings) as c:
        assets = sorted(p for p in pages.STATIC_PATHS if p.startswith("/static/explore/"))
        for path in ["/explore", "/docs", "/redoc", "/openapi.json", *assets]:
            assert c.get(path).status_code == 200, path
        body = {"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}]}
        assert c.post("/v1/exact", json=body).status_code == 200
        assert c.post("/v1/exact", json=body).status_code == 429  # the API still is
