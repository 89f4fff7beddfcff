"""Admission by cost: a request is taken only if it can finish within the deadline.

The in-flight limit of ``service.middleware.Guards`` counts requests, but one binned request
of 100 bins × 200 P_T values costs as much as ~500 one-point requests. So after a request is
validated, and before its work goes to the thread pool, its cost is estimated in seconds
of one core (``COST``) and added to the worker's backlog of admitted work. The request is
refused at once with 503 and ``Retry-After`` when the backlog, spread over the cores this
worker can use, would finish it later than ``JPSI_REQUEST_DEADLINE_SECONDS`` after it
arrived: early, while the client can still go elsewhere, instead of a 200 after 17 s.
A request that alone exceeds the deadline can never be served: 413, split it.

The estimates are deliberately simple (a fixed part plus a part per unit of work), measured
on the project's 2-core machine (``bench/burst.py`` shows the effect); what matters is the
ratio between cheap and expensive requests, not the absolute value. The backlog lives in
the worker's event loop (admission happens in ``async`` code before the thread-pool hop),
so it needs no lock.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Scope

T = TypeVar("T")

BASE_SECONDS = 2e-4
"""Fixed cost of any request: routing, validation, encoding of a small answer."""

COST = {
    # seconds of one core per unit of work, measured in-process and over HTTP
    "exact": 3e-6,  # per point: engine ~0.2 µs, JSON encoding the rest (294 k points/s)
    "predict": 2e-6,  # per point (578 k points/s over HTTP)
    "anomaly": 5e-6,  # per point: the exact engine, the isolation forest, the encoding
    "pdf": 1e-6,  # per point × flavour
    "binned_bin": 5e-3,  # per bin: the Gauss–Legendre nodes in x, z, Q (1 P_T value)
    "binned_cell": 6e-5,  # per bin × P_T value (100 × 200 measured 1.57 s)
    "explain": 1.2e-3,  # per point: 14 coalitions × 256 background rows (100 points 107 ms)
}


def estimate(kind: str, units: float, per_bin: float = 0.0) -> float:
    """Estimated seconds of one core for ``units`` of work of ``kind`` (see ``COST``);
    ``per_bin`` adds the bins of a binned request."""
    return BASE_SECONDS + COST[kind] * units + COST["binned_bin"] * per_bin


class Admission:
    """The backlog of one worker: estimated seconds of work admitted and not yet finished.

    ``deadline`` in seconds after arrival; ``cores`` the cores this worker can count on
    (the machine's cores shared by the workers), which is also the most work per second it
    is assumed to do. The speed it really does work at (``rate``, estimated seconds of work
    finished per second while busy) is learnt from the requests it finishes, so that a slower
    machine, or one shared with other work, admits less: the drain rate over windows of at
    least ``LEARN_WORK`` seconds of estimated work, smoothed, between ``cores / 20`` and
    ``cores``.
    """

    LEARN_WORK = 0.05
    SMOOTHING = 0.5

    def __init__(self, deadline: float, cores: float):
        self.deadline = deadline
        self.cores = max(cores, 1e-9)
        self.rate = self.cores
        self.backlog = 0.0
        self._busy_since: float | None = None
        self._window_work = self._window_busy = 0.0

    @classmethod
    def for_workers(cls, deadline: float, workers: int) -> Admission:
        return cls(deadline, max(1.0, (os.cpu_count() or 1) / max(workers, 1)))

    @contextmanager
    def admit(self, cost: float, waited: float = 0.0) -> Iterator[None]:
        """Hold ``cost`` seconds of work in the backlog, or raise 503 / 413 at once.

        ``waited`` is how long the request has already been in the worker (seconds).
        """
        own = cost / self.cores
        if own > self.deadline:
            raise HTTPException(
                413,
                f"this request alone would take about {own:.3g} s, more than the "
                f"{self.deadline:g} s deadline (JPSI_REQUEST_DEADLINE_SECONDS); split it "
                "into smaller requests",
            )
        finish = waited + (self.backlog + cost) / self.rate
        if self.backlog > 0.0 and finish > self.deadline:
            retry = max(1, math.ceil(finish - self.deadline))
            raise HTTPException(
                503,
                f"busy: this request would finish about {finish:.3g} s after it arrived, "
                f"past the {self.deadline:g} s deadline; retry in {retry} s",
                {"retry-after": str(retry)},
            )
        if self._busy_since is None:
            self._busy_since = time.perf_counter()
        self.backlog += cost
        try:
            yield
        finally:
            self.backlog = max(0.0, self.backlog - cost)
            self._finished(cost)

    def _finished(self, cost: float) -> None:
        """Learn the drain rate: work finished over the busy time it took."""
        now = time.perf_counter()
        self._window_work += cost
        if self.backlog == 0.0 and self._busy_since is not None:  # idle time is not work time
            self._window_busy += now - self._busy_since
            self._busy_since = None
        if self._window_work >= self.LEARN_WORK:
            busy = self._window_busy + (now - self._busy_since if self._busy_since else 0.0)
            if busy > 0.0:
                observed = self._window_work / busy
                learnt = (1.0 - self.SMOOTHING) * self.rate + self.SMOOTHING * observed
                self.rate = min(self.cores, max(self.cores / 20.0, learnt))
            self._window_work = self._window_busy = 0.0
            if self._busy_since is not None:
                self._busy_since = now


def arrival(scope: Scope) -> float:
    """When the request reached the app (``time.perf_counter``), set by the outer middleware."""
    return scope.get("state", {}).get("arrived", time.perf_counter())


async def run_admitted(
    admission: Admission, scope: Scope, cost: float, fn: Callable[..., T], *args: Any
) -> T:
    """``fn(*args)`` in the thread pool, once admitted at ``cost`` (seconds of one core)."""
    with admission.admit(cost, time.perf_counter() - arrival(scope)):
        return await run_in_threadpool(fn, *args)
