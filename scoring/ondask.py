"""Chunks scored on a Dask cluster (``jpsi-score --scheduler local|tcp://host:8786``).

``--scheduler local`` starts a ``LocalCluster`` of single-threaded worker processes (one
per core unless ``--workers`` says otherwise); an address joins an existing cluster
(``dask scheduler`` / ``dask worker tcp://host:8786`` on other machines, or one made by
dask-kubernetes or dask-jobqueue). The ``Scorer`` travels with each task (a few hundred
bytes); the PDF grid and the ONNX session are loaded once per worker process, by the
``Preload`` worker plugin when the worker joins, and kept in per-process caches
(``physics.load_pdf``, ``scoring.runtime.load_surrogate``) for every later task.
Workers need this package installed (``pip install 'jpsi-sidis[score]'``), not the files.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator

import pyarrow as pa
from dask.distributed import Client, LocalCluster, WorkerPlugin

from scoring.engine import Scorer

Pair = tuple[pa.Table, pa.Table]


def _score_on_worker(scorer: Scorer, chunk: pa.Table) -> pa.Table:
    return scorer.score(chunk)


class Preload(WorkerPlugin):
    """Dask worker plugin: load the PDF grid and ONNX session when a worker joins."""

    idempotent = True

    def __init__(self, scorer: Scorer):
        self.scorer = scorer
        self.name = f"jpsi-score-preload-{scorer.model}"

    def setup(self, worker) -> None:
        self.scorer.prepare()

    def teardown(self, worker) -> None:
        pass


class OnDask:
    """Chunks scored on a Dask cluster, at most ``2 × workers`` in flight."""

    name = "dask"

    def __init__(self, scorer: Scorer, scheduler: str, workers: int | None = None):
        self.scorer = scorer
        self._cluster = None
        if scheduler == "local":
            self._cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: 8787 may be taken
                host="127.0.0.1",
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(scheduler)
        self.client.register_plugin(Preload(scorer))
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))

    def map(self, chunks: Iterable[pa.Table]) -> Iterator[Pair]:
        window = 2 * self.workers
        inflight: deque[tuple[pa.Table, object]] = deque()
        for chunk in chunks:
            # scattered first: a chunk is megabytes, too big to travel inside the task graph
            data = self.client.scatter(chunk, hash=False)
            fut = self.client.submit(_score_on_worker, self.scorer, data, pure=False)
            inflight.append((chunk, fut))
            if len(inflight) >= window:
                done, f = inflight.popleft()
                yield done, f.result()
        while inflight:
            done, f = inflight.popleft()
            yield done, f.result()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
