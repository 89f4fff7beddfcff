"""Theory bands through the client: ``uncertainty`` on ``exact`` and ``binned`` gives, bit
for bit, the ``band`` of a direct POST with the same uncertainty, as columns
``<output>_lo``/``_hi`` and ``<output>_<source>_lo``/``_hi`` after ``flags``; the band
travels in points JSON whatever format the client would otherwise use."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest

from jpsi_client import AsyncClient, Client, errors
from tests.client.conftest import make_points

NEGATIVE = {"name": "neg", "O3S1_8": 0.002, "O3S1_1": 1.3, "O1S0_8": 0.05, "O3P0_8": -0.016}
UNC = {"ldme_sets": ["Chao2012", NEGATIVE], "scales": "7-point", "pdf_sets": ["NNPDF31_lo_as_0130"]}
CHANNELS = ["total_U", "oct3p0_L", "total_L"]
SOURCES = ("ldme", "scale", "pdf")


def finite_points(n: int) -> pd.DataFrame:
    """Points the service takes as JSON (make_points without its NaN and infinite rows);
    some at low Q, where ξ_F = ½ leaves the PDF grid (scale_band_incomplete)."""
    df = make_points(n).drop(index=[2, 4]).reset_index(drop=True)
    df.loc[5:15, "Q"] = np.linspace(2.0, 3.2, 11)
    return df


def direct(url: str, path: str, body: dict) -> dict:
    r = httpx.post(url + path, json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def same(a, b) -> bool:
    """Bit for bit, NaN equal to NaN."""
    return np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True)


def same_plain(df: pd.DataFrame, plain: pd.DataFrame) -> None:
    """``df`` (with a band) holds ``plain`` (without), its flags followed by band flags."""
    cols = [c for c in plain.columns if c != "flags"]
    pd.testing.assert_frame_equal(df[cols], plain[cols])
    if "flags" in plain.columns:
        for got, was in zip(df["flags"].map(list), plain["flags"].map(list), strict=True):
            assert got[: len(was)] == was
            assert set(got[len(was) :]) <= {"scale_band_incomplete", "pdf_band_incomplete"}


class Recording(httpx.HTTPTransport):
    """A real transport that keeps every request it sends."""

    def __init__(self):
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request):
        self.sent.append(request)
        return super().handle_request(request)


@pytest.fixture(scope="module")
def pts() -> pd.DataFrame:
    return finite_points(400)


def test_points_band_equals_direct_post_bit_for_bit(server_url, pts):
    with Client(server_url, max_rows=150) as c:  # three requests
        df = c.exact(pts, channels=CHANNELS, uncertainty=UNC)
        plain = c.exact(pts, channels=CHANNELS)
    body = {"points": pts.to_dict("records"), "channels": CHANNELS, "uncertainty": UNC}
    results = direct(server_url, "/v1/exact", body)["results"]
    bands = [r["band"] for r in results]
    valid = np.array([r["valid"] for r in results])
    assert 0 < valid.sum() < len(pts)  # valid and invalid rows both in play
    assert df["valid"].tolist() == valid.tolist()
    assert df["flags"].map(list).tolist() == [r["flags"] for r in results]
    assert any("scale_band_incomplete" in r["flags"] for r in results)
    for k in CHANNELS:
        assert same(df[k], floats([r["sigma"][k] if r["sigma"] else None for r in results]))
        assert same(df[f"{k}_lo"], floats([b["lo"][k] if b else None for b in bands]))
        assert same(df[f"{k}_hi"], floats([b["hi"][k] if b else None for b in bands]))
        for s in SOURCES:
            for side in ("lo", "hi"):
                want = floats([b["sources"][s][side][k] if b else None for b in bands])
                assert same(df[f"{k}_{s}_{side}"], want), (k, s, side)
    # the columns of a request without uncertainty, unchanged and first; the band after
    assert df.columns[: len(plain.columns)].tolist() == plain.columns.tolist()
    same_plain(df, plain)
    assert df.columns[len(plain.columns) :].tolist() == [
        f"{k}_{part}"
        for k in CHANNELS
        for part in ("lo", "hi", *(f"{s}_{side}" for s in SOURCES for side in ("lo", "hi")))
    ]


def test_lo_le_central_le_hi_and_nan_where_invalid(server_url):
    df = make_points(300)  # with a NaN and an infinite row, answered by the client
    with Client(server_url) as c:
        out = c.exact(df, uncertainty={"scales": "3-point", "pdf_sets": ["NNPDF31_lo_as_0130"]})
    v = out["valid"].to_numpy()
    assert v.sum() > 100 and not v[[1, 2, 4]].any()
    sources = [c for c in out.columns if c.endswith("_lo")]
    assert len(sources) == 10 * 3  # combined, scale, pdf for every output
    for lo in sources:
        k = lo.split("_lo")[0].removesuffix("_scale").removesuffix("_pdf")
        hi = lo[:-3] + "_hi"
        assert (out[lo][v] <= out[k][v]).all() and (out[k][v] <= out[hi][v]).all(), lo
        assert out[lo][~v].isna().all() and out[hi][~v].isna().all()
    assert "ldme" not in " ".join(out.columns)  # sources not asked for: no columns
    with Client(server_url) as c:
        arrow = c.exact(df.head(10), uncertainty={"scales": "3-point"}, as_arrow=True)
    nulls = arrow.column("total_U").is_null()
    assert arrow.column("total_U_lo").is_null().equals(nulls) and nulls.to_numpy().sum() >= 3


@pytest.mark.parametrize("wire_format", ["auto", "columns", "arrow"])
def test_band_requests_go_as_points_json(server_url, pts, wire_format):
    rec = Recording()
    unc = {"ldme_sets": ["Chao2012"]}
    with Client(server_url, wire_format=wire_format, transport=rec) as c:
        df = c.exact(pts.head(20), channels=["total_U"], uncertainty=unc)
    posts = [r for r in rec.sent if r.method == "POST"]
    assert len(posts) == 1 and posts[0].headers["content-type"] == "application/json"
    body = httpx.Response(200, content=posts[0].content).json()
    assert body["uncertainty"] == unc and "points" in body and "columns" not in body
    assert df["valid"].any() and df.columns[-4:].tolist() == [
        "total_U_lo",
        "total_U_hi",
        "total_U_ldme_lo",
        "total_U_ldme_hi",
    ]


def test_async_client_gives_the_same_band(server_url, pts):
    async def run():
        async with AsyncClient(server_url, max_rows=150) as c:
            return await c.exact(pts, channels=CHANNELS, uncertainty=UNC)

    with Client(server_url) as c:
        want = c.exact(pts, channels=CHANNELS, uncertainty=UNC)
    pd.testing.assert_frame_equal(asyncio.run(run()), want)


def test_binned_band_equals_direct_post_bit_for_bit(server_url):
    bins = [
        {"x": [0.1, 0.5], "z": [0.4, 1.0], "Q": [10.0, 30.0]},
        {"x": [0.05, 0.2], "z": [0.3, 0.8], "Q": [2.5, 6.0]},  # ξ_F·Q off the grid
    ]
    PT = [0.5, 1.0, 2.0]
    unc = {"scales": "3-point", "pdf_sets": ["NNPDF31_lo_as_0130", "NNPDF23_lo_as_0119_qed"]}
    with Client(server_url) as c:
        df = c.binned(bins, PT, channels=["total_U"], uncertainty=unc)
        plain = c.binned(bins, PT, channels=["total_U"])
    body = {"bins": bins, "PT": PT, "channels": ["total_U"], "uncertainty": unc}
    results = direct(server_url, "/v1/exact/binned", body)["results"]
    assert len(df) == len(bins) * len(PT)
    assert df.columns[: len(plain.columns)].tolist() == plain.columns.tolist()
    same_plain(df, plain)
    assert df["flags"].map(list).tolist() == [r["flags"] for r in results for _ in PT]
    assert "scale_band_incomplete" in results[1]["flags"]
    band = [r["band"] for r in results]
    assert same(df["total_U_lo"], [v for b in band for v in b["lo"]["total_U"]])
    assert same(df["total_U_hi"], [v for b in band for v in b["hi"]["total_U"]])
    for s in ("scale", "pdf"):
        for side in ("lo", "hi"):
            want = [v for b in band for v in b["sources"][s][side]["total_U"]]
            assert same(df[f"total_U_{s}_{side}"], want)
    assert (df["total_U_lo"] <= df["total_U"]).all() and (df["total_U"] <= df["total_U_hi"]).all()
    assert (df["total_U_hi"] > df["total_U_lo"]).any()


def test_bad_uncertainty_is_refused_clearly(server_url, pts):
    with Client(server_url) as c:
        with pytest.raises(ValueError, match="unknown uncertainty key"):
            c.exact(pts.head(3), uncertainty={"scale": "7-point"})
        with pytest.raises(errors.ValidationFailed) as info:
            c.exact(pts.head(3), uncertainty={"ldme_sets": ["Nope2099"]})
    assert "Nope2099" in str(info.value)
