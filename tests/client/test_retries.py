"""Retries and refusals: 503/429 retried after Retry-After then real answers, the budget
(attempts and seconds) raising the typed error with the server's problem details, 413
halving a request, 415 stepping down the wire format, connection failures.

A stub HTTP server (tests/client/stub.py) answers what each test scripts and forwards
the rest to a real jpsi-serve. Waits are recorded, not slept (``time.sleep`` and
``asyncio.sleep`` are replaced), so nothing here depends on timing."""

from __future__ import annotations

import asyncio
import json

import pytest

import jpsi_client.client as jc
from jpsi_client import (
    AsyncClient,
    Client,
    PayloadTooLarge,
    RateLimited,
    TransportError,
    Unauthorized,
    Unavailable,
)
from tests.client.conftest import make_points
from tests.client.stub import Stub, problem
from tests.service.server import free_port

BUSY = problem(
    503, "Service Unavailable", "64 requests in flight; retry later", reasons=["in-flight limit"]
)
SLOW_DOWN = problem(429, "Too Many Requests", "rate limit of 10 requests/s exceeded")
JSON_PROBLEM = {"Content-Type": "application/problem+json"}


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(jc.time, "sleep", slept.append)

    async def fake_async_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(jc.asyncio, "sleep", fake_async_sleep)
    return slept


def scripted(answers: list):
    """Answer the first POSTs to /v1/exact with ``answers`` in turn, then forward."""
    posts = []

    def decide(i, method, path, headers, body):
        if method != "POST":
            return None
        posts.append(i)
        k = len(posts) - 1
        return answers[k] if k < len(answers) else None

    return decide


def test_503_and_429_retried_after_retry_after_then_real_answer(server_url, waits):
    pts = make_points(50)
    answers = [
        (503, {**JSON_PROBLEM, "Retry-After": "2"}, BUSY),
        (429, {**JSON_PROBLEM, "Retry-After": "1"}, SLOW_DOWN),
        (503, {**JSON_PROBLEM, "Retry-After": "0"}, BUSY),
    ]
    stub = Stub(server_url, scripted(answers))
    with stub as url, Client(url, wire_format="points") as c:
        got = c.exact(pts, as_arrow=True)
    with Client(server_url, wire_format="points") as c:
        assert got.equals(c.exact(pts, as_arrow=True))
    assert waits == [2.0, 1.0, 0.0]
    assert len(stub.posts("/v1/exact")) == 4


def test_budget_of_attempts_spent_raises_unavailable_with_problem(server_url, waits):
    stub = Stub(
        server_url,
        lambda i, m, p, h, b: (
            (503, {**JSON_PROBLEM, "Retry-After": "0"}, BUSY) if m == "POST" else None
        ),
    )
    with stub as url, Client(url, retries=3, wire_format="points") as c:
        with pytest.raises(Unavailable) as err:
            c.exact(make_points(5))
    e = err.value
    assert (e.status, e.attempts) == (503, 4)
    assert e.detail == "64 requests in flight; retry later" and e.reasons == ["in-flight limit"]
    assert len(stub.posts("/v1/exact")) == 4 and waits == [0.0, 0.0, 0.0]


def test_429_budget_spent_raises_rate_limited(server_url, waits):
    stub = Stub(
        server_url,
        lambda i, m, p, h, b: (
            (429, {**JSON_PROBLEM, "Retry-After": "1"}, SLOW_DOWN) if m == "POST" else None
        ),
    )
    with stub as url, Client(url, retries=2, wire_format="points") as c:
        with pytest.raises(RateLimited, match="rate limit of 10 requests/s"):
            c.predict(make_points(5))
    assert waits == [1.0, 1.0]


def test_budget_of_seconds_refuses_a_long_retry_after(server_url, waits):
    stub = Stub(
        server_url,
        lambda i, m, p, h, b: (
            (503, {**JSON_PROBLEM, "Retry-After": "900"}, BUSY) if m == "POST" else None
        ),
    )
    with stub as url, Client(url, max_retry_wait=60, wire_format="points") as c:
        with pytest.raises(Unavailable) as err:
            c.exact(make_points(5))
    assert err.value.attempts == 1 and waits == []


def test_413_halves_the_request(server_url, waits):
    def decide(i, method, path, headers, body):
        if method == "POST" and len(json.loads(body)["points"]) > 40:
            return 413, JSON_PROBLEM, problem(413, "Content Too Large", "over 40 points")
        return None

    pts = make_points(150)
    stub = Stub(server_url, decide)
    with stub as url, Client(url, wire_format="points", max_rows=200) as c:
        got = c.exact(pts, as_arrow=True)
    with Client(server_url, wire_format="points") as c:
        assert got.equals(c.exact(pts, as_arrow=True))
    sizes = [len(json.loads(s[3])["points"]) for s in stub.posts("/v1/exact")]
    # 148 rows sent: the NaN and infinite rows of make_points are answered by the client
    assert sizes[0] == 148 and sum(n for n in sizes if n <= 40) == 148
    assert waits == []


def test_413_on_a_single_row_is_raised(server_url):
    stub = Stub(
        server_url,
        lambda i, m, p, h, b: (
            (413, JSON_PROBLEM, problem(413, "Content Too Large", "body over 8 MiB"))
            if m == "POST"
            else None
        ),
    )
    with stub as url, Client(url, wire_format="points") as c:
        with pytest.raises(PayloadTooLarge, match="body over 8 MiB"):
            c.exact(make_points(3).iloc[:1])


def test_415_to_arrow_steps_down_to_json(server_url):
    def decide(i, method, path, headers, body):
        if headers.get("content-type", "").startswith("application/vnd.apache.arrow"):
            return 415, JSON_PROBLEM, problem(415, "Unsupported Media Type", "JSON only")
        return None

    pts = make_points(30)
    stub = Stub(server_url, decide)
    with stub as url, Client(url, wire_format="arrow") as c:
        first = c.exact(pts, as_arrow=True)
        second = c.exact(pts, as_arrow=True)
    with Client(server_url, wire_format="points") as c:
        assert first.equals(c.exact(pts, as_arrow=True)) and second.equals(first)
    kinds = [s[2] for s in stub.posts("/v1/exact")]
    assert kinds[0].startswith("application/vnd.apache.arrow")
    assert all(k == "application/json" for k in kinds[1:])  # remembered after one 415
    assert len(kinds) == 3


def test_connection_refused_raises_transport_error(waits):
    with Client(f"http://127.0.0.1:{free_port()}", retries=2, wire_format="points") as c:
        with pytest.raises(TransportError, match="after 3 attempt"):
            c.models()
    assert len(waits) == 2


def test_async_client_retries_too(server_url, waits):
    pts = make_points(40)
    answers = [(429, {**JSON_PROBLEM, "Retry-After": "3"}, SLOW_DOWN)]
    stub = Stub(server_url, scripted(answers))

    async def run(url):
        async with AsyncClient(url, wire_format="points") as c:
            return await c.exact(pts, as_arrow=True)

    with stub as url:
        got = asyncio.run(run(url))
    with Client(server_url, wire_format="points") as c:
        assert got.equals(c.exact(pts, as_arrow=True))
    assert waits == [3.0]


def test_retry_after_as_http_date():
    import email.utils
    import time

    import httpx

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    r = httpx.Response(503, headers={"Retry-After": when})
    assert 25 <= jc.retry_after(r) <= 31
    assert jc.retry_after(httpx.Response(503)) is None


def test_rows_per_request_from_the_servers_openapi(server_url):
    """A server whose OpenAPI says maxItems = 40 gets requests of at most 40 rows."""
    holder: dict = {}

    def decide(i, method, path, headers, body):
        if method == "GET" and path == "/openapi.json":
            status, h, raw = holder["stub"].forward(method, path, headers, body)
            spec = json.loads(raw)
            spec["components"]["schemas"]["ExactRequest"]["properties"]["points"]["maxItems"] = 40
            return status, h, json.dumps(spec).encode()
        if method == "POST" and len(json.loads(body)["points"]) > 40:
            return 413, JSON_PROBLEM, problem(413, "Content Too Large", "over 40 points")
        return None

    pts = make_points(200)
    stub = holder["stub"] = Stub(server_url, decide)
    with stub as url, Client(url, wire_format="points") as c:
        got = c.exact(pts, as_arrow=True)
    with Client(server_url, wire_format="points") as c:
        assert got.equals(c.exact(pts, as_arrow=True))
    sizes = [len(json.loads(s[3])["points"]) for s in stub.posts("/v1/exact")]
    assert max(sizes) == 40 and sum(sizes) == 198  # no request refused, none re-sent


def test_api_key_sent_and_401_typed(server_url):
    def decide(i, method, path, headers, body):
        if path.startswith("/v1/") and headers.get("x-api-key") != "s3cret":
            return 401, JSON_PROBLEM, problem(401, "Unauthorized", "missing or wrong X-API-Key")
        return None

    stub = Stub(server_url, decide)
    with stub as url:
        with Client(url, api_key="s3cret") as c:
            assert "artifacts" in c.models()
        with Client(url, api_key="wrong") as c, pytest.raises(Unauthorized, match="X-API-Key"):
            c.models()
