"""POST /v1/pdf: x·f as the exact engine uses it."""

from __future__ import annotations

import physics
from tests.service.test_exact import error_locs


def test_values_equal_the_engine_and_off_grid_points_are_answered_in_place(client):
    points = [{"x": 0.1, "Q": 10.0}, {"x": 1e-12, "Q": 10.0}, {"x": 0.3, "Q": 1e6}]
    r = client.post("/v1/pdf", json={"points": points, "flavours": [21, 2, -1]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pdf_set"] == physics.DEFAULT_PDF_SET
    pdf = physics.load_pdf()
    first = body["results"][0]
    assert first["valid"] and first["x"] == 0.1 and first["Q"] == 10.0
    for pid in (21, 2, -1):
        assert first["xf"][str(pid)] == float(pdf.xfxQ(pid, 0.1, 10.0)[0])
    for res in body["results"][1:]:
        assert (
            res["valid"] is False and res["xf"] is None and "outside the grid" in res["errors"][0]
        )


def test_default_flavours_and_unknown_set(client):
    r = client.post("/v1/pdf", json={"points": [{"x": 0.1, "Q": 10.0}]})
    assert set(r.json()["results"][0]["xf"]) == {"21", "-3", "-2", "-1", "1", "2", "3"}
    r = client.post("/v1/pdf", json={"pdf_set": "Nope", "points": [{"x": 0.1, "Q": 10.0}]})
    assert error_locs(r) == [("body", "pdf_set")] and "Nope" in r.text
    assert ("body", "flavours", 0) in error_locs(
        client.post("/v1/pdf", json={"points": [], "flavours": [7]})
    )


def test_every_listed_pdf_set_answers_and_no_answer_shows_a_path(client):
    """Regression: CT14qed_proton was listed, then answered 503 with the absolute path of
    its file inside the virtual environment."""
    listed = client.get("/v1/models").json()["pdf_sets"]
    assert physics.DEFAULT_PDF_SET in listed and "CT14qed_proton" not in listed
    point = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}
    for name in listed:
        r = client.post("/v1/exact", json={"points": [point], "theory": {"pdf_set": name}})
        assert r.status_code == 200, (name, r.text)
        r = client.post("/v1/pdf", json={"pdf_set": name, "points": [{"x": 0.1, "Q": 10.0}]})
        assert r.status_code == 200, (name, r.text)
    r = client.post("/v1/pdf", json={"pdf_set": "CT14qed_proton", "points": [{"x": 0.1, "Q": 10}]})
    assert r.status_code == 422 and error_locs(r) == [("body", "pdf_set")]
    for answer in (r, client.get("/readyz"), client.get("/v1/models")):
        assert "site-packages" not in answer.text and "/share/Pythia8" not in answer.text
