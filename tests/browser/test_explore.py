"""/explore in a real browser: the plotted numbers are the API's, the controls change them,
errors are told in words, downloads hold what is shown, the theory band appears when the
service has /v1/theory; nothing is requested from another host."""

from __future__ import annotations

import csv
import io
import json
import urllib.parse

import pytest
import yaml

from tests.service.server import start, stop

TOL = 1e-12


def settle(page, after: int = 0) -> str:
    """Wait until the latest update started, newer than generation ``after``, has finished
    (events a test action fired may start several; only the last one counts); its state."""
    page.wait_for_function(
        f"""() => {{
            const done = +document.body.dataset.generation;
            return done > {after} && done === window.jpsiExplorer.state.generation
                && ['ready', 'error'].includes(document.body.dataset.state);
        }}""",
        timeout=60_000,
    )
    return page.evaluate("document.body.dataset.state")


def generation(page) -> int:
    return int(page.evaluate("document.body.dataset.generation"))


def traces(page, div: str) -> dict[str, dict]:
    """The data of a Plotly div as drawn, by trace ``meta`` (or name)."""
    data = page.evaluate(
        f"""() => document.getElementById('{div}').data.map(t => ({{
            key: t.meta || t.name, name: t.name, x: Array.from(t.x), y: Array.from(t.y),
            stackgroup: t.stackgroup || null }}))"""
    )
    return {t["key"]: t for t in data}


def close(a: list, b: list, tol: float = TOL) -> bool:
    if len(a) != len(b):
        return False
    for u, v in zip(a, b, strict=True):
        if u is None or v is None:
            if u is not v:
                return False
        elif abs(u - v) > tol * max(abs(u), abs(v), 1e-300):
            return False
    return True


def form(page) -> dict:
    return page.evaluate("window.jpsiExplorer.readForm()")


def binned(server, page) -> dict:
    f = form(page)
    body = {"bins": [f["bin"]], "PT": f["PT"], "sqrt_s": f["sqrtS"]}
    return server.post("/v1/exact/binned", body)["results"][0]


def open_explorer(server, visit, **size):
    v = visit(**size)
    v.page.goto(server.base + "/explore")
    assert settle(v.page) == "ready", v.page.inner_text("#error")
    return v


def test_the_spectrum_plotted_is_the_binned_answer_and_follows_the_controls(server, visit):
    v = open_explorer(server, visit)
    page = v.page
    # the default bin is one of the original study's: x [0.1, 0.5), z [0.4, 1), Q [10, 30)
    assert form(page)["bin"] == {"x": [0.1, 0.5], "z": [0.4, 1.0], "Q": [10.0, 30.0]}
    want = binned(server, page)
    drawn = traces(page, "spectrum")
    for name, values in want["sigma"].items():
        assert close(drawn[name]["x"], want["PT"]), name
        assert close(drawn[name]["y"], values), name
    fractions = traces(page, "fractions")
    frag = [a / b for a, b in zip(want["sigma"]["oct3s1_U"], want["sigma"]["total_U"], strict=True)]
    assert close(fractions["frag_fraction"]["y"], frag)
    assert page.evaluate("document.getElementById('spectrum').layout.yaxis.type") == "log"
    # in this bin at √s = 63 GeV fragmentation stays below half: said in words too
    assert max(frag) < 0.5
    assert page.locator("#fractions_summary").inner_text() == (
        "Fragmentation is below half of σ_U at every P_T shown."
    )
    v.screenshot("explore.png", full_page=False)
    v.screenshot("explore-full.png")

    # keyboard only: focus √s, type 45, Enter submits
    before = generation(page)
    page.focus("#sqrt_s")
    page.keyboard.press("Control+A")
    page.keyboard.type("45")
    page.keyboard.press("Enter")
    assert settle(page, before) == "ready"
    want45 = binned(server, page)
    assert form(page)["sqrtS"] == 45
    drawn45 = traces(page, "spectrum")
    assert close(drawn45["total_U"]["y"], want45["sigma"]["total_U"])
    assert not close(drawn45["total_U"]["y"], want["sigma"]["total_U"])  # it did change

    # a preset bin moves the bin on the kinematic map and changes the spectrum
    before = generation(page)
    page.select_option("#preset", label="x 0.5–0.9, z 0.1–0.4, Q 30–50 GeV")
    assert settle(page, before) == "ready"
    assert form(page)["bin"] == {"x": [0.5, 0.9], "z": [0.1, 0.4], "Q": [30.0, 50.0]}
    box = traces(page, "map")["chosen bin"]
    assert box["x"] == [0.5, 0.9, 0.9, 0.5, 0.5] and box["y"] == [900, 900, 2500, 2500, 900]
    assert close(traces(page, "spectrum")["total_U"]["y"], binned(server, page)["sigma"]["total_U"])
    # at √s = 45 GeV fragmentation dominates this bin: above one half everywhere
    assert min(traces(page, "fractions")["frag_fraction"]["y"]) > 0.5
    summary = page.locator("#fractions_summary").inner_text()
    assert summary == "Fragmentation makes more than half of σ_U at every P_T shown."

    # stacked: U channels on one stack, L on the other; the values stay the API's
    before = generation(page)
    page.get_by_label("stacked").check()
    assert settle(page, before) == "ready"
    stacked = traces(page, "spectrum")
    assert stacked["oct3s1_U"]["stackgroup"] == "U" and stacked["oct3s1_L"]["stackgroup"] == "L"
    # hiding a channel removes its trace
    before = generation(page)
    page.get_by_label("¹S₀[8] U").uncheck()
    assert settle(page, before) == "ready"
    assert "oct1s0_U" not in traces(page, "spectrum")
    v.assert_local()


def test_the_kinematic_map_draws_the_physical_boundaries(server, visit):
    v = open_explorer(server, visit)
    lines = traces(v.page, "map")
    s = 63.0**2
    c = (3.1 + 0.938272) ** 2 - 0.938272**2
    for name, y in (("y = 1", 1.0), ("y = 0.95", 0.95), ("y = 0.01", 0.01)):
        assert close(lines[name]["y"], [y * x * s for x in lines[name]["x"]], 1e-12), name
    w = lines["W = 4.038 GeV"]
    assert close(w["y"], [c * x / (1 - x) for x in w["x"]], 1e-12)
    # the physical region ends where the W threshold meets y = 1: x = 1 − c/s
    assert max(lines["physical region"]["x"]) == pytest.approx(1 - c / s, rel=1e-12)
    v.assert_local()


def test_point_mode_compares_the_surrogate_with_the_exact_engine(server, visit):
    v = open_explorer(server, visit)
    page = v.page
    before = generation(page)
    page.get_by_label("a single point").check()
    assert settle(page, before) == "ready"
    f = form(page)
    points = [{**f["point"], "PT": pt} for pt in f["PT"]]
    body = {"points": points, "sqrt_s": f["sqrtS"], "channels": ["total_U", "total_L"]}
    exact = [r["sigma"]["total_U"] for r in server.post("/v1/exact", body)["results"]]
    surrogate = [r["sigma"]["total_U"] for r in server.post("/v1/predict", body)["results"]]
    drawn = traces(page, "compare")
    assert close(drawn["exact_total_U"]["y"], exact)
    assert close(drawn["surrogate_total_U"]["y"], surrogate)
    assert close(drawn["ratio"]["y"], [a / b for a, b in zip(surrogate, exact, strict=True)])
    # the spectrum is the point cross section, in pb/GeV⁴
    assert close(traces(page, "spectrum")["total_U"]["y"], exact)
    assert "pb/GeV⁴" in page.evaluate("document.getElementById('spectrum').layout.yaxis.title.text")
    v.assert_local()


def test_an_api_error_is_shown_in_words(server, visit):
    v = open_explorer(server, visit)
    page = v.page
    before = generation(page)
    page.fill("#x_lo", "0.5")
    page.fill("#x_hi", "0.1")
    page.locator("#x_hi").press("Enter")
    assert settle(page, before) == "error"
    box = page.get_by_role("alert")
    text = box.inner_text()
    assert "The service refused the request (422 Unprocessable request)" in text
    assert "x edges [0.5, 0.1] need lo < hi" in text
    assert "bin › #1" in text  # where, in words, not ['body', 'bins', 0]
    v.screenshot("explore-error.png", full_page=False)
    # fixed, the message goes away
    before = generation(page)
    page.fill("#x_lo", "0.1")
    page.fill("#x_hi", "0.5")
    page.locator("#x_hi").press("Enter")
    assert settle(page, before) == "ready"
    assert box.is_hidden()
    v.assert_local()


def test_downloads_hold_what_is_shown(server, visit, tmp_path):
    v = open_explorer(server, visit)
    page = v.page
    want = binned(server, page)
    with page.expect_download() as d:
        page.get_by_role("button", name="Download CSV").click()
    path = tmp_path / "spectrum.csv"
    d.value.save_as(path)
    assert d.value.suggested_filename.endswith(".csv")
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert [float(r["PT_GeV"]) for r in rows] == want["PT"]
    for name, values in want["sigma"].items():
        assert [float(r[f"sigma_{name}"]) for r in rows] == values, name  # exact round trip

    with page.expect_download() as d:
        page.get_by_role("button", name="Download HEPData YAML").click()
    path = tmp_path / "spectrum.yaml"
    d.value.save_as(path)
    table = yaml.safe_load(path.read_text())
    (pt,) = table["independent_variables"]
    assert pt["header"] == {"name": "PT", "units": "GeV"}
    assert [p["value"] for p in pt["values"]] == want["PT"]
    deps = {d["header"]["name"]: d for d in table["dependent_variables"]}
    total = deps["DSIG/DPT**2 total_U"]
    assert total["header"]["units"] == "pb/GeV^2"
    assert [p["value"] for p in total["values"]] == want["sigma"]["total_U"]
    quals = {q["name"]: q["value"] for q in total["qualifiers"]}
    assert quals["SQRT(S)"] == 63 and quals["x"] == "0.1-0.5" and quals["Q"] == "10-30"
    v.assert_local()


def test_narrow_window_stacks_controls_above_the_plots(server, visit):
    v = open_explorer(server, visit, width=420, height=900)
    page = v.page
    controls = page.locator("#controls").bounding_box()
    plot = page.locator("#spectrum").bounding_box()
    assert plot["y"] > controls["y"] + controls["height"] - 1  # one column
    assert plot["width"] <= 420
    assert page.evaluate("document.documentElement.scrollWidth") <= 420  # no sideways scroll
    v.screenshot("explore-narrow.png")
    v.assert_local()


THEORY = {
    "ldme_sets": [
        {
            "name": "chao2012",
            "values": {"O3S1_8": 0.0022, "O3S1_1": 1.16, "O1S0_8": 0.089, "O3P0_8": 0.0126},
            "units": {"O3S1_8": "GeV^3", "O3S1_1": "GeV^3", "O1S0_8": "GeV^3", "O3P0_8": "GeV^5"},
            "source": "arXiv:1201.2675",
            "note": "default",
        }
    ],
    "default_ldme_set": "chao2012",
    "scale_variations": ["3-point", "7-point"],
    "pdf_sets": ["NNPDF31_lo_as_0118"],
    "default_pdf_set": "NNPDF31_lo_as_0118",
}


def test_the_theory_band_lights_up_when_the_service_has_it(server, visit):
    """The service as branch `theory` will answer (api.md, "Additions"), played by routes in
    the browser: GET /v1/theory, and a band next to sigma on /v1/exact/binned."""
    v = visit()
    page = v.page
    sent: list[dict] = []

    def theory(route):
        route.fulfill(status=200, content_type="application/json", body=json.dumps(THEORY))

    def with_band(route):
        body = json.loads(route.request.post_data)
        sent.append(dict(body))
        uncertainty = body.pop("uncertainty", None)
        answer = server.post("/v1/exact/binned", body)
        if uncertainty:
            for r in answer["results"]:
                lo = {k: [0.8 * x for x in vals] for k, vals in r["sigma"].items()}
                hi = {k: [1.25 * x for x in vals] for k, vals in r["sigma"].items()}
                r["band"] = {"lo": lo, "hi": hi, "sources": {"scale": {"lo": lo, "hi": hi}}}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    page.route("**/v1/theory", theory)
    page.route("**/v1/exact/binned", with_band)
    page.goto(server.base + "/explore")
    assert settle(page) == "ready"
    assert page.locator("#band_controls").is_visible()
    assert "uncertainty" not in sent[-1]
    before = generation(page)
    page.select_option("#band_scales", "7-point")
    assert settle(page, before) == "ready"
    assert sent[-1]["uncertainty"] == {"scales": "7-point"}
    drawn = traces(page, "spectrum")
    total = drawn["total_U"]["y"]
    assert close(drawn["total_U:band_lo"]["y"], [0.8 * x for x in total])
    assert close(drawn["total_U:band_hi"]["y"], [1.25 * x for x in total])
    v.screenshot("explore-band.png", full_page=False)
    # the HEPData table carries the band as asymmetric errors of the totals
    table = yaml.safe_load(page.evaluate("window.jpsiExplorer.yaml()"))
    deps = {d["header"]["name"]: d for d in table["dependent_variables"]}
    first = deps["DSIG/DPT**2 total_U"]["values"][0]
    err = first["errors"][0]["asymerror"]
    assert err["minus"] == pytest.approx(-0.2 * first["value"], rel=1e-9)
    assert err["plus"] == pytest.approx(0.25 * first["value"], rel=1e-9)
    v.assert_local()


def test_the_service_own_v1_theory_drives_a_real_band(server, visit):
    """No routes played here: GET /v1/theory and the band come from the service itself."""
    v = open_explorer(server, visit)
    page = v.page
    assert page.locator("#band_controls").is_visible()
    assert any(u.endswith("/v1/theory") for u in v.requests)
    before = generation(page)
    page.select_option("#band_scales", "3-point")
    assert settle(page, before) == "ready", page.inner_text("#error")
    f = form(page)
    body = {"bins": [f["bin"]], "PT": f["PT"], "sqrt_s": f["sqrtS"]}
    want = server.post("/v1/exact/binned", {**body, "uncertainty": {"scales": "3-point"}})
    band = want["results"][0]["band"]
    drawn = traces(page, "spectrum")
    assert close(drawn["total_U:band_lo"]["y"], band["lo"]["total_U"])
    assert close(drawn["total_U:band_hi"]["y"], band["hi"]["total_U"])
    assert all(
        lo <= c <= hi
        for lo, c, hi in zip(
            band["lo"]["total_U"], drawn["total_U"]["y"], band["hi"]["total_U"], strict=True
        )
    )
    hosts = {urllib.parse.urlsplit(u).hostname for u in v.requests}
    assert hosts == {"127.0.0.1"}
    v.assert_local()


def test_with_an_api_key_the_pages_open_and_the_explorer_sends_the_key(browser, visit):
    proc, port = start({"JPSI_API_KEY": "s3cret-key"})
    try:
        base = f"http://127.0.0.1:{port}"
        v = visit()
        page = v.page
        page.goto(base + "/explore")  # open, like /docs: the page holds no data
        assert settle(page) == "error"
        text = page.get_by_role("alert").inner_text()
        assert "401" in text and "API key" in text
        page.get_by_text("API key", exact=True).click()  # open the <details>
        before = generation(page)
        page.fill("#api_key", "s3cret-key")
        page.locator("#api_key").press("Tab")  # change: stored for this tab
        page.locator("#compute").click()
        assert settle(page, before) == "ready"
        assert page.evaluate("sessionStorage.getItem('jpsi-explorer-api-key')") == "s3cret-key"
        # kept for this tab: a reload computes without asking again
        page.reload()
        assert settle(page) == "ready"
        page.goto(base + "/docs")
        page.locator(".opblock").first.wait_for(timeout=30_000)
        v.assert_local()
    finally:
        stop(proc)


def test_where_fragmentation_dominates_is_said_in_words(server, visit):
    """The issue's question: where does fragmentation dominate at √s = 45 GeV?"""
    v = open_explorer(server, visit)
    page = v.page
    before = generation(page)
    page.fill("#sqrt_s", "45")
    page.locator("#sqrt_s").press("Enter")
    assert settle(page, before) == "ready"
    before = generation(page)
    page.select_option("#preset", label="x 0.5–0.9, z 0.4–1, Q 10–30 GeV")
    assert settle(page, before) == "ready"
    want = binned(server, page)
    assert form(page)["sqrtS"] == 45
    frag = [a / b for a, b in zip(want["sigma"]["oct3s1_U"], want["sigma"]["total_U"], strict=True)]
    above = [pt for pt, f in zip(want["PT"], frag, strict=True) if f > 0.5]
    assert 0 < len(above) < len(frag) and above[-1] == want["PT"][-1]  # from some P_T on
    first = float(f"{above[0]:.4g}")
    assert page.locator("#fractions_summary").inner_text() == (
        f"Fragmentation makes more than half of σ_U for P_T = {first:g}–6 GeV."
    )
    v.screenshot("explore-45.png", full_page=False)
    v.assert_local()
