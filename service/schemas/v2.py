"""The Open Inference Protocol (V2) request and response bodies, for the OpenAPI document
(the infer route parses its body itself, JSON or binary: ``service.v2``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_INPUTS: list[Any] = [
    {"name": k, "shape": [2], "datatype": "FP64", "data": v}
    for k, v in (("x", [0.2, 0.001]), ("z", [0.5, 0.5]), ("Q", [20.0, 20.0]), ("PT", [1.0, 1.0]))
]


class InferTensor(BaseModel):
    name: str = Field(description="x, z, Q (GeV) or PT (GeV).")
    shape: list[int] = Field(description="[n] (or [n, 1]).")
    datatype: str = Field(description="FP64.")
    data: list[float] | None = Field(
        None, description="n numbers; absent when the tensor is binary (binary_data_size)."
    )
    parameters: dict[str, Any] | None = Field(
        None, description="binary_data_size: 8 × n bytes of this tensor after the JSON header."
    )


class RequestedOutput(BaseModel):
    name: str = Field(description="valid, y or an output name (oct3s1_U … total_L).")
    parameters: dict[str, Any] | None = Field(
        None, description="binary_data: true to receive it as binary data."
    )


class InferRequest(BaseModel):
    """A V2 infer request. The binary tensor data extension sends this JSON header
    (Inference-Header-Content-Length bytes) followed by the binary tensors."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "inputs": EXAMPLE_INPUTS,
                    "parameters": {"sqrt_s": 63.0},
                    "outputs": [{"name": "valid"}, {"name": "total_U"}],
                }
            ]
        }
    )

    id: str | None = Field(None, description="Echoed in the answer.")
    parameters: dict[str, Any] | None = Field(
        None,
        description="sqrt_s (GeV, default 63); for jpsi-exact also pdf_set, quarks, "
        "ldme_set and ldme.<name> (GeV³ or GeV⁵); binary_data_output.",
    )
    inputs: list[InferTensor] = Field(description="x, z, Q, PT: 1-D FP64 tensors of one length.")
    outputs: list[RequestedOutput] | None = Field(
        None, description="Outputs to answer; default valid, y and all ten outputs."
    )


class InferOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str = Field(description="BOOL (valid) or FP64 (pb/GeV⁴; y dimensionless).")
    data: list[float | bool | None] | None = Field(
        None, description="In JSON; NaN (not valid) is null. Absent when binary."
    )
    parameters: dict[str, Any] | None = Field(None, description="binary_data_size when binary.")


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[InferOutput]


def document(spec: dict) -> None:
    """Add the request and response schemas to ``spec`` (an OpenAPI document) and point the
    infer operations' JSON bodies at them."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (InferRequest, InferResponse):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for path, item in spec.get("paths", {}).items():
        if path.startswith("/v2/") and path.endswith("/infer"):
            op = item["post"]
            json_body = op["requestBody"]["content"]["application/json"]
            json_body["schema"] = {"$ref": "#/components/schemas/InferRequest"}
            json_body.pop("example", None)
            ok = op["responses"].setdefault("200", {"description": "The outputs."})
            ok["content"] = {
                "application/json": {"schema": {"$ref": "#/components/schemas/InferResponse"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            }
