"""The surrogate artifact: interface checks, training-domain membership, inference.

Interface (``artifacts/surrogate/manifest.json``): ONNX input ``features``
float64 [N, 5] with columns sqrt_s (GeV), x, z, Q (GeV), PT (GeV); output
``sigma`` float64 [N, 10] in ``physics.OUTPUTS`` order, pb/GeV⁴.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import physics
from physics.constants import M_PROTON
from runtime.artifacts import Artifact

FEATURES = ("sqrt_s", "x", "z", "Q", "PT")
FLAG_TRAINING = "outside_training_domain"


@dataclass(frozen=True)
class TrainingDomain:
    """Bounds from the manifest's ``training_domain`` (GeV for √s, Q, P_T)."""

    sqrt_s: tuple[float, float]
    Q: tuple[float, float]
    z: tuple[float, float]
    PT: tuple[float, float]
    PT_max_over_zQ: float
    y: tuple[float, float]
    W_min: float

    @classmethod
    def from_manifest(cls, d: dict[str, Any]) -> TrainingDomain:
        try:
            pair = {k: (float(d[k][0]), float(d[k][1])) for k in ("sqrt_s", "Q", "z", "PT", "y")}
            return cls(
                **pair,
                PT_max_over_zQ=float(d.get("PT_max_over_zQ", np.inf)),
                W_min=float(d.get("W_min", 0.0)),
            )
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ValueError(f"training_domain is malformed: {exc!r}") from exc

    def contains(self, sqrt_s, x, z, Q, PT, y) -> np.ndarray:
        """Mask of points inside the domain (all arrays, or scalars for sqrt_s)."""
        with np.errstate(all="ignore"):
            w2 = Q * Q * (1.0 - x) / x + M_PROTON**2
            return (
                (sqrt_s >= self.sqrt_s[0]) & (sqrt_s <= self.sqrt_s[1])
                & (Q >= self.Q[0]) & (Q <= self.Q[1])
                & (z >= self.z[0]) & (z <= self.z[1])
                & (PT >= self.PT[0]) & (PT <= self.PT[1])
                & (PT <= self.PT_max_over_zQ * z * Q)
                & (y >= self.y[0]) & (y <= self.y[1])
                & (w2 >= self.W_min**2)
            )  # fmt: skip


class Surrogate:
    """A loaded, verified surrogate artifact ready to run."""

    def __init__(self, artifact: Artifact):
        m = artifact.manifest
        if artifact.session is None:
            raise ValueError("the surrogate has no ONNX model_file")
        self.session = artifact.session
        self.name = str(m.get("name", artifact.name))
        self.version = str(m.get("version", "unknown"))
        self.sha256 = artifact.model_sha256 or ""
        self.domain = TrainingDomain.from_manifest(m.get("training_domain") or {})
        theory = m.get("theory") if isinstance(m.get("theory"), dict) else {}
        self.pdf_set = str(theory.get("pdf_set", physics.DEFAULT_PDF_SET))
        io_in, io_out = m.get("input") or {}, m.get("output") or {}
        self.input_name = io_in.get("name", "features")
        self.output_name = io_out.get("name", "sigma")
        features = [f.get("name") for f in io_in.get("features", [])]
        if features and tuple(features) != FEATURES:
            raise ValueError(f"surrogate features {features} are not {list(FEATURES)}")
        columns = io_out.get("columns")
        if columns is not None and tuple(columns) != physics.OUTPUTS:
            raise ValueError(f"surrogate output columns {columns} are not {list(physics.OUTPUTS)}")
        inputs = {i.name: i for i in self.session.get_inputs()}
        if self.input_name not in inputs:
            raise ValueError(f"ONNX model has no input {self.input_name!r} (has {list(inputs)})")
        if self.output_name not in {o.name for o in self.session.get_outputs()}:
            raise ValueError(f"ONNX model has no output {self.output_name!r}")
        if inputs[self.input_name].type != "tensor(double)":
            raise ValueError(f"ONNX input type is {inputs[self.input_name].type}, not double")
        # one trial run: a model that cannot produce [N, 10] fails at start-up, not per request
        probe = self.run(np.array([[63.0, 0.2, 0.5, 20.0, 1.0]]))
        if probe.shape != (1, len(physics.OUTPUTS)):
            raise ValueError(f"ONNX output shape {probe.shape} is not [N, {len(physics.OUTPUTS)}]")

    def run(self, features: np.ndarray) -> np.ndarray:
        """σ for rows of ``features`` ([N, 5] float64, FEATURES order): [N, 10] in pb/GeV⁴."""
        (out,) = self.session.run([self.output_name], {self.input_name: features})
        return np.asarray(out, dtype=float)

    def info(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}
