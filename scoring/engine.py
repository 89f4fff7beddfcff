"""Scoring a table of points in this process: the same numbers as the service, bit for bit.

``Scorer`` holds the choices (model, √s, theory, outputs) and is small and picklable, so
it travels to Dask workers as it is; the heavy state it uses (PDF grids, the ONNX
session) lives in per-process caches (``physics.load_pdf``, ``scoring.runtime``), loaded
on first use and kept for every later chunk.

What a row gets mirrors ``/v1/exact`` and ``/v1/predict`` exactly: the physical domain
of ``physics.kinematics``, the exact engine or the surrogate on the valid rows, a result
that is not finite turned into an invalid row with the service's reason, the same flags
in the same order. Rows that cannot be sent to the service at all (non-finite numbers,
a per-row √s outside (0, 1e5] GeV) get the reason ``jpsi_client.frames.precheck`` gives,
which is what the client answers for them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

import physics
from jpsi_client import frames
from physics.kinematics import check_domain
from physics.ldme import LDME_FIELDS, get_set
from scoring import runtime

NOT_FINITE = "the result is not a finite number (floating-point overflow at extreme kinematics)"
"""The reason the service gives a valid point whose result overflowed (service.compute)."""

MODELS = ("exact", "surrogate")

ONNX_BLOCK = 16384
"""Rows per onnxruntime call: its intermediate tensors stay in cache (a call on a million
rows is several times slower per row). The results do not depend on the blocking
(``Surrogate.run`` pads every batch to the same vector width)."""


@dataclass(frozen=True)
class Scorer:
    """What to compute: ``model`` "exact" or "surrogate", √s in GeV for rows without a
    ``sqrt_s`` column, the theory of the exact engine (``pdf_set`` None: the default set;
    ``quarks`` "full" or "ud"; ``ldme`` overrides in GeV³/GeV⁵), the outputs (None: all
    ten) and the surrogate's artifact directory (None: the shipped one)."""

    model: str = "exact"
    sqrt_s: float = 63.0
    pdf_set: str | None = None
    quarks: str = "full"
    ldme_set: str | None = None
    ldme: Mapping[str, float] = field(default_factory=dict)
    channels: tuple[str, ...] | None = None
    artifact_dir: str | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        unknown = sorted(set(self.channels or ()) - set(physics.OUTPUTS))
        if unknown:
            raise ValueError(f"unknown output(s) {unknown}; known: {list(physics.OUTPUTS)}")
        if self.model == "surrogate" and (
            self.pdf_set or self.quarks != "full" or self.ldme or self.ldme_set
        ):
            raise ValueError("theory options apply to the exact model only")
        if not (0.0 < self.sqrt_s <= frames.SQRT_S_MAX):
            raise ValueError(f"sqrt_s must be in (0, {frames.SQRT_S_MAX:g}] GeV, got {self.sqrt_s}")
        self.theory()  # refuse a bad quark set, LDME or LDME set now, not in every chunk

    @property
    def outputs(self) -> list[str]:
        return list(dict.fromkeys(self.channels)) if self.channels else list(physics.OUTPUTS)

    def theory(self) -> physics.TheoryConfig:
        """The engine's theory, as the service resolves a request's: the LDME set's values
        (``ldme_set``, default the engine's), overridden by any given in ``ldme``."""
        base = physics.LDME()
        if self.ldme_set is not None:
            try:
                base = get_set(self.ldme_set).ldme
            except KeyError as exc:
                raise ValueError(str(exc.args[0])) from exc
        unknown = sorted(set(self.ldme) - set(LDME_FIELDS))
        if unknown:
            raise ValueError(f"unknown LDME(s) {unknown}; known: {list(LDME_FIELDS)}")
        values = {f: float(self.ldme.get(f, getattr(base, f))) for f in LDME_FIELDS}
        return physics.TheoryConfig(
            pdf_set=self.pdf_set or physics.DEFAULT_PDF_SET,
            quarks=self.quarks,  # type: ignore[arg-type]
            ldme=physics.LDME(**values),
        )

    def theory_request(self) -> dict | None:
        """The same theory as a request's ``theory`` object (None: all defaults)."""
        out: dict = {}
        if self.pdf_set:
            out["pdf_set"] = self.pdf_set
        if self.quarks != "full":
            out["quarks"] = self.quarks
        if self.ldme_set is not None:
            out["ldme_set"] = self.ldme_set
        if self.ldme:
            out["ldme"] = dict(self.ldme)
        return out or None

    def prepare(self) -> None:
        """Load what scoring needs (PDF grid, ONNX session) into this process's caches."""
        if self.model == "surrogate":
            sur = runtime.load_surrogate(self.artifact_dir)
            physics.load_pdf(sur.pdf_set)
        else:
            physics.load_pdf(self.theory().pdf_set)

    def score(self, table: pa.Table) -> pa.Table:
        """Result columns (valid, y, outputs, reasons, flags) for the rows of ``table``
        (columns x, z, Q [GeV], PT [GeV], optional sqrt_s [GeV]), in row order."""
        cols = {k: frames.float_column(table, k) for k in frames.KINEMATICS}
        n = table.num_rows
        if frames.SQRT_S in table.column_names:
            s = frames.float_column(table, frames.SQRT_S)
        else:
            s = np.full(n, self.sqrt_s)
        ok, refused = frames.precheck(cols, s)
        if ok.all():
            return self._score(cols, s)
        idx = np.flatnonzero(ok)
        parts = [(idx, self._score({k: v[idx] for k, v in cols.items()}, s[idx]))]
        bad = np.flatnonzero(~ok)
        rows = {j: refused[int(i)] for j, i in enumerate(bad)}
        parts.append((bad, frames.refused(bad.size, self.outputs, rows)))
        return frames.scatter(n, parts)

    def _score(self, cols: dict[str, np.ndarray], s: np.ndarray) -> pa.Table:
        x, z, Q, PT = (cols[k] for k in frames.KINEMATICS)
        sqrt_s = s[0] if s.size and (s == s[0]).all() else s
        if self.model == "exact":
            return self._exact(x, z, Q, PT, sqrt_s)
        return self._surrogate(x, z, Q, PT, sqrt_s)

    def _exact(self, x, z, Q, PT, sqrt_s) -> pa.Table:
        with np.errstate(all="ignore"):  # overflow at absurd inputs is caught below
            ev = physics.evaluate(x, z, Q, PT, sqrt_s=sqrt_s, theory=self.theory())
        # evaluate() already refuses a point whose results are not all finite ("overflow"),
        # so the service's finite-only check never fires here: nothing is "broken"
        valid, broken = ev.valid, np.zeros(ev.valid.size, dtype=bool)
        names = self.outputs
        return _result(
            valid,
            ev.y,
            {k: ev[k] for k in names},
            broken,
            ev.check.reasons,
            {name: mask & valid for name, mask in ev.flag_masks.items()},
        )

    def _surrogate(self, x, z, Q, PT, sqrt_s) -> pa.Table:
        sur = runtime.load_surrogate(self.artifact_dir)
        check = check_domain(x, z, Q, PT, sqrt_s, physics.load_pdf(sur.pdf_set))
        valid = check.valid
        n = x.size
        sigma = np.full((n, len(physics.OUTPUTS)), np.nan)
        idx = np.flatnonzero(valid)
        s = np.broadcast_to(sqrt_s, (n,))
        for start in range(0, idx.size, ONNX_BLOCK):
            sel = idx[start : start + ONNX_BLOCK]
            sigma[sel] = sur.run(np.column_stack([s[sel], x[sel], z[sel], Q[sel], PT[sel]]))
        valid, broken = _finite_only(sigma, valid)
        flags = {name: mask & valid for name, mask in check.flags.items()}
        flags[runtime.training_flag()] = valid & ~sur.domain.contains_points(sqrt_s, x, z, Q, PT)
        col = {name: j for j, name in enumerate(physics.OUTPUTS)}
        return _result(
            valid,
            check.y,
            {k: sigma[:, col[k]] for k in self.outputs},
            broken,
            check.reasons,
            flags,
        )


def _finite_only(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As the service: a valid row whose results are not all finite becomes invalid."""
    broken = valid & ~np.isfinite(values).all(axis=1)
    return (valid & ~broken if broken.any() else valid), broken


def _result(valid, y, outputs, broken, reasons_of, flags) -> pa.Table:
    n = valid.size
    reasons = {
        int(i): [NOT_FINITE] if broken[i] else reasons_of(int(i)) for i in np.flatnonzero(~valid)
    }
    return frames.result_table(
        valid,
        y,
        outputs,
        frames.list_column(reasons, n),
        frames.mask_lists(flags, n),
    )
