"""``jpsi-score INPUT OUTPUT``: score a Parquet or CSV file of points into a Parquet file.

Examples::

    jpsi-score points.parquet scored.parquet                       # exact engine, in process
    jpsi-score points.csv scored.parquet --model surrogate --sqrt-s 105
    jpsi-score points.parquet scored.parquet --ldme-set Chao2012 --ldme O3S1_8=0.006
    jpsi-score points.parquet scored.parquet --scheduler local     # Dask, one worker per core
    jpsi-score points.parquet scored.parquet --scheduler tcp://head:8786
    jpsi-score points.parquet scored.parquet --url http://127.0.0.1:8000

Exit status 0 on success, 2 for a bad file or option, 1 when the service refuses or
cannot be reached (the message says which); no OUTPUT is written on failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from jpsi_client import JpsiError
from scoring.engine import MODELS, Scorer
from scoring.files import ScoreError
from scoring.run import make_backend, score_file


def _ldme(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--ldme wants NAME=VALUE, got {text!r}")
    try:
        return name, float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--ldme {name}: {value!r} is not a number") from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jpsi-score",
        description="Score kinematic points (columns x, z, Q [GeV], PT [GeV], optional "
        "sqrt_s [GeV]) from Parquet or CSV into Parquet: the input columns, valid, y, every "
        "output (pb/GeV^4), reasons and flags, in input order.",
    )
    p.add_argument("input", help="Parquet (.parquet) or CSV (.csv) file")
    p.add_argument("output", help="Parquet file to write (replaced only when complete)")
    p.add_argument(
        "--model",
        choices=MODELS,
        default="exact",
        help="exact engine (default) or the ONNX surrogate",
    )
    p.add_argument(
        "--sqrt-s",
        type=float,
        default=63.0,
        help="√s in GeV for rows without a sqrt_s column (default 63)",
    )
    p.add_argument("--channels", help="comma-separated outputs (default: all ten)")
    p.add_argument("--pdf-set", help="PDF set of the exact engine (default: the engine's)")
    p.add_argument(
        "--quarks",
        choices=("full", "ud"),
        default="full",
        help="quark flavours of the exact engine (default full)",
    )
    p.add_argument(
        "--ldme-set",
        help="a registered LDME set of the exact engine (GET /v1/theory lists them; default "
        "the engine's)",
    )
    p.add_argument(
        "--ldme",
        type=_ldme,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an LDME (GeV^3; O3P0_8 in GeV^5), repeatable",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS|local",
        help="score on Dask: 'local' starts a local cluster, else a scheduler "
        "address such as tcp://host:8786",
    )
    where.add_argument("--url", help="score through a running jpsi-serve at this URL")
    p.add_argument(
        "--workers", type=int, help="worker processes of --scheduler local (default: one per core)"
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("JPSI_API_KEY"),
        help="X-API-Key for --url (default: $JPSI_API_KEY)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=8,
        help="--url: retries of a request answered 503/429 or not connected (default 8)",
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        default=500_000,
        help="rows read, scored and written at a time (default 500000)",
    )
    p.add_argument(
        "--compression",
        default="snappy",
        help="Parquet compression: snappy (default), zstd, lz4, none",
    )
    p.add_argument("--artifact-dir", help="surrogate artifact set (default: the shipped one)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="progress bar (default: on a terminal)",
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    t0 = time.perf_counter()
    backend = None
    try:
        scorer = Scorer(
            model=args.model,
            sqrt_s=args.sqrt_s,
            pdf_set=args.pdf_set,
            quarks=args.quarks,
            ldme_set=args.ldme_set,
            ldme=dict(args.ldme),
            channels=tuple(c.strip() for c in args.channels.split(",")) if args.channels else None,
            artifact_dir=args.artifact_dir,
        )
        backend = make_backend(
            scorer, args.scheduler, args.url, args.workers, args.api_key, args.retries
        )
        summary = score_file(
            args.input,
            args.output,
            scorer,
            backend=backend,
            chunk_rows=args.chunk_rows,
            compression=args.compression,
            progress=args.progress,
        )
    except (ScoreError, ValueError) as exc:
        print(f"jpsi-score: error: {exc}", file=sys.stderr)
        return 2
    except JpsiError as exc:  # the service refused or could not be reached (--url)
        print(f"jpsi-score: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if backend is not None:
            backend.close()
    dt = time.perf_counter() - t0
    print(
        f"jpsi-score: {summary.rows} rows ({summary.valid} valid) -> {summary.output} "
        f"[{summary.backend}, {dt:.2f} s, {summary.rows / max(dt, 1e-9):,.0f} rows/s]",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
