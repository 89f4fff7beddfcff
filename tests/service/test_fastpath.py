"""The fast path of small surrogate requests (service/fastpath.py): it answers byte for byte
as the routes do, or leaves the request to them; every guard still applies; concurrent
requests sharing one ONNX run get the bits they get alone."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.domain import TrainingDomain
from service import Settings, fastpath
from tests.service.conftest import REPO_ARTIFACTS, make_client

V2_PATH = "/v2/models/jpsi-surrogate/infer"
POINT = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}


@pytest.fixture(scope="module")
def clients():
    """The shipped surrogate behind two apps: with the fast path, and without it."""
    fast = make_client(Settings(artifact_dir=REPO_ARTIFACTS))
    slow = make_client(Settings(artifact_dir=REPO_ARTIFACTS, fast_path=False))
    with fast, slow:
        yield fast, slow


@pytest.fixture
def answered(monkeypatch) -> list[str]:
    """The paths of the requests the fast path answered (not declined)."""
    seen: list[str] = []

    def counting(surface: fastpath.Surface, path: str) -> fastpath.Surface:
        async def answer(req, evaluate, alone):
            out = await surface.answer(req, evaluate, alone)
            seen.append(path)
            return out

        return replace(surface, answer=answer)

    counted = {path: counting(s, path) for path, s in fastpath.SURFACES.items()}
    monkeypatch.setattr(fastpath, "SURFACES", counted)
    return seen


def same_answer(clients, path: str, body: bytes, headers: dict | None = None):
    """Both apps' answers to ``body``: equal status, headers (but the request id) and bytes."""
    fast, slow = clients
    h = {"content-type": "application/json", **(headers or {})}
    a = fast.post(path, content=body, headers=h)
    b = slow.post(path, content=body, headers=h)
    assert a.status_code == b.status_code, (body, a.text, b.text)
    assert a.content == b.content, body
    strip = {"x-request-id"}
    assert [kv for kv in a.headers.items() if kv[0] not in strip] == [
        kv for kv in b.headers.items() if kv[0] not in strip
    ]
    return a


def v2_body(points: list[dict], **extra) -> bytes:
    inputs = [
        {"name": k, "shape": [len(points)], "datatype": "FP64", "data": [p[k] for p in points]}
        for k in ("x", "z", "Q", "PT")
    ]
    return orjson.dumps({"inputs": inputs, **extra})


# --- the plain requests are answered here, as the routes answer them ------------------------

inside = st.fixed_dictionaries(
    {
        "x": st.floats(0.005, 0.6),
        "z": st.floats(0.1, 0.95),
        "Q": st.floats(4.0, 40.0),
        "PT": st.floats(0.0, 12.0),
    }
)
"""Mostly physical points, some flagged (outside the TMD region, the acceptance, the training
domain; z above 0.9), some not physical (y > 1 at small x)."""


# ``answered`` is reset per test, not per example: the tests count from where they start
FIXTURES_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES_OK)
@given(
    points=st.lists(inside, min_size=1, max_size=fastpath.MAX_POINTS),
    sqrt_s=st.sampled_from([None, 29.0, 63.0, 141.0, 45]),
    channels=st.sampled_from([None, ["total_U"], ["oct3s1_L", "total_U", "oct3s1_L"]]),
)
def test_v1_answers_are_the_routes_bytes(clients, answered, points, sqrt_s, channels):
    body: dict = {"points": points}
    if sqrt_s is not None:
        body["sqrt_s"] = sqrt_s
    if channels is not None:
        body["channels"] = channels
    before = len(answered)
    r = same_answer(clients, "/v1/predict", orjson.dumps(body))
    assert r.status_code == 200
    if all(res["valid"] for res in r.json()["results"]):
        assert len(answered) == before + 1  # the fast path gave it, not the route


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES_OK)
@given(
    points=st.lists(inside, min_size=1, max_size=fastpath.MAX_POINTS),
    sqrt_s=st.sampled_from([None, 29.0, 141]),
    request_id=st.sampled_from([None, "run-7", "é" * 300]),
)
def test_v2_answers_are_the_routes_bytes(clients, answered, points, sqrt_s, request_id):
    extra: dict = {}
    if sqrt_s is not None:
        extra["parameters"] = {"sqrt_s": sqrt_s}
    if request_id is not None:
        extra["id"] = request_id
    before = len(answered)
    r = same_answer(clients, V2_PATH, v2_body(points, **extra))
    assert r.status_code == 200
    if all(r.json()["outputs"][0]["data"]):
        assert len(answered) == before + 1


def test_a_plain_one_point_request_is_answered_here(clients, answered):
    same_answer(clients, "/v1/predict", orjson.dumps({"points": [POINT]}))
    same_answer(clients, V2_PATH, v2_body([POINT]))
    same_answer(clients, "/v2/models/jpsi-surrogate/versions/1/infer", v2_body([POINT]))
    assert answered == [
        "/v1/predict",
        V2_PATH,
        "/v2/models/jpsi-surrogate/versions/1/infer",
    ]


# --- everything else is the routes' ----------------------------------------------------------

DECLINED_V1 = [
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "sqrt_s": 63.0, "sqrt_s": 45.0}',
    b'{"points": [{"x": 0.2, "x": 0.3, "z": 0.5, "Q": 20.0, "PT": 1.0}]}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0, "w": 1}]}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0}]}',
    b'{"points": [{"x": "0.2", "z": 0.5, "Q": 20.0, "PT": 1.0}]}',
    b'{"points": [{"x": true, "z": 0.5, "Q": 20.0, "PT": 1.0}]}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": NaN}]}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1e400}]}',
    b'{"points": [{"x": 9007199254740993, "z": 0.5, "Q": 20.0, "PT": 1.0}]}',
    b'{"points": [{"x": 1.5, "z": 0.5, "Q": 20.0, "PT": 1.0}]}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "sqrt_s": 0}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "sqrt_s": 100001}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "sqrt_s": null}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "channels": null}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "channels": []}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "channels": ["nope"]}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "channels": "total_U"}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "theory": {}}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "columns": null}',
    b'{"points": []}',
    b'{"points": null}',
    b'{"columns": {"x": [0.2], "z": [0.5], "Q": [20.0], "PT": [1.0]}}',
    b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}]',
    b"[]",
    b"",
]


@pytest.mark.parametrize("body", DECLINED_V1)
def test_v1_bad_or_other_requests_get_the_routes_answer(clients, answered, body):
    same_answer(clients, "/v1/predict", body)
    if b'channels": null' not in body:
        assert answered == []


def test_v1_more_points_than_the_fast_path_takes(clients, answered):
    r = same_answer(clients, "/v1/predict", orjson.dumps({"points": [POINT] * 17}))
    assert r.status_code == 200 and answered == []


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json; charset=utf-8"},
        {"content-type": "text/plain"},
        {"content-encoding": "gzip"},
        {"accept": "application/vnd.apache.arrow.stream"},
    ],
)
def test_v1_other_media_types_get_the_routes_answer(clients, answered, headers):
    same_answer(clients, "/v1/predict", orjson.dumps({"points": [POINT]}), headers)
    assert answered == []


DECLINED_V2 = [
    v2_body([POINT], outputs=[{"name": "y"}]),
    v2_body([POINT], parameters={"sqrt_s": 63.0, "binary_data_output": False}),
    v2_body([POINT], parameters={"sqrt_s": "63"}),
    v2_body([POINT], parameters={"pdf_set": "x"}),
    v2_body([POINT], parameters=[]),
    v2_body([POINT], id=None),
    v2_body([POINT], id=7),
    v2_body([{**POINT, "x": 1.5}]),
    orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [0.2]}]}),
    orjson.dumps(
        {
            "inputs": [
                {"name": k, "shape": [True], "datatype": "FP64", "data": [v]}
                for k, v in POINT.items()
            ]
        }
    ),
    orjson.dumps(
        {
            "inputs": [
                {"name": k, "shape": [1], "datatype": "FP32", "data": [v]} for k, v in POINT.items()
            ]
        }
    ),
    orjson.dumps(
        {
            "inputs": [
                {"name": k, "shape": [2], "datatype": "FP64", "data": [v]} for k, v in POINT.items()
            ]
        }
    ),
    orjson.dumps(
        {
            "inputs": [
                {"name": k, "shape": [1], "datatype": "FP64", "data": [[v]]}
                for k, v in POINT.items()
            ]
        }
    ),
    orjson.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [1], "datatype": "FP64", "data": [0.2]} for _ in range(4)
            ]
        }
    ),
    v2_body([POINT]).replace(b'"name":"x"', b'"name":"x","name":"x"'),
    b'{"inputs": 5}',
    b"{",
]


@pytest.mark.parametrize("body", DECLINED_V2)
def test_v2_bad_or_other_requests_get_the_routes_answer(clients, answered, body):
    same_answer(clients, V2_PATH, body)
    assert answered == []


def test_v2_shape_n_by_1_is_answered_as_the_route_does(clients):
    body = orjson.dumps(
        {
            "inputs": [
                {"name": k, "shape": [1, 1], "datatype": "FP64", "data": [v]}
                for k, v in POINT.items()
            ]
        }
    )
    assert same_answer(clients, V2_PATH, body).status_code == 200


def test_jpsi_exact_is_left_to_the_route(clients, answered):
    same_answer(clients, "/v2/models/jpsi-exact/infer", v2_body([POINT]))
    assert answered == []


# --- the guards apply to what the fast path answers -------------------------------------------


def test_the_guards_hold_for_fast_answers(answered):
    key = "k" * 32
    s = Settings(
        artifact_dir=REPO_ARTIFACTS, api_key=key, rate_limit_per_second=0.01, rate_limit_burst=2
    )
    body = orjson.dumps({"points": [POINT]})
    h = {"content-type": "application/json"}
    with make_client(s) as c:
        assert c.post("/v1/predict", content=body, headers=h).status_code == 401
        ok = c.post("/v1/predict", content=body, headers={**h, "x-api-key": key})
        assert ok.status_code == 200 and len(ok.headers["x-request-id"]) == 32
        given = c.post(
            "/v1/predict", content=body, headers={**h, "x-api-key": key, "x-request-id": "mine-1"}
        )
        assert given.headers["x-request-id"] == "mine-1"
        limited = c.post("/v1/predict", content=body, headers={**h, "x-api-key": key})
        assert limited.status_code == 429 and "retry-after" in limited.headers
        metrics = c.get("/metrics", headers={"x-api-key": key}).text
    assert answered == ["/v1/predict", "/v1/predict"]
    assert 'jpsi_http_requests_total{method="POST",route="/v1/predict",status="200"} 2.0' in metrics
    assert 'jpsi_points_evaluated_total{endpoint="predict"} 2.0' in metrics


def test_the_body_limit_holds_for_fast_answers(answered):
    body = orjson.dumps({"points": [POINT]}).ljust(1025)  # trailing blanks: still JSON
    with make_client(Settings(artifact_dir=REPO_ARTIFACTS, max_body_bytes=1024)) as c:
        r = c.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and answered == []


def test_a_refusal_of_admission_is_the_routes(clients, answered):
    fast, _ = clients
    admission = fast.app.state.jpsi.admission
    admission.backlog = 1e6  # as if a mountain of work were admitted
    try:
        r = fast.post("/v1/predict", json={"points": [POINT]})
    finally:
        admission.backlog = 0.0
    assert r.status_code == 503 and "retry-after" in r.headers
    assert r.headers["content-type"] == "application/problem+json" and answered == []


# --- batching: concurrent requests share a run, each gets its own bits ------------------------


def test_concurrent_requests_share_one_run_and_get_their_own_bits(clients):
    fast, _ = clients
    surrogate = fast.app.state.jpsi.surrogate
    evaluation = fastpath.Evaluation(surrogate)
    runs: list[int] = []
    run = evaluation.batch.run
    evaluation.batch.run = lambda f: runs.append(len(f)) or run(f)
    rng = np.random.default_rng(3)
    requests = [
        [(float(x), 0.5, 20.0, 1.0) for x in rng.uniform(0.15, 0.6, size=k)] for k in (1, 3, 7, 16)
    ]

    async def together():
        return await asyncio.gather(*(evaluation(p, 63.0) for p in requests))

    results = asyncio.run(together())
    assert runs == [27]  # one ONNX run for the four requests
    for points, (ys, sigma, _) in zip(requests, results, strict=True):
        alone = surrogate.run(np.array([(63.0, *p) for p in points]))
        assert np.array_equal(sigma, alone)  # bit for bit
        assert len(ys) == len(points)


def test_a_request_alone_runs_at_once_and_others_wait_a_turn():
    runs: list[int] = []
    batch = fastpath.Batcher(lambda rows: runs.append(len(rows)) or np.zeros((len(rows), 10)))
    rows = [(63.0, 0.2, 0.5, 20.0, 1.0)]
    pending = batch(rows, alone=True)
    with pytest.raises(StopIteration):  # answered without waiting for the event loop
        pending.send(None)
    assert runs == [1]

    async def three():  # not alone: they share the run at the end of the turn
        return await asyncio.gather(batch(rows), batch(rows), batch(rows * 2))

    out = asyncio.run(three())
    assert runs == [1, 4] and [len(o) for o in out] == [1, 1, 2]


def test_a_failed_run_fails_every_request_of_its_batch():
    def broken(features):
        raise RuntimeError("ONNX says no")

    batch = fastpath.Batcher(broken)

    async def two():
        rows = [(63.0, 0.2, 0.5, 20.0, 1.0)]
        return await asyncio.gather(batch(rows), batch(rows), return_exceptions=True)

    out = asyncio.run(two())
    assert all(isinstance(e, RuntimeError) for e in out)


# --- the scalar twins --------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
near = st.one_of(
    finite,
    st.sampled_from([0.0, 1.0, 0.5, 0.9, 0.95, 0.01, 1e-9, 5e-324, 1e300, -0.0, 1 - 1e-16]),
    st.floats(-0.1, 1.1),
)


@settings(max_examples=400, deadline=None)
@given(
    x=st.one_of(near, st.floats(1e-4, 0.9)), z=near, Q=st.one_of(finite, st.floats(4.0, 110.0)),
    PT=st.one_of(finite, st.floats(-1.0, 12.0)), sqrt_s=st.floats(20.0, 150.0),
)  # fmt: skip
def test_contains_point_is_contains_points_bit_for_bit(x, z, Q, PT, sqrt_s):
    domain = TrainingDomain()
    with np.errstate(all="ignore"):
        expected = bool(domain.contains_points(sqrt_s, *(np.array([v]) for v in (x, z, Q, PT)))[0])
    try:
        assert domain.contains_point(sqrt_s, x, z, Q, PT) == expected
    except ZeroDivisionError:
        pass


def test_run_few_is_run_bit_for_bit(clients):
    """The bound buffers of ``Surrogate.run_few`` give the bits of ``Surrogate.run``, at every
    size they serve and past it, and a later call does not change an earlier answer."""
    surrogate = clients[0].app.state.jpsi.surrogate
    rng = np.random.default_rng(5)
    earlier = []
    for n in (1, 2, 7, 8, 9, 16, 17, 63, 64, 65, 200):
        rows = [
            (63.0, float(x), 0.5, float(q), 1.0)
            for x, q in zip(rng.uniform(0.2, 0.6, n), rng.uniform(5.0, 20.0, n), strict=True)
        ]
        few = surrogate.run_few(rows)
        assert np.array_equal(few, surrogate.run(np.array(rows))), n
        earlier.append((few.copy(), few))
    for copy, answer in earlier:
        assert np.array_equal(copy, answer)


def test_a_real_server_answers_alone_and_in_batches_as_the_routes(clients):
    """jpsi-serve (its protocol marks each request with the worker's open requests): one
    request at a time (run at once) and 32 at once from 16 threads (batched), each answered
    with the bytes of the routes."""
    import threading
    import urllib.request

    from tests.service.server import start, stop

    _, slow = clients
    rng = np.random.default_rng(11)
    bodies = [
        orjson.dumps({"points": [{**POINT, "x": float(x)}], "sqrt_s": 63.0})
        for x in rng.uniform(0.15, 0.6, 32)
    ]
    bodies += [v2_body([{**POINT, "Q": float(q)}]) for q in rng.uniform(5.0, 20.0, 32)]
    paths = ["/v1/predict"] * 32 + [V2_PATH] * 32
    proc, port = start(env={"JPSI_WORKERS": "1"})
    try:

        def post(i: int) -> bytes:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}{paths[i]}",
                data=bodies[i],
                headers={"content-type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read()

        alone = [post(i) for i in range(len(bodies))]
        together: dict[int, bytes] = {}

        def worker(indices: range) -> None:
            for i in indices:
                together[i] = post(i)

        threads = [threading.Thread(target=worker, args=(range(k, 64, 16),)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop(proc)
    h = {"content-type": "application/json"}
    for i, body in enumerate(bodies):
        expected = slow.post(paths[i], content=body, headers=h).content
        assert alone[i] == expected and together[i] == expected, i


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1))
def test_orjson_writes_python_floats_as_it_writes_numpy_float64(values):
    """The fast path encodes Python floats, the routes numpy arrays: the same digits."""
    as_numpy = orjson.dumps(np.array(values), option=orjson.OPT_SERIALIZE_NUMPY)
    assert orjson.dumps(values) == as_numpy
