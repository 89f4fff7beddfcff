"""Bulk wire formats (issue 12): columnar JSON, Apache Arrow IPC streams, and the chunked
computation behind them and behind the Open Inference Protocol routes (``service.v2``).

Every format computes through ``compute.exact_arrays`` / ``compute.predict_arrays``, the
functions behind the point format, so the numbers are bit-identical whatever the format.
Large requests are computed ``CHUNK`` rows at a time: the engine's intermediate arrays stay
at a few tens of MB whatever the number of rows.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

import physics
from service import compute
from service.schemas.columns import COORDINATES
from service.schemas.common import Channels, SqrtS
from service.schemas.exact import Theory

ARROW_STREAM = "application/vnd.apache.arrow.stream"
CHUNK = 65_536
"""Rows computed at once: ~50 MB of the engine's intermediate arrays."""

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class BadInput(Exception):
    """Client input no format-independent schema catches: ``status`` (422 or 413), where
    (``loc``: e.g. ["body", "columns", "x", 7]) and what."""

    def __init__(self, loc: Sequence[str | int], msg: str, status: int = 422, kind: str = ""):
        super().__init__(msg)
        self.loc = list(loc)
        self.msg = msg
        self.status = status
        self.kind = kind or ("too_long" if status == 413 else "value_error")


# --- computing in chunks ---------------------------------------------------------------


@dataclass
class Chunk:
    """``compute.Answer`` for rows [start, start + n) with the reasons of its invalid rows
    already listed (absolute row numbers)."""

    start: int
    valid: np.ndarray
    y: np.ndarray
    sigma: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    errors: list[tuple[int, list[str]]] = field(default_factory=list)


Engine = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], compute.Answer]


def engine(kind: str, sqrt_s: float, names: Sequence[str], st, theory: Theory | None = None):
    """The per-chunk function of ``kind`` ("exact" or "predict") and the response head
    (units, √s, and the resolved theory or the model)."""
    if kind == "exact":
        theory, cfg = compute.theory_config(theory, st.pdf_sets)
        head = {"units": physics.UNITS, "sqrt_s": sqrt_s, "theory": compute.theory_json(theory)}
        return (lambda x, z, Q, PT: compute.exact_arrays(x, z, Q, PT, sqrt_s, names, cfg)), head
    surrogate = st.surrogate
    head = {"units": physics.UNITS, "sqrt_s": sqrt_s, "model": surrogate.info()}
    return (lambda x, z, Q, PT: compute.predict_arrays(x, z, Q, PT, sqrt_s, names, surrogate)), head


def chunks(fn: Engine, cols: Mapping[str, np.ndarray], size: int | None = None) -> Iterator[Chunk]:
    """``fn`` over the rows of ``cols`` (x, z, Q, PT), ``size`` rows at a time (one empty
    chunk for no rows: the names of the outputs and flags are still known)."""
    size = size or CHUNK
    x, z, Q, PT = (np.ascontiguousarray(cols[k], dtype=np.float64) for k in COORDINATES)
    n = x.size
    for start in range(0, max(n, 1), size):
        end = min(start + size, n)
        a = fn(x[start:end], z[start:end], Q[start:end], PT[start:end])
        errors = [(start + i, a.reasons(i)) for i in np.flatnonzero(~a.valid).tolist()]
        yield Chunk(start, a.valid, a.y, a.sigma, a.flags, errors)


def gather(parts: Iterator[Chunk]) -> Chunk:
    """All chunks as one."""
    items = list(parts)
    if len(items) == 1:
        return items[0]
    first = items[0]
    return Chunk(
        0,
        np.concatenate([p.valid for p in items]),
        np.concatenate([p.y for p in items]),
        {k: np.concatenate([p.sigma[k] for p in items]) for k in first.sigma},
        {k: np.concatenate([p.flags[k] for p in items]) for k in first.flags},
        [e for p in items for e in p.errors],
    )


def flag_rows(flags: Mapping[str, np.ndarray], start: int = 0) -> list[tuple[int, list[str]]]:
    """(row, flag names in the order of ``flags``) for every row with a flag set."""
    if not flags:
        return []
    names = list(flags)
    table = np.column_stack([np.asarray(flags[k], dtype=bool) for k in names])
    rows = np.flatnonzero(table.any(axis=1))
    return [
        (start + int(i), [names[j] for j in np.flatnonzero(table[i]).tolist()])
        for i in rows.tolist()
    ]


# --- columnar JSON ---------------------------------------------------------------------


def columns_json(head: Mapping, c: Chunk) -> bytes:
    """The columnar JSON answer (see docs/wire.md): columns, then the rows with errors and
    the rows with flags; NaN (invalid rows) becomes null."""
    body = {
        **head,
        "n": int(c.valid.size),
        "columns": {
            "valid": c.valid,
            "y": c.y,
            **{k: np.ascontiguousarray(v) for k, v in c.sigma.items()},
        },
        "errors": [{"row": i, "errors": r} for i, r in c.errors],
        "flags": [{"row": i, "flags": f} for i, f in flag_rows(c.flags)],
    }
    return orjson.dumps(body, option=_NUMPY)


ANOMALY_COMPONENTS = (
    "unphysical",
    "outside_training_domain",
    "isolation_raw",
    "isolation",
    "theory",
    "theory_residual",
)
"""The parts of an anomaly score (``runtime.anomaly``), each a column (null where a row has
no such part: an unphysical row has only ``unphysical``, ``theory`` needs supplied values)."""


def anomaly_part(results: Sequence[dict], start: int = 0) -> dict:
    """The scorer's per-point dicts for rows [start, start + len(results)) by column."""
    return {
        "score": np.array([r["score"] for r in results], dtype=np.float64),
        "is_anomaly": np.array([r["is_anomaly"] for r in results], dtype=bool),
        "components": {k: [r["components"].get(k) for r in results] for k in ANOMALY_COMPONENTS},
        "reasons": [(start + i, r["reasons"]) for i, r in enumerate(results) if r["reasons"]],
    }


def anomaly_json(part: dict, threshold: float) -> bytes:
    """The columnar /v1/anomaly answer."""
    body = {
        "threshold": threshold,
        "n": int(part["score"].size),
        "columns": {"score": part["score"], "is_anomaly": part["is_anomaly"]},
        "components": part["components"],
        "reasons": [{"row": i, "reasons": r} for i, r in part["reasons"]],
    }
    return orjson.dumps(body, option=_NUMPY)


def sigma_rows(sigma: Mapping[str, Sequence[float | None]], n: int) -> list[dict | None] | None:
    """Supplied values by column (None = not supplied) as the scorer's per-row dicts."""
    if not sigma:
        return None
    rows: list[dict | None] = []
    for i in range(n):
        row = {k: v[i] for k, v in sigma.items() if v[i] is not None}
        rows.append(row or None)
    return rows if any(r is not None for r in rows) else None


# --- request parameters of the query string / V2 parameters ----------------------------


class BulkParams(BaseModel):
    """Parameters of an Arrow request (query string) or a V2 request (``parameters``)."""

    model_config = ConfigDict(extra="forbid")

    sqrt_s: SqrtS = 63.0
    channels: Channels = None
    theory: Theory | None = None


LDME_PREFIX = "ldme."
THEORY_KEYS = ("pdf_set", "quarks", "ldme_set")


def params(
    pairs: Sequence[tuple[str, object]], theory: bool, where: str, channels: bool = True
) -> BulkParams:
    """``BulkParams`` from flat (name, value) pairs: ``sqrt_s``, ``channels`` (a list or
    comma-separated), and with ``theory`` ``pdf_set``, ``quarks``, ``ldme_set``,
    ``ldme.<name>``. Numbers given as text (a query string) are read as decimal numbers.
    Anything else: 422 at [``where``, name]."""
    data: dict = {}
    th: dict = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise BadInput([where, name[:64]], f"parameter {name[:64]} given twice")
        seen.add(name)
        if name == "sqrt_s":
            data["sqrt_s"] = _number(value, [where, name])
        elif name == "channels" and channels:
            data["channels"] = value.split(",") if isinstance(value, str) else value
        elif theory and name in THEORY_KEYS:
            th[name] = value
        elif theory and name.startswith(LDME_PREFIX):
            th.setdefault("ldme", {})[name[len(LDME_PREFIX) :]] = _number(value, [where, name])
        else:
            known = ["sqrt_s"] + (["channels"] if channels else [])
            if theory:
                known += [*THEORY_KEYS, "ldme.<name>"]
            raise BadInput(
                [where, name[:64]],
                f"unknown parameter {name[:64]!r}; known: {', '.join(known)}",
            )
    if th:
        data["theory"] = th
    try:
        return BulkParams.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = [where, *e["loc"]]
        if loc[1] == "theory":
            loc = [where, *(".".join(map(str, e["loc"][1:])) or "theory",)]
        raise BadInput(loc, f"{'.'.join(map(str, loc[1:]))}: {e['msg']}") from None


def _number(value: object, loc: list) -> float:
    if isinstance(value, bool):
        raise BadInput(loc, f"{loc[-1]} must be a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(str(value))
    except ValueError:
        raise BadInput(loc, f"{loc[-1]} must be a number, got {str(value)[:64]!r}") from None
    if not math.isfinite(number):
        raise BadInput(loc, f"{loc[-1]} must be a finite number, got {str(value)[:64]!r}")
    return number


# --- input checks shared by Arrow and V2 -----------------------------------------------


def check_finite(name: str, values: np.ndarray, loc: Sequence[str | int]) -> None:
    """422 naming the column and the first row that is NaN or infinite."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        more = f" (and {bad.size - 1} more rows)" if bad.size > 1 else ""
        raise BadInput(
            [*loc, name, i],
            f"{name}[{i}] = {float(values[i])!r} is not a finite number{more}; "
            "every input value must be finite",
        )


# --- Arrow IPC in ----------------------------------------------------------------------

_MESSAGE_RECORD_BATCH = 3
_MESSAGE_DICTIONARY_BATCH = 2


def _field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute position of field ``index`` of the flatbuffer table at ``table``, or None."""
    (vt_rel,) = struct.unpack_from("<i", buf, table)
    vtable = table - vt_rel
    vt_size, _ = struct.unpack_from("<HH", buf, vtable)
    if 4 + 2 * index + 2 > vt_size:
        return None
    (off,) = struct.unpack_from("<H", buf, vtable + 4 + 2 * index)
    return table + off if off else None


def _batch_header(metadata: bytes) -> tuple[int, int, bool]:
    """(message type, rows claimed, compressed?) of an IPC message's flatbuffer metadata,
    read without decoding the body (so nothing is allocated from what the client claims)."""
    (root,) = struct.unpack_from("<I", metadata, 0)
    kind_at = _field(metadata, root, 1)
    kind = metadata[kind_at] if kind_at is not None else 0
    header_at = _field(metadata, root, 2)
    if kind != _MESSAGE_RECORD_BATCH or header_at is None:
        return kind, 0, False
    (rel,) = struct.unpack_from("<I", metadata, header_at)
    batch = header_at + rel
    length_at = _field(metadata, batch, 0)
    rows = struct.unpack_from("<q", metadata, length_at)[0] if length_at is not None else 0
    return kind, rows, _field(metadata, batch, 3) is not None


@dataclass
class ArrowInput:
    """Columns of an Arrow request: float64 arrays, and for nullable columns the mask of the
    rows where a value was given."""

    n: int
    columns: dict[str, np.ndarray]
    given: dict[str, np.ndarray]


def read_arrow(body: bytes, nullable: Sequence[str], max_rows: int) -> ArrowInput:
    """Read an Arrow IPC stream of float64 columns x, z, Q, PT (and the ``nullable``
    optional columns), message by message; every refusal is a ``BadInput``."""
    try:
        return _read_arrow(body, nullable, max_rows)
    except (struct.error, IndexError):
        raise BadInput(["body"], "corrupt Arrow IPC stream: malformed message metadata") from None


def _read_arrow(body: bytes, nullable: Sequence[str], max_rows: int) -> ArrowInput:
    buf = pa.py_buffer(body)
    corrupt = (pa.ArrowInvalid, pa.ArrowIOError, pa.ArrowNotImplementedError, OSError)
    try:
        messages = pa.ipc.MessageReader.open_stream(buf)
        schema = pa.ipc.read_schema(messages.read_next_message())
    except StopIteration:
        raise BadInput(["body"], "empty body: expected an Arrow IPC stream") from None
    except corrupt as exc:
        raise BadInput(["body"], f"not an Arrow IPC stream (or truncated): {exc}") from None
    names = schema.names
    for name in names:
        if names.count(name) > 1:
            raise BadInput(["body", "columns", name[:64]], f"column {name[:64]!r} given twice")
        if name not in COORDINATES and name not in nullable:
            allowed = [*COORDINATES, *(["sigma.<output>"] if nullable else [])]
            raise BadInput(
                ["body", "columns", name[:64]],
                f"unknown column {name[:64]!r}; expected {', '.join(allowed)}",
            )
        kind = schema.field(name).type
        if kind != pa.float64():
            raise BadInput(
                ["body", "columns", name],
                f"column {name} has type {kind}, expected double (float64)",
            )
    for name in COORDINATES:
        if name not in names:
            raise BadInput(["body", "columns", name], f"column {name} is missing")
    batches: list[pa.RecordBatch] = []
    rows = 0
    while True:
        try:
            msg = messages.read_next_message()
        except StopIteration:
            break
        except corrupt as exc:
            raise BadInput(
                ["body"], f"truncated or corrupt Arrow IPC stream after row {rows}: {exc}"
            ) from None
        kind, claimed, compressed = _batch_header(msg.metadata.to_pybytes())
        if kind != _MESSAGE_RECORD_BATCH:
            what = "dictionary batch" if kind == _MESSAGE_DICTIONARY_BATCH else f"message {kind}"
            raise BadInput(["body"], f"unexpected {what} after row {rows}: send record batches")
        if compressed:
            raise BadInput(
                ["body"], "compressed Arrow buffers are not accepted; send them uncompressed"
            )
        if claimed < 0 or rows + claimed > max_rows:
            raise BadInput(
                ["body"],
                f"more than {max_rows} rows (JPSI_MAX_ARROW_ROWS) in the stream",
                status=413,
            )
        try:
            batch = pa.ipc.read_record_batch(msg, schema)
            batch.validate(full=True)
        except corrupt as exc:
            raise BadInput(["body"], f"corrupt record batch at row {rows}: {exc}") from None
        batches.append(batch)
        rows += batch.num_rows
    columns: dict[str, np.ndarray] = {}
    given: dict[str, np.ndarray] = {}
    for name in names:
        parts = [b.column(name) for b in batches]
        values = (
            np.concatenate([p.to_numpy(zero_copy_only=False) for p in parts])
            if parts
            else np.empty(0)
        )
        mask = (
            np.concatenate([p.is_valid().to_numpy(zero_copy_only=False) for p in parts])
            if parts
            else np.empty(0, dtype=bool)
        )
        if name in COORDINATES:
            if not mask.all():
                i = int(np.flatnonzero(~mask)[0])
                raise BadInput(["body", "columns", name, i], f"{name}[{i}] is null")
            check_finite(name, values, ["body", "columns"])
        else:
            check_finite(name, np.where(mask, values, 0.0), ["body", "columns"])
            given[name] = mask
        columns[name] = values
    return ArrowInput(rows, columns, given)


# --- Arrow IPC out ---------------------------------------------------------------------


def _lists(rows: Sequence[tuple[int, list[str]]], start: int, n: int) -> pa.Array:
    """list<utf8> of ``n`` rows: ``rows`` (absolute row, strings) filled, the rest empty."""
    counts = np.zeros(n, dtype=np.int32)
    values: list[str] = []
    for i, items in rows:
        counts[i - start] = len(items)
        values.extend(items)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.utf8()))


def _flag_lists(flags: Mapping[str, np.ndarray], n: int) -> pa.Array:
    """list<utf8> of the flags set on each of ``n`` rows, in the order of ``flags``: the same
    lists as ``_lists(flag_rows(flags))``, built without a Python loop over the rows (a third of
    the rows of a typical file are flagged)."""
    names = list(flags)
    offsets = np.zeros(n + 1, dtype=np.int32)
    if not names:
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array([], type=pa.utf8()))
    table = np.column_stack([np.asarray(flags[k], dtype=bool) for k in names])
    _, cols = np.nonzero(table)  # row by row, each row's flags in the order of ``names``
    np.cumsum(table.sum(axis=1), out=offsets[1:])
    values = pa.array(names, type=pa.utf8()).take(pa.array(cols, type=pa.int32()))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def arrow_schema(names: Sequence[str], metadata: Mapping[str, object]) -> pa.Schema:
    fields = [pa.field("valid", pa.bool_(), nullable=False), pa.field("y", pa.float64())]
    fields += [pa.field(k, pa.float64()) for k in names]
    fields += [pa.field("reasons", pa.list_(pa.utf8())), pa.field("flags", pa.list_(pa.utf8()))]
    meta = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in metadata.items()}
    return pa.schema(fields, metadata=meta)


def _floats(values: np.ndarray, validity: pa.Buffer | None, nulls: int) -> pa.Array:
    """float64 Arrow array over the numbers of ``values`` (no copy when contiguous), null
    where ``validity`` (a little-endian bitmap) has a 0."""
    data = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(
        pa.float64(), data.size, [validity, pa.py_buffer(data)], null_count=nulls
    )


def arrow_batch(c: Chunk, schema: pa.Schema) -> pa.RecordBatch:
    n = c.valid.size
    nulls = int(n - np.count_nonzero(c.valid))
    validity = pa.py_buffer(np.packbits(c.valid, bitorder="little")) if nulls else None
    arrays = [pa.array(c.valid), _floats(c.y, validity, nulls)]
    arrays += [_floats(c.sigma[k], validity, nulls) for k in c.sigma]
    arrays += [_lists(c.errors, c.start, n), _flag_lists(c.flags, n)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
"""The IPC stream's end marker (continuation token, zero length)."""


def arrow_messages(
    head: Mapping, parts: Iterator[Chunk], names: Sequence[str]
) -> Iterator[pa.Buffer | bytes]:
    """The Arrow IPC stream answer, message by message: the schema (the head as its
    metadata: units, sqrt_s, theory / model as JSON), one record batch per chunk as it is
    computed, the end marker. Joined, they are one IPC stream."""
    schema = arrow_schema(names, head)
    yield schema.serialize()
    for c in parts:
        yield arrow_batch(c, schema).serialize()
    yield END_OF_STREAM


def write_arrow(head: Mapping, parts: Iterator[Chunk], names: Sequence[str]) -> bytes:
    """The whole Arrow IPC stream answer as bytes."""
    return b"".join(memoryview(m) for m in arrow_messages(head, parts, names))


def anomaly_schema(threshold: float) -> pa.Schema:
    fields = [pa.field("score", pa.float64(), nullable=False)]
    fields.append(pa.field("is_anomaly", pa.bool_(), nullable=False))
    fields += [pa.field(k, pa.float64()) for k in ANOMALY_COMPONENTS]
    fields.append(pa.field("reasons", pa.list_(pa.utf8())))
    return pa.schema(fields, metadata={"threshold": repr(float(threshold))})


def write_anomaly_arrow(parts: Iterator[tuple[int, dict]], threshold: float) -> pa.Buffer:
    """The /v1/anomaly answer as an Arrow IPC stream, one record batch per (start, part):
    score, is_anomaly, one float64 column per component (null where the row has none),
    reasons (list<utf8>); the threshold in the schema metadata."""
    schema = anomaly_schema(threshold)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for start, part in parts:
            n = part["score"].size
            arrays = [pa.array(part["score"]), pa.array(part["is_anomaly"])]
            arrays += [
                pa.array(part["components"][k], type=pa.float64()) for k in ANOMALY_COMPONENTS
            ]
            arrays.append(_lists(part["reasons"], start, n))
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return sink.getvalue()
