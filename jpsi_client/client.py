"""``Client`` and ``AsyncClient``: every endpoint of the service, from tables to tables.

How a large call runs: the rows are checked (``frames.precheck``: a non-finite number or a
per-row √s the service would refuse is answered here, with its reason), grouped by √s
(the service takes one per request), cut into requests no larger than the server allows,
and sent ``max_concurrency`` at a time in the fastest format the server offers (Arrow,
then columnar JSON, then points; read from ``/openapi.json`` once, and a 415 steps down).
The answers are put back in input order. 503 and 429 are retried after ``Retry-After``
(connection failures after an exponential back-off) up to ``retries`` times and
``max_retry_wait`` seconds per request; then the typed error (``errors``) is raised with
the server's problem details. A 413 halves the request and tries again.

The request logic is written once, as generators that yield requests and receive
responses (``_Calls``); ``Client`` drives them with a thread pool and ``httpx.Client``,
``AsyncClient`` with ``asyncio`` and ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pyarrow as pa

from jpsi_client import errors, frames, wire

OUTPUTS = (
    "oct3s1_U", "oct3s1_L", "oct1s0_U", "oct1s0_L", "oct3p0_U", "oct3p0_L",
    "sing3s1_U", "sing3s1_L", "total_U", "total_L",
)  # fmt: skip
"""Every output of /v1/exact and /v1/predict (pb/GeV⁴), in the service's order."""

SQRT_S_DEFAULT = 63.0
"""√s in GeV when neither a ``sqrt_s`` argument nor column is given (the service's default)."""

JSON_ROWS = 10_000
"""Rows per JSON request when the server does not say (its default JPSI_MAX_POINTS)."""

ARROW_ROWS = 250_000
"""Rows per Arrow request: well under the server's limit (2 000 000 rows, 256 MiB by
default), small enough that several requests are in flight on a large input."""

EXPLAIN_ROWS = 100
"""Points per /v1/explain request (the service's limit)."""

MAX_BINS, MAX_PT = 100, 200
"""Bins and P_T values per /v1/exact/binned request (the service's defaults)."""

PROGRESS_ROWS = 200_000
"""With ``progress=None`` a bar is shown for calls of at least this many rows, on a terminal."""


@dataclass
class Request:
    """One HTTP request, before it is sent."""

    method: str
    path: str
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Job:
    """One call of a public method: an optional first request protocol (``prelude``, e.g.
    finding the wire format), then ``build(prelude's value)`` → (request protocols, rows
    of each for the progress bar, ``finish(their values)`` → the method's result)."""

    build: Callable[[Any], tuple[list, list[int], Callable[[list], Any]]]
    prelude: Generator[Any, Any, Any] | None = None


@dataclass
class Chunk:
    """Rows sent in one request: their row numbers in the input, values and √s (GeV)."""

    index: np.ndarray | slice
    cols: dict[str, np.ndarray]
    sqrt_s: float

    @property
    def n(self) -> int:
        return len(next(iter(self.cols.values())))

    def halves(self) -> tuple[Chunk, Chunk]:
        h = self.n // 2
        idx = self.index
        a = slice(idx.start, idx.start + h) if isinstance(idx, slice) else idx[:h]
        b = slice(idx.start + h, idx.stop) if isinstance(idx, slice) else idx[h:]
        first = {k: v[:h] for k, v in self.cols.items()}
        second = {k: v[h:] for k, v in self.cols.items()}
        return Chunk(a, first, self.sqrt_s), Chunk(b, second, self.sqrt_s)


Call = Generator[Request, httpx.Response, Any]
"""A request protocol: yields requests, receives their (retried) responses, returns a value."""


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def raise_for(response: httpx.Response, attempts: int = 1) -> None:
    """The typed error for a response that is not a success."""
    if response.is_success:
        return
    status = response.status_code
    cls = errors.error_for(status)
    text = (
        response.text if not response.headers.get("content-type", "").startswith(wire.ARROW) else ""
    )
    raise cls(
        status, problem_of(response), url=str(response.request.url), attempts=attempts, text=text
    )


class _Calls:
    """Everything but the I/O: configuration, planning, request protocols, assembly."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        max_concurrency: int = 4,
        retries: int = 8,
        max_retry_wait: float = 120.0,
        progress: bool | None = None,
        wire_format: str = "auto",
        max_rows: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        if wire_format not in ("auto", *wire.FORMATS):
            raise ValueError(f"wire_format must be 'auto' or one of {wire.FORMATS}")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.progress = progress
        self.wire_format = wire_format
        self.max_rows = max_rows
        self.headers = dict(headers or {})
        if api_key is not None:
            self.headers["X-API-Key"] = api_key
        self._formats: dict[str, str] = {}
        self._openapi: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # -- retries ---------------------------------------------------------------

    def delay(self, response: httpx.Response | None, attempt: int, slept: float) -> float | None:
        """Seconds to wait before retry ``attempt`` (1, 2, ...), or None when the request
        must not be retried (a final answer, or the budget is spent)."""
        if response is not None and response.status_code not in (429, 503):
            return None
        if attempt > self.retries:
            return None
        wait = retry_after(response) if response is not None else None
        if wait is None:
            wait = min(30.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random())
        if slept + wait > self.max_retry_wait:
            return None
        return wait

    # -- format and limits -------------------------------------------------------

    def _format_from(self, spec: dict[str, Any], path: str) -> str:
        """The fastest request format ``path`` accepts according to the OpenAPI document."""
        try:
            body = spec["paths"][path]["post"]["requestBody"]["content"]
        except (KeyError, TypeError):
            return "points"
        return "arrow" if wire.ARROW in body else self._json_format(spec, body)

    @staticmethod
    def _json_schema(spec: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """The JSON request body's schema, "#/components/schemas/Name" references followed."""
        schema = (body.get(wire.JSON) or {}).get("schema") or {}
        for _ in range(10):
            if "$ref" not in schema:
                break
            node: Any = spec
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            schema = node
        return schema if isinstance(schema, dict) else {}

    def _json_format(self, spec: dict[str, Any], body: dict[str, Any]) -> str:
        """ "columns" if the JSON body schema has a ``columns`` property, else "points"."""
        props = self._json_schema(spec, body).get("properties") or {}
        return "columns" if "columns" in props else "points"

    def _json_rows(self, path: str) -> int:
        """Rows per JSON request: the server's ``maxItems`` of ``points`` if it states one."""
        try:
            body = (self._openapi or {})["paths"][path]["post"]["requestBody"]["content"]
            points = self._json_schema(self._openapi or {}, body)["properties"]["points"]
            return max(1, int(points["maxItems"]))
        except (KeyError, TypeError, ValueError):
            return JSON_ROWS

    def _rows_for(self, fmt: str, path: str) -> int:
        if self.max_rows is not None:
            return self.max_rows
        return ARROW_ROWS if fmt == "arrow" else self._json_rows(path)

    def _step_down(self, path: str, fmt: str) -> str:
        """After a 415 to ``fmt``: the next format the server offers (points at worst)."""
        nxt = "points"
        if fmt == "arrow" and self._openapi:
            try:
                body = self._openapi["paths"][path]["post"]["requestBody"]["content"]
                nxt = self._json_format(self._openapi, body)
            except (KeyError, TypeError):
                pass
        with self._lock:
            self._formats[path] = nxt
        return nxt

    def _format_call(self, path: str) -> Call:
        if self._openapi is None:  # formats and limits; {} from a server without it
            resp = yield Request("GET", "/openapi.json")
            self._openapi = resp.json() if resp.is_success else {}
        with self._lock:
            if path in self._formats:  # found before, or stepped down after a 415
                return self._formats[path]
        if self.wire_format != "auto":
            return self.wire_format
        fmt = self._format_from(self._openapi, path)
        with self._lock:
            self._formats.setdefault(path, fmt)
        return fmt

    # -- planning ----------------------------------------------------------------

    def plan(self, data: Any, sqrt_s: float | None, rows: int) -> tuple[pa.Table, list, dict]:
        """Inputs as a table, the chunks to send and the rows refused here (row → reasons)."""
        table = frames.as_table(data)
        cols = {k: frames.float_column(table, k) for k in frames.KINEMATICS}
        n = table.num_rows
        if frames.SQRT_S in table.column_names:
            s = frames.float_column(table, frames.SQRT_S)
        else:
            s = np.full(n, SQRT_S_DEFAULT if sqrt_s is None else float(sqrt_s))
        ok, refused = frames.precheck(cols, s)
        chunks: list[Chunk] = []
        if ok.all() and (n == 0 or (s == s[0]).all()):
            for start in range(0, n, rows):
                sl = slice(start, min(n, start + rows))
                chunks.append(Chunk(sl, {k: v[sl] for k, v in cols.items()}, float(s[0])))
            return table, chunks, refused
        for value in np.unique(s[ok]):
            idx = np.flatnonzero(ok & (s == value))
            for start in range(0, idx.size, rows):
                part = idx[start : start + rows]
                chunks.append(Chunk(part, {k: v[part] for k, v in cols.items()}, float(value)))
        return table, chunks, refused

    # -- request protocols -------------------------------------------------------

    def _points_call(self, path: str, fmt: str, chunk: Chunk, params: dict, outputs) -> Call:
        """Score one chunk on /v1/exact or /v1/predict; returns (result table, answer head)."""
        while True:
            body_params = {"sqrt_s": chunk.sqrt_s, **params}
            if fmt == "arrow":
                req = Request(
                    "POST",
                    path,
                    wire.arrow_body(chunk.cols),
                    wire.arrow_query(body_params),
                    {"Content-Type": wire.ARROW},
                )
            else:
                req = Request(
                    "POST",
                    path,
                    wire.json_body(fmt, chunk.cols, body_params),
                    headers={"Content-Type": wire.JSON},
                )
            resp = yield req
            if resp.status_code == 415 and fmt != "points":
                fmt = self._step_down(path, fmt)
                continue
            if resp.status_code == 413 and chunk.n > 1:
                a, b = chunk.halves()
                ta, head = yield from self._points_call(path, fmt, a, params, outputs)
                tb, _ = yield from self._points_call(path, fmt, b, params, outputs)
                return pa.concat_tables([ta, tb]), head
            raise_for(resp)
            if fmt == "arrow":
                return wire.decode_arrow(resp.content, outputs)
            return wire.decode_json(fmt, wire.loads(resp.content), chunk.n, outputs)

    def _json_call(self, method: str, path: str, body: Any = None) -> Call:
        req = Request(method, path)
        if body is not None:
            req.content = wire.dumps(body)
            req.headers["Content-Type"] = wire.JSON
        resp = yield req
        raise_for(resp)
        return wire.loads(resp.content)

    @staticmethod
    def _deliver(table: pa.Table, head: Mapping[str, Any], as_arrow: bool):
        meta = {k: (v if isinstance(v, str) else wire.dumps(v).decode()) for k, v in head.items()}
        if as_arrow:
            return table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        df = frames.to_pandas(table)
        df.attrs.update(head)
        return df

    def _bar(self, total: int):
        show = self.progress
        if show is None:
            show = total >= PROGRESS_ROWS and sys.stderr.isatty()
        if not show:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="pt", unit_scale=True, desc="jpsi", leave=False)

    # -- request bodies of the small endpoints -------------------------------------

    @staticmethod
    def _theory(theory: Mapping[str, Any] | None, pdf_set, quarks, ldme) -> dict | None:
        out = dict(theory or {})
        if pdf_set is not None:
            out["pdf_set"] = pdf_set
        if quarks is not None:
            out["quarks"] = quarks
        if ldme is not None:
            out["ldme"] = dict(ldme)
        return out or None


def _explain_frame(inputs: pa.Table, answers: list[dict]) -> tuple[pa.Table, dict]:
    results = [r for a in answers for r in a["results"]]
    n = len(results)
    valid = np.array([r["valid"] for r in results], dtype=bool)
    cols: dict[str, Any] = {"valid": pa.array(valid)}
    cols["prediction"] = pa.array(wire._floats([r["prediction"] for r in results]), mask=~valid)
    for k in frames.KINEMATICS:
        vals = wire._floats([r["shap"][k] if r["shap"] else None for r in results])
        cols[f"shap.{k}"] = pa.array(vals, mask=~valid)
    cols["reasons"] = frames.list_column({i: r["errors"] for i, r in enumerate(results)}, n)
    head = {k: v for k, v in answers[0].items() if k != "results"} if answers else {}
    return frames.join(inputs, pa.table(cols)), head


def _anomaly_from_json(fmt: str, body: dict, n: int) -> tuple[pa.Table, dict]:
    """A JSON /v1/anomaly answer as columns score, is_anomaly, components.<name>, reasons."""
    if fmt == "columns":
        score, flagged = body["columns"]["score"], body["columns"]["is_anomaly"]
        components = body.get("components") or {}
        reasons = {e["row"]: e["reasons"] for e in body.get("reasons", [])}
    else:
        results = body["results"]
        score = [r["score"] for r in results]
        flagged = [r["is_anomaly"] for r in results]
        names = dict.fromkeys(k for r in results for k in r["components"])
        components = {k: [r["components"].get(k) for r in results] for k in names}
        reasons = {i: r["reasons"] for i, r in enumerate(results) if r["reasons"]}
    cols: dict[str, Any] = {
        "score": pa.array(score, pa.float64()),
        "is_anomaly": pa.array(flagged, pa.bool_()),
    }
    cols.update({f"components.{k}": pa.array(v, pa.float64()) for k, v in components.items()})
    cols["reasons"] = frames.list_column(reasons, n)
    return pa.table(cols), {"threshold": body["threshold"]}


def _anomaly_from_arrow(content: bytes) -> tuple[pa.Table, dict]:
    table = pa.ipc.open_stream(content).read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    cols: dict[str, Any] = {
        "score": table.column("score").cast(pa.float64()),
        "is_anomaly": table.column("is_anomaly").cast(pa.bool_()),
    }
    for name in table.column_names:
        if name not in ("score", "is_anomaly", "reasons"):
            cols[f"components.{name}"] = table.column(name).cast(pa.float64())
    cols["reasons"] = table.column("reasons").cast(frames.STRINGS)
    return pa.table(cols), {"threshold": float(meta["threshold"])}


def _anomaly_empty() -> pa.Table:
    return pa.table(
        {
            "score": pa.array([], pa.float64()),
            "is_anomaly": pa.array([], pa.bool_()),
            "reasons": pa.array([], frames.STRINGS),
        }
    )


def _pdf_frame(answers: list[dict], flavours: Sequence[int]) -> tuple[pa.Table, dict]:
    results = [r for a in answers for r in a["results"]]
    n = len(results)
    valid = np.array([r["valid"] for r in results], dtype=bool)
    cols: dict[str, Any] = {
        "x": pa.array([r["x"] for r in results], pa.float64()),
        "Q": pa.array([r["Q"] for r in results], pa.float64()),
        "valid": pa.array(valid),
    }
    for pid in dict.fromkeys(flavours):
        vals = wire._floats([r["xf"][str(pid)] if r["xf"] else None for r in results])
        cols[f"xf.{pid}"] = pa.array(vals, mask=~valid)
    cols["reasons"] = frames.list_column({i: r["errors"] for i, r in enumerate(results)}, n)
    head = {"pdf_set": answers[0]["pdf_set"]} if answers else {}
    return pa.table(cols), head


def _binned_frame(answers: list[tuple[int, dict]]) -> tuple[pa.Table, dict]:
    rows: dict[str, list] = {
        k: [] for k in ("bin", "x_lo", "x_hi", "z_lo", "z_hi", "Q_lo", "Q_hi", "physical", "PT")
    }
    sig: dict[str, list] = {}
    head: dict[str, Any] = {}
    for offset, a in answers:
        head = {k: v for k, v in a.items() if k != "results"}
        for i, r in enumerate(a["results"]):
            b = r["bin"]
            for j, pt in enumerate(r["PT"]):
                rows["bin"].append(offset + i)
                for var in ("x", "z", "Q"):
                    rows[f"{var}_lo"].append(b[var][0])
                    rows[f"{var}_hi"].append(b[var][1])
                rows["physical"].append(r["physical"])
                rows["PT"].append(pt)
                for k, v in r["sigma"].items():
                    sig.setdefault(k, []).append(v[j])
    cols = {k: pa.array(v) for k, v in rows.items()}
    cols.update({k: pa.array(v, pa.float64()) for k, v in sig.items()})
    return pa.table(cols), head


def _bins_list(bins: Any) -> list[dict]:
    if hasattr(bins, "to_dict") and hasattr(bins, "columns"):  # DataFrame x_lo .. Q_hi
        bins = [
            {v: [r[f"{v}_lo"], r[f"{v}_hi"]] for v in ("x", "z", "Q")}
            for r in bins.to_dict("records")
        ]
    return [{k: [float(e) for e in b[k]] for k in ("x", "z", "Q")} for b in bins]


def _sigma_columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {c: frames.float_column(table, c) for c in table.column_names if c.startswith("sigma.")}


def _point_dicts(cols: Mapping[str, np.ndarray], sl: slice) -> list[dict[str, Any]]:
    names = list(cols)
    lists = [cols[k][sl].tolist() for k in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]


class _Jobs(_Calls):
    """The public methods as ``Job``s; ``Client`` and ``AsyncClient`` only run them."""

    def _points_job(self, path, data, sqrt_s, params, outputs, as_arrow) -> Job:
        def build(fmt: str):
            table, chunks, refused = self.plan(data, sqrt_s, self._rows_for(fmt, path))
            calls = [self._points_call(path, fmt, c, params, outputs) for c in chunks]

            def finish(results: list):
                parts = [(c.index, t) for c, (t, _) in zip(chunks, results, strict=True)]
                if refused:
                    idx = np.array(sorted(refused), dtype=np.int64)
                    rows = {j: refused[i] for j, i in enumerate(idx)}
                    parts.append((idx, frames.refused(idx.size, outputs, rows)))
                if not parts:
                    parts = [(slice(0, 0), wire.empty_result(outputs))]
                out = frames.join(table, frames.scatter(table.num_rows, parts))
                head = results[0][1] if results else {}
                return self._deliver(out, head, as_arrow)

            return calls, [c.n for c in chunks], finish

        return Job(build, self._format_call(path))

    def _exact_job(
        self,
        data,
        *,
        sqrt_s=None,
        channels=None,
        theory=None,
        pdf_set=None,
        quarks=None,
        ldme=None,
        as_arrow=False,
    ) -> Job:
        outputs = list(dict.fromkeys(channels)) if channels else list(OUTPUTS)
        params: dict[str, Any] = {"channels": list(channels)} if channels else {}
        th = self._theory(theory, pdf_set, quarks, ldme)
        if th:
            params["theory"] = th
        return self._points_job("/v1/exact", data, sqrt_s, params, outputs, as_arrow)

    def _predict_job(self, data, *, sqrt_s=None, channels=None, as_arrow=False) -> Job:
        outputs = list(dict.fromkeys(channels)) if channels else list(OUTPUTS)
        params = {"channels": list(channels)} if channels else {}
        return self._points_job("/v1/predict", data, sqrt_s, params, outputs, as_arrow)

    def _bodies_job(self, path: str, bodies: list[dict], sizes: list[int], finish) -> Job:
        calls = [self._json_call("POST", path, b) for b in bodies]
        return Job(lambda _: (calls, sizes, finish))

    def _explain_job(
        self, data, *, target="total_U", model="exact", sqrt_s=None, as_arrow=False
    ) -> Job:
        table = frames.as_table(data)
        cols = {k: frames.float_column(table, k) for k in frames.KINEMATICS}
        s = SQRT_S_DEFAULT if sqrt_s is None else float(sqrt_s)
        n = table.num_rows
        bodies = [
            {
                "points": _point_dicts(cols, slice(i, min(n, i + EXPLAIN_ROWS))),
                "target": target,
                "model": model,
                "sqrt_s": s,
            }
            for i in range(0, n, EXPLAIN_ROWS)
        ]

        def finish(answers):
            return self._deliver(*_explain_frame(table, answers), as_arrow)

        return self._bodies_job("/v1/explain", bodies, [len(b["points"]) for b in bodies], finish)

    def _anomaly_job(self, data, *, sqrt_s=None, as_arrow=False) -> Job:
        path = "/v1/anomaly"
        table = frames.as_table(data)
        cols = {k: frames.float_column(table, k) for k in frames.KINEMATICS}
        for k, v in cols.items():
            bad = np.flatnonzero(~np.isfinite(v))
            if bad.size:
                raise ValueError(
                    f"/v1/anomaly needs finite numbers: {k} = {v[bad[0]]} at row {bad[0]}"
                    f" ({bad.size} such rows)"
                )
        cols.update(_sigma_columns(table))
        s = SQRT_S_DEFAULT if sqrt_s is None else float(sqrt_s)
        n = table.num_rows

        def build(fmt: str):
            rows = self._rows_for(fmt, path)
            chunks = [
                Chunk(slice(i, min(n, i + rows)), {k: v[i : i + rows] for k, v in cols.items()}, s)
                for i in range(0, n, rows)
            ]
            calls = [self._anomaly_call(path, fmt, c) for c in chunks]

            def finish(results: list):
                parts = [t for t, _ in results] or [_anomaly_empty()]
                head = results[0][1] if results else {}
                out = frames.join(table, pa.concat_tables(parts, promote_options="default"))
                return self._deliver(out, head, as_arrow)

            return calls, [c.n for c in chunks], finish

        return Job(build, self._format_call(path))

    def _anomaly_call(self, path: str, fmt: str, chunk: Chunk) -> Call:
        """Score one chunk on /v1/anomaly; returns (result table, {"threshold": ...})."""
        while True:
            if fmt == "arrow":
                body = {k: pa.array(v, mask=np.isnan(v)) for k, v in chunk.cols.items()}
                req = Request(
                    "POST",
                    path,
                    wire.arrow_table_body(pa.table(body)),
                    {"sqrt_s": repr(chunk.sqrt_s)},
                    {"Content-Type": wire.ARROW},
                )
            elif fmt == "columns":
                columns = {
                    k: [None if x != x else x for x in v.tolist()] for k, v in chunk.cols.items()
                }
                req = Request(
                    "POST",
                    path,
                    wire.dumps({"columns": columns, "sqrt_s": chunk.sqrt_s}),
                    headers={"Content-Type": wire.JSON},
                )
            else:
                kin = {k: chunk.cols[k] for k in frames.KINEMATICS}
                points = _point_dicts(kin, slice(0, chunk.n))
                for name, values in chunk.cols.items():
                    if name.startswith("sigma."):
                        for p, v in zip(points, values.tolist(), strict=True):
                            if v == v:  # not NaN: supplied for this row
                                p.setdefault("sigma", {})[name.removeprefix("sigma.")] = v
                req = Request(
                    "POST",
                    path,
                    wire.dumps({"points": points, "sqrt_s": chunk.sqrt_s}),
                    headers={"Content-Type": wire.JSON},
                )
            resp = yield req
            if resp.status_code == 415 and fmt != "points":
                fmt = self._step_down(path, fmt)
                continue
            raise_for(resp)
            if fmt == "arrow":
                return _anomaly_from_arrow(resp.content)
            return _anomaly_from_json(fmt, wire.loads(resp.content), chunk.n)

    def _pdf_job(
        self, x, Q, *, flavours=(21, -3, -2, -1, 1, 2, 3), pdf_set=None, as_arrow=False
    ) -> Job:
        xs, qs = np.broadcast_arrays(
            np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(Q, float))
        )
        rows = self.max_rows or JSON_ROWS
        bodies = []
        for i in range(0, xs.size, rows):
            body: dict[str, Any] = {
                "points": _point_dicts({"x": xs, "Q": qs}, slice(i, i + rows)),
                "flavours": list(flavours),
            }
            if pdf_set is not None:
                body["pdf_set"] = pdf_set
            bodies.append(body)

        def finish(answers):
            return self._deliver(*_pdf_frame(answers, flavours), as_arrow)

        return self._bodies_job("/v1/pdf", bodies, [len(b["points"]) for b in bodies], finish)

    def _binned_job(
        self, bins, PT, *, sqrt_s=None, channels=None, theory=None, as_arrow=False
    ) -> Job:
        blist, pts = _bins_list(bins), [float(p) for p in PT]
        base: dict[str, Any] = {"sqrt_s": SQRT_S_DEFAULT if sqrt_s is None else float(sqrt_s)}
        if channels:
            base["channels"] = list(channels)
        if theory:
            base["theory"] = dict(theory)
        jobs = [
            (i, {"bins": blist[i : i + MAX_BINS], "PT": pts[j : j + MAX_PT], **base})
            for i in range(0, len(blist), MAX_BINS)
            for j in range(0, len(pts), MAX_PT)
        ]

        def finish(answers):
            table, head = _binned_frame([(i, a) for (i, _), a in zip(jobs, answers, strict=True)])
            if len(pts) > MAX_PT:  # P_T split across requests: back to (bin, P_T) order
                table = table.sort_by([("bin", "ascending"), ("PT", "ascending")])
            return self._deliver(table, head, as_arrow)

        return self._bodies_job(
            "/v1/exact/binned",
            [b for _, b in jobs],
            [len(b["bins"]) * len(b["PT"]) for _, b in jobs],
            finish,
        )

    def _get_job(self, path: str) -> Job:
        call = self._json_call("GET", path)
        return Job(lambda _: ([call], [0], lambda answers: answers[0]))


class Client(_Jobs):
    """Synchronous client of a jpsi-sidis service (a thread pool runs concurrent requests).

    ``Client(base_url, api_key=None, *, timeout=120 [s], max_concurrency=4, retries=8,
    max_retry_wait=120 [s], progress=None, wire_format="auto", max_rows=None)``; use as a
    context manager or call ``close()``. ``progress=None`` shows a bar on a terminal for
    calls of ≥ 200 000 rows; ``wire_format`` forces "arrow", "columns" or "points";
    ``max_rows`` caps rows per request. ``transport`` (an ``httpx`` transport) is for tests.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, transport=None, **kw):
        super().__init__(base_url, api_key, **kw)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=self.headers,
            timeout=self.timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=self.max_concurrency),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, req: Request) -> httpx.Response:
        attempt, slept = 0, 0.0
        while True:
            attempt += 1
            try:
                resp = self._http.request(
                    req.method,
                    req.path,
                    content=req.content,
                    params=req.params or None,
                    headers=req.headers,
                )
            except httpx.TransportError as exc:
                wait = self.delay(None, attempt, slept)
                if wait is None:
                    raise _transport_error(self, req, exc, attempt) from exc
            else:
                wait = self.delay(resp, attempt, slept)
                if wait is None:
                    raise_for_retried(resp, attempt)
                    return resp
            time.sleep(wait)
            slept += wait

    def _run(self, call: Call) -> Any:
        try:
            req = next(call)
            while True:
                req = call.send(self._send(req))
        except StopIteration as stop:
            return stop.value

    def _run_all(self, calls: Sequence[Call], sizes: Sequence[int]) -> list:
        bar = self._bar(sum(sizes))
        results: list = [None] * len(calls)
        try:
            if len(calls) <= 1 or self.max_concurrency == 1:
                for i, c in enumerate(calls):
                    results[i] = self._run(c)
                    if bar is not None:
                        bar.update(sizes[i])
                return results
            with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="jpsi") as pool:
                futures = {pool.submit(self._run, c): i for i, c in enumerate(calls)}
                try:
                    for fut in as_completed(futures):
                        i = futures[fut]
                        results[i] = fut.result()
                        if bar is not None:
                            bar.update(sizes[i])
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
            return results
        finally:
            if bar is not None:
                bar.close()

    def _do(self, job: Job) -> Any:
        pre = self._run(job.prelude) if job.prelude is not None else None
        calls, sizes, finish = job.build(pre)
        return finish(self._run_all(calls, sizes))

    def exact(
        self,
        data,
        *,
        sqrt_s: float | None = None,
        channels: Sequence[str] | None = None,
        theory: Mapping[str, Any] | None = None,
        pdf_set: str | None = None,
        quarks: str | None = None,
        ldme: Mapping[str, float] | None = None,
        as_arrow: bool = False,
    ):
        """POST /v1/exact at every row of ``data`` (columns x, z, Q [GeV], PT [GeV], an
        optional per-row ``sqrt_s`` [GeV]; else ``sqrt_s``, default 63 GeV). Returns the
        input columns, valid, y, each output (pb/GeV⁴; NaN, or null in Arrow, where
        invalid), reasons and flags, in input order. ``theory`` is the request's theory
        object (``pdf_set``, ``quarks``, ``ldme`` also as keywords)."""
        return self._do(
            self._exact_job(
                data,
                sqrt_s=sqrt_s,
                channels=channels,
                theory=theory,
                pdf_set=pdf_set,
                quarks=quarks,
                ldme=ldme,
                as_arrow=as_arrow,
            )
        )

    def predict(
        self,
        data,
        *,
        sqrt_s: float | None = None,
        channels: Sequence[str] | None = None,
        as_arrow: bool = False,
    ):
        """POST /v1/predict (the ONNX surrogate): the table of ``exact``; valid points
        outside the training domain carry the flag ``outside_training_domain``."""
        return self._do(
            self._predict_job(data, sqrt_s=sqrt_s, channels=channels, as_arrow=as_arrow)
        )

    def explain(
        self,
        data,
        *,
        target: str = "total_U",
        model: str = "exact",
        sqrt_s: float | None = None,
        as_arrow: bool = False,
    ):
        """POST /v1/explain (100 points a request): Shapley values of log10 σ(target) per
        row, ``shap.x`` .. ``shap.PT`` (dex), ``prediction``, valid, reasons;
        ``base_value`` in ``attrs`` (Arrow: schema metadata)."""
        return self._do(
            self._explain_job(data, target=target, model=model, sqrt_s=sqrt_s, as_arrow=as_arrow)
        )

    def anomaly(self, data, *, sqrt_s: float | None = None, as_arrow: bool = False):
        """POST /v1/anomaly: ``score`` in [0, 1], ``is_anomaly``, ``components.*`` and
        reasons per row. Observed values go in input columns ``sigma.<output>`` (pb/GeV⁴;
        NaN or null: not supplied for that row); ``threshold`` in ``attrs``."""
        return self._do(self._anomaly_job(data, sqrt_s=sqrt_s, as_arrow=as_arrow))

    def pdf(
        self,
        x,
        Q,
        *,
        flavours: Sequence[int] = (21, -3, -2, -1, 1, 2, 3),
        pdf_set: str | None = None,
        as_arrow: bool = False,
    ):
        """POST /v1/pdf: x·f(x, Q [GeV]) per PDG id (columns ``xf.<id>``), valid, reasons."""
        return self._do(self._pdf_job(x, Q, flavours=flavours, pdf_set=pdf_set, as_arrow=as_arrow))

    def binned(
        self,
        bins,
        PT: Iterable[float],
        *,
        sqrt_s: float | None = None,
        channels: Sequence[str] | None = None,
        theory: Mapping[str, Any] | None = None,
        as_arrow: bool = False,
    ):
        """POST /v1/exact/binned: dσ/dP_T² (pb/GeV²), one row per (bin, P_T [GeV]).
        ``bins``: dicts ``{"x": [lo, hi], "z": [lo, hi], "Q": [lo, hi]}`` (Q in GeV) or a
        DataFrame with columns x_lo, x_hi, z_lo, z_hi, Q_lo, Q_hi."""
        return self._do(
            self._binned_job(
                bins, PT, sqrt_s=sqrt_s, channels=channels, theory=theory, as_arrow=as_arrow
            )
        )

    def models(self) -> dict[str, Any]:
        """GET /v1/models: artifact sets (status, version, domain, metrics) and PDF sets."""
        return self._do(self._get_job("/v1/models"))

    def theory(self) -> dict[str, Any]:
        """GET /v1/theory: the theory options the server offers; ``NotFound`` from a server
        that predates it."""
        return self._do(self._get_job("/v1/theory"))

    def openapi(self) -> dict[str, Any]:
        """GET /openapi.json."""
        return self._do(self._get_job("/openapi.json"))


class AsyncClient(_Jobs):
    """The asyncio twin of ``Client``: the same methods and arguments, awaited
    (``async with AsyncClient(url) as c: df = await c.exact(points)``)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, transport=None, **kw):
        super().__init__(base_url, api_key, **kw)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.headers,
            timeout=self.timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=self.max_concurrency),
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, req: Request) -> httpx.Response:
        attempt, slept = 0, 0.0
        while True:
            attempt += 1
            try:
                resp = await self._http.request(
                    req.method,
                    req.path,
                    content=req.content,
                    params=req.params or None,
                    headers=req.headers,
                )
            except httpx.TransportError as exc:
                wait = self.delay(None, attempt, slept)
                if wait is None:
                    raise _transport_error(self, req, exc, attempt) from exc
            else:
                wait = self.delay(resp, attempt, slept)
                if wait is None:
                    raise_for_retried(resp, attempt)
                    return resp
            await asyncio.sleep(wait)
            slept += wait

    async def _run(self, call: Call) -> Any:
        try:
            req = next(call)
            while True:
                req = call.send(await self._send(req))
        except StopIteration as stop:
            return stop.value

    async def _run_all(self, calls: Sequence[Call], sizes: Sequence[int]) -> list:
        sem = asyncio.Semaphore(self.max_concurrency)
        bar = self._bar(sum(sizes))

        async def one(call: Call, n: int):
            async with sem:
                out = await self._run(call)
            if bar is not None:
                bar.update(n)
            return out

        try:
            return await asyncio.gather(*(one(c, n) for c, n in zip(calls, sizes, strict=True)))
        finally:
            if bar is not None:
                bar.close()

    async def _do(self, job: Job) -> Any:
        pre = await self._run(job.prelude) if job.prelude is not None else None
        calls, sizes, finish = job.build(pre)
        return finish(await self._run_all(calls, sizes))

    async def exact(self, data, **options):
        """As ``Client.exact``."""
        return await self._do(self._exact_job(data, **options))

    async def predict(self, data, **options):
        """As ``Client.predict``."""
        return await self._do(self._predict_job(data, **options))

    async def explain(self, data, **options):
        """As ``Client.explain``."""
        return await self._do(self._explain_job(data, **options))

    async def anomaly(self, data, **options):
        """As ``Client.anomaly``."""
        return await self._do(self._anomaly_job(data, **options))

    async def pdf(self, x, Q, **options):
        """As ``Client.pdf``."""
        return await self._do(self._pdf_job(x, Q, **options))

    async def binned(self, bins, PT, **options):
        """As ``Client.binned``."""
        return await self._do(self._binned_job(bins, PT, **options))

    async def models(self) -> dict[str, Any]:
        """As ``Client.models``."""
        return await self._do(self._get_job("/v1/models"))

    async def theory(self) -> dict[str, Any]:
        """As ``Client.theory``."""
        return await self._do(self._get_job("/v1/theory"))


def raise_for_retried(response: httpx.Response, attempts: int) -> None:
    """After the last attempt: a 429/503 becomes its typed error (other statuses are left
    to the request protocol, which may step down a format or split a request)."""
    if response.status_code in (429, 503):
        raise_for(response, attempts)


def _transport_error(c: _Calls, req: Request, exc: Exception, attempts: int):
    return errors.TransportError(
        f"{req.method} {c.base_url}{req.path}: {exc!r} after {attempts} attempt(s)"
    )


__all__ = ["OUTPUTS", "AsyncClient", "Client", "Job", "Request"]
