"""Parton distributions from LHAPDF6 ``lhagrid1`` grid files.

Conventions: ``x`` is Bjorken x, ``Q`` is the factorisation scale in GeV
(never Q² silently: ``xfxQ`` takes Q, ``xfxQ2`` takes Q² in GeV²), and every
value returned is the momentum density x·f(x, Q), as LHAPDF stores and
returns it. Parton ids follow the PDG: 1..6 quarks d u s c b t, negative for
antiquarks, 21 the gluon (an id of 0 in a file also means the gluon).

Interpolation is LHAPDF 6's ``logcubic`` scheme, reproduced exactly: in each
Q subgrid a cubic Hermite spline in ln x whose knot derivatives are central
differences in ln x (one-sided at the ends), then a cubic Hermite spline in
ln Q² through four such x-splines, with derivatives from central differences
in ln Q² (one-sided at the subgrid's ends); subgrids with fewer than four Q
knots fall back to bilinear in (ln x, ln Q²). A point on a subgrid boundary
belongs to the upper subgrid. The scheme is linear in the knot values, so
for every cell we precompute the 4×4 polynomial coefficients in
(t_x, t_Q) once, for any linear combination of flavours we are asked for:
evaluating e.g. Σ e_q² x f_q then costs one interpolation, not six.

Extrapolation policy: none. A point with x or Q outside the grid's knot
range is refused with ``PDFDomainError`` naming the point (LHAPDF's default
``nearest``/``continuation`` extrapolators would silently invent values).

Search path for a set name: the directories in ``LHAPDF_DATA_PATH`` (colon
separated, standard layout ``<dir>/<Set>/<Set>_0000.dat`` or flat
``<dir>/<Set>_0000.dat``), then the ``share/Pythia8/pdfdata`` directory of the
installed ``pythia8mc`` package. A path to a ``.dat`` file is also accepted.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_PDF_SET = "NNPDF31_lo_as_0118"
"""LO global fit of NNPDF 3.1 (arXiv:1706.02337), α_s(M_Z) = 0.118, member 0."""

GLUON = 21


class PDFError(ValueError):
    """A PDF set cannot be found or read."""


class PDFDomainError(ValueError):
    """A point lies outside the (x, Q) range covered by the grid."""


@dataclass(frozen=True)
class Subgrid:
    """One Q block of an ``lhagrid1`` file: x·f on knots ``xs`` × ``qs`` (Q in GeV)."""

    xs: np.ndarray  # (nx,)
    qs: np.ndarray  # (nq,) in GeV
    pids: tuple[int, ...]
    xf: np.ndarray  # (nx, nq, nflavours)


def _parse_lhagrid(text: str, source: str) -> tuple[dict[str, str], list[Subgrid]]:
    blocks = text.split("\n---")
    header: dict[str, str] = {}
    for line in blocks[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            header[key.strip()] = value.strip()
    if header.get("Format", "lhagrid1") != "lhagrid1":
        raise PDFError(f"{source}: format {header['Format']!r} is not lhagrid1")
    subgrids = []
    for block in blocks[1:]:
        lines = block.strip("-\n \t").splitlines()
        if len(lines) < 4:
            continue
        try:
            xs = np.array(lines[0].split(), dtype=float)
            qs = np.array(lines[1].split(), dtype=float)
            pids = tuple(GLUON if int(p) == 0 else int(p) for p in lines[2].split())
            values = np.array(" ".join(lines[3:]).split(), dtype=float)
        except ValueError as exc:
            raise PDFError(f"{source}: malformed subgrid: {exc}") from exc
        expected = xs.size * qs.size * len(pids)
        if values.size != expected:
            raise PDFError(
                f"{source}: subgrid has {values.size} values, expected "
                f"{xs.size} x × {qs.size} Q × {len(pids)} flavours = {expected}"
            )
        if xs.size < 4 or qs.size < 2:
            raise PDFError(f"{source}: a subgrid needs ≥ 4 x knots and ≥ 2 Q knots")
        if np.any(np.diff(xs) <= 0) or np.any(np.diff(qs) <= 0) or xs[0] <= 0 or qs[0] <= 0:
            raise PDFError(f"{source}: knots must be positive and strictly increasing")
        # lhagrid1 stores x as the outer loop and Q as the inner one.
        subgrids.append(Subgrid(xs, qs, pids, values.reshape(xs.size, qs.size, len(pids))))
    if not subgrids:
        raise PDFError(f"{source}: no subgrids found")
    subgrids.sort(key=lambda s: s.qs[0])
    return header, subgrids


# Hermite basis on [0, 1] as coefficients of t^0..t^3 (rows: h00, h10, h01, h11).
_HERMITE = np.array(
    [[1.0, 0.0, -3.0, 2.0], [0.0, 1.0, -2.0, 1.0], [0.0, 0.0, 3.0, -2.0], [0.0, 0.0, -1.0, 1.0]]
)


def _dlogx_derivatives(logxs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """d(xf)/d ln x at the knots, as LHAPDF: mean of the two adjacent slopes, one-sided at ends.

    ``values`` has x on axis 0.
    """
    slopes = np.diff(values, axis=0) / np.diff(logxs)[:, None]
    deriv = np.empty_like(values)
    deriv[0] = slopes[0]
    deriv[-1] = slopes[-1]
    deriv[1:-1] = 0.5 * (slopes[:-1] + slopes[1:])
    return deriv


def _cell_coefficients(sub: Subgrid, values: np.ndarray) -> np.ndarray:
    """Bicubic coefficients C[ix, iq, a, b] of Σ C t_x^a t_Q^b for every cell of one subgrid.

    ``values`` is x·f of a single flavour combination on the knots, shape (nx, nq).
    """
    logxs = np.log(sub.xs)
    logq2s = np.log(sub.qs**2)
    nx, nq = values.shape
    dlogx = np.diff(logxs)[:, None]  # (nx-1, 1)
    if nq < 4:
        # LHAPDF's fallback: bilinear in (ln x, ln Q²).
        coef = np.zeros((nx - 1, nq - 1, 4, 4))
        f00, f10 = values[:-1, :-1], values[1:, :-1]
        f01, f11 = values[:-1, 1:], values[1:, 1:]
        coef[:, :, 0, 0] = f00
        coef[:, :, 1, 0] = f10 - f00
        coef[:, :, 0, 1] = f01 - f00
        coef[:, :, 1, 1] = f11 - f10 - f01 + f00
        return coef

    deriv = _dlogx_derivatives(logxs, values)
    # x-splines on every (x cell, Q knot): polynomial coefficients in t_x, (nx-1, nq, 4)
    xspline = (
        values[:-1, :, None] * _HERMITE[0]
        + (deriv[:-1] * dlogx)[:, :, None] * _HERMITE[1]
        + values[1:, :, None] * _HERMITE[2]
        + (deriv[1:] * dlogx)[:, :, None] * _HERMITE[3]
    )
    dq = np.diff(logq2s)  # dq[k] = lnQ²[k+1] - lnQ²[k]
    coef = np.empty((nx - 1, nq - 1, 4, 4))
    for k in range(nq - 1):
        vl, vh = xspline[:, k], xspline[:, k + 1]
        secant = (vh - vl) / dq[k]
        if k == 0:
            vdl = secant
            vdh = 0.5 * (vdl + (xspline[:, k + 2] - vh) / dq[k + 1])
        elif k == nq - 2:
            vdh = secant
            vdl = 0.5 * (vdh + (vl - xspline[:, k - 1]) / dq[k - 1])
        else:
            vdl = 0.5 * (secant + (vl - xspline[:, k - 1]) / dq[k - 1])
            vdh = 0.5 * (secant + (xspline[:, k + 2] - vh) / dq[k + 1])
        vdl = vdl * dq[k]
        vdh = vdh * dq[k]
        # coefficient of t_x^a t_Q^b: outer product of x-poly (a) and Hermite basis (b)
        coef[:, k] = (
            vl[:, :, None] * _HERMITE[0]
            + vdl[:, :, None] * _HERMITE[1]
            + vh[:, :, None] * _HERMITE[2]
            + vdh[:, :, None] * _HERMITE[3]
        )
    return coef


class Interpolant:
    """x·f of one fixed flavour combination, ready for fast vectorised evaluation."""

    def __init__(self, grid: GridPDF, weights: Mapping[int, float]):
        self.weights = dict(weights)
        blocks = []
        for sub in grid.subgrids:
            values = np.zeros(sub.xf.shape[:2])
            for pid, w in self.weights.items():
                if pid in sub.pids and w != 0.0:
                    values = values + w * sub.xf[:, :, sub.pids.index(pid)]
            coef = _cell_coefficients(sub, values)  # (nx-1, nq-1, 4, 4)
            # table rows ordered [q cell, x cell] to match GridPDF's cell numbering
            blocks.append(coef.transpose(1, 0, 2, 3).reshape(-1, 16))
        # one contiguous row per coefficient: gathers then write contiguous arrays
        self._coef = np.ascontiguousarray(np.concatenate(blocks).T)  # (16, n_cells)
        self._grid = grid

    def at(self, cells: GridCells) -> np.ndarray:
        """x·f at points already located on the grid (see ``GridPDF.locate``)."""
        coef, cell, tx, tq = self._coef, cells.cell, cells.tx, cells.tq
        result = None
        # Horner in t_Q for each power a of t_x (highest first), then Horner in t_x; in place.
        for a in (3, 2, 1, 0):
            acc = coef[4 * a + 3].take(cell)
            for b in (2, 1, 0):
                acc *= tq
                acc += coef[4 * a + b].take(cell)
            if result is None:
                result = acc
            else:
                result *= tx
                result += acc
        assert result is not None  # the loop runs over four coefficient rows
        return result

    def __call__(self, x, Q) -> np.ndarray:
        return self.at(self._grid.locate(x, Q))


class _CellIndex:
    """``clip(searchsorted(edges, v, "right") - 1, 0, n - 1)`` in O(1) per value.

    A bucket table finer than the smallest knot gap gives the cell up to one
    step; two comparisons with the true edges make it exact, whatever the
    rounding of the bucket arithmetic.
    """

    def __init__(self, edges: np.ndarray, top: float):
        self.edges = np.asarray(edges, dtype=float)
        span = top - self.edges[0]
        min_gap = float(np.min(np.diff(np.append(self.edges, top))))
        self.n_buckets = int(min(max(4.0 * span / min_gap, 64.0), 1 << 20))
        self.origin = float(self.edges[0])
        self.inv_width = self.n_buckets / span
        bucket_lo = self.origin + np.arange(self.n_buckets + 1) / self.inv_width
        last = self.edges.size - 1
        self.table = np.clip(np.searchsorted(self.edges, bucket_lo, side="right") - 1, 0, last)
        self.upper = np.append(self.edges[1:], np.inf)  # upper[i] = edges[i + 1]

    def __call__(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            k = ((v - self.origin) * self.inv_width).astype(np.intp)
        np.clip(k, 0, self.n_buckets, out=k)
        i = self.table[k]
        i += v >= self.upper[i]
        i -= v < self.edges[i]
        np.clip(i, 0, self.edges.size - 1, out=i)
        return i


@dataclass(frozen=True)
class GridCells:
    """Where points fall on a grid: cell row and local coordinates t_x, t_Q in [0, 1]."""

    cell: np.ndarray
    tx: np.ndarray
    tq: np.ndarray


class GridPDF:
    """An LHAPDF6 ``lhagrid1`` PDF member with LHAPDF-compatible interpolation."""

    def __init__(self, name: str, subgrids: list[Subgrid], header: Mapping[str, str] | None = None):
        self.name = name
        self.subgrids = subgrids
        self.header = dict(header or {})
        self.flavours = tuple(sorted({p for s in subgrids for p in s.pids}))
        self.x_min = min(float(s.xs[0]) for s in subgrids)
        self.x_max = max(float(s.xs[-1]) for s in subgrids)
        self.q_min = float(subgrids[0].qs[0])
        self.q_max = float(subgrids[-1].qs[-1])
        # Global numbering of Q cells across subgrids; a boundary knot starts the upper one.
        lower, inv_dq, offset, xblock = [], [], [], []
        xlower: list[np.ndarray] = []
        xinv: list[np.ndarray] = []
        self._shared_x = all(np.array_equal(s.xs, subgrids[0].xs) for s in subgrids)
        self._x_blocks: list[tuple[int, int]] = []
        row = 0
        for s in subgrids:
            lq = np.log(s.qs**2)
            nxc = s.xs.size - 1
            if not self._shared_x or not self._x_blocks:
                start = sum(b.size for b in xlower)
                xlower.append(np.log(s.xs[:-1]))
                xinv.append(1.0 / np.diff(np.log(s.xs)))
                self._x_blocks.append((start, start + nxc))
            for k in range(s.qs.size - 1):
                lower.append(lq[k])
                inv_dq.append(1.0 / (lq[k + 1] - lq[k]))
                offset.append(row)
                xblock.append(self._x_blocks[-1][0])
                row += nxc
        self._q_lower = np.array(lower)
        self._q_inv = np.array(inv_dq)
        self._row_offset = np.array(offset, dtype=np.intp)
        self._x_block = np.array(xblock, dtype=np.intp)
        self._x_lower = np.concatenate(xlower)
        self._x_inv = np.concatenate(xinv)
        self._q_index = _CellIndex(self._q_lower, float(np.log(self.q_max**2)))
        # Q² of each cell's lower knot and of the next cell's (inf past the last)
        self._q2_lower = np.concatenate([s.qs[:-1] ** 2 for s in subgrids])
        self._q2_next = np.append(self._q2_lower[1:], np.inf)
        self._x_index = (
            _CellIndex(self._x_lower, float(np.log(subgrids[0].xs[-1]))) if self._shared_x else None
        )
        self._interpolants: dict[tuple, Interpolant] = {}
        self._lock = threading.Lock()
        # sets of one family share their knots: points located once serve all of them
        self.knots = tuple((s.xs.tobytes(), s.qs.tobytes()) for s in subgrids)

    # -- LHAPDF-like surface -------------------------------------------------
    def xfxQ(self, pid: int, x, Q) -> np.ndarray:
        """x·f(x, Q) for PDG id ``pid``; arrays broadcast. Q in GeV. Zero for absent flavours."""
        return self.combination({GLUON if pid == 0 else int(pid): 1.0})(x, Q)

    def xfxQ2(self, pid: int, x, Q2) -> np.ndarray:
        """As ``xfxQ`` with Q² in GeV²."""
        return self.xfxQ(pid, x, np.sqrt(np.asarray(Q2, dtype=float)))

    def combination(self, weights: Mapping[int, float]) -> Interpolant:
        """Interpolant of Σ_pid w_pid · x f_pid, built once per distinct weights and cached."""
        key = tuple(sorted((int(p), float(w)) for p, w in weights.items()))
        interp = self._interpolants.get(key)
        if interp is None:
            with self._lock:
                interp = self._interpolants.get(key)
                if interp is None:
                    interp = Interpolant(self, dict(key))
                    self._interpolants[key] = interp
        return interp

    # -- grid geometry ---------------------------------------------------------
    def in_grid(self, x, Q) -> np.ndarray:
        """True where (x, Q) lies within the knot range (edges included)."""
        x = np.asarray(x, dtype=float)
        Q = np.asarray(Q, dtype=float)
        return (x >= self.x_min) & (x <= self.x_max) & (Q >= self.q_min) & (Q <= self.q_max)

    def locate(self, x, Q, *, check: bool = True) -> GridCells:
        """Cell and local coordinates of points (x, Q in GeV); refuses points off the grid."""
        x, Q = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(Q, dtype=float))
        x = x.ravel()
        Q = Q.ravel()
        if check:
            outside = ~self.in_grid(x, Q)
            if np.any(outside):
                i = int(np.argmax(outside))
                raise PDFDomainError(
                    f"point {i} (x = {x[i]:.6g}, Q = {Q[i]:.6g} GeV) is outside the grid of "
                    f"{self.name}: x in [{self.x_min:.6g}, {self.x_max:.6g}], "
                    f"Q in [{self.q_min:.6g}, {self.q_max:.6g}] GeV"
                )
        # ln(Q·Q), not 2 ln Q: the same operations as the knots' ln Q², so a point on a
        # knot (a subgrid boundary above all) is located exactly, as LHAPDF does with q2.
        q2 = Q * Q
        return self.locate_log(np.log(x), np.log(q2), q2)

    def locate_log(self, logx: np.ndarray, logq2: np.ndarray, q2=None) -> GridCells:
        """As ``locate`` from ln x and ln Q², without range checks (points are clamped).

        Given Q² itself too, the subgrid is chosen by comparing Q² with the knots,
        as LHAPDF does: ln Q² can round onto a boundary knot from a Q² just below it.
        """
        qc = self._q_index(logq2)
        if q2 is not None:
            qc -= q2 < self._q2_lower[qc]
            qc += q2 >= self._q2_next[qc]
        tq = (logq2 - self._q_lower[qc]) * self._q_inv[qc]
        if self._x_index is not None:
            ix = self._x_index(logx)
            xi = ix
        else:
            base = self._x_block[qc]
            ix = np.empty_like(qc)
            for start, stop in self._x_blocks:
                m = base == start
                j = np.searchsorted(self._x_lower[start:stop], logx[m], side="right") - 1
                ix[m] = np.clip(j, 0, stop - start - 1)
            xi = base + ix
        tx = (logx - self._x_lower[xi]) * self._x_inv[xi]
        return GridCells(self._row_offset[qc] + ix, tx, tq)

    def __repr__(self) -> str:
        return (
            f"GridPDF({self.name!r}, x in [{self.x_min:g}, {self.x_max:g}], "
            f"Q in [{self.q_min:g}, {self.q_max:g}] GeV, flavours {list(self.flavours)})"
        )


def read_lhagrid(path: str | os.PathLike, name: str | None = None) -> GridPDF:
    """Read one ``lhagrid1`` member file (e.g. ``NNPDF31_lo_as_0118_0000.dat``)."""
    path = Path(path)
    # messages name the file, never its directory: they reach HTTP clients
    try:
        text = path.read_text()
    except OSError as exc:
        raise PDFError(f"cannot read PDF grid {path.name}: {exc.strerror}") from exc
    header, subgrids = _parse_lhagrid(text, path.name)
    if name is None:
        stem = path.stem
        name = stem[:-5] if stem[-5:-4] == "_" and stem[-4:].isdigit() else stem
    return GridPDF(name, subgrids, header)


def search_path() -> list[Path]:
    """Directories searched for PDF sets, in order: ``LHAPDF_DATA_PATH``, then pythia8mc's data."""
    dirs = [Path(p) for p in os.environ.get("LHAPDF_DATA_PATH", "").split(":") if p]
    dirs.extend(_pythia_pdfdata())
    return dirs


@functools.cache
def _pythia_pdfdata() -> tuple[Path, ...]:
    try:
        files = importlib.metadata.files("pythia8mc") or []
    except importlib.metadata.PackageNotFoundError:
        return ()
    found = {Path(f.locate()).resolve().parent for f in files if "pdfdata" in f.parts}
    return tuple(sorted(found))


def find_pdf(name: str) -> Path:
    """Path of member 0 of set ``name`` (or of ``name`` itself when it is a ``.dat`` path)."""
    direct = Path(name)
    if direct.suffix == ".dat" and direct.is_file():
        return direct
    # "Set" means member 0 of Set; "Set_0003" may also name a member file directly.
    stems = [(name, f"{name}_0000")]
    if name[-5:-4] == "_" and name[-4:].isdigit():
        stems.append((name[:-5], name))
    for d in search_path():
        for setname, stem in stems:
            for c in (d / setname / f"{stem}.dat", d / f"{stem}.dat"):
                if c.is_file():
                    return c
    raise PDFError(
        f"PDF set {name!r} not found on the search path "
        "(LHAPDF_DATA_PATH, then the sets installed with pythia8mc)"
    )


def available_sets() -> list[str]:
    """Names of the readable ``lhagrid1`` sets on the search path (member 0 files).

    A file that does not parse is not listed (pythia8mc ships ``CT14qed_proton``
    with a duplicated x knot and run-together numbers): a listed set always loads.
    """
    names = set()
    for d in search_path():
        for f in list(d.glob("*_0000.dat")) + list(d.glob("*/*_0000.dat")):
            stat = f.stat()
            if _readable(f.resolve(), stat.st_mtime_ns, stat.st_size):
                names.add(f.name[: -len("_0000.dat")])
    return sorted(names)


@functools.lru_cache(maxsize=256)
def _readable(path: Path, mtime_ns: int, size: int) -> bool:
    # parsing a member file takes ~10-50 ms; the key makes a rewritten file count anew
    try:
        _parse_lhagrid(path.read_text(), path.name)
    except (OSError, UnicodeDecodeError, PDFError):
        return False
    return True


@functools.lru_cache(maxsize=32)
def _load_named(name: str, data_path: str) -> GridPDF:
    return read_lhagrid(find_pdf(name))


def load_pdf(name: str | None = None) -> GridPDF:
    """Load a PDF set by name (default ``NNPDF31_lo_as_0118``), cached: a set is read once.

    ``name`` may also be the path of an ``lhagrid1`` member file. Names are
    resolved once per value of ``LHAPDF_DATA_PATH`` (no file-system search on
    repeated calls). This is the one cache of PDF grids: callers (the service
    included) call it instead of keeping their own.
    """
    return _load_named(name or DEFAULT_PDF_SET, os.environ.get("LHAPDF_DATA_PATH", ""))
