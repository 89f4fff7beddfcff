"""What the lifespan loads once and every request reads: PDF sets, artifacts, metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import physics
from physics.pdf import available_sets
from runtime.anomaly import AnomalyScorer
from runtime.artifacts import Registry, load_registry
from runtime.shapley import Explainer
from runtime.surrogate import Surrogate
from service.admission import Admission
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class PdfSets:
    """The PDF sets a request may name: those installed, the default for a request that
    names none (``JPSI_PDF_SET``), and why any the service itself needs cannot be read."""

    default: str = physics.DEFAULT_PDF_SET
    installed: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    registry: Registry = field(default_factory=lambda: Registry({}, []))
    pdf_sets: PdfSets = field(default_factory=PdfSets)
    surrogate: Surrogate | None = None
    explainer: Explainer | None = None
    anomaly: AnomalyScorer | None = None
    admission: Admission = field(default_factory=lambda: Admission(float("inf"), 1.0))

    def reasons(self) -> list[str]:
        """Why the service is not ready; empty when it is."""
        return list(self.pdf_sets.problems.values()) + self.registry.problems()

    def surrogate_reasons(self) -> list[str]:
        return self.artifact_reasons("surrogate")

    def artifact_reasons(self, name: str) -> list[str]:
        """Why artifact set ``name`` is not usable (for a 503)."""
        return self.registry.reasons(name)


def _check_pdf(pdfs: PdfSets, name: str) -> str | None:
    """Read PDF set ``name`` once; the reason it cannot be used (also recorded), or None."""
    if name not in pdfs.problems:
        try:
            physics.load_pdf(name)
        except physics.PDFError as exc:
            pdfs.problems[name] = f"PDF set {name!r}: {exc}"
    return pdfs.problems.get(name)


def load_state(settings: Settings, metrics: Metrics) -> ServiceState:
    """Load the default PDF set and every artifact (checksums verified); never raises."""
    state = ServiceState(settings, metrics)
    state.admission = Admission.for_workers(settings.request_deadline_seconds, settings.workers)
    pdfs = state.pdf_sets = PdfSets(settings.pdf_set, available_sets())
    _check_pdf(pdfs, settings.pdf_set)
    state.registry = load_registry(
        settings.artifact_dir, settings.required_artifacts, settings.onnx_threads
    )
    art = state.registry.get("surrogate")
    if art is not None:
        try:
            state.surrogate = Surrogate(art)
            if why := _check_pdf(pdfs, state.surrogate.pdf_set):
                raise ValueError(f"needs {why}")
        except ValueError as exc:
            state.surrogate = None
            art.loaded, art.reason = False, f"unusable surrogate: {exc}"
        except Exception as exc:  # onnxruntime's own errors on the probe run
            state.surrogate = None
            art.loaded, art.reason = False, f"unusable surrogate: {type(exc).__name__}: {exc}"
    # explanations and anomaly scores check the physical domain and run the exact engine
    # with the service's default set (JPSI_PDF_SET), like every other endpoint
    if why := _check_pdf(pdfs, settings.pdf_set):
        for name in ("explain", "anomaly"):
            if (art := state.registry.get(name)) is not None:
                art.loaded, art.reason = False, f"needs {why}"
    art = state.registry.get("explain")
    if art is not None:
        surrogate = state.surrogate
        try:
            state.explainer = Explainer.from_artifacts(
                art.path,
                manifest=art.manifest,  # verified by load_registry: once at start-up
                session=surrogate.session if surrogate is not None else None,
                pdf_set=settings.pdf_set,
                surrogate_pdf_set=surrogate.pdf_set if surrogate is not None else settings.pdf_set,
            )
        except (OSError, ValueError, KeyError) as exc:
            art.loaded, art.reason = False, f"unusable explanation background: {exc}"
    art = state.registry.get("anomaly")
    if art is not None:
        try:
            state.anomaly = AnomalyScorer.from_artifacts(
                art.path, pdf_set=settings.pdf_set, manifest=art.manifest
            )
        except Exception as exc:  # manifest errors or onnxruntime's own exception types
            art.loaded, art.reason = False, f"unusable anomaly model: {type(exc).__name__}: {exc}"
    for reason in state.reasons():
        log.warning("not ready: %s", reason)
    return state
