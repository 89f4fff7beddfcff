"""Single-threaded onnxruntime sessions for the surrogate, with a low-latency batch-1 path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from training.onnx_graph import INPUT, OUTPUT


def session(model: onnx.ModelProto | str | Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads and one inter-op thread."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


def predict(sess: ort.InferenceSession, features: np.ndarray) -> np.ndarray:
    """σ [N, 10] in pb/GeV⁴ from features [N, 5]."""
    x = np.ascontiguousarray(features, dtype=np.float64)
    return sess.run([OUTPUT], {INPUT: x})[0]


class BoundRunner:
    """Pre-bound input/output buffers (IOBinding) for repeated calls at a fixed batch size."""

    def __init__(self, sess: ort.InferenceSession, batch: int):
        self.input = np.zeros((batch, 5))
        self.output = np.zeros((batch, 10))
        self.binding = sess.io_binding()
        self.binding.bind_ortvalue_input(INPUT, ort.OrtValue.ortvalue_from_numpy(self.input))
        self.binding.bind_ortvalue_output(OUTPUT, ort.OrtValue.ortvalue_from_numpy(self.output))
        self.sess = sess

    def __call__(self, features: np.ndarray) -> np.ndarray:
        self.input[...] = features
        self.sess.run_with_iobinding(self.binding)
        return self.output
