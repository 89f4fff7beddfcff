"""Small surrogate requests answered without the framework's round trip (issue 12, item 4).

A one-point ``POST /v1/predict`` used to spend ~0.3 ms of CPU in the worker: FastAPI's
routing, dependency system and validation, then numpy calls on one-element arrays (the
domain check alone ~27 µs). The work itself is one ONNX run of ~17 µs. This layer sits
innermost of the guards (``service.middleware``), so every refusal of the Operating section
has already been applied, and the body it reads comes through the body limit and timeout.

It answers the plain small request itself: ``/v1/predict`` with ``points`` (at most
``MAX_POINTS``), ``sqrt_s`` and ``channels``, and a V2 JSON infer of ``jpsi-surrogate``
with the four input tensors, ``id`` and ``sqrt_s``; every point physical and every σ finite.
Anything else, from a typo to an unphysical point, a column request or a refusal of
admission, it declines: the request goes on to the app with its body replayed, and the
routes answer it exactly as before. An answer of this layer is byte for byte the route's
(``tests/service/test_fastpath.py`` compares them over generated requests), so the contract
does not depend on which of the two answered.

Requests that arrive together share one ONNX run (``Batcher``): that is what keeps a busy
worker at the bare framework's throughput (bench/floor.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import physics
from physics.constants import SQRT_S_DEFAULT
from physics.kinematics import FLAGS, check_point
from runtime.surrogate import FLAG_TRAINING, Surrogate
from service.admission import arrival, estimate
from service.encode import valid_templates
from service.http import OPEN_REQUESTS
from service.middleware import matching_route
from service.routers.base import JSONBytes, has_duplicate_keys
from service.routers.bulk import INLINE_POINTS, bulk_cost
from service.schemas.columns import COORDINATES
from service.state import ServiceState
from service.v2 import OUTPUT_NAMES, VERSION

log = logging.getLogger(__name__)

MAX_POINTS = INLINE_POINTS
"""Most points a request may have to be answered here: those of the requests that the routes
run on the event loop too."""

MAX_BODY_BYTES = 4096
"""Bodies declared larger than this go to the app unread (16 points take ~1.3 kB)."""

SQRT_S_MAX = 1.0e5
"""The schema's bound on √s in GeV (``service.schemas.common.SqrtS``)."""

EXACT_INT = 2**53
"""Integers up to this size convert to float exactly, as pydantic and numpy convert them."""

V1_PATH = "/v1/predict"
V2_PATHS = (
    "/v2/models/jpsi-surrogate/infer",
    f"/v2/models/jpsi-surrogate/versions/{VERSION}/infer",
)
V1_KEYS = frozenset({"points", "sqrt_s", "channels"})
V2_KEYS = frozenset({"id", "inputs", "parameters"})
TENSOR_KEYS = frozenset({"name", "shape", "datatype", "data"})
KNOWN_OUTPUTS = frozenset(physics.OUTPUTS)
FLAG_NAMES = (*FLAGS, FLAG_TRAINING)
"""The flags of a /v1/predict point, in the order the route lists them."""

JSON_CONTENT_TYPE = (b"content-type", JSONBytes.media_type.encode())

V1_UNITS = b'{"units":' + orjson.dumps(physics.UNITS) + b',"sqrt_s":'
V2_HEAD = b'{"model_name":"jpsi-surrogate","model_version":' + orjson.dumps(VERSION) + b","
V2_VALID = b'{"name":"valid","datatype":"BOOL","shape":[%s],"data":[%s]}'
V2_TENSOR = b',{"name":%s,"datatype":"FP64","shape":[%s],"data":[%s]}'
V2_NAMES = [orjson.dumps(name) for name in OUTPUT_NAMES[1:]]
"""y and the outputs, in the order of the route's answer (after valid)."""


class Decline(Exception):
    """The request is not one this layer answers: the app will."""


class Request(NamedTuple):
    """A small surrogate request: points (x, z, Q, PT in GeV), √s in GeV, the output names
    to answer (/v1) and the request id (V2)."""

    points: list[tuple[float, float, float, float]]
    sqrt_s: float
    names: tuple[str, ...]
    id: str | None


def _number(value: Any) -> float:
    """A JSON number as pydantic's strict float and numpy read it; anything else declines."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int and -EXACT_INT <= value <= EXACT_INT:
        return float(value)
    raise Decline


def _sqrt_s(value: Any) -> float:
    s = _number(value)
    if not 0.0 < s <= SQRT_S_MAX:
        raise Decline
    return s


class Batcher:
    """Concurrent small requests share one ONNX run.

    One run of the surrogate's graph on a few rows costs ~17 µs with its code and tables in
    the CPU caches, but ~90 µs between requests of a busy worker, where the cache holds
    everything else: most of a one-point request. With other requests open in the worker,
    the rows of those that reach this point in the same turn of the event loop are run
    together, at the end of that turn; a request alone in the worker runs at once.
    ``Surrogate.run_few`` pads every batch to a multiple of ``PAD_ROWS``, so a row's σ does
    not depend on the batch it ran in (tests/service/test_fastpath.py checks)."""

    def __init__(self, run: Callable[[Sequence[Sequence[float]]], list[list[float]]]):
        self.run = run
        self._waiting: list[tuple[Sequence[Sequence[float]], asyncio.Future]] = []

    async def __call__(
        self, rows: Sequence[Sequence[float]], alone: bool = False
    ) -> list[list[float]]:
        """σ in pb/GeV⁴, a row of 10 per feature row (``SURROGATE_FEATURES`` order).
        ``alone``: no other request is open in the worker, so none can join: run at once
        (the two extra turns of the event loop cost ~10 µs)."""
        if alone and not self._waiting:
            return self.run(rows)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append((rows, done))
        return await done

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            sigma = self.run([row for rows, _ in batch for row in rows])
        except Exception as exc:  # each request declines, and its route answers
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        start = 0
        for rows, done in batch:
            if not done.done():  # a request cancelled meanwhile (its client left)
                done.set_result(sigma[start : start + len(rows)])
            start += len(rows)


class Evaluation:
    """The surrogate at a few points, one point at a time in plain floats.

    ``physics.kinematics.check_point`` and ``TrainingDomain.contains_point`` are the
    scalar twins of the checks of ``service.compute.predict_arrays``, and the ONNX run pads
    rows to the same multiple, so the numbers are the route's bit for bit."""

    def __init__(self, surrogate: Surrogate):
        self.surrogate = surrogate
        self.grid = physics.load_pdf(surrogate.pdf_set)  # read at start-up, or no surrogate
        self.batch = Batcher(surrogate.run_few)
        self.model_json = orjson.dumps(surrogate.info())

    async def __call__(
        self, points: list[tuple[float, float, float, float]], sqrt_s: float, alone: bool = False
    ) -> tuple[list[float], list[list[float]], list[int]]:
        """(y per point, σ per point (10 values, pb/GeV⁴), flag bits per point in ``FLAG_NAMES``
        order); ``Decline`` if a point is not physical or a σ not finite. ``alone``: see
        ``Batcher``."""
        ys, codes, rows = [], [], []
        domain = self.surrogate.domain
        for x, z, Q, PT in points:
            valid, y, flags = check_point(x, z, Q, PT, sqrt_s, self.grid)
            if not valid:
                raise Decline
            inside = domain.contains_point(sqrt_s, x, z, Q, PT)
            codes.append(flags[0] | flags[1] << 1 | flags[2] << 2 | (not inside) << 3)
            ys.append(y)
            rows.append((sqrt_s, x, z, Q, PT))
        sigma = await self.batch(rows, alone)
        if not all(map(math.isfinite, chain.from_iterable(sigma))):
            raise Decline
        return ys, sigma, codes


def v1_request(data: Any, body: bytes) -> Request:
    """The points, √s and output names of a parsed /v1/predict body."""
    if type(data) is not dict or "points" not in data or not data.keys() <= V1_KEYS:
        raise Decline
    given = data["points"]
    if type(given) is not list or not 0 < len(given) <= MAX_POINTS:
        raise Decline
    points = []
    for p in given:
        if type(p) is not dict or len(p) != 4:
            raise Decline
        try:
            points.append((_number(p["x"]), _number(p["z"]), _number(p["Q"]), _number(p["PT"])))
        except KeyError:
            raise Decline from None
    sqrt_s = _sqrt_s(data["sqrt_s"]) if "sqrt_s" in data else SQRT_S_DEFAULT
    channels = data.get("channels")
    if channels is None:
        names = physics.OUTPUTS
    elif type(channels) is list and channels and all(type(c) is str for c in channels):
        if not KNOWN_OUTPUTS.issuperset(channels):
            raise Decline
        names = tuple(dict.fromkeys(channels))
    else:
        raise Decline
    if has_duplicate_keys(body, data):
        raise Decline
    return Request(points, sqrt_s, names, None)


async def v1_answer(req: Request, evaluate: Evaluation, alone: bool) -> bytes:
    """The /v1/predict answer, as ``service.encode.encode_points`` writes it: a template per
    flag combination, every number through one orjson call."""
    ys, sigma, codes = await evaluate(req.points, req.sqrt_s, alone)
    numbers: list[float] = []
    if req.names is physics.OUTPUTS:
        for y, row in zip(ys, sigma, strict=True):
            numbers.append(y)
            numbers += row
    else:
        columns = _columns(req.names)
        for y, row in zip(ys, sigma, strict=True):
            numbers.append(y)
            numbers += [row[j] for j in columns]
    templates = valid_templates(req.names, FLAG_NAMES)
    rows = b",".join([templates[c] for c in codes]) % tuple(orjson.dumps(numbers)[1:-1].split(b","))
    # orjson.dumps({"units": .., "sqrt_s": .., "model": ..})[:-1], in pieces
    return b"".join(
        (
            V1_UNITS,
            orjson.dumps(req.sqrt_s),
            b',"model":',
            evaluate.model_json,
            b',"results":[',
            rows,
            b"]}",
        )
    )


@functools.lru_cache(maxsize=256)
def _columns(names: tuple[str, ...]) -> list[int]:
    return [physics.OUTPUTS.index(k) for k in names]


def _tensor(t: Any) -> tuple[str, list[float]]:
    """A JSON FP64 input tensor of shape [n] (or [n, 1]): its name and values."""
    if type(t) is not dict or not t.keys() <= TENSOR_KEYS or t.get("datatype") != "FP64":
        raise Decline
    name, shape, data = t.get("name"), t.get("shape"), t.get("data")
    if type(name) is not str or name not in COORDINATES or type(data) is not list:
        raise Decline
    # whole numbers: True == 1, but the route refuses a bool
    if type(shape) is not list or not all(type(d) is int for d in shape):
        raise Decline
    if shape != [len(data)] and shape != [len(data), 1]:
        raise Decline
    return name, [v if type(v) is float else _number(v) for v in data]


def v2_request(data: Any, body: bytes) -> Request:
    """The points, √s and id of a parsed V2 JSON infer body of jpsi-surrogate."""
    if type(data) is not dict or not data.keys() <= V2_KEYS:
        raise Decline
    params = data.get("parameters")
    if params is None or params == {}:
        sqrt_s = SQRT_S_DEFAULT
    elif type(params) is dict and params.keys() == {"sqrt_s"}:
        sqrt_s = _sqrt_s(params["sqrt_s"])
    else:
        raise Decline
    inputs = data.get("inputs")
    if type(inputs) is not list or len(inputs) != len(COORDINATES):
        raise Decline
    tensors = dict(map(_tensor, inputs))
    if len(tensors) != len(COORDINATES):  # a name given twice
        raise Decline
    x, z, Q, PT = (tensors[k] for k in COORDINATES)
    if not 0 < len(x) <= MAX_POINTS or not len(z) == len(Q) == len(PT) == len(x):
        raise Decline
    request_id = data.get("id")
    if ("id" in data and type(request_id) is not str) or has_duplicate_keys(body, data):
        raise Decline
    return Request(list(zip(x, z, Q, PT, strict=True)), sqrt_s, physics.OUTPUTS, request_id)


async def v2_answer(req: Request, evaluate: Evaluation, alone: bool) -> bytes:
    """The V2 answer, as ``service.v2.encode`` writes it for JSON outputs, from bytes
    templates: y and the ten outputs through one orjson call."""
    ys, sigma, _ = await evaluate(req.points, req.sqrt_s, alone)
    n = len(ys)
    # b"[[y..],[s0..],..]" -> the data list of each tensor
    data = orjson.dumps([ys, *zip(*sigma, strict=True)])[2:-2].split(b"],[")
    shape = b"%d" % n
    parts = [V2_HEAD]
    if req.id is not None:
        parts += [b'"id":', orjson.dumps(req.id[:256]), b","]
    parts += [b'"outputs":[', V2_VALID % (shape, b",".join([b"true"] * n))]
    parts += [V2_TENSOR % (name, shape, vs) for name, vs in zip(V2_NAMES, data, strict=True)]
    parts.append(b"]}")
    return b"".join(parts)


@dataclass(frozen=True)
class Surface:
    """One API surface this layer answers: how to read a body, how to answer it, and the
    admission cost of ``n`` points as the route counts it."""

    parse: Callable[[Any, bytes], Request]
    answer: Callable[[Request, Evaluation, bool], Awaitable[bytes]]
    cost: Callable[[int], float]
    takes_arrow_accept: bool


V1 = Surface(v1_request, v1_answer, lambda n: estimate("predict", n), True)
V2 = Surface(v2_request, v2_answer, lambda n: bulk_cost("predict", n), False)
SURFACES = {V1_PATH: V1, **dict.fromkeys(V2_PATHS, V2)}


class FastPathMiddleware:
    """Answers the plain small surrogate requests (see the module); passes on the rest."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._evaluation: Evaluation | None = None
        self._routes: dict[str, Any] = {}
        self._points: tuple[Any, Any] | None = None  # the metrics, and their predict counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        surface = SURFACES.get(scope["path"]) if scope["type"] == "http" else None
        if surface is None or scope["method"] != "POST" or not _plain_json(scope, surface):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:  # at most MAX_BODY_BYTES: the declared length was checked
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: the app sees it too
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        answer = None
        if messages[-1]["type"] == "http.request":
            answer = await self._answer(scope, surface, body)
        if answer is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        scope["route"] = self._route(scope)  # for the metrics and the access log outside
        # the messages of the route's JSONBytes response, without building one
        headers = [(b"content-length", b"%d" % len(answer)), JSON_CONTENT_TYPE]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _answer(self, scope: Scope, surface: Surface, body: bytes) -> bytes | None:
        """The answer, or None to let the app answer."""
        st: ServiceState | None = getattr(scope["app"].state, "jpsi", None)
        if st is None or st.surrogate is None:
            return None
        if self._evaluation is None or self._evaluation.surrogate is not st.surrogate:
            self._evaluation = Evaluation(st.surrogate)
        try:
            data = orjson.loads(body)
            req = surface.parse(data, body)
            waited = time.perf_counter() - arrival(scope)
            # alone in the worker (jpsi-serve's protocol tells): nothing can share its run
            open_requests = scope.get("extensions", {}).get(OPEN_REQUESTS)
            alone = open_requests is not None and len(open_requests) <= 1
            with st.admission.admit(surface.cost(len(req.points)), waited):
                out = await surface.answer(req, self._evaluation, alone)
        except (Decline, orjson.JSONDecodeError, HTTPException, ArithmeticError):
            return None  # a refusal of admission included: the route gives it in full
        except Exception:  # what this layer did not foresee: the route answers
            log.exception("the fast path declined after an unexpected error")
            return None
        if self._points is None or self._points[0] is not st.metrics:
            self._points = (st.metrics, st.metrics.points.labels("predict"))  # once: ~2 µs
        self._points[1].inc(len(req.points))
        return out

    def _route(self, scope: Scope) -> Any:
        """The app's route for this path, found once (what FastAPI would put in the scope)."""
        path = scope["path"]
        if path not in self._routes:
            self._routes[path] = matching_route(scope)
        return self._routes[path]


def _plain_json(scope: Scope, surface: Surface) -> bool:
    """A small declared JSON body, uncompressed, wanting JSON back (else the app decides)."""
    length = media = None
    for key, value in scope["headers"]:
        if key == b"content-length":
            length = value
        elif key == b"content-type":
            media = value
        elif key == b"content-encoding" and value.strip().lower() != b"identity":
            return False
        elif key == b"accept" and surface.takes_arrow_accept and b"arrow" in value.lower():
            return False
        elif key == b"inference-header-content-length" or key == b"transfer-encoding":
            return False
    return (
        media is not None
        and media.lower() == b"application/json"
        and length is not None
        and length.isdigit()
        and int(length) <= MAX_BODY_BYTES
    )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that first gives back what was already read."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


__all__ = ["MAX_POINTS", "FastPathMiddleware"]
