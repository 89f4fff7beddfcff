"""POST /v1/exact: the exact engine's numbers, answers in place, and every refusal."""

from __future__ import annotations

import numpy as np
import pytest

import physics
from service import Settings
from tests.service.conftest import make_client

POINTS = [
    {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0},
    {"x": 0.001, "z": 0.5, "Q": 20.0, "PT": 1.0},  # y = 101 > 1: invalid
    {"x": 0.05, "z": 0.95, "Q": 8.0, "PT": 3.0},  # valid with flags
    {"x": 1.5, "z": -0.2, "Q": 10.0, "PT": -1.0},  # several violations
    {"x": 0.3, "z": 0.3, "Q": 30.0, "PT": 0.0},
]


def columns(points):
    return [np.array([p[k] for p in points]) for k in ("x", "z", "Q", "PT")]


def test_numbers_equal_the_engine_and_invalid_points_are_answered_in_place(client):
    r = client.post("/v1/exact", json={"points": POINTS, "sqrt_s": 63.0})
    assert r.status_code == 200
    body = r.json()
    assert body["units"] == "pb/GeV^4" and body["sqrt_s"] == 63.0
    assert body["theory"]["pdf_set"] == physics.DEFAULT_PDF_SET
    assert body["theory"]["quarks"] == "full"
    ev = physics.evaluate(*columns(POINTS), sqrt_s=63.0)
    assert len(body["results"]) == len(POINTS)
    for i, res in enumerate(body["results"]):
        assert res["valid"] == bool(ev["valid"][i])
        assert res["flags"] == ev["flags"][i]
        if res["valid"]:
            assert res["errors"] == []
            assert res["y"] == ev["y"][i]
            assert list(res["sigma"]) == list(physics.OUTPUTS)
            for name in physics.OUTPUTS:
                assert res["sigma"][name] == ev[name][i]  # exact: same float, round-tripped
        else:
            assert res["sigma"] is None and res["y"] is None
            assert res["errors"] == ev["reasons"][i] and res["errors"]
    assert body["results"][1]["errors"] == ["y = 101 > 1"]
    assert len(body["results"][3]["errors"]) >= 3
    assert "z_above_0.9" in body["results"][2]["flags"]


def test_channels_select_outputs_in_request_order(client):
    r = client.post(
        "/v1/exact", json={"points": POINTS[:1], "channels": ["total_L", "oct3s1_U", "total_L"]}
    )
    assert r.status_code == 200
    assert list(r.json()["results"][0]["sigma"]) == ["total_L", "oct3s1_U"]


def test_theory_overrides_reach_the_engine(client):
    theory = {"quarks": "ud", "ldme": {"O3S1_1": 2.32}}
    r = client.post("/v1/exact", json={"points": POINTS[:1], "sqrt_s": 100.0, "theory": theory})
    assert r.status_code == 200
    body = r.json()
    assert body["theory"]["quarks"] == "ud"
    assert body["theory"]["ldme"]["O3S1_1"] == 2.32
    assert body["theory"]["ldme"]["O3S1_8"] == physics.LDME().O3S1_8
    cfg = physics.TheoryConfig(quarks="ud", ldme=physics.LDME(O3S1_1=2.32))
    ev = physics.evaluate(*columns(POINTS[:1]), sqrt_s=100.0, theory=cfg)
    assert body["results"][0]["sigma"]["sing3s1_U"] == ev["sing3s1_U"][0]
    assert body["results"][0]["sigma"]["oct3s1_U"] == ev["oct3s1_U"][0]


def test_a_second_pdf_set_is_usable(client):
    other = next(s for s in physics.pdf.available_sets() if s.startswith("NNPDF31_lo_as_0130"))
    r = client.post("/v1/exact", json={"points": POINTS[:1], "theory": {"pdf_set": other}})
    assert r.status_code == 200
    assert r.json()["theory"]["pdf_set"] == other


def test_empty_points_give_empty_results(client):
    r = client.post("/v1/exact", json={"points": []})
    assert r.status_code == 200 and r.json()["results"] == []


def error_locs(r):
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 422 and body["title"] and body["detail"]
    return [tuple(e["loc"]) for e in body["errors"]]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_refused_whole_without_echo(client, literal):
    raw = (
        b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}, {"x": %s, "z": 0.5, "Q": '
        b'20.0, "PT": 1.0}]}' % literal
    )
    r = client.post("/v1/exact", content=raw, headers={"content-type": "application/json"})
    locs = error_locs(r)
    assert locs[0][0] == "body"
    assert "input" not in r.text
    if literal != b"1e400":
        assert "not JSON numbers" in r.json()["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"points": [{"x": 0.2, "z": 0.5, "Q": 20.0}]}, ("body", "points", 0, "PT")),
        ({"points": [{"x": 0.2, "z": "0.5", "Q": 20.0, "PT": 1.0}]}, ("body", "points", 0, "z")),
        ({"points": [{"x": 0.2, "z": 0.5, "Q": True, "PT": 1.0}]}, ("body", "points", 0, "Q")),
        (
            {"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0, "w": 1}]},
            ("body", "points", 0, "w"),
        ),
        ({"points": [], "channels": ["oct3s1_U", "bogus"]}, ("body", "channels", 1)),
        ({"points": [], "sqrt_s": -63.0}, ("body", "sqrt_s")),
        ({"points": [], "extra": 1}, ("body", "extra")),
        ({"points": [], "theory": {"quarks": "all"}}, ("body", "theory", "quarks")),
        (
            {"points": [], "theory": {"ldme": {"O3S1_8": "0.003"}}},  # negative is allowed
            ("body", "theory", "ldme", "O3S1_8"),
        ),
        ({"points": [], "theory": {"pdf_set": "NoSuchSet"}}, ("body", "theory", "pdf_set")),
        ({"sqrt_s": 63.0}, ("body", "points")),
    ],
)
def test_schema_violations_name_the_field_and_index(client, payload, loc):
    assert loc in error_locs(client.post("/v1/exact", json=payload))


def test_unknown_pdf_set_is_named(client):
    r = client.post("/v1/exact", json={"points": [], "theory": {"pdf_set": "NoSuchSet"}})
    assert "NoSuchSet" in r.json()["errors"][0]["msg"]


def test_invalid_json_and_wrong_body_types(client):
    assert error_locs(
        client.post("/v1/exact", content=b"{", headers={"content-type": "application/json"})
    )
    assert ("body",) in error_locs(client.post("/v1/exact", json=[1, 2]))
    assert error_locs(
        client.post("/v1/exact", content=b"", headers={"content-type": "application/json"})
    )


def test_too_many_points_are_refused_whole_naming_the_first_extra(artifact_dir):
    with make_client(Settings(artifact_dir=artifact_dir, max_points=3)) as c:
        r = c.post("/v1/exact", json={"points": POINTS[:4]})
        assert error_locs(r) == [("body", "points", 3)]
        assert c.post("/v1/exact", json={"points": POINTS[:3]}).status_code == 200


def test_absurd_but_finite_inputs_never_give_a_non_number(client):
    points = [
        {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1e200},
        {"x": 0.2, "z": 1e-300, "Q": 20.0, "PT": 1.0},
        {"x": 1e-300, "z": 0.5, "Q": 1e300, "PT": 1e300},
    ]
    for sqrt_s in (63.0, 5e-324, 1e5):
        r = client.post("/v1/exact", json={"points": points, "sqrt_s": sqrt_s})
        assert r.status_code == 200, r.text
        for res in r.json()["results"]:
            assert res["errors"] if not res["valid"] else None not in res["sigma"].values()
    assert error_locs(client.post("/v1/exact", json={"points": points, "sqrt_s": 1e300})) == [
        ("body", "sqrt_s")
    ]
