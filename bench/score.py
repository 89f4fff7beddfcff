"""jpsi-score throughput, Parquet to Parquet: in process, on Dask (1 and 2 worker processes),
and through jpsi-serve with the client.

10⁷ generated physical points (an event sample: x, z, Q, P_T uniform over a region inside
the physical domain at √s = 63 GeV) are written to a Parquet file once; each backend then
scores the whole file into a new Parquet file (snappy), timed from the start of reading to
the rename of the finished output, I/O included. The Dask clusters are started before the
clock starts (their start-up is reported apart); the service runs with 2 workers on
127.0.0.1 and uses the fastest wire format it offers (Arrow where it has it). Every output
is checked to be identical to the in-process one, bit for bit. Besides points per second,
the CPU time of every process involved (this one, the Dask cluster's, the server's) gives
points per CPU-second, which does not depend on what else shares the machine.

    python bench/score.py [--rows N] [--model exact|surrogate] [--chunk-rows N]
                          [--server-repo PATH] [--skip dask,service]

``--server-repo`` runs jpsi-serve from another checkout (e.g. one with the Arrow format).
Prints a table and writes bench/results/score.json.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import server  # noqa: E402

from scoring import Scorer, score_file  # noqa: E402
from scoring.backends import InProcess, ThroughService  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"in process": 3.0e6, "dask scaling": 1.6, "service": 1.0e6}


def generate(path: Path, rows: int, seed: int = 13) -> None:
    """Physical points at √s = 63 GeV: x in [0.04, 0.5], z in [0.1, 0.9], Q in [5, 12] GeV
    (y ≤ 0.91, W ≥ 5 GeV), P_T in [0, 3] GeV; written in row groups of 10⁶."""
    rng = np.random.default_rng(seed)
    step = 1_000_000
    schema = pa.schema([(k, pa.float64()) for k in ("x", "z", "Q", "PT")])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            w.write_table(pa.table({
                "x": rng.uniform(0.04, 0.5, n),
                "z": rng.uniform(0.1, 0.9, n),
                "Q": rng.uniform(5.0, 12.0, n),
                "PT": rng.uniform(0.0, 3.0, n),
            }, schema=schema))  # fmt: skip


def cpu_seconds() -> float:
    """CPU time (user + system, s) used so far by this process and its children: the
    LocalCluster's worker processes and the server are children of this one."""
    total = 0.0
    me = psutil.Process()
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def timed(name: str, src: Path, out: Path, scorer: Scorer, backend, chunk_rows: int) -> dict:
    """Wall time and CPU time of one run. Points per CPU-second does not depend on what
    else shares the machine; points per second does."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    summary = score_file(src, out, scorer, backend=backend, chunk_rows=chunk_rows, progress=False)
    dt, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rate = summary.rows / dt
    print(
        f"  {name:<24} {summary.rows:>11,d} rows  {dt:7.2f} s  {rate / 1e6:6.2f} M points/s"
        f"  {cpu:7.2f} CPU-s  {summary.rows / cpu / 1e6:6.2f} M points/CPU-s",
        flush=True,
    )
    return {
        "backend": name,
        "rows": summary.rows,
        "valid": summary.valid,
        "seconds": dt,
        "points_per_second": rate,
        "cpu_seconds": cpu,
        "points_per_cpu_second": summary.rows / cpu,
    }


def same(a: Path, b: Path) -> bool:
    """Identical tables, compared one row group at a time (bounded memory)."""
    fa, fb = pq.ParquetFile(a), pq.ParquetFile(b)
    if fa.metadata.num_rows != fb.metadata.num_rows:
        return False
    ita = fa.iter_batches(batch_size=1_000_000)
    itb = fb.iter_batches(batch_size=1_000_000)
    return all(x.equals(y) for x, y in zip(ita, itb, strict=True))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--model", choices=("exact", "surrogate"), default="exact")
    p.add_argument("--chunk-rows", type=int, default=500_000)
    p.add_argument("--server-repo", type=Path, default=server.REPO)
    p.add_argument("--skip", default="", help="comma-separated: dask, service")
    p.add_argument("--tmp", type=Path, default=None, help="directory for the files")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    scorer = Scorer(model=args.model)
    work = Path(tempfile.mkdtemp(prefix="jpsi-score-bench-", dir=args.tmp))
    runs: list[dict] = []
    notes: dict = {}
    try:
        src = work / "points.parquet"
        t0 = time.perf_counter()
        generate(src, args.rows)
        print(
            f"generated {args.rows:,d} points in {time.perf_counter() - t0:.1f} s "
            f"({src.stat().st_size / 2**20:.0f} MiB); model {args.model}, chunk "
            f"{args.chunk_rows:,d} rows",
            flush=True,
        )
        ref = work / "in_process.parquet"
        runs.append(timed("in process", src, ref, scorer, InProcess(scorer), args.chunk_rows))
        notes["output_MiB"] = ref.stat().st_size / 2**20
        if "dask" not in skip:
            from scoring.ondask import OnDask

            for n in (1, 2):
                t0 = time.perf_counter()
                backend = OnDask(scorer, "local", workers=n)
                startup = time.perf_counter() - t0
                try:
                    out = work / f"dask{n}.parquet"
                    r = timed(
                        f"dask, {n} worker{'s' * (n > 1)}",
                        src,
                        out,
                        scorer,
                        backend,
                        args.chunk_rows,
                    )
                finally:
                    backend.close()
                r["cluster_startup_seconds"] = startup
                r["identical_to_in_process"] = same(out, ref)
                out.unlink()
                runs.append(r)
        if "service" not in skip:
            with (work / "server.log").open("wb") as log:
                proc, port = server.start(2, log=log, cwd=args.server_repo)
                try:
                    backend = ThroughService(scorer, f"http://127.0.0.1:{port}")
                    try:
                        out = work / "service.parquet"
                        r = timed("service (2 workers)", src, out, scorer, backend, args.chunk_rows)
                        r["wire_format"] = backend.client._formats.get(
                            f"/v1/{'exact' if args.model == 'exact' else 'predict'}"
                        )
                        r["server_repo"] = str(args.server_repo)
                    finally:
                        backend.close()
                finally:
                    server.stop(proc)
            r["identical_to_in_process"] = same(out, ref)
            runs.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by = {r["backend"]: r for r in runs}
    checks = {"in process >= 3 M/s": by["in process"]["points_per_second"] >= TARGETS["in process"]}
    if "dask, 1 worker" in by:
        ratio = (
            by["dask, 2 workers"]["points_per_second"] / by["dask, 1 worker"]["points_per_second"]
        )
        notes["dask_2_over_1"] = ratio
        checks["dask 2 workers >= 1.6x one"] = ratio >= TARGETS["dask scaling"]
        print(f"  dask scaling, 2 workers / 1: {ratio:.2f}x")
    if "service (2 workers)" in by:
        checks["service >= 1 M/s"] = (
            by["service (2 workers)"]["points_per_second"] >= TARGETS["service"]
        )
    for name, ok in checks.items():
        print(f"  target {name}: {'met' if ok else 'NOT met'}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "benchmark": "jpsi-score, Parquet to Parquet",
        "command": "python bench/score.py " + " ".join(argv or sys.argv[1:]),
        "rows": args.rows,
        "model": args.model,
        "chunk_rows": args.chunk_rows,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "runs": runs,
        "notes": notes,
        "targets_met": checks,
    }
    (RESULTS / "score.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'score.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
