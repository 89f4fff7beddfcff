"""What the lifespan loads once and every request reads: PDF sets, artifacts, metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import physics
from physics.pdf import available_sets
from service.anomaly import AnomalyScorer
from service.artifacts import Registry, load_registry
from service.explain import Explainer
from service.metrics import Metrics
from service.settings import Settings
from service.surrogate import Surrogate

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    registry: Registry = field(default_factory=lambda: Registry({}, []))
    pdf_sets: list[str] = field(default_factory=list)
    surrogate: Surrogate | None = None
    explainer: Explainer | None = None
    anomaly: AnomalyScorer | None = None
    problems: list[str] = field(default_factory=list)

    def reasons(self) -> list[str]:
        """Why the service is not ready; empty when it is."""
        return self.problems + self.registry.problems()

    def surrogate_reasons(self) -> list[str]:
        return self.artifact_reasons("surrogate")

    def artifact_reasons(self, name: str) -> list[str]:
        """Why artifact set ``name`` is not usable (for a 503)."""
        art = self.registry.artifacts.get(name)
        if art is None:
            return [f"artifact {name!r} not found under the artifact directory"]
        return [f"artifact {name!r}: {art.reason}"] if art.reason else []


def load_state(settings: Settings, metrics: Metrics) -> ServiceState:
    """Load the default PDF set and every artifact (checksums verified); never raises."""
    state = ServiceState(settings, metrics)
    state.pdf_sets = available_sets()
    try:
        physics.load_pdf(settings.pdf_set)
    except physics.PDFError as exc:
        state.problems.append(f"PDF set {settings.pdf_set!r}: {exc}")
    state.registry = load_registry(
        settings.artifact_dir, settings.required_artifacts, settings.onnx_threads
    )
    art = state.registry.get("surrogate")
    if art is not None:
        try:
            state.surrogate = Surrogate(art)
            physics.load_pdf(state.surrogate.pdf_set)
        except (ValueError, physics.PDFError) as exc:
            art.loaded, art.reason = False, f"unusable surrogate: {exc}"
        except Exception as exc:  # onnxruntime's own errors on the probe run
            art.loaded, art.reason = False, f"unusable surrogate: {type(exc).__name__}: {exc}"
    art = state.registry.get("explain")
    if art is not None:
        session = state.surrogate.session if state.surrogate is not None else None
        try:
            state.explainer = Explainer.from_artifacts(art.path, session=session)
        except (OSError, ValueError, KeyError) as exc:
            art.loaded, art.reason = False, f"unusable explanation background: {exc}"
    art = state.registry.get("anomaly")
    if art is not None:
        try:
            state.anomaly = AnomalyScorer.from_artifacts(art.path)
        except Exception as exc:  # manifest errors or onnxruntime's own exception types
            art.loaded, art.reason = False, f"unusable anomaly model: {type(exc).__name__}: {exc}"
    for reason in state.reasons():
        log.warning("not ready: %s", reason)
    return state
