"""Routes that take JSON or an Arrow IPC stream on the same path (/v1/exact, /v1/predict,
/v1/anomaly), and the answers by column (JSON or Arrow) of the bulk formats."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse

from runtime.anomaly import AnomalyScorer
from service import bulk, compute
from service.admission import BASE_SECONDS, arrival, estimate, run_admitted
from service.errors import Unavailable, problem, title
from service.routers.base import JSONBytes, OrjsonRoute
from service.schemas.columns import COORDINATES, SIGMA_COLUMNS, SIGMA_PREFIX
from service.state import ServiceState

ARROW_BODY = {
    "requestBody": {
        "content": {
            bulk.ARROW_STREAM: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "Arrow IPC stream: float64 columns x, z, Q (GeV), PT "
                    "(GeV); parameters in the query string (sqrt_s, channels; on /v1/exact "
                    "also pdf_set, quarks, ldme_set, ldme.<name>). See docs/wire.md.",
                }
            }
        }
    }
}
ARROW_ANSWER = {
    "content": {
        bulk.ARROW_STREAM: {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "Arrow IPC stream: valid, y, one float64 column per output "
                "(pb/GeV⁴, null where invalid), reasons, flags; schema metadata units, "
                "sqrt_s, theory / model. Sent for an Arrow request or Accept: " + bulk.ARROW_STREAM,
            }
        }
    }
}


BULK_COST = {"exact": 4e-7, "predict": 3e-7}
"""Seconds of one core per point by column (no per-point JSON): the engine (~0.17 µs a
point exact) or the surrogate, plus the encoding (bench/wire.py)."""


INLINE_POINTS = 16
"""Requests of at most this many points are computed on the event loop, not in the thread
pool: their work (~0.1 ms for one point) is less than the hop it saves (bench/floor.py)."""


async def run_small_inline(admission, scope, cost: float, n: float, fn, *args):
    """``fn(*args)`` admitted at ``cost`` as ``run_admitted`` does; inline when ``n`` (the
    points) is at most ``INLINE_POINTS``, in the thread pool otherwise."""
    if n > INLINE_POINTS:
        return await run_admitted(admission, scope, cost, fn, *args)
    with admission.admit(cost, time.perf_counter() - arrival(scope)):
        return fn(*args)


def bulk_cost(kind: str, n: int) -> float:
    """The admission cost (service/admission.py) of ``n`` points of ``kind`` by column."""
    return BASE_SECONDS + BULK_COST[kind] * n


def media(request: Request, header: str = "content-type") -> str:
    return request.headers.get(header, "").split(";")[0].strip().lower()


def wants_arrow(request: Request) -> bool:
    return bulk.ARROW_STREAM in request.headers.get("accept", "").lower()


def refusal(exc: bulk.BadInput) -> Response:
    where = ".".join(str(p) for p in exc.loc)
    error = {"loc": exc.loc, "msg": exc.msg, "type": exc.kind}
    return problem(exc.status, title(exc.status), f"{where}: {exc.msg}", [error])


def arrow_response(buffer) -> Response:
    return Response(memoryview(buffer), media_type=bulk.ARROW_STREAM)


class BulkRoute(OrjsonRoute):
    """A JSON route that also takes an Arrow IPC stream: the endpoint's ``arrow`` attribute
    (an async function of the request) answers requests with that Content-Type."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        json_handler = super().get_route_handler()
        arrow_handler = getattr(self.endpoint, "arrow", None)

        async def route_handler(request: Request) -> Response:
            if arrow_handler is not None and media(request) == bulk.ARROW_STREAM:
                encoding = request.headers.get("content-encoding", "identity")
                if encoding.strip().lower() != "identity":
                    raise HTTPException(
                        415,
                        f"Content-Encoding {encoding[:100]!r} is not accepted; "
                        "send the stream uncompressed",
                        {"accept-encoding": "identity"},
                    )
                try:
                    return await arrow_handler(request)
                except bulk.BadInput as exc:
                    return refusal(exc)
            return await json_handler(request)

        return route_handler


class AdmittedStream(StreamingResponse):
    """A streamed answer computed while it is sent, holding its admission (the backlog of
    service/admission.py) until the last byte is out or the client has gone."""

    def __init__(self, content, release: Callable[[], object], **kwargs):
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def admitted_stream(admission, scope, cost: float, messages: Iterator) -> Response:
    """An Arrow stream of ``messages`` (computed in the thread pool, one at a time, while
    the previous ones are sent), admitted at ``cost`` now: 503 / 413 before anything is
    computed, as every other request."""
    admit = admission.admit(cost, time.perf_counter() - arrival(scope))
    admit.__enter__()

    async def body():
        async for message in iterate_in_threadpool(messages):
            yield memoryview(message)

    return AdmittedStream(
        body(), lambda: admit.__exit__(None, None, None), media_type=bulk.ARROW_STREAM
    )


def takes_arrow(handler: Callable[[Request], Coroutine[Any, Any, Response]]):
    """Mark an endpoint of a ``BulkRoute`` as taking Arrow streams, answered by ``handler``
    (put it under the route decorator: the route reads the mark when it is made)."""

    def mark(endpoint):
        endpoint.arrow = handler
        return endpoint

    return mark


def point_columns(points) -> dict[str, np.ndarray]:
    """Validated point dicts by column."""
    return dict(zip(COORDINATES, compute.columns(points, COORDINATES), strict=True))


def answer(
    kind: str,
    cols: dict[str, np.ndarray],
    p: bulk.BulkParams,
    st: ServiceState,
    arrow: bool,
) -> Response:
    """/v1/exact or /v1/predict by column: Arrow or columnar JSON (thread pool)."""
    if kind == "predict" and st.surrogate is None:
        raise Unavailable("the surrogate model is not loaded", st.surrogate_reasons())
    names = compute.outputs(p.channels)
    fn, head = bulk.engine(kind, p.sqrt_s, names, st, p.theory)
    n = int(np.asarray(cols["x"]).size)
    parts = bulk.chunks(fn, cols)
    if arrow:
        out = arrow_response(bulk.write_arrow(head, parts, names))
    else:
        out = JSONBytes(bulk.columns_json(head, bulk.gather(parts)))
    st.metrics.points.labels(kind).inc(n)
    return out


async def answer_admitted(kind: str, body, p: bulk.BulkParams, st, request: Request) -> Response:
    """A JSON request (columns, or points with Accept: Arrow) answered by column, once
    admitted at its cost."""
    n = len(body.columns.x) if body.columns is not None else len(body.points)

    def work() -> Response:
        cols = body.columns.model_dump() if body.columns is not None else None
        return answer(kind, cols or point_columns(body.points), p, st, wants_arrow(request))

    return await run_admitted(st.admission, request.scope, bulk_cost(kind, n), work)


def arrow_endpoint(kind: str) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The Arrow handler of /v1/exact or /v1/predict: read the stream (thread pool), admit
    it at the cost of the rows it holds, compute (thread pool)."""

    async def handle(request: Request) -> Response:
        st: ServiceState = request.app.state.jpsi
        settings = request.app.state.settings
        pairs = list(request.query_params.multi_items())
        p = bulk.params(pairs, theory=kind == "exact", where="query")
        if kind == "predict" and st.surrogate is None:
            raise Unavailable("the surrogate model is not loaded", st.surrogate_reasons())
        body = await request.body()
        data = await run_in_threadpool(bulk.read_arrow, body, (), settings.max_arrow_rows)
        del body

        names = compute.outputs(p.channels)
        try:
            fn, head = bulk.engine(kind, p.sqrt_s, names, st, p.theory)
        except RequestValidationError as exc:  # an unknown PDF set: named as sent
            error = exc.errors()[0]
            raise bulk.BadInput(["query", str(error["loc"][-1])], error["msg"]) from None
        messages = bulk.arrow_messages(head, bulk.chunks(fn, data.columns), names)
        cost = bulk_cost(kind, data.n)
        response = admitted_stream(st.admission, request.scope, cost, messages)
        st.metrics.points.labels(kind).inc(data.n)
        return response

    return handle


def anomaly_arrow() -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The Arrow handler of /v1/anomaly: optional float64 columns sigma.<output>."""

    async def handle(request: Request) -> Response:
        st: ServiceState = request.app.state.jpsi
        settings = request.app.state.settings
        pairs = list(request.query_params.multi_items())
        p = bulk.params(pairs, theory=False, where="query", channels=False)
        if st.anomaly is None:
            raise Unavailable("the anomaly model is not loaded", st.artifact_reasons("anomaly"))
        body = await request.body()
        data = await run_in_threadpool(
            bulk.read_arrow, body, SIGMA_COLUMNS, settings.max_arrow_rows
        )
        del body
        if data.n == 0:
            raise bulk.BadInput(["body"], "no rows: at least one point to score")

        scorer = st.anomaly

        def work() -> Response:
            parts = score_parts(scorer, data.columns, data.given, p.sqrt_s)
            out = arrow_response(bulk.write_anomaly_arrow(parts, float(scorer.threshold)))
            st.metrics.points.labels("anomaly").inc(data.n)
            return out

        cost = estimate("anomaly", data.n)
        return await run_admitted(st.admission, request.scope, cost, work)

    return handle


def score_parts(scorer: AnomalyScorer, cols: dict, given: dict, sqrt_s: float):
    """(start, columnar part) for each chunk of rows scored by the anomaly model."""
    n = cols["x"].size
    sigma = {k.removeprefix(SIGMA_PREFIX): k for k in cols if k.startswith(SIGMA_PREFIX)}
    for start in range(0, n, bulk.CHUNK):
        end = min(start + bulk.CHUNK, n)
        X = np.column_stack([cols[k][start:end] for k in COORDINATES])
        rows = None
        if sigma:
            values = {k: cols[c][start:end].tolist() for k, c in sigma.items()}
            masks = {k: given[c][start:end].tolist() for k, c in sigma.items()}
            rows = [
                {k: values[k][i] for k in sigma if masks[k][i]} or None for i in range(end - start)
            ]
            rows = rows if any(r is not None for r in rows) else None
        try:
            results = scorer.score(X, sqrt_s=sqrt_s, sigma=rows)
        except ValueError as exc:
            raise bulk.BadInput(["body"], str(exc)) from exc
        yield start, bulk.anomaly_part(results, start)


def sigma_from_columns(columns) -> list[dict | None] | None:
    """The ``sigma.<output>`` columns of a columnar /v1/anomaly request as the scorer's
    per-row dicts (None where no value was supplied)."""
    return bulk.sigma_rows(columns.sigma(), len(columns.x))
