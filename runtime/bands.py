"""Theory bands at points, as the service answers them: shared by the service
(``service.bands``) and ``jpsi-score`` (``scoring.engine``), so both give the same values,
the same invalid points and the same flags.

- ``uncertainty``: the variations named by a request (LDME set names or sets, a scale
  scheme, PDF set names) as ``physics.variations.Uncertainty``; ``ValueError`` naming an
  unknown LDME set.
- ``finite_bands``: the entries whose every band value is finite.
- ``banded_points``: ``physics.variations.point_bands`` around a central evaluation, the
  points whose band is not finite taken out of ``valid`` (the service refuses them with
  the reason of a non-finite result), and the flags of the valid points, the central
  evaluation's first, then the bands' (``scale_band_incomplete``, ``pdf_band_incomplete``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import physics
from physics.ldme import LDMESet, get_set
from physics.variations import Bands, Uncertainty, point_bands


def uncertainty(
    ldme_sets: Sequence[str | LDMESet] = (),
    scales: str | None = None,
    pdf_sets: Sequence[str] = (),
) -> Uncertainty:
    """The physics-side variations: registered LDME sets by name (``ValueError`` for an
    unknown one) or given as ``LDMESet``; PDF set names de-duplicated in order (whether
    they are installed is the caller's check: the service answers 422, ``physics.load_pdf``
    raises)."""
    sets = []
    for ref in ldme_sets:
        if isinstance(ref, LDMESet):
            sets.append(ref)
            continue
        try:
            sets.append(get_set(ref))
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from exc
    return Uncertainty(tuple(sets), scales, tuple(dict.fromkeys(pdf_sets)))


def finite_bands(bands: Bands, names: Sequence[str]) -> np.ndarray:
    """Per entry (point, or bin × P_T row): every band value of ``names`` is finite."""
    ok = np.ones(np.shape(bands.lo[names[0]]), dtype=bool)
    arrays = [bands.lo, bands.hi, *(d for pair in bands.sources.values() for d in pair)]
    for d in arrays:
        for k in names:
            ok &= np.isfinite(d[k])
    return ok


@dataclass
class BandedPoints:
    """Bands at points (pb/GeV⁴), the points left valid, those refused because their band
    is not finite (``broken``), and the flag masks of the valid points in answer order."""

    bands: Bands
    valid: np.ndarray
    broken: np.ndarray
    flag_masks: dict[str, np.ndarray]


def banded_points(
    points: tuple[np.ndarray, ...],
    ev: physics.Evaluation,
    cfg: physics.TheoryConfig,
    unc: Uncertainty,
    valid: np.ndarray,
    names: Sequence[str],
) -> BandedPoints:
    """Bands around ``ev`` = ``physics.evaluate(*points, theory=cfg)`` for the outputs
    ``names``; ``valid``: the points valid before the band (the service's finite check)."""
    x, z, Q, PT = points
    with np.errstate(all="ignore"):
        bands = point_bands(x, z, Q, PT, theory=cfg, uncertainty=unc, central=ev)
    broken = valid & ~finite_bands(bands, names)
    valid = valid & ~broken
    masks = {name: mask & valid for name, mask in {**ev.flag_masks, **bands.flag_masks}.items()}
    return BandedPoints(bands, valid, broken, masks)
