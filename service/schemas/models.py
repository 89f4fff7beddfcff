"""GET /v1/models: every artifact set and PDF set the service knows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ArtifactInfo(BaseModel):
    name: str
    directory: str
    kind: str | None
    version: str | None
    created: str | None
    status: Literal["loaded", "failed"]
    reason: str | None
    training_domain: Any = Field(None, description="As in the manifest (bounds in GeV).")
    metrics: Any = Field(None, description="As in the manifest.")
    files: dict[str, str] = Field(description="sha256 of every file of the set.")


class ModelsResponse(BaseModel):
    artifacts: list[ArtifactInfo]
    missing: list[str] = Field(description="Required artifact sets not found.")
    pdf_sets: list[str] = Field(description="PDF sets installed (usable as theory.pdf_set).")
