"""Arrow IPC streams on /v1/exact, /v1/predict, /v1/anomaly: the numbers of the point format
bit for bit, batches and chunks, 10^6 rows, and every refusal as a 4xx naming the column."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import physics
from service import Settings, bulk
from tests.service.conftest import make_client, surrogate_sigma
from tests.service.test_exact import POINTS

ARROW = {"content-type": bulk.ARROW_STREAM}
COLS = {k: [p[k] for p in POINTS] for k in ("x", "z", "Q", "PT")}


def stream(cols: dict, batch_rows: int | None = None, schema=None, options=None) -> bytes:
    table = pa.table(
        {
            k: v if isinstance(v, pa.Array) else pa.array(v, type=pa.float64())
            for k, v in cols.items()
        }
    )
    if schema is not None:
        table = table.cast(schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def read(r) -> pa.Table:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == bulk.ARROW_STREAM
    return pa.ipc.open_stream(r.content).read_all()


def refused(r, status: int = 422) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return r.json()


@pytest.mark.parametrize("path", ["/v1/exact", "/v1/predict"])
def test_a_stream_carries_the_numbers_of_the_point_format_bit_for_bit(client, path):
    ref = client.post(path, json={"points": POINTS, "sqrt_s": 63.0}).json()
    table = read(client.post(path + "?sqrt_s=63", content=stream(COLS), headers=ARROW))
    assert table.column_names == ["valid", "y", *physics.OUTPUTS, "reasons", "flags"]
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta["units"] == "pb/GeV^4" and float(meta["sqrt_s"]) == 63.0
    key = "theory" if path == "/v1/exact" else "model"
    assert json.loads(meta[key]) == ref[key]
    rows = table.to_pylist()
    for row, res in zip(rows, ref["results"], strict=True):
        assert row["valid"] == res["valid"] and row["y"] == res["y"]
        for name in physics.OUTPUTS:
            assert row[name] == (res["sigma"][name] if res["valid"] else None)
        assert row["reasons"] == res["errors"] and row["flags"] == res["flags"]


def test_exact_stream_equals_the_engine_with_query_parameters(client):
    query = "?sqrt_s=100&channels=total_U,oct3s1_L&quarks=ud&ldme.O3S1_8=0.004"
    table = read(client.post("/v1/exact" + query, content=stream(COLS), headers=ARROW))
    assert table.column_names == ["valid", "y", "total_U", "oct3s1_L", "reasons", "flags"]
    theory = json.loads(table.schema.metadata[b"theory"])
    assert theory["quarks"] == "ud" and theory["ldme"]["O3S1_8"] == 0.004
    cfg = physics.TheoryConfig(
        quarks="ud",
        ldme=physics.LDME(**{**theory["ldme"]}),
        pdf_set=theory["pdf_set"],
    )
    ev = physics.evaluate(*(np.array(v) for v in COLS.values()), sqrt_s=100.0, theory=cfg)
    valid = ev["valid"]
    assert table.column("valid").to_pylist() == valid.tolist()
    got = np.array(table.column("total_U").to_pylist(), dtype=float)
    np.testing.assert_array_equal(got[valid], ev["total_U"][valid])


def test_many_batches_and_small_chunks_give_the_same_answer(client, monkeypatch):
    rng = np.random.default_rng(7)
    n = 500
    cols = {
        "x": rng.uniform(0.01, 0.6, n),
        "z": rng.uniform(0.2, 0.99, n),
        "Q": rng.uniform(5.0, 40.0, n),
        "PT": rng.uniform(0.0, 4.0, n),
    }
    whole = read(client.post("/v1/exact", content=stream(cols), headers=ARROW))
    monkeypatch.setattr(bulk, "CHUNK", 37)
    pieces = read(client.post("/v1/exact", content=stream(cols, batch_rows=61), headers=ARROW))
    assert pieces.num_rows == n and whole.equals(pieces)
    assert not all(pieces.column("valid").to_pylist())  # invalid rows were chunked too
    points = [dict(zip(cols, row, strict=True)) for row in zip(*cols.values(), strict=True)]
    ref = client.post(
        "/v1/exact", json={"points": [{k: float(v) for k, v in p.items()} for p in points]}
    )
    assert [r["errors"] for r in ref.json()["results"]] == pieces.column("reasons").to_pylist()


def test_a_million_points_in_one_request(client):
    n = 1_000_000
    rng = np.random.default_rng(1)
    cols = {
        "x": rng.uniform(0.05, 0.5, n),
        "z": rng.uniform(0.2, 0.8, n),
        "Q": rng.uniform(6.0, 30.0, n),
        "PT": rng.uniform(0.0, 2.0, n),
    }
    table = read(client.post("/v1/predict?channels=total_U", content=stream(cols), headers=ARROW))
    assert table.num_rows == n
    valid = np.asarray(table.column("valid"))
    got = np.asarray(table.column("total_U").to_numpy(zero_copy_only=False))
    sample = np.flatnonzero(valid)[:: n // 100]
    x, z, Q, PT = (cols[k][sample] for k in ("x", "z", "Q", "PT"))
    expected = surrogate_sigma(np.column_stack([np.full(sample.size, 63.0), x, z, Q, PT]))[:, -2]
    np.testing.assert_allclose(got[sample], expected, rtol=1e-12)
    assert np.isnan(got[~valid]).all() and valid.sum() > n // 2


def test_anomaly_stream_with_supplied_values(client):
    sigma = [3.7e-6, None, None, None, 1e-3]
    points = [
        {**p, **({"sigma": {"total_U": s}} if s is not None else {})}
        for p, s in zip(POINTS, sigma, strict=True)
    ]
    ref = client.post("/v1/anomaly", json={"points": points}).json()
    table = read(
        client.post("/v1/anomaly", content=stream({**COLS, "sigma.total_U": sigma}), headers=ARROW)
    )
    assert float(table.schema.metadata[b"threshold"]) == ref["threshold"]
    for row, res in zip(table.to_pylist(), ref["results"], strict=True):
        assert row["score"] == res["score"] and row["is_anomaly"] == res["is_anomaly"]
        assert row["reasons"] == res["reasons"]
        for name in bulk.ANOMALY_COMPONENTS:
            assert row[name] == res["components"].get(name)


def _compressed() -> bytes:
    return stream(COLS, options=pa.ipc.IpcWriteOptions(compression="lz4"))


def _float32() -> bytes:
    return stream({**COLS, "Q": pa.array(COLS["Q"], type=pa.float32())})


def _dictionary() -> bytes:
    return stream({**COLS, "z": pa.array(COLS["z"]).dictionary_encode()})


@pytest.mark.parametrize(
    ("make", "loc", "words"),
    [
        (lambda: b"", ["body"], "empty body"),
        (lambda: b"not an arrow stream", ["body"], "not an Arrow IPC stream"),
        (lambda: stream(COLS)[:-30], ["body"], "truncated or corrupt"),
        (lambda: stream(COLS)[:200], ["body"], "not an Arrow IPC stream (or truncated)"),
        (lambda: stream({**COLS, "w": [1.0] * 5}), ["body", "columns", "w"], "unknown column"),
        (
            lambda: stream({k: COLS[k] for k in ("x", "z", "Q")}),
            ["body", "columns", "PT"],
            "missing",
        ),
        (_float32, ["body", "columns", "Q"], "type float"),
        (
            lambda: stream({**COLS, "x": pa.array([1, 2, 3, 4, 5])}),
            ["body", "columns", "x"],
            "int64",
        ),
        (_dictionary, ["body", "columns", "z"], "dictionary"),
        (
            lambda: stream({**COLS, "x": [0.1, None, 0.2, 0.3, 0.4]}),
            ["body", "columns", "x", 1],
            "null",
        ),
        (
            lambda: stream({**COLS, "Q": [1.0, 2.0, np.inf, 4.0, 5.0]}),
            ["body", "columns", "Q", 2],
            "inf",
        ),
        (
            lambda: stream({**COLS, "PT": [1.0, 2.0, 3.0, np.nan, 5.0]}),
            ["body", "columns", "PT", 3],
            "nan",
        ),
        (_compressed, ["body"], "compressed"),
        (
            lambda: stream({**COLS, "sigma.total_U": [1.0] * 5}),
            ["body", "columns", "sigma.total_U"],
            "",
        ),
    ],
)
def test_bad_streams_are_refused_naming_the_column_and_row(client, make, loc, words):
    for path in ("/v1/exact", "/v1/predict"):
        body = refused(client.post(path, content=make(), headers=ARROW))
        assert body["errors"][0]["loc"] == loc
        assert words in body["detail"]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("?sqrt_s=abc", ["query", "sqrt_s"]),
        ("?sqrt_s=-5", ["query", "sqrt_s"]),
        ("?sqrt_s=nan", ["query", "sqrt_s"]),
        ("?channels=total_U,bogus", ["query", "channels", 1]),
        ("?pdf_set=NoSuchSet", ["query", "pdf_set"]),
        ("?quarks=all", ["query", "quarks"]),
        ("?ldme.O3S1_8=abc", ["query", "ldme.O3S1_8"]),
        ("?ldme.bogus=1", ["query", "ldme.bogus"]),
        ("?points=3", ["query", "points"]),
        ("?sqrt_s=63&sqrt_s=64", ["query", "sqrt_s"]),
    ],
)
def test_bad_query_parameters_are_refused_by_name(client, query, loc):
    body = refused(client.post("/v1/exact" + query, content=stream(COLS), headers=ARROW))
    assert body["errors"][0]["loc"] == loc


def test_theory_parameters_belong_to_exact_only(client):
    body = refused(client.post("/v1/predict?pdf_set=x", content=stream(COLS), headers=ARROW))
    assert body["errors"][0]["loc"] == ["query", "pdf_set"]
    body = refused(client.post("/v1/anomaly?channels=total_U", content=stream(COLS), headers=ARROW))
    assert body["errors"][0]["loc"] == ["query", "channels"]


def test_anomaly_refuses_an_empty_stream_and_unknown_sigma_columns(client):
    empty = stream({k: [] for k in COLS})
    assert "no rows" in refused(client.post("/v1/anomaly", content=empty, headers=ARROW))["detail"]
    body = refused(
        client.post("/v1/anomaly", content=stream({**COLS, "sigma.x": [1.0] * 5}), headers=ARROW)
    )
    assert body["errors"][0]["loc"] == ["body", "columns", "sigma.x"]


def test_limits_on_rows_and_bytes_answer_413(artifact_dir):
    settings = Settings(artifact_dir=artifact_dir, max_arrow_rows=4, max_arrow_bytes=4096)
    with make_client(settings) as c:
        # rows: refused from the batch header, before the batch is decoded
        body = refused(c.post("/v1/exact", content=stream(COLS), headers=ARROW), 413)
        assert "JPSI_MAX_ARROW_ROWS" in body["detail"]
        four = {k: v[:4] for k, v in COLS.items()}
        assert c.post("/v1/exact", content=stream(four), headers=ARROW).status_code == 200
        # bytes: the Arrow limit, not the JSON one, applies to streams
        big = stream({k: v * 40 for k, v in four.items()}, batch_rows=1)
        assert len(big) > 4096
        refused(c.post("/v1/exact", content=big, headers=ARROW), 413)


def test_the_arrow_byte_limit_is_larger_than_the_json_one(artifact_dir):
    settings = Settings(artifact_dir=artifact_dir, max_body_bytes=2048)
    with make_client(settings) as c:
        body = stream({k: v * 20 for k, v in COLS.items()})
        assert len(body) > 2048
        assert c.post("/v1/exact", content=body, headers=ARROW).status_code == 200
        r = c.post("/v1/exact", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_an_encoded_stream_is_refused_with_415(client):
    r = client.post(
        "/v1/exact", content=stream(COLS), headers={**ARROW, "content-encoding": "gzip"}
    )
    assert refused(r, 415)["status"] == 415


def test_accept_arrow_on_a_json_anomaly_request(client):
    ref = client.post("/v1/anomaly", json={"points": POINTS}).json()
    r = client.post("/v1/anomaly", json={"points": POINTS}, headers={"accept": bulk.ARROW_STREAM})
    table = read(r)
    assert table.column("score").to_pylist() == [res["score"] for res in ref["results"]]
    assert table.column("reasons").to_pylist() == [res["reasons"] for res in ref["results"]]


def test_a_registered_ldme_set_by_name_in_the_query(client):
    from physics.ldme import DEFAULT_LDME_SET

    table = read(
        client.post(f"/v1/exact?ldme_set={DEFAULT_LDME_SET}", content=stream(COLS), headers=ARROW)
    )
    assert json.loads(table.schema.metadata[b"theory"])["ldme_set"] == DEFAULT_LDME_SET
    body = refused(client.post("/v1/exact?ldme_set=NoSuchSet", content=stream(COLS), headers=ARROW))
    assert body["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize("n", [0, 1, 9, 5000])
def test_flag_lists_without_a_row_loop_equal_the_row_by_row_lists(n):
    from service.bulk import _flag_lists, _lists, flag_rows

    rng = np.random.default_rng(n)
    names = ("outside_tmd_region", "outside_acceptance", "z_above_0.9", "outside_training_domain")
    flags = {k: rng.random(n) < p for k, p in zip(names, (0.2, 0.3, 0.1, 0.05), strict=True)}
    assert _flag_lists(flags, n).equals(_lists(flag_rows(flags, 3), 3, n))
    assert _flag_lists({}, n).equals(_lists([], 0, n))
