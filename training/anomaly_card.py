"""Clean data, injected anomaly classes and their evaluation (issue 5), for training and bench.

Clean data: kinematics uniform in (ln x, z, ln Q, P_T / P_T,max) over the
training domain at fixed beam energies ``SQRT_S`` (one √s per request, as
the API takes it), with every output of ``physics.OUTPUTS`` supplied as the
exact value times an independent factor uniform in [0.8, 1.2]
(``runtime.anomaly.NOISE_BAND``).

Anomaly classes (``CLASSES``), each applied to fresh clean data: every
channel ×3 or ÷3; one random channel ×1.5; unit mistakes on every channel
(×1000, and nb given as pb, ÷1000); two random outputs swapped; one random
channel sign-flipped or zeroed; kinematics just outside the training domain
(bounds widened by ~10 %, √s in 25–28 or 141–155 GeV for part of them; still
physical, σ supplied clean); kinematics inside the training box but
unphysical (y > 1 or W below threshold; no σ supplied). "swap_distinct" is
the swap restricted to pairs whose exact values differ by more than ×1.5
(a swap of two nearly equal values is not an error one can see).

``evaluate`` scores each class with an ``AnomalyScorer`` and reports ROC AUC
against the clean scores and the recall at the scorer's threshold.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

import physics
from physics.kinematics import check_domain
from runtime.anomaly import NOISE_BAND
from runtime.domain import DOMAIN, TrainingDomain

SQRT_S = (28.0, 45.0, 63.0, 100.0, 141.0)
"""Beam energies (GeV) of the clean requests: the EIC range, ends included."""

CLASSES = {
    "all_x3": "every channel ×3",
    "all_div3": "every channel ÷3",
    "one_x1.5": "one random channel ×1.5",
    "units_x1000": "unit mistake: every channel ×1000",
    "nb_as_pb": "unit mistake: nb given as pb (every channel ÷1000)",
    "swap": "two random outputs swapped",
    "swap_distinct": "two random outputs whose exact values differ by > ×1.5 swapped",
    "sign_flip": "one random channel sign-flipped",
    "zero": "one random channel set to 0",
    "outside_domain": "kinematics just outside the training domain (physical)",
    "unphysical_in_box": "kinematics inside the training box, unphysical (y > 1 or W < M + m_p)",
}
MAGNITUDE = {  # the smallest multiplicative change a class makes (None: not a rescaling)
    "all_x3": 3.0, "all_div3": 3.0, "one_x1.5": 1.5, "units_x1000": 1000.0,
    "nb_as_pb": 1000.0, "swap": None, "swap_distinct": 1.5, "sign_flip": None, "zero": None,
    "outside_domain": None, "unphysical_in_box": None,
}  # fmt: skip


def _box_sample(n, rng, sqrt_s, domain: TrainingDomain, widen: float = 0.0):
    """n raw candidates (x, z, Q, P_T) uniform in (ln x, z, ln Q, P_T/P_T,max) over the box."""
    q_lo, q_hi = domain.Q[0] * (1 - widen), domain.Q[1] * (1 + widen)
    Q = np.exp(rng.uniform(np.log(q_lo), np.log(q_hi), n))
    x_lo = q_lo**2 / ((domain.y[1] + widen) * sqrt_s**2)
    x_hi = min(q_hi**2 / (max(domain.y[0] - widen / 100, 1e-4) * sqrt_s**2), 0.999)
    x = np.exp(rng.uniform(np.log(x_lo), np.log(x_hi), n))
    z = rng.uniform(domain.z[0] - widen / 2, domain.z[1] + widen / 2, n)
    PT = rng.uniform(0.0, 1.0 + widen, n) * domain.pt_max(z, Q)
    return np.column_stack([x, z, Q, PT])


def domain_points(n: int, sqrt_s: float, rng, domain: TrainingDomain = DOMAIN) -> np.ndarray:
    """n points [n, 4] of the training domain at fixed √s (rejection from the box)."""
    out = np.empty((0, 4))
    while out.shape[0] < n:
        cand = _box_sample(4 * n + 64, rng, sqrt_s, domain)
        keep = domain.contains(np.column_stack([np.full(len(cand), sqrt_s), cand]))
        out = np.concatenate([out, cand[keep]])
    return out[:n]


def exact_outputs(points: np.ndarray, sqrt_s: float) -> np.ndarray:
    """[n, 10] exact values in ``physics.OUTPUTS`` order (pb/GeV⁴)."""
    ev = physics.evaluate(points[:, 0], points[:, 1], points[:, 2], points[:, 3], sqrt_s=sqrt_s)
    return np.column_stack([ev[k] for k in physics.OUTPUTS])


def noisy(values: np.ndarray, rng) -> np.ndarray:
    """Clean supplied values: exact × U(NOISE_BAND) independently per entry."""
    return values * rng.uniform(NOISE_BAND[0], NOISE_BAND[1], values.shape)


def as_dicts(values: np.ndarray | None, n: int) -> list[dict[str, float] | None]:
    if values is None:
        return [None] * n
    return [dict(zip(physics.OUTPUTS, map(float, row), strict=True)) for row in values]


def clean_request(n: int, sqrt_s: float, rng):
    """(points [n, 4], sigma list) of clean data at √s."""
    pts = domain_points(n, sqrt_s, rng)
    return pts, as_dicts(noisy(exact_outputs(pts, sqrt_s), rng), n)


def _pick(rng, n, k=None):
    """n random column indices among the first k outputs (default: the eight channels)."""
    return rng.integers(0, k or len(physics.CHANNELS), n)


def anomalous_request(kind: str, n: int, sqrt_s: float, rng):
    """(points, sigma list, sqrt_s) of n anomalies of class ``kind`` (see ``CLASSES``)."""
    if kind == "outside_domain":
        return _outside_domain(n, sqrt_s, rng)
    if kind == "unphysical_in_box":
        return _unphysical_in_box(n, sqrt_s, rng), [None] * n, sqrt_s
    pts = domain_points(n, sqrt_s, rng)
    v = noisy(exact_outputs(pts, sqrt_s), rng)
    rows = np.arange(n)
    if kind == "all_x3":
        v *= 3.0
    elif kind == "all_div3":
        v /= 3.0
    elif kind == "one_x1.5":
        v[rows, _pick(rng, n, v.shape[1])] *= 1.5
    elif kind == "units_x1000":
        v *= 1000.0
    elif kind == "nb_as_pb":
        v /= 1000.0
    elif kind == "swap":
        a = _pick(rng, n, v.shape[1])
        b = (a + rng.integers(1, v.shape[1], n)) % v.shape[1]
        v[rows, a], v[rows, b] = v[rows, b].copy(), v[rows, a].copy()
    elif kind == "swap_distinct":
        exact = exact_outputs(pts, sqrt_s)
        ratio = np.abs(np.log(exact[:, :, None] / exact[:, None, :]))  # [n, 10, 10]
        for r in rows:
            pairs = np.argwhere(ratio[r] > np.log(1.5))
            a, b = pairs[rng.integers(0, len(pairs))]
            v[r, a], v[r, b] = v[r, b], v[r, a]
    elif kind == "sign_flip":
        v[rows, _pick(rng, n)] *= -1.0
    elif kind == "zero":
        v[rows, _pick(rng, n)] = 0.0
    else:
        raise ValueError(f"unknown anomaly class {kind!r}; expected one of {list(CLASSES)}")
    return pts, as_dicts(v, n), sqrt_s


def _outside_domain(n, sqrt_s, rng, domain: TrainingDomain = DOMAIN):
    """Physical points just outside the domain: bounds widened ~10 %, or √s just off-range."""
    pdf = physics.load_pdf(physics.DEFAULT_PDF_SET)
    if rng.random() < 0.5:  # beam energy just outside, other kinematics from the domain
        rs = float(rng.uniform(25.0, 28.0) if rng.random() < 0.5 else rng.uniform(141.5, 155.0))
        out = np.empty((0, 4))
        while out.shape[0] < n:
            cand = domain_points(n, float(np.clip(rs, *domain.sqrt_s)), rng)
            x, z, Q, PT = cand.T
            out = np.concatenate([out, cand[check_domain(x, z, Q, PT, rs, pdf).valid]])
        pts = out[:n]
    else:
        rs = sqrt_s
        out = np.empty((0, 4))
        while out.shape[0] < n:
            cand = _box_sample(8 * n, rng, rs, domain, widen=0.1)
            inside = domain.contains(np.column_stack([np.full(len(cand), rs), cand]))
            x, z, Q, PT = cand.T
            keep = check_domain(x, z, Q, PT, rs, pdf).valid & ~inside
            out = np.concatenate([out, cand[keep]])
        pts = out[:n]
    return pts, as_dicts(noisy(exact_outputs(pts, rs), rng), len(pts)), rs


def _unphysical_in_box(n, sqrt_s, rng, domain: TrainingDomain = DOMAIN):
    """Points in the (√s, x, z, Q, P_T) box of the domain that break y ≤ 1 or the W threshold."""
    pdf = physics.load_pdf(physics.DEFAULT_PDF_SET)
    x_lo, _ = domain.x_bounds(domain.Q[0])
    _, x_hi = domain.x_bounds(domain.Q[1])
    out = np.empty((0, 4))
    while out.shape[0] < n:
        m = 8 * n
        Q = np.exp(rng.uniform(np.log(domain.Q[0]), np.log(domain.Q[1]), m))
        x = np.exp(rng.uniform(np.log(x_lo), np.log(x_hi), m))
        z = rng.uniform(*domain.z, m)
        PT = rng.uniform(0.0, 1.0, m) * domain.pt_max(z, Q)
        cand = np.column_stack([x, z, Q, PT])
        chk = check_domain(x, z, Q, PT, sqrt_s, pdf)
        kin = chk.violations["y"] | chk.violations["W"]
        on_grid = ~(chk.violations["pdf_x"] | chk.violations["pdf_Q"])
        out = np.concatenate([out, cand[kin & on_grid]])
    return out[:n]


def _scores(scorer, pts, sigma, sqrt_s) -> np.ndarray:
    return np.array([r["score"] for r in scorer.score(pts, sqrt_s, sigma)])


def clean_scores(scorer, n_per_sqrt_s: int, rng) -> np.ndarray:
    """Scores of clean requests, ``n_per_sqrt_s`` points at each of ``SQRT_S``."""
    out = []
    for rs in SQRT_S:
        pts, sigma = clean_request(n_per_sqrt_s, rs, rng)
        out.append(_scores(scorer, pts, sigma, rs))
    return np.concatenate(out)


def evaluate(scorer, n_per_sqrt_s: int, seed: int) -> dict:
    """ROC AUC vs clean and recall at the threshold for every class; clean FPR.

    Each class gets ``n_per_sqrt_s`` points at each beam energy of ``SQRT_S``
    (the "outside_domain" class picks its own √s for half the requests).
    """
    rng = np.random.default_rng(seed)
    clean = clean_scores(scorer, n_per_sqrt_s, rng)
    rows = []
    for kind, label in CLASSES.items():
        scores = np.concatenate(
            [
                _scores(scorer, p, s, r)
                for p, s, r in (anomalous_request(kind, n_per_sqrt_s, rs, rng) for rs in SQRT_S)
            ]
        )
        y = np.r_[np.zeros(clean.size), np.ones(scores.size)]
        rows.append(
            {
                "class": kind,
                "description": label,
                "magnitude": MAGNITUDE[kind],
                "n": int(scores.size),
                "roc_auc": float(roc_auc_score(y, np.r_[clean, scores])),
                "recall": float(np.mean(scores > scorer.threshold)),
            }
        )
    return {
        "threshold": scorer.threshold,
        "n_clean": int(clean.size),
        "clean_fpr": float(np.mean(clean > scorer.threshold)),
        "seed": seed,
        "classes": rows,
    }


def table_markdown(result: dict) -> str:
    """The evaluation as a Markdown table (one row per class)."""
    lines = [
        f"Clean: n = {result['n_clean']}, false-positive rate at threshold "
        f"{result['threshold']:g}: {100 * result['clean_fpr']:.2f} % (seed {result['seed']}).",
        "",
        "| class | description | n | ROC AUC | recall at threshold |",
        "|---|---|---:|---:|---:|",
    ]
    for r in result["classes"]:
        lines.append(
            f"| {r['class']} | {r['description']} | {r['n']} | {r['roc_auc']:.4f} | "
            f"{100 * r['recall']:.1f} % |"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "CLASSES",
    "SQRT_S",
    "anomalous_request",
    "clean_request",
    "clean_scores",
    "domain_points",
    "evaluate",
    "table_markdown",
]
