"""jpsi_client against a real jpsi-serve: every endpoint, tables in input order, the same
numbers as the engine in process (bit for bit), requests split and run concurrently,
typed errors carrying the problem details."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import physics
from jpsi_client import AsyncClient, Client, NotFound, ValidationFailed
from jpsi_client.client import OUTPUTS
from scoring import Scorer
from tests.client.conftest import make_points


def test_outputs_are_the_engines():
    assert OUTPUTS == physics.OUTPUTS


def formats(url: str) -> list[str]:
    """The wire formats this server's OpenAPI document offers for /v1/exact."""
    with Client(url) as c:
        best = c._format_from(c.openapi(), "/v1/exact")
    return ["arrow", "columns", "points"][["arrow", "columns", "points"].index(best) :]


def test_exact_equals_the_engine_bit_for_bit(server_url, points):
    with Client(server_url) as c:
        got = c.exact(points, as_arrow=True)
    want = Scorer().score(pa.Table.from_pandas(points, preserve_index=False))
    assert got.column_names == [*points.columns, *want.column_names]
    assert got.select(want.column_names).equals(want)
    # and against physics.evaluate directly, row by row in input order
    ev = physics.evaluate(points.x, points.z, points.Q, points.PT, sqrt_s=63.0)
    valid = got.column("valid").to_numpy(zero_copy_only=False)
    assert valid.sum() > 2000 and (~valid).sum() > 100
    fine = np.isfinite(points.to_numpy()).all(axis=1)
    np.testing.assert_array_equal(valid, ev.valid & fine)
    for k in OUTPUTS:
        np.testing.assert_array_equal(got.column(k).to_numpy(zero_copy_only=False), ev[k])
    reasons = got.column("reasons").to_pylist()
    assert reasons[1] == ["x = 1.5 not in (0, 1)"]
    assert reasons[2] == ["Q = nan GeV is not finite"]
    assert reasons[4] == ["PT = inf GeV is not finite"]
    assert got.column("flags").to_pylist() == [
        f if v else [] for f, v in zip(ev.flags, ev.valid, strict=True)
    ]


@pytest.mark.parametrize("fmt", ["arrow", "columns", "points"])
def test_every_wire_format_gives_the_same_table(server_url, points, fmt):
    if fmt not in formats(server_url):
        pytest.skip(f"this server does not offer the {fmt} format (branch bulk not merged)")
    with Client(server_url, wire_format=fmt) as c:
        got = c.exact(points, as_arrow=True)
    with Client(server_url, wire_format="points") as c:
        ref = c.exact(points, as_arrow=True)
    assert got.equals(ref)


def test_split_into_many_concurrent_requests(server_url, points):
    """max_rows=97 → 31 requests, 5 in flight: the same table as one request."""
    with Client(server_url, max_rows=97, max_concurrency=5) as c:
        many = c.predict(points, channels=["total_U", "total_L"], as_arrow=True)
    with Client(server_url) as c:
        one = c.predict(points, channels=["total_U", "total_L"], as_arrow=True)
    assert many.equals(one)
    assert many.column_names[4:] == ["valid", "y", "total_U", "total_L", "reasons", "flags"]


def test_predict_equals_the_surrogate_in_process(server_url, points):
    with Client(server_url) as c:
        got = c.predict(points)
    want = Scorer(model="surrogate").score(pa.Table.from_pandas(points, preserve_index=False))
    assert pa.Table.from_pandas(got[want.column_names], preserve_index=False).equals(want)
    assert got.attrs["model"]["name"]
    assert any("outside_training_domain" in f for f in got["flags"])


def test_per_row_sqrt_s_and_refused_sqrt_s(server_url):
    df = make_points(400).assign(sqrt_s=np.resize([63.0, 105.0, 28.0], 400))
    df.loc[7, "sqrt_s"] = -5.0
    with Client(server_url, max_rows=50) as c:
        got = c.exact(df, as_arrow=True)
    want = Scorer().score(pa.Table.from_pandas(df, preserve_index=False))
    assert got.select(want.column_names).equals(want)
    assert got.column("reasons")[7].as_py() == ["sqrt_s = -5 GeV outside (0, 100000]"]
    ev = physics.evaluate(df.x[:30], df.z[:30], df.Q[:30], df.PT[:30], sqrt_s=df.sqrt_s[:30])
    np.testing.assert_array_equal(
        got.column("total_U").to_numpy(zero_copy_only=False)[:30], ev["total_U"]
    )


def test_inputs_as_numpy_and_dict_and_theory(server_url):
    arr = make_points(20).to_numpy()[5:]
    with Client(server_url) as c:
        a = c.exact(arr, quarks="ud", ldme={"O3S1_8": 0.006})
        b = c.exact(
            {"x": arr[:, 0], "z": arr[:, 1], "Q": arr[:, 2], "PT": arr[:, 3]},
            theory={"quarks": "ud", "ldme": {"O3S1_8": 0.006}},
        )
    pd.testing.assert_frame_equal(a, b)
    cfg = physics.TheoryConfig(quarks="ud", ldme=physics.LDME(O3S1_8=0.006))
    ev = physics.evaluate(*arr.T, theory=cfg)
    np.testing.assert_array_equal(a["oct3s1_U"].to_numpy(), ev["oct3s1_U"])
    assert a.attrs["theory"]["quarks"] == "ud"


def test_small_endpoints(server_url):
    pts = make_points(250)
    with Client(server_url) as c:
        ex = c.explain(pts.iloc[5:205], target="total_L")  # 200 points: two requests
        an = c.anomaly(pts.iloc[5:15].assign(**{"sigma.total_U": [1e-5] + [np.nan] * 9}))
        pdf = c.pdf([0.1, 0.2, 2.0], 10.0, flavours=[21, 2])
        binned = c.binned([{"x": [0.1, 0.3], "z": [0.4, 0.9], "Q": [10, 30]}] * 2, [0.5, 1, 2])
        models = c.models()
    assert len(ex) == 200 and list(ex.x) == list(pts.x.iloc[5:205])
    ok = ex.valid.to_numpy()
    total = ex.attrs["base_value"] + ex[["shap.x", "shap.z", "shap.Q", "shap.PT"]].sum(axis=1)
    np.testing.assert_allclose(total[ok], ex.prediction[ok], rtol=0, atol=1e-9)
    assert an.score.between(0, 1).all() and "threshold" in an.attrs
    assert any(r and r[0].startswith("theory") for r in an.reasons[:1])
    assert list(pdf.valid) == [True, True, False]
    assert pdf["xf.21"][0] == pytest.approx(physics.load_pdf().xfxQ(21, 0.1, 10.0), rel=1e-12)
    assert list(binned.bin) == [0, 0, 0, 1, 1, 1] and list(binned.PT) == [0.5, 1, 2] * 2
    assert {a["directory"] for a in models["artifacts"]} >= {"surrogate"}


def test_theory_endpoint(server_url):
    with Client(server_url) as c:
        try:
            info = c.theory()
        except NotFound:
            pytest.skip("this server has no GET /v1/theory (branch theory not merged)")
    assert isinstance(info, dict) and info


def test_refusal_is_typed_with_problem_details(server_url):
    with Client(server_url) as c, pytest.raises(ValidationFailed) as err:
        c.exact(make_points(10), channels=["total_X"])
    e = err.value
    assert e.status == 422 and e.errors
    assert any("channels" in [str(p) for p in item["loc"]] for item in e.errors)
    assert "channels" in str(e)


def test_async_client_matches(server_url, points):
    async def run():
        async with AsyncClient(server_url, max_rows=500, max_concurrency=3) as c:
            return await c.exact(points, as_arrow=True), await c.models()

    got, models = asyncio.run(run())
    with Client(server_url) as c:
        assert got.equals(c.exact(points, as_arrow=True))
    assert "artifacts" in models


@pytest.mark.parametrize("fmt", ["arrow", "columns"])
def test_anomaly_in_every_wire_format(server_url, fmt):
    if fmt not in formats(server_url):
        pytest.skip(f"this server does not offer the {fmt} format (branch bulk not merged)")
    pts = make_points(700).iloc[5:].reset_index(drop=True)
    pts["sigma.total_U"] = np.where(np.arange(len(pts)) % 3 == 0, 1e-5, np.nan)
    with Client(server_url, wire_format=fmt, max_rows=300) as c:
        got = c.anomaly(pts, as_arrow=True)
    with Client(server_url, wire_format="points", max_rows=300) as c:
        assert got.equals(c.anomaly(pts, as_arrow=True))


def test_anomaly_refuses_non_finite_input_before_sending(server_url):
    with Client(server_url) as c, pytest.raises(ValueError, match="Q = nan at row 2"):
        c.anomaly(make_points(10))
