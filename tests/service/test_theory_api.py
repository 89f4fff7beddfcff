"""Theory variations over HTTP: /v1/exact and /v1/exact/binned with ``uncertainty``,
``theory.ldme_set`` and GET /v1/theory (docs/theory.md)."""

from __future__ import annotations

import numpy as np
import pytest

import physics
from physics.ldme import DEFAULT_LDME_SET, REGISTRY
from physics.variations import SCALE_BAND_INCOMPLETE
from tests.service.test_exact import POINTS, columns

NEGATIVE = {"name": "neg", "O3S1_8": 2.0e-3, "O3S1_1": 1.3, "O1S0_8": 5.0e-2, "O3P0_8": -1.6e-2}
OTHER_PDF = "NNPDF31_lo_as_0130"
FULL = {"ldme_sets": [DEFAULT_LDME_SET, NEGATIVE], "scales": "7-point", "pdf_sets": [OTHER_PDF]}
BINS = [
    {"x": [0.05, 0.5], "z": [0.1, 0.4], "Q": [10.0, 30.0]},
    {"x": [0.05, 0.5], "z": [0.4, 1.0], "Q": [3.0, 10.0]},
]


def test_answers_without_uncertainty_are_unchanged_bit_for_bit(client):
    # the same body with "uncertainty": null goes down the same path as one without it
    for path, body in (
        ("/v1/exact", {"points": POINTS, "sqrt_s": 63.0}),
        ("/v1/exact/binned", {"bins": BINS, "PT": [0.5, 1.0], "sqrt_s": 63.0}),
    ):
        plain = client.post(path, json=body)
        explicit = client.post(path, json={**body, "uncertainty": None})
        assert plain.status_code == 200 and plain.content == explicit.content
        assert b"band" not in plain.content and b"ldme_set" not in plain.content


def test_central_values_with_uncertainty_equal_those_without(client):
    plain = client.post("/v1/exact", json={"points": POINTS}).json()
    banded = client.post("/v1/exact", json={"points": POINTS, "uncertainty": FULL}).json()
    assert banded["theory"] == plain["theory"]
    for a, b in zip(plain["results"], banded["results"], strict=True):
        assert a["valid"] == b["valid"] and a["sigma"] == b["sigma"] and a["y"] == b["y"]
        assert a["errors"] == b["errors"]
        assert set(a["flags"]) <= set(b["flags"])
        if b["valid"]:
            assert set(b["band"]["sources"]) == {"ldme", "scale", "pdf"}
        else:
            assert b["band"] is None


def test_every_band_holds_the_central_value(client):
    body = client.post("/v1/exact", json={"points": POINTS, "uncertainty": FULL}).json()
    for res in body["results"]:
        if not res["valid"]:
            continue
        band = res["band"]
        for k, c in res["sigma"].items():
            assert band["lo"][k] <= c <= band["hi"][k], k
            for src in band["sources"].values():
                assert src["lo"][k] <= c <= src["hi"][k], k


def test_ldme_band_equals_min_and_max_of_separate_requests_with_each_set(client):
    unc = {"ldme_sets": [DEFAULT_LDME_SET, NEGATIVE]}
    banded = client.post("/v1/exact", json={"points": POINTS, "uncertainty": unc}).json()
    values = {k: v for k, v in NEGATIVE.items() if k != "name"}
    separate = [
        client.post("/v1/exact", json={"points": POINTS}).json(),
        client.post("/v1/exact", json={"points": POINTS, "theory": {"ldme": values}}).json(),
    ]
    for i, res in enumerate(banded["results"]):
        if not res["valid"]:
            continue
        src = res["band"]["sources"]["ldme"]
        for k in physics.OUTPUTS:
            each = [s["results"][i]["sigma"][k] for s in separate]
            assert src["lo"][k] == pytest.approx(min(each), rel=1e-13, abs=0)
            assert src["hi"][k] == pytest.approx(max(each), rel=1e-13, abs=0)
        assert res["band"]["lo"] == pytest.approx(src["lo"], rel=1e-15)  # one source only


def test_combined_band_is_the_quadrature_sum_of_the_sources(client):
    body = client.post("/v1/exact", json={"points": POINTS[:1], "uncertainty": FULL}).json()
    res = body["results"][0]
    for k, c in res["sigma"].items():
        srcs = res["band"]["sources"].values()
        up = sum((s["hi"][k] - c) ** 2 for s in srcs)
        down = sum((c - s["lo"][k]) ** 2 for s in srcs)
        assert res["band"]["hi"][k] == pytest.approx(c + up**0.5, rel=1e-14)
        assert res["band"]["lo"][k] == pytest.approx(c - down**0.5, rel=1e-14)


def test_ldme_set_names_the_central_values_and_explicit_values_override_it(client):
    point = POINTS[:1]
    named = client.post("/v1/exact", json={"points": point, "theory": {"ldme_set": "Chao2012"}})
    assert named.status_code == 200
    assert named.json()["theory"]["ldme_set"] == "Chao2012"
    default = client.post("/v1/exact", json={"points": point}).json()
    assert named.json()["results"] == default["results"]
    theory = {"ldme_set": "Chao2012", "ldme": {"O3P0_8": -0.02}}
    over = client.post("/v1/exact", json={"points": point, "theory": theory}).json()
    ldme = over["theory"]["ldme"]
    assert ldme["O3P0_8"] == -0.02 and ldme["O1S0_8"] == REGISTRY["Chao2012"].ldme.O1S0_8
    ev = physics.evaluate(
        *columns(point), theory=physics.TheoryConfig(ldme=physics.LDME(O3P0_8=-0.02))
    )
    assert over["results"][0]["sigma"]["oct3p0_U"] == ev["oct3p0_U"][0] < 0


def test_negative_totals_are_flagged(client):
    ldme = {"O3S1_8": 2.0e-3, "O3S1_1": 0.1, "O1S0_8": 5.0e-2, "O3P0_8": -0.15}
    pts = [{"x": 0.1, "z": z, "Q": 10.0, "PT": 0.5} for z in np.linspace(0.1, 0.9, 9)]
    body = client.post("/v1/exact", json={"points": pts, "theory": {"ldme": ldme}}).json()
    flagged = ["negative_total" in r["flags"] for r in body["results"]]
    negative = [min(r["sigma"]["total_U"], r["sigma"]["total_L"]) < 0 for r in body["results"]]
    assert flagged == negative and any(negative) and not all(negative)


def test_scale_band_incomplete_is_flagged_where_xi_f_q_leaves_the_grid(client):
    pts = [{"x": 0.05, "z": 0.5, "Q": 2.0, "PT": 0.5}, {"x": 0.05, "z": 0.5, "Q": 8.0, "PT": 0.5}]
    body = client.post("/v1/exact", json={"points": pts, "uncertainty": {"scales": "3-point"}})
    flags = [r["flags"] for r in body.json()["results"]]
    assert SCALE_BAND_INCOMPLETE in flags[0] and SCALE_BAND_INCOMPLETE not in flags[1]


@pytest.mark.parametrize(
    ("unc", "loc"),
    [
        ({"ldme_sets": ["NoSuchFit"]}, ["body", "uncertainty", "ldme_sets", 0]),
        ({"pdf_sets": [OTHER_PDF, "NoSuchSet"]}, ["body", "uncertainty", "pdf_sets", 1]),
        ({"scales": "9-point"}, ["body", "uncertainty", "scales"]),
        ({"ldme_sets": [{"name": "x", "O3S1_8": 1.0}]}, ["body", "uncertainty", "ldme_sets", 0]),
    ],
)
def test_bad_uncertainty_is_a_422_naming_the_entry(client, unc, loc):
    r = client.post("/v1/exact", json={"points": POINTS[:1], "uncertainty": unc})
    assert r.status_code == 422
    locs = [e["loc"][: len(loc)] for e in r.json()["errors"]]
    assert loc in locs


def test_unknown_ldme_set_in_theory_is_a_422(client):
    r = client.post("/v1/exact", json={"points": [], "theory": {"ldme_set": "Nope"}})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "theory", "ldme_set"]
    assert "Chao2012" in r.json()["errors"][0]["msg"]


def test_binned_bands_hold_the_central_value_and_match_separate_ldme_requests(client):
    req = {"bins": BINS, "PT": [0.5, 1.0, 2.0], "sqrt_s": 63.0}
    plain = client.post("/v1/exact/binned", json=req).json()
    banded = client.post("/v1/exact/binned", json={**req, "uncertainty": FULL}).json()
    values = {k: v for k, v in NEGATIVE.items() if k != "name"}
    neg = client.post("/v1/exact/binned", json={**req, "theory": {"ldme": values}}).json()
    for i, (a, b) in enumerate(zip(plain["results"], banded["results"], strict=True)):
        assert a["sigma"] == b["sigma"]
        for k, c in b["sigma"].items():
            lo, hi = np.array(b["band"]["lo"][k]), np.array(b["band"]["hi"][k])
            assert np.all(lo <= c) and np.all(np.array(c) <= hi), k
            src = b["band"]["sources"]["ldme"]
            each = np.array([c, neg["results"][i]["sigma"][k]])
            np.testing.assert_allclose(src["lo"][k], each.min(axis=0), rtol=1e-10)
            np.testing.assert_allclose(src["hi"][k], each.max(axis=0), rtol=1e-10)
    assert [r["flags"] for r in banded["results"]] == [[], [SCALE_BAND_INCOMPLETE]]


def test_get_theory_lists_what_can_be_varied(client):
    r = client.get("/v1/theory")
    assert r.status_code == 200
    body = r.json()
    assert body["default_ldme_set"] == DEFAULT_LDME_SET
    assert [s["name"] for s in body["ldme_sets"]] == list(REGISTRY)
    chao = body["ldme_sets"][0]
    assert chao["values"]["O3P0_8"] == physics.LDME().O3P0_8
    assert chao["units"]["O3P0_8"] == "GeV^5" and chao["source"].startswith("arXiv:1201.2675")
    assert body["scale_variations"] == ["3-point", "7-point"]
    assert physics.DEFAULT_PDF_SET in body["pdf_sets"] and OTHER_PDF in body["pdf_sets"]
    assert body["default_pdf_set"] == physics.DEFAULT_PDF_SET
