"""Open Inference Protocol (V2, REST): request parsing and response encoding, including the
binary tensor data extension (``Inference-Header-Content-Length``).

Models ``jpsi-exact`` (the exact engine) and ``jpsi-surrogate`` (the ONNX surrogate), version
"1". Inputs: 1-D FP64 tensors x, z, Q (GeV), PT (GeV), all of the same length. Request
``parameters``: ``sqrt_s`` (GeV, default 63) and, for jpsi-exact, ``pdf_set``, ``quarks``,
``ldme_set``, ``ldme.<name>`` (GeV³ or GeV⁵). Outputs: ``valid`` (BOOL), ``y`` (FP64) and
one FP64 tensor per output name of ``physics.OUTPUTS`` (pb/GeV⁴), NaN where not valid (null
in JSON).

Every refusal is a ``V2Error``: the protocol's ``{"error": "..."}`` with a 4xx status.
Sizes that a request claims (shapes, binary_data_size, the header length) are checked
against the bytes actually sent and the limits before anything is allocated from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

import physics
from service import bulk
from service.routers.base import count_items
from service.schemas.columns import COORDINATES

VERSION = "1"
MODELS = {"jpsi-exact": "exact", "jpsi-surrogate": "predict"}
PLATFORMS = {"jpsi-exact": "jpsi_exact_engine", "jpsi-surrogate": "onnxruntime_onnx"}
OUTPUT_NAMES = ("valid", "y", *physics.OUTPUTS)
HEADER_LENGTH = "inference-header-content-length"
BINARY_EXTENSION = "binary_tensor_data"
FP64 = np.dtype("<f8")


class V2Error(Exception):
    """A refusal in the protocol's shape: ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> bytes:
        return orjson.dumps({"error": self.message})


def model_metadata(name: str) -> dict:
    tensors = [{"name": k, "datatype": "FP64", "shape": [-1]} for k in COORDINATES]
    outputs = [{"name": "valid", "datatype": "BOOL", "shape": [-1]}]
    outputs += [{"name": k, "datatype": "FP64", "shape": [-1]} for k in OUTPUT_NAMES[1:]]
    return {
        "name": name,
        "versions": [VERSION],
        "platform": PLATFORMS[name],
        "inputs": tensors,
        "outputs": outputs,
    }


@dataclass
class Infer:
    """A parsed infer request."""

    id: str | None
    columns: dict[str, np.ndarray]
    params: bulk.BulkParams
    outputs: list[tuple[str, bool]]
    """(output name, binary?) in the order to answer."""


def _header(body: bytes, header_length: str | None) -> tuple[memoryview, memoryview]:
    view = memoryview(body)
    if header_length is None:
        return view, view[:0]
    try:
        n = int(header_length)
    except ValueError:
        raise V2Error(
            f"Inference-Header-Content-Length must be a whole number, got {header_length[:40]!r}"
        ) from None
    if not 0 <= n <= len(body):
        raise V2Error(
            f"Inference-Header-Content-Length says {n} bytes of JSON header but the body has "
            f"{len(body)} bytes"
        )
    return view[:n], view[n:]


def _shape(tensor: Mapping, name: str, max_rows: int) -> int:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise V2Error(f"input {name}: shape must be a list of whole numbers, got {shape!r}"[:300])
    if len(shape) == 2 and shape[1] == 1:
        shape = shape[:1]
    if len(shape) != 1:
        raise V2Error(f"input {name}: shape must be [n] (1-D), got {shape}")
    n = shape[0]
    if n < 0:
        raise V2Error(f"input {name}: shape [{n}] is negative")
    if n > max_rows:
        raise V2Error(
            f"input {name}: {n} elements, more than {max_rows} (JPSI_MAX_ARROW_ROWS)", 413
        )
    return n


def _json_data(tensor: Mapping, name: str, n: int) -> np.ndarray:
    data = tensor.get("data")
    if not isinstance(data, list):
        raise V2Error(f"input {name}: data must be a list of numbers (or use binary data)")
    try:
        values = np.asarray(data)
    except ValueError:
        raise V2Error(f"input {name}: data must be a list of numbers, not ragged lists") from None
    if values.dtype.kind not in "fiu":
        raise V2Error(f"input {name}: data must hold numbers only (FP64)")
    if values.size != n:
        raise V2Error(f"input {name}: shape [{n}] but data holds {values.size} values")
    return values.astype(np.float64, copy=False).reshape(-1)


def parse(
    body: bytes,
    header_length: str | None,
    model: str,
    max_rows: int,
) -> Infer:
    """The infer request of ``body`` for ``model`` ("jpsi-exact" or "jpsi-surrogate")."""
    header, binary = _header(body, header_length)
    budget = 4 * max_rows + 4096
    if count_items(bytes(header)) > budget:
        raise V2Error(f"more than {budget} JSON values; the largest valid request holds fewer")
    try:
        req = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        raise V2Error(f"the request is not valid JSON: {exc}") from None
    if not isinstance(req, dict):
        raise V2Error("the request must be a JSON object with inputs")
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(t, dict) for t in inputs):
        raise V2Error("inputs must be a list of tensors {name, shape, datatype, data}")
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in inputs:
        name = tensor.get("name")
        if not isinstance(name, str):
            raise V2Error("every input needs a name")
        if name not in COORDINATES:
            raise V2Error(f"unexpected input {name[:64]!r}; {model} takes {', '.join(COORDINATES)}")
        if name in tensors:
            raise V2Error(f"input {name} given twice")
        if tensor.get("datatype") != "FP64":
            got = str(tensor.get("datatype"))[:20]
            raise V2Error(f"input {name}: datatype must be FP64, got {got}")
        n = _shape(tensor, name, max_rows)
        tparams = tensor.get("parameters") or {}
        if not isinstance(tparams, dict):
            raise V2Error(f"input {name}: parameters must be an object")
        size = tparams.get("binary_data_size")
        if size is None:
            tensors[name] = _json_data(tensor, name, n)
            continue
        if "data" in tensor:
            raise V2Error(f"input {name}: binary_data_size and data both given")
        if not isinstance(size, int) or isinstance(size, bool) or size != n * FP64.itemsize:
            raise V2Error(
                f"input {name}: binary_data_size {str(size)[:20]} is not {n * FP64.itemsize} "
                f"bytes (shape [{n}] of FP64)"
            )
        if offset + size > len(binary):
            raise V2Error(
                f"input {name}: binary data ends at byte {offset + size} but only "
                f"{len(binary)} bytes follow the JSON header"
            )
        tensors[name] = np.frombuffer(binary, dtype=FP64, count=n, offset=offset)
        offset += size
    if offset != len(binary):
        raise V2Error(f"{len(binary) - offset} bytes after the binary tensors that no input claims")
    for name in COORDINATES:
        if name not in tensors:
            raise V2Error(f"input {name} is missing; {model} takes {', '.join(COORDINATES)}")
    n = tensors["x"].size
    for name in COORDINATES:
        if tensors[name].size != n:
            raise V2Error(f"input {name} has {tensors[name].size} elements but x has {n}")
        bad = np.flatnonzero(~np.isfinite(tensors[name]))
        if bad.size:
            i = int(bad[0])
            raise V2Error(f"input {name}[{i}] = {float(tensors[name][i])!r} is not a finite number")
    return Infer(
        str(req["id"])[:256] if "id" in req else None,
        tensors,
        _params(req.get("parameters"), model),
        _outputs(req),
    )


def _params(given: object, model: str) -> bulk.BulkParams:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise V2Error("parameters must be an object")
    pairs = [(k, v) for k, v in given.items() if k != "binary_data_output"]
    try:
        return bulk.params(pairs, theory=model == "jpsi-exact", where="parameters", channels=False)
    except bulk.BadInput as exc:
        raise V2Error(f"parameters: {exc.msg}") from None


def _outputs(req: Mapping) -> list[tuple[str, bool]]:
    given = req.get("parameters")
    params = given if isinstance(given, dict) else {}
    default_binary = params.get("binary_data_output") is True
    wanted = req.get("outputs")
    if wanted is None:
        return [(k, default_binary) for k in OUTPUT_NAMES]
    if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
        raise V2Error("outputs must be a list of {name, parameters}")
    out: list[tuple[str, bool]] = []
    for o in wanted:
        name = o.get("name")
        if name not in OUTPUT_NAMES:
            raise V2Error(f"unknown output {str(name)[:64]!r}; outputs: {', '.join(OUTPUT_NAMES)}")
        oparams = o.get("parameters") or {}
        if not isinstance(oparams, dict):
            raise V2Error(f"output {name}: parameters must be an object")
        if oparams.get("classification"):
            raise V2Error(f"output {name}: the classification extension is not supported")
        binary = oparams.get("binary_data", default_binary)
        out.append((name, binary is True))
    return out


def encode(
    model: str, req: Infer, c: bulk.Chunk
) -> tuple[bytes | list[bytes | memoryview], int | None]:
    """The infer response: (body, JSON header length when any output is binary)."""
    n = int(c.valid.size)
    values = {"valid": c.valid, "y": c.y, **c.sigma}
    head: dict = {"model_name": model, "model_version": VERSION}
    if req.id is not None:
        head["id"] = req.id
    tensors = []
    blobs: list[bytes | memoryview] = []
    for name, binary in req.outputs:
        array = np.ascontiguousarray(values[name])
        datatype = "BOOL" if name == "valid" else "FP64"
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [n]}
        if binary:
            data = array.astype("<f8" if name != "valid" else np.bool_, copy=False).data
            tensor["parameters"] = {"binary_data_size": data.nbytes}
            blobs.append(data.cast("B"))
        else:
            tensor["data"] = array  # NaN -> null
        tensors.append(tensor)
    head["outputs"] = tensors
    header = orjson.dumps(head, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return [header, *blobs], len(header)


def names_needed(outputs: Sequence[tuple[str, bool]]) -> list[str]:
    """The output names of ``physics.OUTPUTS`` to compute (in ``physics.OUTPUTS`` order)."""
    wanted = {name for name, _ in outputs}
    return [k for k in physics.OUTPUTS if k in wanted]
