"""Where the chunks are scored: in this process, on a Dask cluster, or by a running service.

Each backend maps an iterator of input chunks to an iterator of (chunk, result columns) in
the same order, with a bounded number of chunks in flight, so memory stays bounded
whatever the file size. All three give the same table bit for bit
(tests/client/test_score.py).

The Dask backend is ``scoring.ondask.OnDask`` (imported only when asked for).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pyarrow as pa

from scoring.engine import Scorer

Pair = tuple[pa.Table, pa.Table]


class InProcess:
    """Chunks scored one after the other in this process."""

    name = "in-process"

    def __init__(self, scorer: Scorer):
        self.scorer = scorer
        scorer.prepare()

    def map(self, chunks: Iterable[pa.Table]) -> Iterator[Pair]:
        for chunk in chunks:
            yield chunk, self.scorer.score(chunk)

    def close(self) -> None:
        pass


class ThroughService:
    """Chunks sent to a running service through ``jpsi_client`` (two chunks in flight,
    each split into requests by the client)."""

    name = "service"

    def __init__(
        self,
        scorer: Scorer,
        url: str,
        api_key: str | None = None,
        max_concurrency: int = 4,
        retries: int = 8,
    ):
        from jpsi_client import Client

        self.scorer = scorer
        self.client = Client(
            url, api_key, max_concurrency=max_concurrency, retries=retries, progress=False
        )
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="jpsi-score")

    def _one(self, chunk: pa.Table) -> pa.Table:
        s = self.scorer
        if s.model == "exact":
            out = self.client.exact(
                chunk,
                sqrt_s=s.sqrt_s,
                channels=s.channels,
                theory=s.theory_request(),
                as_arrow=True,
            )
        else:
            out = self.client.predict(chunk, sqrt_s=s.sqrt_s, channels=s.channels, as_arrow=True)
        return out.drop_columns(chunk.column_names).replace_schema_metadata(None)

    def map(self, chunks: Iterable[pa.Table]) -> Iterator[Pair]:
        inflight: deque[tuple[pa.Table, Future]] = deque()
        for chunk in chunks:
            inflight.append((chunk, self._pool.submit(self._one, chunk)))
            if len(inflight) >= 2:
                done, f = inflight.popleft()
                yield done, f.result()
        while inflight:
            done, f = inflight.popleft()
            yield done, f.result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        self.client.close()
