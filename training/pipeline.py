"""The training pipeline, stage by stage: sample → exact → split → fit → select → export →
verify → write. Each stage shows a tqdm progress bar; one seed drives every random step.

Run it with ``python -m training`` (``jpsi-train``); ``--quick`` shrinks every
sample for tests. Nothing reaches the output directory unless the ONNX model
agrees with the scikit-learn model on the held-out test set (float64:
max |Δ ln f| ≤ 1e-9 for the spline; max relative Δσ ≤ 1e-9 against the same
closed form fed by the scikit-learn prediction) and meets the accuracy
targets against ``physics.evaluate`` on every output.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import onnx
from tqdm import tqdm

from physics import OUTPUTS, TheoryConfig
from physics.channels import add_totals, combine, xq_factors, zpt_terms
from physics.kinematics import inelasticity
from runtime.artifacts import library_versions, write_set
from runtime.domain import DOMAIN
from runtime.onnx import BoundRunner, predict, session
from runtime.surrogate import io_spec
from training import __version__, artifacts, card
from training.baseline import Baseline
from training.metrics import TARGETS, failures, relative_error, summarize
from training.onnx_graph import convert_spline, surrogate_model
from training.sampling import footprint_box, sample_domain, sample_footprint
from training.splines import LogPDFRegressor
from training.targets import exact_sigma, log_xpdf

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "artifacts" / "surrogate"
SPLINE_PARITY = 1e-9
"""Max |ln f_onnx − ln f_sklearn| on the test set (float64)."""
SIGMA_PARITY = 1e-9
"""Max relative difference of ONNX σ and the closed form evaluated on the sklearn prediction."""
LIBRARIES = ("numpy", "scipy", "scikit-learn", "skl2onnx", "onnx", "onnxruntime", "matplotlib")


@dataclass(frozen=True)
class TrainConfig:
    """Sizes and hyper-parameters of a run; ``quick()`` is the test-sized variant."""

    seed: int = 20240807
    log2_domain: int = 20  # Sobol' draws in the 5-d box (≈ 35 % are in the domain)
    log2_footprint: int = 18  # Sobol' draws in the (logit x, ln Q) box for the spline
    train_fraction: float = 0.4
    validation_fraction: float = 0.2  # the rest (0.4) is the test set
    candidates: tuple[tuple[int, int], ...] = ((512, 16), (512, 32), (1024, 32))
    degree: int = 1  # piecewise bilinear: cheapest to evaluate, accurate on a fine grid
    select_p99: float = 5e-4  # smallest grid whose validation p99 |Δ ln f| is below this
    alpha: float = 1e-8
    margin_u: float = 0.3  # in logit x, around the domain's footprint
    margin_v: float = 0.05  # in ln Q
    q_floor: float = 4.92  # GeV: the PDF's b-quark subgrid boundary, just below Q_min
    baseline_iter: int = 200
    baseline_rows: int = 100_000
    quick: bool = False

    @classmethod
    def quick_config(cls, seed: int = 20240807) -> TrainConfig:
        return cls(
            seed=seed, log2_domain=14, log2_footprint=14, candidates=((128, 16), (256, 16)),
            baseline_iter=20, baseline_rows=2000, quick=True,
        )  # fmt: skip


@dataclass
class Run:
    """Everything a run produces on its way to the artifacts."""

    config: TrainConfig
    theory: TheoryConfig = field(default_factory=TheoryConfig)
    stages: dict[str, float] = field(default_factory=dict)
    data: dict[str, np.ndarray] = field(default_factory=dict)
    selection: list[dict] = field(default_factory=list)
    model: LogPDFRegressor | None = None
    baseline: Baseline | None = None
    onnx_model: onnx.ModelProto | None = None
    spline_onnx: onnx.ModelProto | None = None
    metrics: dict = field(default_factory=dict)
    baseline_metrics: dict = field(default_factory=dict)
    parity: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)


T = TypeVar("T")


def _done(value: T | None, stage: str) -> T:
    """What an earlier stage produced; a stage run out of order fails naming the missing one."""
    if value is None:
        raise RuntimeError(f"stage {stage!r} has not run")
    return value


def _stage(run: Run, name: str, total: int):
    run.stages.setdefault(name, 0.0)
    return tqdm(total=total, desc=f"{name:>8}", unit="step", leave=True, file=sys.stderr)


def stage_sample(run: Run) -> None:
    c = run.config
    with _stage(run, "sample", 2) as bar:
        run.data["points"] = sample_domain(c.log2_domain, c.seed)
        bar.update()
        box = footprint_box(DOMAIN, c.margin_u, c.margin_v, c.q_floor)
        run.data["box"] = np.array(box)
        run.data["footprint"] = sample_footprint(c.log2_footprint, c.seed + 1, box, c.margin_u)
        bar.update()


def stage_exact(run: Run) -> None:
    with _stage(run, "exact", 3) as bar:
        pts = run.data["points"]
        run.data["sigma"] = exact_sigma(pts, run.theory)
        bar.update()
        run.data["lnf"] = log_xpdf(pts[:, [1, 3]], run.theory)
        bar.update()
        run.data["footprint_lnf"] = log_xpdf(run.data["footprint"], run.theory)
        bar.update()
    for key in ("sigma", "lnf", "footprint_lnf"):
        if not np.all(np.isfinite(run.data[key])):
            raise RuntimeError(f"exact {key} is not finite everywhere on the training domain")


def stage_split(run: Run) -> None:
    c = run.config
    with _stage(run, "split", 1) as bar:
        n = run.data["points"].shape[0]
        order = np.random.default_rng(c.seed).permutation(n)
        n_train = int(c.train_fraction * n)
        n_val = int(c.validation_fraction * n)
        run.data["train"] = order[:n_train]
        run.data["val"] = order[n_train : n_train + n_val]
        run.data["test"] = order[n_train + n_val :]
        bar.update()


def _spline_training_set(run: Run):
    tr = run.data["train"]
    X = np.vstack([run.data["footprint"], run.data["points"][tr][:, [1, 3]]])
    y = np.vstack([run.data["footprint_lnf"], run.data["lnf"][tr]])
    return X, y


def stage_fit(run: Run) -> None:
    c = run.config
    X, y = _spline_training_set(run)
    box = tuple(map(tuple, run.data["box"]))
    val = run.data["val"]
    Xv, yv = run.data["points"][val][:, [1, 3]], run.data["lnf"][val]
    fitted = []
    with _stage(run, "fit", len(c.candidates) + len(OUTPUTS)) as bar:
        for cells in c.candidates:
            t0 = time.perf_counter()
            model = LogPDFRegressor(box, cells, c.degree, c.alpha).fit(X, y)
            err = np.abs(model.predict(Xv) - yv)
            fitted.append(model)
            run.selection.append(
                {
                    "n_cells": list(cells),
                    "table_mb": round(model.cell_table().nbytes / 1e6, 2),
                    "fit_seconds": round(time.perf_counter() - t0, 2),
                    "val_median_abs_dlnf": float(np.median(err)),
                    "val_p99_abs_dlnf": float(np.percentile(err, 99, axis=0).max()),
                    "val_max_abs_dlnf": float(err.max()),
                }
            )
            bar.update()
        rows = run.data["train"][: c.baseline_rows]
        run.baseline = Baseline(c.baseline_iter, c.seed).fit(
            run.data["points"][rows], run.data["sigma"][rows], progress=bar
        )
    run.data["candidates"] = np.array(fitted, dtype=object)


def stage_select(run: Run) -> None:
    with _stage(run, "select", 1) as bar:
        # the smallest grid (cheapest to gather from) whose validation p99 of |Δ ln f| is
        # below select_p99, 20× under the p99 target; if none is, the most accurate one
        sel = run.selection
        ok = [i for i, s in enumerate(sel) if s["val_p99_abs_dlnf"] <= run.config.select_p99]
        if ok:
            choice = min(ok, key=lambda i: np.prod(sel[i]["n_cells"]))
        else:
            choice = min(range(len(sel)), key=lambda i: sel[i]["val_p99_abs_dlnf"])
        for i, s in enumerate(run.selection):
            s["selected"] = i == choice
        run.model = run.data["candidates"][choice]
        bar.update()


def stage_export(run: Run) -> None:
    with _stage(run, "export", 2) as bar:
        run.spline_onnx = convert_spline(_done(run.model, "select"))
        bar.update()
        run.onnx_model = surrogate_model(run.spline_onnx, run.theory.ldme)
        bar.update()


def closed_form(features: np.ndarray, lnf: np.ndarray, theory: TheoryConfig) -> np.ndarray:
    """σ [N, 10] from ``physics.channels`` with g, q_eff = exp(ln f)/x (the sklearn side)."""
    rs, x, z, Q, PT = features.T
    g, q = np.exp(lnf[:, 0]) / x, np.exp(lnf[:, 1]) / x
    out = combine(xq_factors(inelasticity(x, Q, rs), Q, g, q), zpt_terms(z, PT, theory.ldme))
    add_totals(out)
    return np.column_stack([out[name] for name in OUTPUTS])


def measure_speed(sess, features: np.ndarray, repeats: int = 20, calls: int = 2000) -> dict:
    """Single-threaded throughput at batch 10 000 and median batch-1 latency (informational)."""
    batch = np.ascontiguousarray(features[:10_000])
    predict(sess, batch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict(sess, batch)
        times.append(time.perf_counter() - t0)
    runner = BoundRunner(sess, 1)
    one = batch[:1]
    lat = []
    for i in range(calls):
        t0 = time.perf_counter()
        runner(one)
        lat.append(time.perf_counter() - t0)
        if i == 0:
            lat.clear()
    return {
        "batch": int(batch.shape[0]),
        "points_per_second": float(batch.shape[0] / np.median(times)),
        "batch1_latency_us": float(np.median(lat) * 1e6),
    }


def stage_verify(run: Run) -> None:
    test = run.data["test"]
    pts = run.data["points"][test]
    exact = run.data["sigma"][test]
    model, baseline = _done(run.model, "select"), _done(run.baseline, "fit")
    spline, surrogate = _done(run.spline_onnx, "export"), _done(run.onnx_model, "export")
    with _stage(run, "verify", 5) as bar:
        spline_sess = session(spline.SerializeToString())
        lnf_onnx = spline_sess.run(None, {"xq": np.ascontiguousarray(pts[:, [1, 3]])})[0]
        lnf_skl = model.predict(pts[:, [1, 3]])
        run.parity["spline_max_abs_dlnf"] = float(np.max(np.abs(lnf_onnx - lnf_skl)))
        bar.update()
        sess = session(surrogate.SerializeToString())
        sigma = predict(sess, pts)
        run.parity["sigma_max_rel_vs_sklearn"] = float(
            relative_error(sigma, closed_form(pts, lnf_skl, run.theory)).max()
        )
        bar.update()
        run.predictions["surrogate"] = sigma
        run.metrics = summarize(relative_error(sigma, exact))
        bar.update()
        run.predictions["baseline"] = baseline.predict(pts)
        run.baseline_metrics = summarize(relative_error(run.predictions["baseline"], exact))
        bar.update()
        run.timing = measure_speed(sess, pts)
        bar.update()
    problems = []
    if not run.parity["spline_max_abs_dlnf"] <= SPLINE_PARITY:
        problems.append(f"spline parity {run.parity['spline_max_abs_dlnf']:.3g} > {SPLINE_PARITY}")
    if not run.parity["sigma_max_rel_vs_sklearn"] <= SIGMA_PARITY:
        problems.append(f"σ parity {run.parity['sigma_max_rel_vs_sklearn']:.3g} > {SIGMA_PARITY}")
    problems += failures(run.metrics)
    if problems:
        raise RuntimeError("verification failed, nothing written: " + "; ".join(problems))


def manifest(run: Run, command: str) -> dict:
    """The surrogate's manifest, without ``files`` (``write_set`` adds the checksums)."""
    model, onnx_model = _done(run.model, "select"), _done(run.onnx_model, "export")
    spec_in, spec_out = io_spec()
    c = run.config
    return {
        "name": "jpsi-surrogate",
        "kind": "surrogate",
        "version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "model_file": artifacts.MODEL_FILE,
        "input": spec_in,
        "output": spec_out,
        "training_domain": DOMAIN.to_manifest(),
        "target_transform": (
            "sigma = closed-form channels (physics.channels) with g = exp(f_g)/x, "
            "q_eff = exp(f_q)/x; f = [ln x*g, ln x*q_eff] is a fitted tensor-product B-spline "
            f"of degree {c.degree} in (logit x, ln Q) "
            "(sklearn Pipeline: TensorSplineFeatures + SparseRidge)"
        ),
        "theory": {
            "pdf_set": run.theory.pdf_set,
            "quarks": run.theory.quarks,
            "ldme": asdict(run.theory.ldme),
        },
        "model": {
            "spline_box": {
                "logit_x": list(model.grid["box"][0]),
                "ln_Q": list(model.grid["box"][1]),
            },
            "n_cells": list(model.grid["n_cells"]),
            "degree": model.grid["degree"],
            "select_p99_abs_dlnf": c.select_p99,
            "ridge_alpha": c.alpha,
            "selection": run.selection,
            "onnx_opset": onnx_opset(onnx_model),
            "onnx_nodes": len(onnx_model.graph.node),
            "float": "float64 throughout",
        },
        "metrics": run.metrics,
        "metrics_targets": TARGETS,
        "baseline_metrics": {
            "model": "HistGradientBoostingRegressor per output on log10 sigma",
            **run.baseline_metrics,
        },
        "parity": {**run.parity, "spline_limit": SPLINE_PARITY, "sigma_limit": SIGMA_PARITY},
        "timing": {**run.timing, "stage_seconds": run.stages},
        "sizes": {
            "n_domain_points": int(run.data["points"].shape[0]),
            "n_footprint_points": int(run.data["footprint"].shape[0]),
            "n_train": int(run.data["train"].size),
            "n_validation": int(run.data["val"].size),
            "n_test": int(run.data["test"].size),
        },
        "library_versions": library_versions(LIBRARIES),
        "training_command": command,
        "seed": c.seed,
        "quick": c.quick,
    }


def onnx_opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def stage_write(run: Run, out: Path, command: str) -> None:
    def write(staging: Path) -> dict:
        onnx.save(_done(run.onnx_model, "export"), str(staging / artifacts.MODEL_FILE))
        bar.update()
        card.plots(run, staging)
        bar.update()
        card.write_card(run, staging)
        bar.update()
        return manifest(run, command)

    with _stage(run, "write", 4) as bar:
        write_set(Path(out), write, check=artifacts.verify)
        bar.update()


STAGES = (
    ("sample", stage_sample), ("exact", stage_exact), ("split", stage_split),
    ("fit", stage_fit), ("select", stage_select), ("export", stage_export),
    ("verify", stage_verify),
)  # fmt: skip


def train(config: TrainConfig, out: Path = DEFAULT_OUT, command: str = "") -> Run:
    """Run every stage; write the artifact set to ``out`` only if verification passes."""
    run = Run(config)
    t_all = time.perf_counter()
    for name, fn in STAGES:
        t0 = time.perf_counter()
        fn(run)
        run.stages[name] = round(time.perf_counter() - t0, 2)
    run.stages["total_before_write"] = round(time.perf_counter() - t_all, 2)
    t0 = time.perf_counter()
    stage_write(run, out, command or "python -m training")
    run.stages["write"] = round(time.perf_counter() - t0, 2)
    return run


__all__ = ["DEFAULT_OUT", "Run", "TrainConfig", "train"]
