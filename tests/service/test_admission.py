"""Admission by cost: the backlog of estimated work, refusals at once, and through the API."""

from __future__ import annotations

import time

import pytest
from starlette.exceptions import HTTPException

from service import Settings
from service.admission import COST, Admission, estimate
from tests.service.conftest import make_client
from tests.service.test_exact import POINTS

BIN = {"x": [0.1, 0.3], "z": [0.4, 0.9], "Q": [10.0, 30.0]}


def test_work_is_held_while_running_and_released_after():
    adm = Admission(deadline=1.0, cores=1.0)
    with adm.admit(0.4):
        assert adm.backlog == pytest.approx(0.4)
        with adm.admit(0.5):
            assert adm.backlog == pytest.approx(0.9)
    assert adm.backlog == 0.0
    with pytest.raises(RuntimeError), adm.admit(0.3):
        raise RuntimeError("the handler failed")
    assert adm.backlog == 0.0  # released on errors too


def test_refused_exactly_past_the_deadline():
    adm = Admission(deadline=1.0, cores=2.0)
    with adm.admit(1.2):  # 0.6 s of the two cores
        with adm.admit(0.8):  # finishes at exactly 1.0 s: admitted
            pass
        with pytest.raises(HTTPException) as err, adm.admit(0.81):
            pass
        assert err.value.status_code == 503
        assert int(err.value.headers["retry-after"]) >= 1
        with pytest.raises(HTTPException) as err, adm.admit(0.1, waited=0.95):
            pass  # it has already waited in the worker: refused too
        assert err.value.status_code == 503
    assert adm.backlog == 0.0


def test_an_idle_worker_takes_anything_that_fits_alone():
    adm = Admission(deadline=1.0, cores=1.0)
    with adm.admit(1.0):
        pass
    with pytest.raises(HTTPException) as err, adm.admit(1.0 + 1e-9):
        pass
    assert err.value.status_code == 413 and "split" in err.value.detail


def test_estimates_rank_work_as_measured():
    largest_binned = estimate("binned_cell", 100 * 200, per_bin=100)
    assert largest_binned == pytest.approx(1.7, rel=0.01)
    assert largest_binned > 400 * estimate("exact", 1)
    assert estimate("explain", 100) > estimate("exact", 10_000)
    assert set(COST) >= {"exact", "predict", "anomaly", "pdf", "binned_cell", "explain"}


def test_cheap_requests_refused_behind_a_full_backlog_and_taken_after(artifact_dir):
    settings = Settings(artifact_dir=artifact_dir, request_deadline_seconds=0.5, workers=1)
    with make_client(settings) as c:
        admission = c.app.state.jpsi.admission
        admission.cores = admission.rate = 1.0
        with admission.admit(0.45):  # as if an expensive request were being computed
            r = c.post("/v1/exact/binned", json={"bins": [BIN] * 20, "PT": [1.0] * 20})
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["retry-after"]) >= 1
            assert "deadline" in r.json()["detail"]
            assert c.get("/healthz").status_code == 200  # probes are never admitted by cost
        assert admission.backlog == 0.0
        assert c.post("/v1/exact", json={"points": POINTS}).status_code == 200


def test_a_request_over_the_deadline_alone_is_413(artifact_dir):
    settings = Settings(artifact_dir=artifact_dir, request_deadline_seconds=0.05, workers=1)
    with make_client(settings) as c:
        c.app.state.jpsi.admission.cores = c.app.state.jpsi.admission.rate = 1.0
        r = c.post("/v1/exact/binned", json={"bins": [BIN] * 20, "PT": [1.0] * 20})
        assert r.status_code == 413 and "split" in r.json()["detail"]
        assert c.post("/v1/exact", json={"points": POINTS}).status_code == 200


def test_the_speed_is_learnt_from_finished_work():
    """Work that takes 4x its estimate teaches the worker to admit about 4x less."""
    adm = Admission(deadline=1.0, cores=1.0)
    for _ in range(30):
        with adm.admit(0.01):
            time.sleep(0.04)  # 0.01 s of estimated work takes 0.04 s here
    assert 0.15 < adm.rate < 0.4
    with adm.admit(0.05):  # an idle worker still takes what fits alone
        with pytest.raises(HTTPException) as err, adm.admit(0.3):
            pass  # (0.05 + 0.3) / rate > 1 s: refused, where 0.35 s of cores would fit
        assert err.value.status_code == 503
    fast = Admission(deadline=1.0, cores=1.0)
    for _ in range(12):
        with fast.admit(0.01):
            pass  # faster than estimated: the rate stays at the cores, never above
    assert fast.rate == 1.0
