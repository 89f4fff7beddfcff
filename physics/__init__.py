"""jpsi-sidis exact engine: J/ψ production in SIDIS at leading order (NRQCD + TMD).

Conventions throughout: x, z, y dimensionless; Q, P_T, √s in GeV (Q, never Q²,
unless a name says Q2); PDFs as LHAPDF returns them, x·f; channel values in
pb/GeV⁴ (measure dx dz dQ² dP_T²), binned values in pb/GeV² (dσ/dP_T²).
The model is ``docs/physics.md``; theory variations: ``docs/theory.md``.
"""

from physics.binning import Bin, BinError, binned
from physics.channels import CHANNELS, OUTPUTS, TOTALS, UNITS
from physics.config import LDME, TheoryConfig
from physics.pdf import DEFAULT_PDF_SET, GridPDF, PDFDomainError, PDFError, load_pdf
from physics.points import Evaluation, evaluate

__all__ = [
    "CHANNELS",
    "DEFAULT_PDF_SET",
    "LDME",
    "OUTPUTS",
    "TOTALS",
    "UNITS",
    "Bin",
    "BinError",
    "Evaluation",
    "GridPDF",
    "PDFDomainError",
    "PDFError",
    "TheoryConfig",
    "binned",
    "evaluate",
    "load_pdf",
]
