"""Soak benchmark: mixed traffic against a real ``jpsi-serve`` for --duration seconds.

    .venv/bin/python bench/soak.py [--duration 600] [--clients 32] [--workers 2]

Starts ``jpsi-serve`` (default workers, the shipped artifacts) on a free port
of 127.0.0.1 and drives it from --clients concurrent asyncio clients (one
httpx.AsyncClient, so one keep-alive connection, each) with a seeded mix of
/v1/exact, /v1/predict, /v1/explain, /v1/anomaly and /v1/exact/binned
requests: single points and batches (1000 points; 100 for /v1/explain, its
limit; 10 bins x 20 PT values for /v1/exact/binned, ~0.5 s of integration), 2 %
unphysical points in every batch (answered in place). Every request is valid,
so every answer should be 200. Meanwhile it samples the resident memory of the
server's whole process tree (master + workers, VmRSS from /proc) every
--sample seconds.

Targets (issue #6): no 5xx and no connection error (every status and every
exception counted); RSS growth after the warm-up (--warmup, default the first
60 s, or half of a shorter run) below 10 % (median over 10 % of the run after
the warm-up vs median over the last 10 %); the same worker processes at the
end as at the start (a crashed and restarted worker would hide a leak); a
clean exit (status 0) on SIGTERM at the end. Latency percentiles per scenario
in the first and last 10 % of the run (the first and last minute of the
default 10 minutes) are reported.
Prints a table, writes ``bench/results/soak.json`` and exits 1 if a target is
missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import sample_points  # noqa: E402
from bench.server import start, stop  # noqa: E402

RESULTS = REPO / "bench" / "results" / "soak.json"
BATCH = 1000
EXPLAIN_BATCH = 100  # the /v1/explain limit (runtime.shapley.MAX_POINTS)
VARIANTS = 8  # distinct bodies per scenario, so memory sees varied inputs
UNPHYSICAL = {"x": 0.01, "z": 0.5, "Q": 100.0, "PT": 1.0}  # y > 1: answered in place


def _batch(n: int, seed: int) -> list[dict]:
    pts = sample_points(n, seed=seed)
    for i in range(0, n, 50):  # 2 % answered with valid: false
        pts[i] = UNPHYSICAL
    return pts


def _bins(n: int, rng: np.random.Generator) -> list[dict]:
    out = []
    for _ in range(n):
        x, z, q = rng.uniform(0.05, 0.3), rng.uniform(0.2, 0.6), rng.uniform(5.0, 15.0)
        out.append({"x": [x, x + 0.1], "z": [z, z + 0.2], "Q": [q, q + 5.0]})
    return out


def scenarios(seed: int = 7) -> dict[str, tuple[str, list[bytes], int]]:
    """name -> (path, request bodies, weight). Singles are drawn 4x as often as batches."""
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[str, list[bytes], int]] = {}

    def add(name, path, make, weight):
        out[name] = (path, [orjson.dumps(make(v)) for v in range(VARIANTS)], weight)

    def one(v):
        return sample_points(1, seed=100 + v)

    def sigma_for(points, v):
        # values "observed" by a client: half consistent-ish, half off by 10x
        return [dict(p, sigma={"total_U": 1e-4 * (10.0 if (i + v) % 2 else 1.0)})
                for i, p in enumerate(points)]  # fmt: skip

    add("exact x1", "/v1/exact", lambda v: {"points": one(v)}, 4)
    add("exact x1000", "/v1/exact", lambda v: {"points": _batch(BATCH, v)}, 1)
    add("predict x1", "/v1/predict", lambda v: {"points": one(v)}, 4)
    add("predict x1000", "/v1/predict", lambda v: {"points": _batch(BATCH, v)}, 1)
    add("explain x1", "/v1/explain",
        lambda v: {"points": one(v), "model": ("exact", "surrogate")[v % 2]}, 4)  # fmt: skip
    add("explain x100", "/v1/explain",
        lambda v: {"points": _batch(EXPLAIN_BATCH, v), "model": ("exact", "surrogate")[v % 2]},
        1)  # fmt: skip
    add("anomaly x1", "/v1/anomaly", lambda v: {"points": sigma_for(one(v), v)}, 4)
    add("anomaly x1000", "/v1/anomaly",
        lambda v: {"points": sigma_for(_batch(BATCH, v), v)}, 1)  # fmt: skip
    add("binned 1x1", "/v1/exact/binned", lambda v: {"bins": _bins(1, rng), "PT": [0.5]}, 4)
    add("binned 10x20", "/v1/exact/binned",
        lambda v: {"bins": _bins(10, rng), "PT": np.linspace(0.1, 2.0, 20).tolist()},
        1)  # fmt: skip
    return out


def tree(root: int) -> list[int]:
    """``root`` and every descendant process, from /proc/*/stat."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            parent[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(p for p, pp in parent.items() if pp == pid)
    return out


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def client(i, base, plan, end, t0, records, errors):
    names = list(plan)
    weights = np.array([plan[n][2] for n in names], dtype=float)
    rng = np.random.default_rng(1000 + i)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as http:
        while time.monotonic() < end:
            name = names[rng.choice(len(names), p=weights / weights.sum())]
            path, bodies, _ = plan[name]
            body = bodies[rng.integers(len(bodies))]
            start = time.monotonic()
            try:
                r = await http.post(path, content=body, headers=headers)
                status = r.status_code
            except httpx.HTTPError as exc:
                errors[f"{name}: {type(exc).__name__}"] += 1
                status = "error"
            records.append((start - t0, name, status, time.monotonic() - start))


async def sampler(root, end, t0, every, samples):
    while True:
        pids = tree(root)
        samples.append((time.monotonic() - t0, sum(map(rss_kib, pids)), len(pids) - 1))
        if time.monotonic() >= end:
            return
        await asyncio.sleep(min(every, max(0.0, end - time.monotonic())))


async def drive(base, plan, clients, duration, root, every):
    records: list = []
    errors: Counter = Counter()
    samples: list = []
    t0 = time.monotonic()
    end = t0 + duration
    tasks = [client(i, base, plan, end, t0, records, errors) for i in range(clients)]
    await asyncio.gather(sampler(root, end, t0, every, samples), *tasks)
    return records, errors, samples, time.monotonic() - t0


def percentiles(lat: list[float]) -> dict:
    if not lat:
        return {"n": 0}
    p = np.percentile(np.array(lat) * 1e3, [50, 95, 99])
    return {"n": len(lat), "p50_ms": p[0], "p95_ms": p[1], "p99_ms": p[2]}


def summarise(records, duration, window) -> dict:
    first, last = defaultdict(list), defaultdict(list)
    for t, name, status, lat in records:
        if status != 200:
            continue
        if t < window:
            first[name].append(lat)
        elif t >= duration - window:
            last[name].append(lat)
    names = sorted({r[1] for r in records})
    return {n: {"first": percentiles(first[n]), "last": percentiles(last[n])} for n in names}


def memory(samples, duration, warmup) -> dict:
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples], dtype=float) / 1024.0  # MiB
    span = 0.1 * duration
    base = rss[(t >= warmup) & (t < warmup + span)]
    tail = rss[t >= duration - span]
    base_mib = float(np.median(base)) if base.size else float(rss[0])
    end_mib = float(np.median(tail)) if tail.size else float(rss[-1])
    after = t >= warmup
    slope = float(np.polyfit(t[after], rss[after], 1)[0] * 60) if after.sum() > 2 else 0.0
    return {
        "warmup_s": warmup,
        "start_mib": float(rss[0]),
        "warmup_mib": base_mib,
        "end_mib": end_mib,
        "max_mib": float(rss.max()),
        "growth_pct": 100.0 * (end_mib - base_mib) / base_mib,
        "slope_mib_per_min_after_warmup": slope,
        "samples": [[round(a, 1), round(b / 1024.0, 1), c] for a, b, c in samples],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument(
        "--warmup", type=float, default=None, help="seconds before the RSS baseline (default 60)"
    )
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    window = 0.1 * args.duration
    # the workers' memory fills for ~40 s (thread pools, onnxruntime arenas, caches)
    warmup = args.warmup if args.warmup is not None else min(60.0, 0.5 * args.duration)

    plan = scenarios()
    log = tempfile.NamedTemporaryFile(prefix="jpsi-soak-", suffix=".log", delete=False)
    env = {"JPSI_ARTIFACT_DIR": str(REPO / "artifacts"), "JPSI_LOG_LEVEL": "warning"}
    server, port = start(args.workers, env, log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        workers_start = sorted(tree(server.pid)[1:])
        records, errors, samples, elapsed = asyncio.run(
            drive(base, plan, args.clients, args.duration, server.pid, args.sample)
        )
        workers_end = sorted(tree(server.pid)[1:])
    finally:
        t_term = time.monotonic()
        code = stop(server, timeout=40)
        exit_code = "killed after 40 s" if code is None else code
        stop_s = time.monotonic() - t_term
        log.close()

    statuses = Counter(str(r[2]) for r in records)
    n5xx = sum(c for s, c in statuses.items() if s.startswith("5"))
    nerr = sum(errors.values())
    other = sum(c for s, c in statuses.items() if s not in ("200", "error")) - n5xx
    latency = summarise(records, args.duration, window)
    mem = memory(samples, args.duration, warmup)
    targets = [
        ("5xx responses == 0", n5xx, n5xx == 0),
        ("connection errors == 0", nerr, nerr == 0),
        ("other non-200 responses == 0", other, other == 0),
        ("RSS growth after warm-up < 10 %", round(mem["growth_pct"], 2), mem["growth_pct"] < 10.0),
        ("same worker processes at the end", len(workers_end), workers_start == workers_end),
        ("exit status 0 on SIGTERM", exit_code, exit_code == 0),
    ]

    rate = len(records) / elapsed
    print(f"\n{len(records)} requests in {elapsed:.0f} s ({rate:.1f} req/s) from "
          f"{args.clients} clients, {args.workers} workers, {os.cpu_count()} cpus")  # fmt: skip
    print("statuses: " + ", ".join(f"{s}: {c}" for s, c in sorted(statuses.items())))
    for what, c in sorted(errors.items()):
        print(f"  error {what}: {c}")
    print(f"\nlatency (ms), first vs last {window:.0f} s")
    print(f"{'scenario':16} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} | "
          f"{'n':>6} {'p50':>8} {'p95':>8} {'p99':>8}")  # fmt: skip
    for name, w in latency.items():
        cells = []
        for part in (w["first"], w["last"]):
            if part["n"]:
                cells.append(f"{part['n']:6d} {part['p50_ms']:8.1f} {part['p95_ms']:8.1f} "
                             f"{part['p99_ms']:8.1f}")  # fmt: skip
            else:
                cells.append(f"{0:6d} {'-':>8} {'-':>8} {'-':>8}")
        print(f"{name:16} " + " | ".join(cells))
    print(f"\nRSS of the server tree (MiB): start {mem['start_mib']:.0f}, after the "
          f"{warmup:.0f} s warm-up {mem['warmup_mib']:.0f}, end {mem['end_mib']:.0f}, "
          f"max {mem['max_mib']:.0f}; growth {mem['growth_pct']:+.2f} %, "
          f"slope {mem['slope_mib_per_min_after_warmup']:+.2f} MiB/min")  # fmt: skip
    print(f"workers: {workers_start} at the start, {workers_end} at the end; "
          f"SIGTERM -> exit {exit_code} in {stop_s:.1f} s")  # fmt: skip
    print("\ntargets:")
    for name, value, ok in targets:
        print(f"  {'PASS' if ok else 'MISS'}  {name:36} measured {value}")
    if not all(ok for *_, ok in targets):
        print(f"server log: {log.name}")
    else:
        os.unlink(log.name)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "2 cores shared with other work; latencies include client-side "
                            "queueing in one asyncio process"},
        "config": {"duration_s": args.duration, "clients": args.clients, "workers": args.workers,
                   "window_s": window, "scenarios": {n: [p, w] for n, (p, _, w) in plan.items()}},
        "requests": len(records),
        "elapsed_s": elapsed,
        "statuses": dict(statuses),
        "connection_errors": dict(errors),
        "latency": latency,
        "memory": mem,
        "workers": {"start": workers_start, "end": workers_end},
        "shutdown": {"exit": exit_code, "seconds": stop_s},
        "targets": [{"name": n, "value": v, "pass": ok} for n, v, ok in targets],
    }, indent=2))  # fmt: skip
    print(f"\nwrote {args.output}")
    return 0 if all(ok for *_, ok in targets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
