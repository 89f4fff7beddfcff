"""The pipeline of jpsi-score: read ahead → score (a backend) → write behind, in order.

Reading and writing run in one background thread each (pyarrow releases the GIL), so on
two cores the file I/O overlaps the scoring; at most ``AHEAD`` chunks wait on either side,
so memory is bounded by a few chunks whatever the file size.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from jpsi_client import frames
from scoring.engine import Scorer
from scoring.files import AtomicParquetWriter, Input, ScoreError

AHEAD = 2
"""Chunks read ahead of the scoring, and chunks waiting to be written."""

_DONE = object()


@dataclass
class Summary:
    """What a run did: rows in, rows valid, output path, backend."""

    rows: int
    valid: int
    output: str
    backend: str


def _read_ahead(chunks: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """``chunks`` produced by a background thread, at most ``AHEAD`` waiting."""
    q: queue.Queue = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def produce() -> None:
        try:
            for c in chunks:
                while not stop.is_set():
                    try:
                        q.put(c, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    t = threading.Thread(target=produce, name="jpsi-score-read", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def make_backend(
    scorer: Scorer,
    scheduler: str | None = None,
    url: str | None = None,
    workers: int | None = None,
    api_key: str | None = None,
    retries: int = 8,
):
    """In process (default), on Dask (``scheduler``: "local" or an address) or through
    the service at ``url``."""
    from scoring.backends import InProcess, ThroughService

    if scheduler and url:
        raise ScoreError("give --scheduler or --url, not both")
    if url:
        return ThroughService(scorer, url, api_key, retries=retries)
    if scheduler:
        from scoring.ondask import OnDask

        return OnDask(scorer, scheduler, workers)
    return InProcess(scorer)


def score_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    scorer: Scorer,
    *,
    backend=None,
    chunk_rows: int = 500_000,
    compression: str = "snappy",
    progress: bool | None = None,
) -> Summary:
    """Score every row of ``input_path`` (Parquet or CSV: x, z, Q [GeV], PT [GeV],
    optional sqrt_s [GeV]) into the Parquet file ``output_path``: the input columns, valid,
    y, each output (pb/GeV⁴, null where invalid), reasons, flags, in input order. The
    output appears only when complete (``ScoreError`` for a bad file; nothing written)."""
    src = Input(input_path, chunk_rows)
    writer = AtomicParquetWriter(output_path, compression)
    own = backend is None
    backend = backend or make_backend(scorer)
    bar = _bar(progress, src.num_rows)
    rows = valid = 0
    result_schema = scorer.score(src.empty()).schema  # one schema whichever backend answers
    pending: list[Future] = []
    pool = ThreadPoolExecutor(1, thread_name_prefix="jpsi-score-write")
    try:
        for chunk, result in backend.map(_read_ahead(src.chunks())):
            table = frames.join(chunk, result.cast(result_schema))
            rows += table.num_rows
            valid += _count(result)
            pending.append(pool.submit(writer.write, table))
            while len(pending) > AHEAD:
                pending.pop(0).result()
            if bar is not None:
                bar.update(table.num_rows)
        for f in pending:
            f.result()
        writer.commit(frames.join(src.empty(), scorer.score(src.empty())).schema)
    except BaseException:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
        writer.abort()
        raise
    finally:
        pool.shutdown(wait=True)
        if bar is not None:
            bar.close()
        if own:
            backend.close()
    return Summary(rows, valid, str(output_path), backend.name)


def _count(result: pa.Table) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(result.column("valid")).as_py() or 0)


def _bar(progress: bool | None, total: int | None):
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="pt", unit_scale=True, desc="jpsi-score")
