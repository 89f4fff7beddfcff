"""Figures and tables of docs/theory.md: the study's binned P_T spectra with their theory
bands, and where quark fragmentation or photon–gluon fusion dominates.

    .venv/bin/python docs/theory_figures.py

Writes docs/img/theory_bands_sqrts63.png and docs/img/theory_frag_vs_pgf.png and prints
the markdown tables that docs/theory.md quotes. Runs in about a minute (exact binned
integrals, 8 bins × 24 P_T values, with 7-point scale and PDF-set variations). Not run
at service start.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import physics
from physics.ldme import REGISTRY
from physics.variations import Uncertainty, binned_bands

SQRT_S = 63.0
# the original study's bins (as the model card uses them, training/card.py)
X_BINS = ((0.1, 0.5), (0.5, 0.9))
Z_BINS = ((0.1, 0.4), (0.4, 1.0))
Q_BINS = ((10.0, 30.0), (30.0, 50.0))
PT = np.linspace(0.05, 3.0, 24)
PDF_SETS = ("NNPDF31_lo_as_0130", "NNPDF23_lo_as_0119_qed", "NNPDF23_lo_as_0130_qed")
IMG = Path(__file__).resolve().parent / "img"
PGF = ("oct1s0_U", "oct3p0_U", "sing3s1_U")
_SAVE = {"dpi": 90, "metadata": {"Software": None}}


def bins():
    return [physics.Bin(x=xb, z=zb, Q=qb) for xb in X_BINS for zb in Z_BINS for qb in Q_BINS]


def compute():
    theory = physics.TheoryConfig()
    edges = bins()
    central = physics.binned(edges, PT, sqrt_s=SQRT_S, theory=theory)
    # an LDME band needs two registered sets or more (physics/ldme.py says which exist)
    sets = tuple(REGISTRY.values()) if len(REGISTRY) > 1 else ()
    unc = Uncertainty(sets, "7-point", PDF_SETS)
    band = binned_bands(edges, PT, sqrt_s=SQRT_S, theory=theory, uncertainty=unc, central=central)
    return edges, central, band


def label(b: physics.Bin) -> str:
    return f"x∈[{b.x[0]:g},{b.x[1]:g}), z∈[{b.z[0]:g},{b.z[1]:g}), Q∈[{b.Q[0]:g},{b.Q[1]:g}] GeV"


def plot_bands(edges, central, band, path: Path) -> None:
    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5), sharex=True)
    colours = {"scale": "tab:orange", "pdf": "tab:green", "ldme": "tab:purple"}
    for i, (ax, b) in enumerate(zip(axes.ravel(), edges, strict=True)):
        c = central.sigma["total_U"][i]
        if not central.physical[i]:
            ax.text(0.5, 0.5, "no physical part", ha="center", transform=ax.transAxes)
            ax.set_title(label(b), fontsize=7)
            continue
        for s, (lo, hi) in band.sources.items():
            ax.fill_between(
                PT, lo["total_U"][i], hi["total_U"][i], color=colours[s], alpha=0.3,
                label=f"{s} band",
            )  # fmt: skip
        ax.plot(PT, band.lo["total_U"][i], "k:", lw=0.8, label="combined (quadrature)")
        ax.plot(PT, band.hi["total_U"][i], "k:", lw=0.8)
        ax.plot(PT, c, "k-", lw=1.2, label="central")
        if b.z[0] * b.Q[0] / 2 < PT[-1]:
            ax.axvline(b.z[0] * b.Q[0] / 2, color="grey", lw=0.6, ls="--")
        ax.set_yscale("log")
        ax.set_title(label(b), fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("P_T [GeV]")
    for ax in axes[:, 0]:
        ax.set_ylabel("dσ/dP_T², total_U [pb/GeV²]")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"Binned total_U at √s = {SQRT_S:g} GeV with 7-point scale and LO PDF-set bands "
        "(dashed: the study's TMD cut z_min Q_min / 2)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, **_SAVE)
    plt.close(fig)


def pgf_sum(sigma, i):
    return sum(sigma[k][i] for k in PGF)


def plot_dominance(edges, central, band, path: Path) -> None:
    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5), sharex=True)
    lo_s, hi_s = band.sources["scale"]
    for i, (ax, b) in enumerate(zip(axes.ravel(), edges, strict=True)):
        ax.set_title(label(b), fontsize=7)
        if not central.physical[i]:
            continue
        frag = central.sigma["oct3s1_U"][i]
        ax.fill_between(PT, lo_s["oct3s1_U"][i], hi_s["oct3s1_U"][i], color="tab:blue", alpha=0.3)
        ax.plot(PT, frag, color="tab:blue", label="fragmentation (oct3s1_U)")
        pgf_lo = sum(lo_s[k][i] for k in PGF)  # channels move together with ξ_R, ξ_F
        pgf_hi = sum(hi_s[k][i] for k in PGF)
        ax.fill_between(PT, pgf_lo, pgf_hi, color="tab:red", alpha=0.3)
        ax.plot(PT, pgf_sum(central.sigma, i), color="tab:red", label="photon–gluon fusion")
        ax.set_yscale("log")
    for ax in axes[-1]:
        ax.set_xlabel("P_T [GeV]")
    for ax in axes[:, 0]:
        ax.set_ylabel("dσ/dP_T² [pb/GeV²]")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        "Fragmentation vs photon–gluon fusion (U), central LDMEs, 7-point scale bands",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, **_SAVE)
    plt.close(fig)


def dominance_table(edges, central) -> str:
    """Per bin: where fragmentation dominates, and by how much ⟨O(³S₁[8])⟩ (relative to
    the PGF LDMEs) would have to change for the answer to flip."""
    rows = [
        "| bin | fragmentation dominates at P_T (GeV) | ratio frag/PGF at P_T = 0.05, 1, 3 "
        "GeV | ⟨O(³S₁[8])⟩ factor that flips the answer at those P_T |",
        "|---|---|---|---|",
    ]
    probe = [int(np.argmin(np.abs(PT - p))) for p in (0.05, 1.0, 3.0)]
    for i, b in enumerate(edges):
        if not central.physical[i]:
            rows.append(f"| {label(b)} | no physical part | – | – |")
            continue
        ratio = central.sigma["oct3s1_U"][i] / pgf_sum(central.sigma, i)
        where = PT[ratio > 1.0]
        span = f"{where.min():.2f}–{where.max():.2f}" if where.size else "nowhere"
        r = ", ".join(f"{ratio[j]:.3g}" for j in probe)
        f = ", ".join(f"×{1 / ratio[j]:.3g}" for j in probe)
        rows.append(f"| {label(b)} | {span} | {r} | {f} |")
    return "\n".join(rows)


def band_table(edges, central, band) -> str:
    rows = [
        "| bin | P_T (GeV) | total_U (pb/GeV²) | scale band | PDF band | combined |",
        "|---|---|---|---|---|---|",
    ]
    j = int(np.argmin(np.abs(PT - 1.0)))
    for i, b in enumerate(edges):
        if not central.physical[i]:
            continue
        c = central.sigma["total_U"][i][j]

        def rel(lo, hi, i=i, c=c):
            return f"{lo['total_U'][i][j] / c - 1:+.0%} / {hi['total_U'][i][j] / c - 1:+.0%}"

        s_lo, s_hi = band.sources["scale"]
        p_lo, p_hi = band.sources["pdf"]
        rows.append(
            f"| {label(b)} | {PT[j]:.2f} | {c:.3g} | {rel(s_lo, s_hi)} | {rel(p_lo, p_hi)} "
            f"| {rel(band.lo, band.hi)} |"
        )
    return "\n".join(rows)


def main() -> None:
    IMG.mkdir(exist_ok=True)
    edges, central, band = compute()
    plot_bands(edges, central, band, IMG / "theory_bands_sqrts63.png")
    plot_dominance(edges, central, band, IMG / "theory_frag_vs_pgf.png")
    print(band_table(edges, central, band))
    print()
    print(dominance_table(edges, central))
    incomplete = band.flag_masks["scale_band_incomplete"]
    flagged = [label(b) for b, f in zip(edges, incomplete, strict=True) if f]
    print("\nscale_band_incomplete:", flagged or "none")


if __name__ == "__main__":
    main()
