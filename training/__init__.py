"""Offline training of the J/ψ SIDIS surrogate (issue 3): imports ``physics``, writes artifacts.

Run ``python -m training`` (console script ``jpsi-train``). The surrogate is
exact where physics is known in closed form (y, z, P_T, LDMEs, Gaussians) and
learns only the PDF-driven (x, Q) dependence: ln x·g and ln x·q_eff as
tensor-product cubic splines (``training.splines``), exported with skl2onnx
and wrapped by the closed-form channels in one float64 ONNX graph
(``training.onnx_graph``).
"""

__version__ = "1.0.0"
