"""End-to-end ``--quick`` training: real export, parity gate, manifest and checksums."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physics import OUTPUTS
from runtime.onnx import predict, session
from training import pipeline
from training.artifacts import MODEL_FILE, checksums, verify
from training.metrics import TARGETS
from training.targets import exact_sigma


def test_quick_run_writes_a_verified_artifact_set(quick_run):
    run, out = quick_run
    manifest = verify(out)
    assert manifest["model_file"] == MODEL_FILE
    assert manifest["files"] == checksums(out)
    assert set(manifest["metrics"]) == set(OUTPUTS)
    assert manifest["output"]["columns"] == list(OUTPUTS)
    assert [f["name"] for f in manifest["input"]["features"]] == ["sqrt_s", "x", "z", "Q", "PT"]
    assert manifest["seed"] == run.config.seed and manifest["quick"] is True
    for name in ("MODEL_CARD.md", *pipeline.card.PLOTS.values()):
        assert (out / name).is_file()


def test_parity_gate_was_exercised(quick_run):
    run, out = quick_run
    parity = json.loads((out / "manifest.json").read_text())["parity"]
    assert parity["spline_max_abs_dlnf"] <= pipeline.SPLINE_PARITY
    assert parity["sigma_max_rel_vs_sklearn"] <= pipeline.SIGMA_PARITY
    for m in run.metrics.values():
        assert m["median"] <= TARGETS["median"] and m["p99"] <= TARGETS["p99"]


def test_written_model_matches_exact_engine(quick_run):
    _, out = quick_run
    pts = pipeline.sample_domain(10, seed=7)
    sigma = predict(session(out / MODEL_FILE), pts)
    np.testing.assert_allclose(sigma, exact_sigma(pts), rtol=2e-2)


def test_gate_trips_before_anything_is_written(quick_run, monkeypatch):
    run, _ = quick_run
    monkeypatch.setattr(pipeline, "SIGMA_PARITY", 0.0)  # impossible: the gate must trip
    with pytest.raises(RuntimeError, match="nothing written"):
        pipeline.stage_verify(run)
    # train() runs every gated stage before stage_write, which alone touches the disk
    assert [name for name, _ in pipeline.STAGES][-1] == "verify"


def test_same_seed_same_metrics(quick_run, tmp_path):
    run, _ = quick_run
    again = pipeline.train(run.config, tmp_path / "again")
    assert again.metrics == run.metrics
    assert again.baseline_metrics == run.baseline_metrics
    strip = lambda sel: [{k: v for k, v in s.items() if k != "fit_seconds"} for s in sel]  # noqa: E731
    assert strip(again.selection) == strip(run.selection)


def test_cli_wiring(monkeypatch, tmp_path):
    """``jpsi-train surrogate --quick --seed S --out DIR`` builds the quick config into
    DIR/surrogate; ``all`` builds every set in order, each with its own seed."""
    from training import __main__ as cli

    seen = {}

    def fake_train(config, out, command):
        seen.update(config=config, out=out, command=command)
        raise SystemExit(0)

    monkeypatch.setattr(cli, "train", fake_train)
    with pytest.raises(SystemExit):
        cli.main(["surrogate", "--quick", "--seed", "5", "--out", str(tmp_path)])
    assert seen["config"] == pipeline.TrainConfig.quick_config(5)
    assert seen["out"] == tmp_path / "surrogate" and "--quick" in seen["command"]

    built = []
    for name in cli.SETS:
        monkeypatch.setitem(
            cli.BUILDERS, name, lambda out, quick, seed, command, n=name: built.append((n, seed))
        )
    assert cli.main(["all", "--quick", "--out", str(tmp_path)]) == 0
    assert built == [("surrogate", None), ("explain", None), ("anomaly", None)]
    with pytest.raises(SystemExit):
        cli.main(["all", "--seed", "3"])


@pytest.mark.parametrize("shift", [1e-6, 1e-3])
def test_parity_gate_refuses_an_export_perturbed_by_a_small_shift(quick_run, shift):
    """The gate is 1e-9: an ONNX spline table off by 1e-6 in ln f must be refused."""
    import copy
    import dataclasses

    from onnx import numpy_helper

    from training.onnx_graph import surrogate_model

    run, _ = quick_run
    spline = copy.deepcopy(run.spline_onnx)
    table = max(spline.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    table.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(table) + shift, table.name))
    bad = dataclasses.replace(
        run,
        spline_onnx=spline,
        onnx_model=surrogate_model(spline, run.theory.ldme),
        parity={},
        metrics={},
        baseline_metrics={},
        timing={},
        predictions={},
        stages=dict(run.stages),
    )
    with pytest.raises(RuntimeError, match="parity"):
        pipeline.stage_verify(bad)
    assert bad.parity["spline_max_abs_dlnf"] >= shift  # the gate saw the shift
