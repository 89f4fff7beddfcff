"""Theory bands for /v1/exact and /v1/exact/binned: the ``uncertainty`` field resolved to
``physics.variations.Uncertainty``, and results with a ``band`` next to ``sigma``.

Only requests that carry ``uncertainty`` come here; the others keep the fast encoder
(``service.encode``) and their bytes (``tests/service/test_theory_api.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import orjson

import physics
from physics.ldme import LDME_FIELDS, LDMESet, get_set
from physics.variations import BAND_FLAGS, Bands, Uncertainty, binned_bands, point_bands
from service.errors import invalid
from service.schemas.theory import LdmeSetModel, UncertaintyModel

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def resolve(unc: UncertaintyModel, check_pdf: Callable[[str, Sequence], object]) -> Uncertainty:
    """The physics-side variations; 422 naming the entry for an unknown LDME or PDF set.

    ``check_pdf(name, loc)`` raises for a PDF set that is not installed or not readable.
    """
    sets = []
    for i, ref in enumerate(unc.ldme_sets or ()):
        if isinstance(ref, LdmeSetModel):
            sets.append(LDMESet.custom(ref.name, **{f: getattr(ref, f) for f in LDME_FIELDS}))
            continue
        try:
            sets.append(get_set(ref))
        except KeyError as exc:
            raise invalid(("body", "uncertainty", "ldme_sets", i), str(exc.args[0])) from exc
    names = list(dict.fromkeys(unc.pdf_sets or ()))
    for i, name in enumerate(unc.pdf_sets or ()):
        check_pdf(name, ("body", "uncertainty", "pdf_sets", i))
    return Uncertainty(tuple(sets), unc.scales, tuple(names))


def _band_columns(bands: Bands, names: Sequence[str]) -> dict:
    """Every band array as Python lists (one ``tolist`` per array, not per value)."""
    return {
        "lo": {k: bands.lo[k].tolist() for k in names},
        "hi": {k: bands.hi[k].tolist() for k in names},
        "sources": {
            s: ({k: lo[k].tolist() for k in names}, {k: hi[k].tolist() for k in names})
            for s, (lo, hi) in bands.sources.items()
        },
    }


def _band_at(cols: Mapping, names: Sequence[str], i: int) -> dict:
    return {
        "lo": {k: cols["lo"][k][i] for k in names},
        "hi": {k: cols["hi"][k][i] for k in names},
        "sources": {
            s: {"lo": {k: lo[k][i] for k in names}, "hi": {k: hi[k][i] for k in names}}
            for s, (lo, hi) in cols["sources"].items()
        },
    }


def finite_bands(bands: Bands, names: Sequence[str]) -> np.ndarray:
    """Per entry (point, or bin × P_T row): every band value of ``names`` is finite."""
    ok = np.ones(np.shape(bands.lo[names[0]]), dtype=bool)
    arrays = [bands.lo, bands.hi, *(d for pair in bands.sources.values() for d in pair)]
    for d in arrays:
        for k in names:
            ok &= np.isfinite(d[k])
    return ok


def points_with_band(
    head: Mapping,
    points: tuple[np.ndarray, ...],
    ev: physics.Evaluation,
    cfg: physics.TheoryConfig,
    unc: Uncertainty,
    valid: np.ndarray,
    names: Sequence[str],
    reasons: Callable[[int], list[str]],
    not_finite: str,
) -> bytes:
    """/v1/exact with ``uncertainty``: each valid result carries ``band``; a point whose
    band is not finite is refused in place like one whose value is not."""
    x, z, Q, PT = points
    with np.errstate(all="ignore"):
        bands = point_bands(x, z, Q, PT, theory=cfg, uncertainty=unc, central=ev)
    broken = valid & ~finite_bands(bands, names)
    valid = valid & ~broken
    cols = _band_columns(bands, names)
    sigma = {k: ev[k].tolist() for k in names}
    y = ev.y.tolist()
    masks = {**ev.flag_masks, **bands.flag_masks}
    flags: list[list[str]] = [[] for _ in range(valid.size)]
    for name, mask in masks.items():
        for i in np.flatnonzero(mask & valid).tolist():
            flags[i].append(name)
    results = []
    for i, ok in enumerate(valid.tolist()):
        if ok:
            results.append(
                {
                    "valid": True,
                    "y": y[i],
                    "sigma": {k: sigma[k][i] for k in names},
                    "band": _band_at(cols, names, i),
                    "errors": [],
                    "flags": flags[i],
                }
            )
        else:
            why = [not_finite] if broken[i] else reasons(i)
            results.append(
                {"valid": False, "y": None, "sigma": None, "band": None, "errors": why, "flags": []}
            )
    return orjson.dumps({**head, "results": results})


def add_binned_bands(
    results: list[dict],
    edges: Sequence[physics.Bin],
    sqrt_s: float,
    cfg: physics.TheoryConfig,
    unc: Uncertainty,
    central,
    names: Sequence[str],
    not_finite: str,
) -> None:
    """/v1/exact/binned with ``uncertainty``: a ``band`` (lists, one per P_T) and ``flags``
    in every bin's result (in place); 422 naming a bin whose band is not finite."""
    with np.errstate(all="ignore"):
        bands = binned_bands(
            edges, central.PT, sqrt_s=sqrt_s, theory=cfg, uncertainty=unc, central=central
        )
    ok = finite_bands(bands, names).all(axis=1)
    for i in np.flatnonzero(~ok).tolist():
        raise invalid(("body", "bins", i), not_finite)
    cols = _band_columns(bands, names)
    for i, result in enumerate(results):
        result["band"] = _band_at(cols, names, i)
        result["flags"] = [f for f in BAND_FLAGS if bands.flag_masks[f][i]]


def band_factor(unc: UncertaintyModel | None) -> float:
    """Cost of a request with ``unc`` relative to the same request without it (for
    admission, ``service.admission``): the engine's share grows with the PDF evaluations,
    the encoding's with the values per result (2 per source plus the combined 2)."""
    if unc is None:
        return 1.0
    sources = sum(bool(v) for v in (unc.ldme_sets, unc.scales, unc.pdf_sets))
    return 1.0 + 1.5 * (2 + 2 * sources)
