"""The surrogate artifact: interface checks, training-domain membership, inference.

Interface (``artifacts/surrogate/manifest.json``): ONNX input ``features``
float64 [N, 5] with columns sqrt_s (GeV), x, z, Q (GeV), PT (GeV); output
``sigma`` float64 [N, 10] in ``physics.OUTPUTS`` order, pb/GeV⁴.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import physics
from physics.constants import SQRT_S_DEFAULT
from runtime.artifacts import Artifact
from runtime.domain import TrainingDomain
from runtime.features import FEATURE_UNITS, SURROGATE_FEATURES, SURROGATE_INPUT, SURROGATE_OUTPUT
from runtime.onnx import BoundRunner

FLAG_TRAINING = "outside_training_domain"
PAD_ROWS = 8
"""Batches run with a multiple of this many rows (see ``Surrogate.run``)."""
FEW_ROWS = 64
"""Most rows ``Surrogate.run_few`` runs through bound buffers."""


def io_spec() -> tuple[dict, dict]:
    """The manifest's ``input`` and ``output`` entries: the contract between the training that
    writes a surrogate and the service that runs it."""
    features = [{"name": n, "unit": FEATURE_UNITS[n]} for n in SURROGATE_FEATURES]
    return (
        {"name": SURROGATE_INPUT, "dtype": "float64", "features": features},
        {
            "name": SURROGATE_OUTPUT,
            "dtype": "float64",
            "columns": list(physics.OUTPUTS),
            "unit": "pb/GeV^4",
        },
    )


class Surrogate:
    """A loaded, verified surrogate artifact ready to run."""

    def __init__(self, artifact: Artifact):
        m = artifact.manifest
        if artifact.session is None:
            raise ValueError("the surrogate has no ONNX model_file")
        self.session = artifact.session
        self._runners: dict[int, BoundRunner] = {}
        self.name = str(m.get("name", artifact.name))
        self.version = str(m.get("version", "unknown"))
        self.sha256 = artifact.model_sha256 or ""
        self.domain = TrainingDomain.from_manifest(m.get("training_domain") or {})
        theory: dict = m["theory"] if isinstance(m.get("theory"), dict) else {}
        self.pdf_set = str(theory.get("pdf_set", physics.DEFAULT_PDF_SET))
        io_in, io_out = m.get("input") or {}, m.get("output") or {}
        self.input_name = io_in.get("name", SURROGATE_INPUT)
        self.output_name = io_out.get("name", SURROGATE_OUTPUT)
        features = [f.get("name") for f in io_in.get("features", [])]
        if features and tuple(features) != SURROGATE_FEATURES:
            raise ValueError(f"surrogate features {features} are not {list(SURROGATE_FEATURES)}")
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
        probe = self.run(np.array([[SQRT_S_DEFAULT, 0.2, 0.5, 20.0, 1.0]]))
        if probe.shape != (1, len(physics.OUTPUTS)):
            raise ValueError(f"ONNX output shape {probe.shape} is not [N, {len(physics.OUTPUTS)}]")

    def run(self, features: np.ndarray) -> np.ndarray:
        """σ for rows of ``features`` ([N, 5] float64, ``SURROGATE_FEATURES`` order): [N, 10]
        in pb/GeV⁴.

        Rows are padded to a multiple of ``PAD_ROWS`` (copies of the last row, dropped
        after): onnxruntime computes the last row of an odd-sized batch on a scalar path
        that differs in the last bits from its vector path, so without the padding a
        point's σ would depend on the batch it came in (tests/client/test_score.py checks
        bit-for-bit equality across batchings)."""
        n = features.shape[0]
        pad = -n % PAD_ROWS
        if pad:
            features = np.concatenate([features, np.repeat(features[-1:], pad, axis=0)])
        (out,) = self.session.run([self.output_name], {self.input_name: features})
        return np.asarray(out, dtype=float)[:n]

    def run_few(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        """``run`` on a few feature rows (tuples in ``SURROGATE_FEATURES`` order), bit for bit,
        as lists of Python floats, through buffers bound once per padded size up to
        ``FEW_ROWS``: a one-point request spends most of its time in this call, and no more
        numpy than needed (each call costs microseconds in a worker whose caches are cold).
        Not thread-safe (the buffers are shared): for the event loop's fast path only."""
        n = len(rows)
        size = n + (-n % PAD_ROWS)
        if size > FEW_ROWS:
            return self.run(np.array(rows)).tolist()
        runner = self._runners.get(size)
        if runner is None:
            runner = self._runners[size] = BoundRunner(
                self.session, size, self.input_name, self.output_name
            )
        runner.input[:n] = rows
        runner.input[n:] = rows[-1]  # the padding of ``run``
        return runner(runner.input)[:n].tolist()

    def info(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}
