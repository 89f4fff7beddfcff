"""jpsi-score: the three backends give the same file bit for bit (in process, Dask, the
service), whatever the chunking; bad files give a clear error and no output; bad rows are
answered in place. The Dask cluster is a real one: a ``dask scheduler`` and two ``dask
worker`` processes on 127.0.0.1, as on a multi-machine cluster (docs/client.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import physics
from scoring.__main__ import main
from tests.client.conftest import make_points

ROWS = 3001


@pytest.fixture(scope="module")
def points_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("score") / "points.parquet"
    df = make_points(ROWS).assign(sqrt_s=np.resize([63.0, 105.0], ROWS))
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=700)
    return path


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler --host 127.0.0.1 --port 0`` and two ``dask worker`` processes."""
    d = tmp_path_factory.mktemp("dask")
    info = d / "scheduler.json"
    common = ["--no-dashboard"]
    # as docs/client.md says: workers without the nanny's MALLOC_TRIM_THRESHOLD_ (3x the CPU)
    (d / "config").mkdir()
    (d / "config" / "jpsi.yaml").write_text(
        "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_TRIM_THRESHOLD_: null\n"
    )
    env = dict(os.environ, DASK_CONFIG=str(d / "config"))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scheduler-file",
                str(info),
                *common,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--host",
                        "127.0.0.1",
                        *common,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
        from dask.distributed import Client

        with Client(address, timeout=60) as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def score(*args) -> int:
    return main([str(a) for a in args] + ["--no-progress"])


@pytest.mark.parametrize("model", ["exact", "surrogate"])
def test_three_backends_same_file_bit_for_bit(
    points_file, tmp_path, server_url, dask_cluster, model
):
    ref = tmp_path / "in_process.parquet"
    assert score(points_file, ref, "--model", model, "--chunk-rows", 1000) == 0
    runs = {
        "in process, other chunks": ["--chunk-rows", 333],
        "dask cluster": ["--scheduler", dask_cluster, "--chunk-rows", 500],
        "service": ["--url", server_url, "--chunk-rows", 1200],
    }
    want = pq.read_table(ref)
    for name, extra in runs.items():
        out = tmp_path / f"{name}.parquet"
        assert score(points_file, out, "--model", model, *extra) == 0, name
        assert pq.read_table(out).equals(want), name
    # what the file holds: input columns then results, in input order, bad rows in place
    assert want.column_names[:5] == ["x", "z", "Q", "PT", "sqrt_s"]
    src = pq.read_table(points_file)
    for c in src.column_names:
        assert want.column(c).equals(src.column(c))
    reasons = want.column("reasons").to_pylist()
    assert reasons[2] == ["Q = nan GeV is not finite"] and reasons[1] == ["x = 1.5 not in (0, 1)"]
    if model == "exact":
        s = src.column("sqrt_s").to_numpy()
        ev = physics.evaluate(*(src.column(k).to_numpy() for k in ("x", "z", "Q", "PT")), sqrt_s=s)
        np.testing.assert_array_equal(
            want.column("total_L").to_numpy(zero_copy_only=False), ev["total_L"]
        )


def test_workers_load_the_model_once(points_file, tmp_path, dask_cluster):
    """Several chunks per worker, one ONNX session per worker process."""
    assert (
        score(
            points_file,
            tmp_path / "o.parquet",
            "--model",
            "surrogate",
            "--scheduler",
            dask_cluster,
            "--chunk-rows",
            200,
        )
        == 0
    )
    from dask.distributed import Client

    from scoring import runtime

    with Client(dask_cluster) as c:
        loads = c.run(lambda: runtime.load_surrogate.cache_info().misses)
        trim = c.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(loads) == 2 and set(loads.values()) == {1}
    assert set(trim.values()) == {None}


def test_local_cluster(points_file, tmp_path):
    ref, out = tmp_path / "ref.parquet", tmp_path / "local.parquet"
    assert score(points_file, ref, "--channels", "total_U") == 0
    assert (
        score(
            points_file,
            out,
            "--channels",
            "total_U",
            "--scheduler",
            "local",
            "--workers",
            "1",
            "--chunk-rows",
            1000,
        )
        == 0
    )
    assert pq.read_table(out).equals(pq.read_table(ref))
    assert pq.read_table(out).column_names[-4:] == ["y", "total_U", "reasons", "flags"]


def test_csv_equals_parquet(points_file, tmp_path):
    csv = tmp_path / "points.csv"
    pq.read_table(points_file).to_pandas().to_csv(csv, index=False)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert score(points_file, a) == 0 and score(csv, b, "--chunk-rows", 400) == 0
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.num_rows == tb.num_rows == ROWS
    # CSV carries 17 significant digits: the same doubles
    assert tb.equals(ta)


def test_theory_options_reach_the_engine(points_file, tmp_path, server_url):
    options = ["--quarks", "ud", "--ldme-set", "Chao2012", "--ldme", "O3S1_8=0.006"]
    out, via = tmp_path / "ud.parquet", tmp_path / "ud_service.parquet"
    assert score(points_file, out, *options) == 0
    assert score(points_file, via, *options, "--url", server_url) == 0
    assert pq.read_table(via).equals(pq.read_table(out))
    src = pq.read_table(points_file)
    cfg = physics.TheoryConfig(quarks="ud", ldme=physics.LDME(O3S1_8=0.006))
    ev = physics.evaluate(
        *(src.column(k).to_numpy() for k in ("x", "z", "Q", "PT")),
        sqrt_s=src.column("sqrt_s").to_numpy(),
        theory=cfg,
    )
    np.testing.assert_array_equal(
        pq.read_table(out).column("oct3s1_U").to_numpy(zero_copy_only=False), ev["oct3s1_U"]
    )
    assert score(points_file, tmp_path / "x.parquet", "--ldme-set", "Nope") == 2


def no_output_left(directory: Path, name: str) -> bool:
    return not any(p.name.startswith((name, f".{name}")) for p in directory.iterdir())


def test_missing_column(tmp_path, capsys):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"x": [0.2], "z": [0.5], "Q": [20.0]}), src)
    assert score(src, tmp_path / "out.parquet") == 2
    assert "missing column(s) PT" in capsys.readouterr().err
    assert no_output_left(tmp_path, "out.parquet")


def test_malformed_file(tmp_path, capsys):
    src = tmp_path / "in.parquet"
    src.write_bytes(b"PAR1 this is not a parquet file")
    assert score(src, tmp_path / "out.parquet") == 2
    assert "not a readable Parquet file" in capsys.readouterr().err
    assert no_output_left(tmp_path, "out.parquet")


def test_non_numeric_column(tmp_path, capsys):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"x": ["0.2"], "z": [0.5], "Q": [20.0], "PT": [1.0]}), src)
    assert score(src, tmp_path / "out.parquet") == 2
    assert "column 'x' is not numeric" in capsys.readouterr().err
    assert no_output_left(tmp_path, "out.parquet")


def test_csv_with_text_in_a_column_keeps_the_previous_output(tmp_path, capsys):
    """A bad value far into the file: the error names the column, the old OUTPUT stays."""
    src = tmp_path / "in.csv"
    lines = ["x,z,Q,PT"] + ["0.2,0.5,20,1"] * 20000 + ["0.2,abc,20,1"]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous")
    assert score(src, out, "--chunk-rows", 100) == 2
    err = capsys.readouterr().err
    assert "cannot read the file" in err and "abc" in err
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_nan_and_null_rows_are_invalid_not_fatal(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {
                "x": [0.2, None, 0.2, float("nan")],
                "z": [0.5, 0.5, 0.5, 0.5],
                "Q": [20.0, 20.0, 20.0, 20.0],
                "PT": [1.0, 1.0, -1.0, 1.0],
            }
        ),
        src,
    )
    out = tmp_path / "out.parquet"
    assert score(src, out) == 0
    t = pq.read_table(out)
    assert t.column("valid").to_pylist() == [True, False, False, False]
    assert t.column("reasons").to_pylist() == [
        [],
        ["x = nan is not finite"],
        ["PT = -1 GeV < 0"],
        ["x = nan is not finite"],
    ]
    assert t.column("total_U").null_count == 3


def test_empty_input_gives_an_empty_file(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({k: pa.array([], pa.float64()) for k in ("x", "z", "Q", "PT")}), src)
    out = tmp_path / "out.parquet"
    assert score(src, out) == 0
    t = pq.read_table(out)
    assert t.num_rows == 0 and t.column_names[-2:] == ["reasons", "flags"]


def test_bad_options(tmp_path, points_file, capsys):
    assert score(points_file, tmp_path / "o.parquet", "--channels", "total_X") == 2
    assert "unknown output" in capsys.readouterr().err
    assert score(points_file, tmp_path / "o.parquet", "--model", "surrogate", "--quarks", "ud") == 2
    assert "exact model only" in capsys.readouterr().err
    assert score(tmp_path / "absent.parquet", tmp_path / "o.parquet") == 2
    assert "no such file" in capsys.readouterr().err
    assert no_output_left(tmp_path, "o.parquet")


def test_console_script_runs(points_file, tmp_path):
    out = tmp_path / "cli.parquet"
    exe = Path(sys.executable).with_name("jpsi-score")
    r = subprocess.run(
        [str(exe), str(points_file), str(out), "--channels", "total_U"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert f"{ROWS} rows" in r.stderr and pq.read_table(out).num_rows == ROWS


def test_service_refusal_is_exit_1_without_output(points_file, tmp_path, capsys):
    from tests.service.server import free_port

    out = tmp_path / "o.parquet"
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main([str(points_file), str(out), "--url", url, "--retries", "0", "--no-progress"]) == 1
    assert "jpsi-score: error:" in capsys.readouterr().err
    assert no_output_left(tmp_path, "o.parquet")


def test_memory_stays_flat_over_many_chunks(tmp_path):
    """Arrow memory after the 20th chunk read is what it was after the 5th: nothing of a
    chunk outlives it. (pyarrow's default pre-buffering kept the bytes of every row group
    read until the file was closed: +37 MB here, 32 bytes per row.)"""
    from scoring.files import Input

    src = tmp_path / "big.parquet"
    rng = np.random.default_rng(5)
    n = 2_000_000
    table = pa.table({k: rng.uniform(0.1, 0.5, n) for k in ("x", "z", "Q", "PT")})
    pq.write_table(table, src, row_group_size=500_000)
    del table
    seen = []
    for i, chunk in enumerate(Input(src, 100_000).chunks()):
        del chunk
        if i in (4, 19):
            seen.append(pa.total_allocated_bytes())
    assert len(seen) == 2 and seen[1] - seen[0] < 4_000_000, seen
