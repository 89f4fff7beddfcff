"""Tables in and out: inputs as numpy, pandas or Arrow; results as one Arrow table.

Every result the client (and ``jpsi-score``) produces has the same columns, in this order:
the input columns, ``valid`` (bool), ``y`` (float64, null where invalid), one float64
column per output in pb/GeV⁴ (null where invalid), ``reasons`` and ``flags`` (list of
strings; ``reasons`` is empty for a valid row, ``flags`` for an invalid one). That is the
Arrow wire format of the service, so an Arrow answer is used as it arrives.

Rows the service could not even be sent (a non-finite number, which JSON cannot carry, or a
per-row √s outside (0, 1e5] GeV) are answered here by ``precheck``, with the same reason
whichever way the rows are scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

KINEMATICS = ("x", "z", "Q", "PT")
"""Input columns: Bjorken x, z, Q (GeV), P_T (GeV)."""

SQRT_S = "sqrt_s"
"""Optional per-row input column: √s in GeV."""

SQRT_S_MAX = 1.0e5
"""The largest √s (GeV) the service accepts."""

REASONS, FLAGS = "reasons", "flags"
STRINGS = pa.list_(pa.string())


def as_table(data: Any, required: Sequence[str] = KINEMATICS) -> pa.Table:
    """A pandas DataFrame, Arrow table or record batch, a mapping of column → array, a
    numpy structured array or a 2-D array [N, len(required)] (columns in ``required``
    order) as an Arrow table. Raises ``ValueError`` naming a missing column."""
    if isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    elif hasattr(data, "columns") and hasattr(data, "to_numpy"):  # pandas DataFrame
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif isinstance(data, Mapping):
        table = pa.table({str(k): np.asarray(v) for k, v in data.items()})
    else:
        arr = np.asarray(data)
        if arr.dtype.names:
            table = pa.table({name: arr[name] for name in arr.dtype.names})
        elif arr.ndim == 2 and arr.shape[1] == len(required):
            table = pa.table({name: arr[:, j] for j, name in enumerate(required)})
        else:
            raise ValueError(
                f"cannot read points from an array of shape {arr.shape}: give a table with "
                f"columns {', '.join(required)} or an array [N, {len(required)}]"
            )
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ValueError(
            f"missing column(s) {', '.join(missing)}; the input has {table.column_names}"
        )
    return table


def float_column(table: pa.Table, name: str) -> np.ndarray:
    """Column ``name`` as float64 (nulls as NaN); ``ValueError`` naming a non-numeric one."""
    col = table.column(name)
    t = col.type
    if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)):
        raise ValueError(f"column {name!r} is not numeric (type {t})")
    col = col.cast(pa.float64())
    if col.num_chunks == 1 and col.null_count == 0:
        return col.chunk(0).to_numpy(zero_copy_only=False)
    return col.to_numpy()  # nulls become NaN


def precheck(cols: Mapping[str, np.ndarray], sqrt_s: np.ndarray) -> tuple[np.ndarray, dict]:
    """Rows that can be scored (mask) and, for the others, why not (row → reasons)."""
    ok = np.ones(len(sqrt_s), dtype=bool)
    bad: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, values in cols.items():
        m = ~np.isfinite(values)
        if m.any():
            bad.append((name, values, m))
            ok &= ~m
    m = ~(np.isfinite(sqrt_s) & (sqrt_s > 0.0) & (sqrt_s <= SQRT_S_MAX))
    if m.any():
        bad.append((SQRT_S, sqrt_s, m))
        ok &= ~m
    reasons: dict[int, list[str]] = {}
    for name, values, mask in bad:
        for i in np.flatnonzero(mask):
            v = values[i]
            if name == SQRT_S and np.isfinite(v):
                msg = f"sqrt_s = {v:.6g} GeV outside (0, {SQRT_S_MAX:g}]"
            else:
                unit = " GeV" if name in ("Q", "PT") else ""
                msg = f"{name} = {v}{unit} is not finite"
            reasons.setdefault(int(i), []).append(msg)
    return ok, reasons


def list_column(lists: Mapping[int, Sequence[str]], n: int) -> pa.Array:
    """A list<string> column of ``n`` rows: ``lists[i]`` at row i, empty elsewhere."""
    counts = np.zeros(n, dtype=np.int32)
    values: list[str] = []
    for i in sorted(lists):
        counts[i] = len(lists[i])
        values.extend(lists[i])
    return _lists(counts, pa.array(values, pa.string()))


def mask_lists(masks: Mapping[str, np.ndarray], n: int) -> pa.Array:
    """A list<string> column: at row i the names whose mask is true there, in mapping order
    (vectorised: no Python object per row)."""
    if not masks:
        return _lists(np.zeros(n, dtype=np.int32), pa.array([], pa.string()))
    stacked = np.column_stack([np.asarray(m, dtype=bool) for m in masks.values()])
    counts = stacked.sum(axis=1, dtype=np.int32)
    _, which = np.nonzero(stacked)  # row-major: rows in order, names in order within a row
    names = pa.array(list(masks), pa.string())
    return _lists(counts, names.take(pa.array(which.astype(np.int32))))


def _lists(counts: np.ndarray, values: pa.Array) -> pa.Array:
    offsets = np.zeros(counts.size + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=STRINGS)


def result_table(
    valid: np.ndarray,
    y: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    reasons: pa.Array,
    flags: pa.Array,
) -> pa.Table:
    """The result columns in canonical order; y and outputs null where ``valid`` is false."""
    invalid = ~valid
    cols: dict[str, pa.Array] = {"valid": pa.array(valid, pa.bool_())}
    none_invalid = not invalid.any()
    for name, values in (("y", y), *outputs.items()):
        values = np.asarray(values, dtype=np.float64)
        cols[name] = pa.array(values) if none_invalid else pa.array(values, mask=invalid)
    cols[REASONS] = reasons
    cols[FLAGS] = flags
    return pa.table(cols)


def refused(n: int, outputs: Sequence[str], reasons: Mapping[int, Sequence[str]]) -> pa.Table:
    """Result columns for ``n`` rows none of which could be scored (see ``precheck``)."""
    nan = np.full(n, np.nan)
    return result_table(
        np.zeros(n, dtype=bool),
        nan,
        dict.fromkeys(outputs, nan),
        list_column({i: list(r) for i, r in reasons.items()}, n),
        list_column({}, n),
    )


def scatter(n: int, parts: Sequence[tuple[np.ndarray | slice, pa.Table]]) -> pa.Table:
    """One table of ``n`` rows from parts that each hold the rows at their index (an array
    of row numbers or a slice); parts must cover every row exactly once."""
    if len(parts) == 1 and isinstance(parts[0][0], slice):
        return parts[0][1]
    if all(isinstance(idx, slice) for idx, _ in parts):
        starts = [idx.start for idx, _ in parts if isinstance(idx, slice)]
        ordered = [t for _, (_, t) in sorted(zip(starts, parts, strict=True), key=_first)]
        return pa.concat_tables(ordered)  # no copy: one chunk per part
    rows = np.concatenate([_indices(idx) for idx, _ in parts])
    table = pa.concat_tables([t for _, t in parts])
    order = np.empty(n, dtype=np.int64)
    order[rows] = np.arange(rows.size)
    return table.take(pa.array(order))


def _first(pair: tuple) -> Any:
    return pair[0]


def _indices(idx: np.ndarray | slice) -> np.ndarray:
    return np.arange(idx.start, idx.stop) if isinstance(idx, slice) else np.asarray(idx)


def join(inputs: pa.Table, results: pa.Table) -> pa.Table:
    """Input columns then result columns (a result column replaces an input of that name)."""
    keep = [c for c in inputs.column_names if c not in results.column_names]
    cols = {c: inputs.column(c) for c in keep}
    cols.update({c: results.column(c) for c in results.column_names})
    return pa.table(cols)


def to_pandas(table: pa.Table):
    """The table as a DataFrame: nulls in float columns become NaN, list columns Python lists."""
    return table.to_pandas(types_mapper=None, split_blocks=True, self_destruct=False)
