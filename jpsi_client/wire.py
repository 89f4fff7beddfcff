"""The three wire formats of /v1/exact and /v1/predict: encoding a chunk, decoding its answer.

- ``arrow``: an Arrow IPC stream (``application/vnd.apache.arrow.stream``) of float64
  x, z, Q, PT, parameters in the query string; the answer is a stream already in the
  canonical result layout (``jpsi_client.frames``). Fastest: no text, no per-row objects.
- ``columns``: JSON with ``"columns": {"x": [...], ...}``; the answer is columnar too.
- ``points``: JSON with ``"points": [{"x": ..}, ..]``, one object per row in the answer.
  Every server has it.

JSON numbers carry float64 exactly (both sides write the shortest representation that
reads back to the same double), so every format gives bit for bit the same table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from jpsi_client.frames import KINEMATICS, STRINGS, list_column, result_table

try:  # optional: several times faster than the json module for large bodies
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    def loads(data: bytes | str) -> Any:
        return orjson.loads(data)

except ImportError:  # pragma: no cover - orjson ships with the service, not the client

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def loads(data: bytes | str) -> Any:
        return json.loads(data)


ARROW = "application/vnd.apache.arrow.stream"
JSON = "application/json"
FORMATS = ("arrow", "columns", "points")
"""Fastest first."""


def json_body(fmt: str, cols: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> bytes:
    """A JSON request (``columns`` or ``points``) for rows ``cols`` (finite float64)."""
    lists = {k: np.asarray(v, dtype=np.float64).tolist() for k, v in cols.items()}
    if fmt == "columns":
        body = {"columns": lists, **params}
    else:
        names = list(lists)
        body = {
            "points": [
                dict(zip(names, row, strict=True)) for row in zip(*lists.values(), strict=True)
            ],
            **params,
        }
    return dumps(body)


def arrow_body(cols: Mapping[str, np.ndarray]) -> bytes:
    """An Arrow IPC stream of float64 columns."""
    batch = pa.record_batch({k: pa.array(np.asarray(v, dtype=np.float64)) for k, v in cols.items()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def arrow_table_body(table: pa.Table) -> bytes:
    """A table as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def arrow_query(params: Mapping[str, Any]) -> dict[str, str]:
    """Request parameters as the query string of an Arrow request: ``channels`` joined by
    commas, ``theory`` flattened (``pdf_set``, ``quarks``, ``ldme.NAME``, ...)."""
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if key == "channels":
            query[key] = ",".join(value)
        elif key == "theory":
            for tkey, tvalue in value.items():
                if isinstance(tvalue, Mapping):
                    for sub, v in tvalue.items():
                        query[f"{tkey}.{sub}"] = _text(v)
                elif tvalue is not None:
                    query[tkey] = _text(tvalue)
        else:
            query[key] = _text(value)
    return query


def _text(v: Any) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def decode_arrow(content: bytes, outputs: Sequence[str] | None) -> tuple[pa.Table, dict]:
    """An Arrow answer: the result table (canonical order) and its schema metadata."""
    reader = pa.ipc.open_stream(content)
    table = reader.read_all()
    meta = {k.decode(): _json_or_text(v.decode()) for k, v in (table.schema.metadata or {}).items()}
    names = list(outputs) if outputs else _outputs_of(table.column_names)
    order = ["valid", "y", *names, "reasons", "flags"]
    canonical = empty_result(names).schema  # e.g. the server's "valid" may be non-nullable
    columns = [table.column(c).cast(canonical.field(c).type) for c in order]
    return pa.Table.from_arrays(columns, schema=canonical), meta


def _json_or_text(value: str) -> Any:
    """Schema metadata values: JSON (theory, model, sqrt_s) decoded, anything else as text."""
    try:
        return loads(value)
    except ValueError:
        return value


def _outputs_of(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in ("valid", "y", "reasons", "flags")]


def decode_json(
    fmt: str, body: Mapping[str, Any], n: int, outputs: Sequence[str]
) -> tuple[pa.Table, dict]:
    """A JSON answer of ``n`` rows with ``outputs``: the result table and the answer's
    other fields."""
    if fmt == "columns":
        cols = body["columns"]
        valid = np.asarray(cols["valid"], dtype=bool)
        y = _floats(cols["y"])
        values = {k: _floats(cols[k]) for k in outputs}
        reasons = list_column({e["row"]: e["errors"] for e in body.get("errors", [])}, n)
        flags = list_column({e["row"]: e["flags"] for e in body.get("flags", [])}, n)
        head = {k: v for k, v in body.items() if k not in ("columns", "errors", "flags")}
    else:
        results = body["results"]
        valid = np.fromiter((r["valid"] for r in results), dtype=bool, count=n)
        y = _floats([r["y"] for r in results])
        values = {
            k: _floats([r["sigma"][k] if r["sigma"] else None for r in results]) for k in outputs
        }
        reasons = list_column({i: r["errors"] for i, r in enumerate(results) if r["errors"]}, n)
        flags = list_column({i: r["flags"] for i, r in enumerate(results) if r["flags"]}, n)
        head = {k: v for k, v in body.items() if k != "results"}
    return result_table(valid, y, values, reasons, flags), head


def _floats(values: Sequence[float | None]) -> np.ndarray:
    """JSON numbers (null → NaN) as float64."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def empty_result(outputs: Sequence[str]) -> pa.Table:
    """A result table of no rows."""
    cols: dict[str, pa.Array] = {"valid": pa.array([], pa.bool_()), "y": pa.array([], pa.float64())}
    cols.update({k: pa.array([], pa.float64()) for k in outputs})
    cols["reasons"] = pa.array([], STRINGS)
    cols["flags"] = pa.array([], STRINGS)
    return pa.table(cols)


__all__ = ["ARROW", "FORMATS", "JSON", "KINEMATICS"]
